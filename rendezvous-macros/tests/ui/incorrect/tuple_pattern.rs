use rendezvous_core::procedure;

#[procedure]
pub async fn add((a, b): (i64, i64)) -> i64 {
    a + b
}

fn main() {
    let _ = add((1, 2));
}
