// An error type of another crate: told to map it into one's own, not to
// derive on a type one cannot derive on; underlined at the error type.
use rendezvous_core::procedure;

#[procedure(name = "files.size")]
pub async fn size(path: String) -> Result<u64, std::io::Error> {
    std::fs::metadata(path).map(|m| m.len())
}

fn main() {
    let _ = size(String::new());
}
