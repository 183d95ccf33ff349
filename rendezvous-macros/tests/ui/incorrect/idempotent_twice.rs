use rendezvous_core::procedure;

#[procedure(idempotent, idempotent)]
pub async fn get(key: u32) -> u32 {
    key
}

fn main() {
    let _ = get(1);
}
