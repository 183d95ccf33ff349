use rendezvous_core::procedure;
use std::collections::HashMap;

#[procedure]
pub async fn total(values: &[u64], weights: &HashMap<String, u64>) -> u64 {
    values.iter().sum::<u64>() + weights.values().sum::<u64>()
}

fn main() {
    let _ = total(&[1], &HashMap::new());
}
