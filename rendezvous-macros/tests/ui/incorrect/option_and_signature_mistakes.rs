use rendezvous_core::procedure;

#[procedure(name = "")]
pub async fn ignore(_: i64) -> i64 {
    0
}

fn main() {
    let _ = ignore(1);
}
