use rendezvous_core::procedure;

pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[procedure]
pub async fn norm(point: Point) -> i64 {
    point.x.abs() + point.y.abs()
}

fn main() {
    let _ = norm(Point { x: 1, y: 2 });
}
