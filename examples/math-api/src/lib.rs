//! The interface of the math example: every procedure `math-service`
//! serves, declared without a body, and the types they exchange.
//!
//! A client depends on this crate alone (`math-client` does): each
//! declaration gives it the proxies (`add::remote`, `add::remote_with`) and
//! the constants (`add::NAME`, `add::SIGNATURE`), and none of the
//! implementation or what it depends on. The service crate implements each
//! one under the same name with the same types, written the same way, so
//! the fingerprints agree and a call reaches it; `math-service`'s tests
//! check that they do. The layout of tarpc's example service, whose library
//! is the service's interface.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rendezvous_core::Error> {
//! let sum = math_api::add::remote(2, 3).await?;
//! # Ok(()) }
//! ```

use rendezvous_core::procedure;
use serde::{Deserialize, Serialize};

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

/// Adds two numbers (wrapping on overflow).
#[procedure(name = "math.add")]
pub async fn add(a: i64, b: i64) -> i64;

/// Divides, refusing division by zero; running it twice is harmless.
#[procedure(name = "math.div", idempotent)]
pub async fn div(a: i64, b: i64) -> Result<i64, MathError>;

/// Squares `x` after `delay_ms` milliseconds: a slow procedure, which the
/// server acknowledges before it replies.
#[procedure(name = "math.slow_square")]
pub async fn slow_square(x: i64, delay_ms: u64) -> i64;

/// Checksums a document and sends its body back reversed.
#[procedure(name = "math.checksum")]
pub async fn checksum(document: Document) -> Digest;
