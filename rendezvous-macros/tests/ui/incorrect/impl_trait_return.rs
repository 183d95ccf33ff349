use rendezvous_core::procedure;

#[procedure]
pub async fn show(value: i64) -> impl std::fmt::Display {
    value
}

fn main() {
    let _ = show(1);
}
