use rendezvous_core::procedure;

#[procedure]
pub async fn add(a: i64, b: i64) -> i64
where
    i64: Copy,
{
    a + b
}

fn main() {
    let _ = add(1, 2);
}
