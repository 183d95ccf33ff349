// A type of one's own named `Result` with two parameters is not taken for
// the standard one.
use rendezvous_core::procedure;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct Result<T, E> {
    pub value: T,
    pub error: Option<E>,
}

#[procedure(name = "own.result")]
pub async fn odd(x: u8) -> Result<u8, String> {
    Result { value: x, error: None }
}

fn main() {
    let _ = odd(1);
}
