use rendezvous_core::procedure;

#[procedure]
pub async fn join(words: Vec<&str>) -> String {
    words.join(" ")
}

fn main() {
    let _ = join(vec!["a", "b"]);
}
