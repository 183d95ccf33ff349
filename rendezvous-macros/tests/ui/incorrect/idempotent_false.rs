use rendezvous_core::procedure;

#[procedure(idempotent = false)]
pub async fn bump(by: i64) -> i64 {
    by
}

fn main() {
    let _ = bump(1);
}
