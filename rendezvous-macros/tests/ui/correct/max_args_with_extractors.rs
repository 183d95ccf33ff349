// Sixteen arguments that travel, and the server-supplied ones beside
// them: only those that travel count towards the limit.
use rendezvous_core::{CallContext, State, procedure};

pub struct Base(u8);

#[procedure]
pub async fn sum(
    base: State<Base>,
    a: u8,
    b: u8,
    c: u8,
    d: u8,
    e: u8,
    f: u8,
    g: u8,
    h: u8,
    ctx: CallContext,
    i: u8,
    j: u8,
    k: u8,
    l: u8,
    m: u8,
    n: u8,
    o: u8,
    p: u8,
) -> u8 {
    let _ = ctx;
    base.0 + a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p
}

fn main() {
    let _ = sum::remote(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    let _ = sum::__make;
}
