//! An example service crate: a few procedures and the types they exchange.
//!
//! A server binary serves them by linking this crate (`math-server` does);
//! a client crate depends on it for the proxies (`math-client` does):
//!
//! ```no_run
//! # async fn demo() -> Result<(), rendezvous_core::Error> {
//! let sum = math_service::add::remote(2, 3).await?;
//! # Ok(()) }
//! ```

use rendezvous_core::procedure;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why a division failed; travels to the caller inside the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MathError {
    DivisionByZero,
    Overflow,
}

impl std::fmt::Display for MathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MathError::DivisionByZero => f.write_str("division by zero"),
            MathError::Overflow => f.write_str("overflow"),
        }
    }
}

/// A named byte buffer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub name: String,
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

/// What `checksum` says about a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub name: String,
    pub length: u64,
    /// Adler-32 of the body.
    pub adler32: u32,
    /// The body, reversed: proof that bytes travel both ways intact.
    #[serde(with = "serde_bytes")]
    pub reversed: Vec<u8>,
}

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
    rendezvous_core::rt::sleep(Duration::from_millis(delay_ms)).await;
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
