// A result alias of another crate (`io::Result<T>` is `Result<T,
// io::Error>`): one error, saying that a foreign type cannot be derived on.
use rendezvous_core::procedure;

#[procedure(name = "files.size")]
pub async fn size(path: String) -> std::io::Result<u64> {
    std::fs::metadata(path).map(|m| m.len())
}

fn main() {
    let _ = size(String::new());
}
