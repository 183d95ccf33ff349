use rendezvous_core::procedure;

#[procedure]
pub fn greet(name: &str) -> String {
    format!("hello, {name}")
}

fn main() {
    let _ = greet("world");
}
