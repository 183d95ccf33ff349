// A body-less declaration checks its types as the implementation does.
use rendezvous_core::procedure;

pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[procedure(name = "geometry.norm")]
pub async fn norm(point: Point) -> i64;

fn main() {
    let _ = norm::remote(Point { x: 1, y: 2 });
}
