//! Signature fingerprints: a procedure's name and types, hashed to 64 bits.
//!
//! A client sends the fingerprint it was compiled against with every lookup
//! and every call; the matchmaker and the server compare it with their own.
//! A mismatch is a clear error naming both values (`rendezvous-core`'s
//! `Error::SignatureMismatch`), instead of arguments that decode into
//! garbage.
//!
//! The fingerprint is 64-bit FNV-1a over the signature text
//! `name(arg_type, arg_type) -> return_type` with all whitespace skipped,
//! types spelled as written in the source but for a few normalised paths
//! (`std::primitive::u64` is `u64`; PROTOCOL.md, *Signatures*, lists them).
//! It is deliberately simple so that a peer in another language can compute
//! it; it is not a security measure. Registrations may carry the text
//! itself beside it, for people (`ProcedureSpec::signature_text`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The 64-bit fingerprint of a procedure signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub u64);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Fingerprint {
    /// Fingerprint of a canonical signature text; ASCII whitespace is skipped,
    /// so `add(i64, i64) -> i64` and `add(i64,i64)->i64` agree.
    pub const fn of(signature: &str) -> Fingerprint {
        let bytes = signature.as_bytes();
        let mut hash = FNV_OFFSET;
        let mut i = 0;
        while i < bytes.len() {
            let byte = bytes[i];
            if !byte.is_ascii_whitespace() {
                hash ^= byte as u64;
                hash = hash.wrapping_mul(FNV_PRIME);
            }
            i += 1;
        }
        Fingerprint(hash)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018x}", self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_does_not_change_the_fingerprint() {
        assert_eq!(
            Fingerprint::of("add(i64, i64) -> i64"),
            Fingerprint::of("add(i64,i64)->i64")
        );
    }

    #[test]
    fn types_and_names_change_the_fingerprint() {
        let base = Fingerprint::of("add(i64,i64)->i64");
        assert_ne!(base, Fingerprint::of("add(i64,i32)->i64"));
        assert_ne!(base, Fingerprint::of("sub(i64,i64)->i64"));
        assert_ne!(base, Fingerprint::of("add(i64,i64)->u64"));
    }

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        // FNV-1a 64 test vectors, so peers in other languages can check theirs.
        assert_eq!(Fingerprint::of("").0, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fingerprint::of("a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fingerprint::of("foobar").0, 0x8594_4171_f739_67e8);
    }

    #[test]
    fn displays_as_fixed_width_hex() {
        assert_eq!(Fingerprint(0xab).to_string(), "0x00000000000000ab");
    }
}
