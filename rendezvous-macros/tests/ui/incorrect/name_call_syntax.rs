use rendezvous_core::procedure;

#[procedure(name("math.add"))]
pub async fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let _ = add(1, 2);
}
