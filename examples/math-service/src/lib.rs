//! An example service crate: the implementation of every procedure
//! `math-api` declares, under the same names and with the same types.
//!
//! A server binary serves them by linking this crate (`math-server` does).
//! Clients depend on `math-api`, the interface, not on this crate
//! (`math-client` does); `tests/interface.rs` checks that the two agree.
//! The types come from the interface, and are named here exactly as there
//! (`Document`, not `math_api::Document`): the fingerprint covers the types
//! as written.

pub use math_api::{Digest, Document, MathError};
use rendezvous_core::procedure;
use std::time::Duration;

/// Adds two numbers.
#[procedure(name = "math.add")]
pub async fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Divides, refusing division by zero; running it twice is harmless.
#[procedure(name = "math.div", idempotent)]
pub async fn div(a: i64, b: i64) -> Result<i64, MathError> {
    match b {
        0 => Err(MathError::DivisionByZero),
        _ => a.checked_div(b).ok_or(MathError::Overflow),
    }
}

/// Squares `x` after `delay_ms` milliseconds: a slow procedure, which the
/// server acknowledges before it replies.
#[procedure(name = "math.slow_square")]
pub async fn slow_square(x: i64, delay_ms: u64) -> i64 {
    async_io::Timer::after(Duration::from_millis(delay_ms)).await;
    x.wrapping_mul(x)
}

/// Checksums a document and sends its body back reversed.
#[procedure(name = "math.checksum")]
pub async fn checksum(document: Document) -> Digest {
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &document.body {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    let mut reversed = document.body;
    reversed.reverse();
    Digest {
        name: document.name,
        length: reversed.len() as u64,
        adler32: (b << 16) | a,
        reversed,
    }
}
