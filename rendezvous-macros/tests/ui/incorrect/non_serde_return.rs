use rendezvous_core::procedure;

pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[procedure]
pub async fn origin() -> Point {
    Point { x: 0, y: 0 }
}

fn main() {
    let _ = origin();
}
