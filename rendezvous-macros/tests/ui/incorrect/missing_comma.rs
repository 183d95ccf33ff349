use rendezvous_core::procedure;

#[procedure(name = "math.div" idempotent)]
pub async fn div(a: i64, b: i64) -> i64 {
    a / b
}

fn main() {
    let _ = div(1, 2);
}
