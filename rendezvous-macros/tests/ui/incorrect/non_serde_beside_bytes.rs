// A type that cannot cross the network beside one carried as a byte
// string: one error, at that type.
use rendezvous_core::procedure;

pub struct Point {
    pub x: i64,
}

#[procedure(name = "blob.at")]
pub async fn at(data: Vec<u8>, point: Point) -> Vec<u8> {
    let _ = point.x;
    data
}

fn main() {
    let _ = at(Vec::new(), Point { x: 0 });
}
