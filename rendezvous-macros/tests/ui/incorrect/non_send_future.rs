use rendezvous_core::procedure;
use std::rc::Rc;

async fn pause() {}

#[procedure]
pub async fn count(n: u32) -> u32 {
    let shared = Rc::new(n);
    pause().await;
    *shared
}

fn main() {
    let _ = count(1);
}
