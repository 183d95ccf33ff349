use rendezvous_core::procedure;

#[procedure]
pub struct Add {
    a: i64,
}

fn main() {}
