use rendezvous_core::procedure;

#[procedure]
pub async fn push(mut items: Vec<u32>, item: u32) -> Vec<u32> {
    items.push(item);
    items
}

#[procedure]
pub async fn countdown(mut from: u32) -> u32 {
    let mut steps = 0;
    while from > 0 {
        from -= 1;
        steps += 1;
    }
    steps
}

fn main() {
    let _ = push::remote(Vec::new(), 1);
    let _ = countdown::remote(3);
}
