use rendezvous_core::procedure;

#[procedure(name = "math.add")]
pub fn add(a: i64, b: i64) -> i64;

fn main() {}
