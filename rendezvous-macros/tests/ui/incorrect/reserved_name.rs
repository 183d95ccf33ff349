// Names under `rendezvous.` are the matchmaker's: refused at the literal.
use rendezvous_core::procedure;

#[procedure(name = "rendezvous.lookup")]
pub async fn lookup(name: String) -> String {
    name
}

fn main() {
    let _ = lookup(String::new());
}
