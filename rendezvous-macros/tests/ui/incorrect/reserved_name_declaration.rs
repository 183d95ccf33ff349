// A body-less declaration cannot claim a reserved name either.
use rendezvous_core::procedure;

#[procedure(name = "rendezvous.register")]
pub async fn register(name: String) -> String;

fn main() {}
