// `idempotent` is a flag: `= true` is one error at the value, not
// "expected `,`".
use rendezvous_core::procedure;

#[procedure(name = "math.div", idempotent = true)]
pub async fn div(a: i64, b: i64) -> i64 {
    a / b
}

fn main() {
    let _ = div(1, 2);
}
