use rendezvous_core::procedure;

#[procedure]
pub async extern "C" fn answer() -> i64 {
    42
}

fn main() {}
