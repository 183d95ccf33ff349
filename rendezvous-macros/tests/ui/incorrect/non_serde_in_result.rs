// A non-serde type inside the result: one error, underlining the whole
// return type.
use rendezvous_core::procedure;

#[derive(Debug)]
pub struct ParseError;

#[procedure]
pub async fn parse(text: String) -> Result<i64, ParseError> {
    text.parse().map_err(|_| ParseError)
}

fn main() {
    let _ = parse(String::new());
}
