use rendezvous_core::procedure;

// A type of one's own named `State` is taken as server-supplied.
pub struct State<T>(T);

#[procedure]
pub async fn get(value: State<u64>) -> u64 {
    value.0
}

fn main() {}
