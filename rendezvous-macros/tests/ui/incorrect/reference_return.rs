use rendezvous_core::procedure;

#[procedure]
pub async fn motto() -> &'static str {
    "meet halfway"
}

fn main() {
    let _ = motto();
}
