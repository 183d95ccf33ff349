use rendezvous_core::procedure;

#[procedure]
pub async fn add(a: i64, #[cfg(debug_assertions)] b: i64) -> i64 {
    a + b
}

fn main() {}
