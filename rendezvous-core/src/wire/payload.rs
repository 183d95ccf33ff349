//! Payloads: the CBOR inside a call's `args` and a reply's result, through
//! serde and ciborium, so any `Serialize + DeserializeOwned` type travels.
//!
//! Arguments travel as the CBOR array of the argument tuple; results as the
//! CBOR of the returned value. Decoding is bounded by the payload's own length
//! (at most a datagram), by [`MAX_NESTING`], and by serde's cap on
//! preallocation: a collection declaring more elements than the input holds
//! makes serde reserve up to 1 MiB before the decode fails (found by fuzzing;
//! a size-hint-free adapter would remove it).

use super::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a value as a payload.
pub fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
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
    let mut rest = payload;
    let value =
        ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_NESTING).map_err(classify)?;
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
