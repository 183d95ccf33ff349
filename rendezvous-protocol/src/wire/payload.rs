//! Payloads: the CBOR inside a call's `args` and a reply's result, through
//! serde and ciborium, so any `Serialize + DeserializeOwned` type travels.
//!
//! Arguments travel as the CBOR array of the argument tuple; results as the
//! CBOR of the returned value. A payload is exactly one well-formed CBOR
//! item: [`item`] finds where it ends first (refusing ill-formed bytes and
//! nesting past [`MAX_NESTING`]), then serde reads it, and the decode is
//! refused unless serde read all of it but the breaks that close
//! indefinite-length containers (ciborium leaves those unread when the type
//! it fills, a tuple, is complete before the break). Decoding is bounded by
//! the payload's own length (at most a datagram), by the depth limit, and
//! by serde's cap on preallocation: a collection declaring more elements
//! than the input holds makes serde reserve up to 1 MiB before the decode
//! fails (found by fuzzing; a size-hint-free adapter would remove it).
//!
//! What serde and ciborium accept beyond the canonical encoding is
//! PROTOCOL.md's *Payloads* list (tags skipped, bignums as integers, arrays
//! of small integers as byte strings, and so on): lenient reads that give
//! the value the sender meant, kept rather than a deserializer of our own.

use super::item::{self, Flaw};
use super::limits::*;
use super::message::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// ciborium's scratch space for one decode.
const SCRATCH_BYTES: usize = 256;

/// The initial byte of a break, which closes an indefinite-length container.
const BREAK: u8 = 0xff;

/// The buffer a payload is encoded into starts this large.
const PAYLOAD_START_BYTES: usize = 128;

/// Encodes a value as a payload.
pub fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    // Most payloads fit; larger ones grow from here.
    let mut out = Vec::with_capacity(PAYLOAD_START_BYTES);
    ciborium::into_writer(value, &mut out).map_err(|error| EncodeError::Unencodable {
        reason: error.to_string(),
    })?;
    if out.len() > MAX_DATAGRAM_BYTES {
        return Err(EncodeError::TooLarge {
            size: out.len(),
            limit: MAX_DATAGRAM_BYTES,
        });
    }
    Ok(out)
}

/// Decodes a payload: one well-formed CBOR item, read whole as a `T`;
/// ill-formed bytes, bytes after the item and elements `T` does not read
/// are refused.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    if payload.len() > MAX_DATAGRAM_BYTES {
        return Err(DecodeError::TooLarge {
            size: payload.len(),
            limit: MAX_DATAGRAM_BYTES,
        });
    }
    let length = item::item_length(payload).map_err(|flaw| match flaw {
        Flaw::TooDeep => DecodeError::TooDeep { limit: MAX_NESTING },
        Flaw::Truncated => DecodeError::Truncated,
        Flaw::IllFormed { at, why } => DecodeError::Malformed {
            reason: format!("the payload is not well-formed CBOR at byte {at}: {why}"),
        },
    })?;
    if length < payload.len() {
        return Err(DecodeError::PayloadTrailingBytes {
            count: payload.len() - length,
        });
    }
    // Strings up to this size are read in place; longer ones are allocated
    // (as they would be anyway for an owned value).
    let mut scratch = [0u8; SCRATCH_BYTES];
    let mut rest = payload;
    let value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch).map_err(classify)?;
    // Only breaks may be left: those of indefinite-length containers whose
    // type was complete before them (a tuple). Anything else is an element
    // the type did not read, past a tuple's length.
    match rest.iter().position(|byte| *byte != BREAK) {
        None => Ok(value),
        Some(offset) => Err(DecodeError::Malformed {
            reason: format!(
                "an array has more elements than the tuple it decodes as: {} bytes unread from byte {}",
                rest.len() - offset,
                payload.len() - rest.len() + offset
            ),
        }),
    }
}

fn classify(error: ciborium::de::Error<std::io::Error>) -> DecodeError {
    use ciborium::de::Error;
    match error {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated,
        Error::Io(io) => DecodeError::Malformed {
            reason: io.to_string(),
        },
        Error::Syntax(offset) => DecodeError::Malformed {
            reason: format!("invalid CBOR at byte {offset}"),
        },
        Error::Semantic(_, reason) => DecodeError::Malformed { reason },
        Error::RecursionLimitExceeded => DecodeError::TooDeep { limit: MAX_NESTING },
    }
}
