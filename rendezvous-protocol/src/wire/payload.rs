//! Payloads: the CBOR inside a call's `args` and a reply's result, through
//! serde and ciborium, so any `Serialize + DeserializeOwned` type travels.
//!
//! Arguments travel as the CBOR array of the argument tuple; results as the
//! CBOR of the returned value. Decoding is bounded by the payload's own length
//! (at most a datagram), by [`MAX_NESTING`] (checked by [`depth`] first), and by serde's cap on
//! preallocation: a collection declaring more elements than the input holds
//! makes serde reserve up to 1 MiB before the decode fails (found by fuzzing;
//! a size-hint-free adapter would remove it).

use super::depth;
use super::limits::*;
use super::message::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// ciborium's scratch space for one decode.
const SCRATCH_BYTES: usize = 256;

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

/// Decodes a payload, refusing trailing bytes.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    if payload.len() > MAX_DATAGRAM_BYTES {
        return Err(DecodeError::TooLarge {
            size: payload.len(),
            limit: MAX_DATAGRAM_BYTES,
        });
    }
    if depth::too_deep(payload) {
        return Err(DecodeError::TooDeep { limit: MAX_NESTING });
    }
    // Strings up to this size are read in place; longer ones are allocated
    // (as they would be anyway for an owned value).
    let mut scratch = [0u8; SCRATCH_BYTES];
    let mut rest = payload;
    let value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch).map_err(classify)?;
    match rest.len() {
        0 => Ok(value),
        count => Err(DecodeError::TrailingBytes { count }),
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
