use rendezvous_core::procedure;

#[procedure]
pub async fn count<'a>(words: Vec<String>) -> usize {
    words.len()
}

fn main() {
    let _ = count(Vec::new());
}
