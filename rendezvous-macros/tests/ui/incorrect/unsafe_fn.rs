use rendezvous_core::procedure;

#[procedure]
pub async unsafe fn add(a: i64, b: i64) -> i64 {
    a + b
}

fn main() {
    let _ = unsafe { add(1, 2) };
}
