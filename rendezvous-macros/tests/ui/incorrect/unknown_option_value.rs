// A misspelt option with a value: one error, at the option, suggesting
// the right one.
use rendezvous_core::procedure;

#[procedure(idempotence = true)]
pub async fn get(key: u32) -> u32 {
    key
}

fn main() {
    let _ = get(1);
}
