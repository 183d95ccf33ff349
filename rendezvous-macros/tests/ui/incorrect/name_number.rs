use rendezvous_core::procedure;

#[procedure(name = 5)]
pub async fn five() -> i64 {
    5
}

fn main() {
    let _ = five();
}
