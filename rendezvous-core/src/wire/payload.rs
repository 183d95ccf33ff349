//! Payloads: the CBOR inside a call's `args` and a reply's result.
//!
//! Arguments travel as the CBOR array of the argument tuple; results as the
//! CBOR of the returned value. Decoding is bounded like the envelope: by the
//! payload's own length (at most a datagram) and by [`MAX_NESTING`].

use super::envelope::read_cbor;
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
    match read_cbor(payload)? {
        (value, 0) => Ok(value),
        (_, count) => Err(DecodeError::TrailingBytes { count }),
    }
}
