//! Payloads: the CBOR inside a call's `args` and a reply's result, through
//! serde and ciborium, so any `Serialize + DeserializeOwned` type travels.
//!
//! Arguments travel as the CBOR array of the argument tuple; results as the
//! CBOR of the returned value. A payload is exactly one well-formed CBOR
//! item: [`item`] finds where it ends first (refusing ill-formed bytes and
//! nesting past [`MAX_NESTING`]) and rewrites it with definite lengths if it
//! uses indefinite ones (which ciborium reads only in some places), then
//! serde reads it, and must read all of it. Decoding is bounded by
//! the payload's own length (at most a datagram), by the depth limit, and
//! by serde's cap on preallocation: a collection declaring more elements
//! than the input holds makes serde reserve up to 1 MiB before the decode
//! fails (found by fuzzing; a size-hint-free adapter would remove it).
//! A payload held by value ([`decode_payload_owned`]) gives the buffer it
//! is in to its first large byte string, when the type reads that string
//! through the macro's `__private::Bytes` (`large_bytes`).
//!
//! What serde and ciborium accept beyond the canonical encoding is
//! PROTOCOL.md's *Payloads* list (tags skipped, bignums as integers, arrays
//! of small integers as byte strings, and so on): lenient reads that give
//! the value the sender meant, kept rather than a deserializer of our own.

use super::item::{self, Flaw};
use super::large_bytes;
use super::limits::*;
use super::message::*;
use super::payload_bytes::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// ciborium's scratch space for one decode.
const SCRATCH_BYTES: usize = 256;

/// The buffer a payload is encoded into starts this large.
const PAYLOAD_START_BYTES: usize = 128;

/// Encodes a value as a payload, at most a datagram.
pub fn encode_payload<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    encode_payload_within(value, MAX_DATAGRAM_BYTES)
}

/// Encodes a value as a payload of at most `limit` bytes (a stream's).
pub fn encode_payload_within<T: Serialize + ?Sized>(
    value: &T,
    limit: usize,
) -> Result<Vec<u8>, EncodeError> {
    // A value encoded by reference gives nothing away, even inside an
    // encode by value (a `Serialize` of its own that encodes a payload).
    let out = large_bytes::giving_nothing(|| encode_unbounded(value))?;
    if out.len() > limit {
        return Err(EncodeError::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(out)
}

fn encode_unbounded<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    // Most payloads fit; larger ones grow from here.
    let mut out = Vec::with_capacity(PAYLOAD_START_BYTES);
    ciborium::into_writer(value, &mut out).map_err(|error| EncodeError::Unencodable {
        reason: error.to_string(),
    })?;
    Ok(out)
}

/// [`encode_payload_within`] of a value given by value, whose large byte
/// string (if its type writes one through `__private::Bytes`) becomes the
/// buffer of the payload rather than being copied into one
/// ([`large_bytes`]); the same bytes either way.
pub fn encode_payload_owned<T: Serialize>(value: T, limit: usize) -> Result<Payload, EncodeError> {
    large_bytes::encode_giving(value, limit, encode_unbounded)
}

/// Decodes a payload: one well-formed CBOR item, read whole as a `T`;
/// ill-formed bytes, bytes after the item and elements `T` does not read
/// are refused.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    decode_payload_within(payload, MAX_DATAGRAM_BYTES)
}

/// [`decode_payload`] of a payload of at most `limit` bytes (one that came
/// over a stream).
pub fn decode_payload_within<T: DeserializeOwned>(
    payload: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    let item = checked_item(payload, limit)?;
    decode_item(payload, &item)
}

/// [`decode_payload_within`] of a payload held by value, whose large byte
/// string (if it has one) becomes the decoded `Vec<u8>` without a copy
/// when the type reads it through `__private::Bytes` ([`large_bytes`]); the same
/// value or error either way.
///
/// [`large_bytes`]: super::large_bytes
pub fn decode_payload_owned<T: DeserializeOwned>(
    payload: Payload,
    limit: usize,
) -> Result<T, DecodeError> {
    let apart = match payload.apart() {
        Ok(apart) => apart,
        Err(payload) => return decode_whole_owned(payload, limit),
    };
    let size = apart.around.len() + apart.content.len();
    if size > limit {
        return Err(DecodeError::TooLarge { size, limit });
    }
    let whole = |around: &[u8], content: &[u8]| {
        [&around[..apart.at], content, &around[apart.at..]].concat()
    };
    // The stand-in is well-formed, and of definite lengths, exactly when
    // the payload is: a byte string's content is any bytes. Otherwise the
    // payload is joined, and read whole says what is wrong with it.
    let stand_in = large_bytes::stand_in(&apart.around, apart.head, apart.at).filter(|stand_in| {
        checked_item(stand_in, usize::MAX).is_ok_and(|item| !item.has_indefinite_lengths())
    });
    match stand_in {
        Some(stand_in) => large_bytes::decode_apart(
            &stand_in,
            apart.content,
            |content| decode_payload_within(&whole(&apart.around, &content), limit),
            decode_definite,
        ),
        None => decode_payload_within(&whole(&apart.around, &apart.content), limit),
    }
}

/// [`decode_payload_owned`] of a payload in one buffer.
fn decode_whole_owned<T: DeserializeOwned>(
    payload: Vec<u8>,
    limit: usize,
) -> Result<T, DecodeError> {
    let item = checked_item(&payload, limit)?;
    match item.large.clone() {
        Some(large) if !item.has_indefinite_lengths() => {
            large_bytes::decode_taking(payload, large, decode_definite)
        }
        _ => decode_item(&payload, &item),
    }
}

/// The payload's one CBOR item, once it is known to fit `limit`, to be
/// well-formed and nested within the limit, and to take every byte.
fn checked_item(payload: &[u8], limit: usize) -> Result<item::Item, DecodeError> {
    if payload.len() > limit {
        return Err(DecodeError::TooLarge {
            size: payload.len(),
            limit,
        });
    }
    let item = item::item(payload).map_err(|flaw| match flaw {
        Flaw::TooDeep => DecodeError::TooDeep { limit: MAX_NESTING },
        Flaw::Truncated => DecodeError::Truncated,
        Flaw::IllFormed { at, why } => DecodeError::Malformed {
            reason: format!("the payload is not well-formed CBOR at byte {at}: {why}"),
        },
    })?;
    if item.length < payload.len() {
        return Err(DecodeError::PayloadTrailingBytes {
            count: payload.len() - item.length,
        });
    }
    Ok(item)
}

/// Decodes a checked item, rewritten first if it uses indefinite lengths:
/// what ciborium reads in every place is definite lengths (offsets in its
/// errors are then the rewrite's).
fn decode_item<T: DeserializeOwned>(payload: &[u8], item: &item::Item) -> Result<T, DecodeError> {
    if item.has_indefinite_lengths() {
        decode_definite(&item.with_definite_lengths(payload))
    } else {
        decode_definite(payload)
    }
}

/// Decodes one well-formed item of definite lengths, which must be read whole.
fn decode_definite<T: DeserializeOwned>(payload: &[u8]) -> Result<T, DecodeError> {
    // Strings up to this size are read in place; longer ones are allocated
    // (as they would be anyway for an owned value).
    let mut scratch = [0u8; SCRATCH_BYTES];
    let mut rest = payload;
    let value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch).map_err(classify)?;
    // The item is one whole value, so what serde left unread are elements
    // past a tuple's length (it reads as many as the tuple has).
    match rest.len() {
        0 => Ok(value),
        unread => Err(DecodeError::Malformed {
            reason: format!(
                "an array has more elements than the tuple it decodes as: {unread} bytes of the payload unread"
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
