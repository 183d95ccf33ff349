use rendezvous_core::procedure;

#[procedure]
pub async fn show(value: impl std::fmt::Display) -> String {
    value.to_string()
}

fn main() {
    let _ = show(1);
}
