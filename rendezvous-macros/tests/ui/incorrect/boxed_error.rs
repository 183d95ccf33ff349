use rendezvous_core::procedure;

#[procedure(name = "files.size")]
pub async fn size(path: String) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(std::fs::metadata(path)?.len())
}

fn main() {
    let _ = size(String::new());
}
