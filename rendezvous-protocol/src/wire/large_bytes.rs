//! A payload's large byte string decoded and encoded without a copy: the
//! buffer that holds the string's content becomes the decoded `Vec<u8>`,
//! and a `Vec<u8>` to encode becomes the buffer of its content.
//!
//! ciborium reads a byte string into a `Vec` of its own, growing it 256
//! bytes at a time: for a megabyte, two copies and twice its size in fresh
//! pages, on each side of a call. Instead, when a payload held by value has
//! a large definite-length byte string ([`LARGE_BYTES`]), the decode reads
//! a copy of the payload with that string replaced by a placeholder: a
//! 16-byte string drawn at random once per process, which never leaves it.
//! The string waits in a slot of this thread. A deserializer that can take
//! the string whole (the macro's `__private::Bytes` of a `Vec<u8>`) asks
//! [`take_placed`] about each 16-byte string it meets; on the placeholder,
//! it gets the string's buffer:
//! - a payload held in two buffers ([`Payload`], as a stream reads one
//!   with a large string) gives the content's own buffer, untouched;
//! - a payload in one buffer gives that buffer, shifted down to the
//!   string's content and cut to its length (a move within memory just
//!   read, no new buffer).
//!
//! The result is always what reading the payload whole gives:
//! - if no deserializer took the placeholder (the type read it another
//!   way, or failed before it), the payload is decoded whole instead;
//! - an error after the string was taken is the error reading it whole
//!   gives, since the bytes from there on are the same (and error reasons
//!   carry no offsets);
//! - a placeholder met a second time (a type that replays what it read,
//!   as serde's untagged enums do, after taking the string once) fails the
//!   decode, saying so: the buffer went to a value since dropped. The
//!   generated code never does this: it takes byte strings only at the
//!   top of the argument tuple or the result.
//!
//! Encoding by value is the mirror image ([`encode_giving`]): a
//! serializer that holds a large `Vec<u8>` it may give away (the same
//! `Bytes`) asks [`give_large`], which moves the `Vec` into this thread's
//! slot and has it write the placeholder instead. The payload is then the
//! given buffer, untouched, as the content of a [`Payload`] in two
//! buffers, and the rest of the encoded bytes, with the string's real
//! head in the placeholder's place, as the other. The bytes are the same
//! as encoding the value by reference.
//!
//! [`LARGE_BYTES`]: super::item::LARGE_BYTES

use super::cbor::Writer;
use super::item::{LARGE_BYTES, LargeBytes};
use super::message::{DecodeError, EncodeError};
use super::payload_bytes::Payload;
use std::cell::RefCell;
use std::sync::OnceLock;
use std::thread::LocalKey;

/// A placeholder's length: 16 bytes, so that guessing it is hopeless.
const PLACEHOLDER_BYTES: usize = 16;

/// The head of a 16-byte byte string.
const PLACEHOLDER_HEAD: u8 = 0x40 | PLACEHOLDER_BYTES as u8;

/// The process's placeholder, or `None` if the OS gave no random bytes
/// (then payloads are read whole, as before).
fn placeholder() -> Option<&'static [u8; PLACEHOLDER_BYTES]> {
    static PLACEHOLDER: OnceLock<Option<[u8; PLACEHOLDER_BYTES]>> = OnceLock::new();
    PLACEHOLDER
        .get_or_init(|| {
            let mut bytes = [0; PLACEHOLDER_BYTES];
            getrandom::fill(&mut bytes).ok().map(|()| bytes)
        })
        .as_ref()
}

/// This thread's payload, while a decode with a placeholder runs.
#[derive(Default)]
enum Slot {
    #[default]
    Empty,
    /// Waiting to be taken.
    Waiting(Large),
    Taken,
    /// The placeholder was met again once taken.
    TakenTwice,
}

/// The large byte string a placeholder stands for.
enum Large {
    /// The `content` of `payload`, which becomes its buffer once taken.
    InPayload {
        payload: Vec<u8>,
        content: std::ops::Range<usize>,
    },
    /// Held apart from the payload's other bytes ([`Payload`]).
    Apart(Vec<u8>),
}

thread_local! {
    static SLOT: RefCell<Slot> = const { RefCell::new(Slot::Empty) };
}

/// What a 16-byte string met during a decode is.
#[derive(Debug, PartialEq, Eq)]
pub enum Placed {
    /// Not the placeholder: the bytes are what they say.
    No,
    /// The placeholder: the large byte string it stands for.
    Content(Vec<u8>),
    /// The placeholder, met again after it was taken; the decode will fail.
    Again,
}

/// Whether `bytes`, a byte string met by a deserializer, stands for a large
/// one of the payload being decoded (see the module's doc).
pub fn take_placed(bytes: &[u8]) -> Placed {
    if bytes.len() != PLACEHOLDER_BYTES || placeholder().is_none_or(|p| p[..] != *bytes) {
        return Placed::No;
    }
    SLOT.with_borrow_mut(|slot| match std::mem::replace(slot, Slot::Taken) {
        Slot::Waiting(Large::InPayload {
            mut payload,
            content,
        }) => {
            payload.truncate(content.end);
            payload.drain(..content.start);
            Placed::Content(payload)
        }
        Slot::Waiting(Large::Apart(content)) => Placed::Content(content),
        Slot::Empty => {
            *slot = Slot::Empty;
            Placed::No
        }
        Slot::Taken | Slot::TakenTwice => {
            *slot = Slot::TakenTwice;
            Placed::Again
        }
    })
}

/// Decodes `payload` (a well-formed item of definite lengths, with the
/// large byte string `large`) through `decode`, giving the string's buffer
/// to the deserializer that takes it; the same result as
/// `decode(&payload)`.
pub(super) fn decode_taking<T>(
    payload: Vec<u8>,
    large: LargeBytes,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let Some(stand_in) = stand_in(&payload, large.head, large.content.end) else {
        return decode(&payload);
    };
    let large = Large::InPayload {
        payload,
        content: large.content,
    };
    match decode_standing_in(&stand_in, large, &decode) {
        Ok(decoded) => decoded,
        Err(Large::InPayload { payload, .. }) => decode(&payload),
        Err(Large::Apart(_)) => unreachable!("an InPayload string came back as Apart"),
    }
}

/// Decodes `stand_in`, the payload with its large string replaced by the
/// placeholder (see [`stand_in`]; well-formed, of definite lengths),
/// through `decode`, giving `content`, the string's content, to the
/// deserializer that takes it; the same result as `decode` of the whole
/// payload, which `whole` joins (only if no deserializer took it).
pub(super) fn decode_apart<T>(
    stand_in: &[u8],
    content: Vec<u8>,
    whole: impl FnOnce(Vec<u8>) -> Result<T, DecodeError>,
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    match decode_standing_in(stand_in, Large::Apart(content), &decode) {
        Ok(decoded) => decoded,
        Err(Large::Apart(content)) => whole(content),
        Err(Large::InPayload { .. }) => unreachable!("an Apart string came back InPayload"),
    }
}

/// `bytes` with the byte string from `head` to `end` replaced by the
/// placeholder (for a payload held apart, `end` is where the content
/// goes: it is not in `bytes`); `None` when there is no placeholder.
pub(super) fn stand_in(bytes: &[u8], head: usize, end: usize) -> Option<Vec<u8>> {
    let placeholder = placeholder()?;
    let after = &bytes[end..];
    let mut stand_in = Vec::with_capacity(head + 1 + PLACEHOLDER_BYTES + after.len());
    stand_in.extend_from_slice(&bytes[..head]);
    stand_in.push(PLACEHOLDER_HEAD);
    stand_in.extend_from_slice(placeholder);
    stand_in.extend_from_slice(after);
    Some(stand_in)
}

/// Decodes `stand_in` with `large` waiting for the placeholder: what
/// `decode` gave, or, if nothing took `large`, `large` back.
fn decode_standing_in<T>(
    stand_in: &[u8],
    large: Large,
    decode: &impl Fn(&[u8]) -> Result<T, DecodeError>,
) -> Result<Result<T, DecodeError>, Large> {
    let (decoded, slot) = scoped(&SLOT, Slot::Waiting(large), || decode(stand_in));
    match slot {
        Slot::Taken => Ok(decoded),
        Slot::Waiting(large) => Err(large),
        Slot::TakenTwice | Slot::Empty => Ok(Err(DecodeError::Malformed {
            reason: "a type read the payload's large byte string twice, which is not supported: \
                     read it once (not through an untagged or flattened enum)"
                .into(),
        })),
    }
}

/// Runs `run` with this thread's `key` set to `state`; gives back what it
/// returns and the state it left. The state before is put back after, even
/// if `run` panics (a decode inside a decode, a serde impl that panics).
fn scoped<S: Default + 'static, T>(
    key: &'static LocalKey<RefCell<S>>,
    state: S,
    run: impl FnOnce() -> T,
) -> (T, S) {
    struct Restore<S: 'static> {
        key: &'static LocalKey<RefCell<S>>,
        previous: Option<S>,
    }
    impl<S> Drop for Restore<S> {
        fn drop(&mut self) {
            if let Some(previous) = self.previous.take() {
                self.key.set(previous);
            }
        }
    }
    let mut restore = Restore {
        key,
        previous: Some(key.replace(state)),
    };
    let value = run();
    let left = key.replace(restore.previous.take().unwrap_or_default());
    (value, left)
}

/// This thread's encode by value, if one runs.
#[derive(Default)]
enum Giving {
    #[default]
    Idle,
    /// Waiting for a large string.
    Wanted,
    Given(Vec<u8>),
}

thread_local! {
    static GIVING: RefCell<Giving> = const { RefCell::new(Giving::Idle) };
}

/// Asked by a serializer about to write `bytes`, which it may give away:
/// while an encode by value runs and wants a large string, `bytes` is
/// moved into it (leaving `bytes` empty) and the placeholder comes back,
/// to be written as a byte string instead (see the module's doc).
pub fn give_large(bytes: &mut Vec<u8>) -> Option<&'static [u8]> {
    if bytes.len() < LARGE_BYTES {
        return None;
    }
    let placeholder = placeholder()?;
    GIVING.with_borrow_mut(|giving| match giving {
        Giving::Wanted => {
            *giving = Giving::Given(std::mem::take(bytes));
            Some(&placeholder[..])
        }
        Giving::Idle | Giving::Given(_) => None,
    })
}

/// Encodes `value`, consumed, through `encode` (which must not bound the
/// size), taking a large byte string given by its serializer as the
/// buffer of the payload; refuses what exceeds `limit` bytes. The same
/// bytes as `encode(&value)`.
pub(super) fn encode_giving<T>(
    value: T,
    limit: usize,
    encode: impl Fn(&T) -> Result<Vec<u8>, EncodeError>,
) -> Result<Payload, EncodeError> {
    let fits = |size: usize| {
        if size > limit {
            Err(EncodeError::TooLarge { size, limit })
        } else {
            Ok(())
        }
    };
    let Some(placeholder) = placeholder() else {
        let bytes = encode(&value)?;
        return fits(bytes.len()).map(|()| bytes.into());
    };
    let (encoded, giving) = scoped(&GIVING, Giving::Wanted, || encode(&value));
    drop(value);
    let rest = encoded?;
    let Giving::Given(large) = giving else {
        return fits(rest.len()).map(|()| rest.into());
    };
    // Where the placeholder was written: its head and its 16 bytes.
    let stand_in = [&[PLACEHOLDER_HEAD][..], placeholder].concat();
    let at = rest
        .windows(stand_in.len())
        .position(|window| window == stand_in)
        .ok_or_else(|| EncodeError::Unencodable {
            reason: "a large byte string was given but its placeholder not written".into(),
        })?;
    // The payload is `rest` with the string's real head and content in
    // the placeholder's place: the content stays in its own buffer.
    let mut around = Vec::with_capacity(rest.len());
    around.extend_from_slice(&rest[..at]);
    Writer::new(&mut around).bytes_header(large.len());
    let content_at = around.len();
    around.extend_from_slice(&rest[at + stand_in.len()..]);
    fits(around.len() + large.len())?;
    Ok(Payload::around(around, at, content_at, large))
}

/// Runs `encode` (an encode by reference) with nothing wanted: what it
/// writes is written, not given to an encode by value around it.
pub(super) fn giving_nothing<T>(encode: impl FnOnce() -> T) -> T {
    let idle = GIVING.with_borrow(|giving| matches!(giving, Giving::Idle));
    if idle {
        return encode();
    }
    scoped(&GIVING, Giving::Idle, encode).0
}

#[cfg(test)]
mod tests {
    use super::super::item::LARGE_BYTES;
    use super::super::payload::{
        decode_payload_owned, decode_payload_within, encode_payload_owned, encode_payload_within,
    };
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::sync::Mutex;

    const LIMIT: usize = 1 << 30;

    /// A `Vec<u8>` read as the core's `__private::Bytes` reads one.
    #[derive(Debug, PartialEq, Serialize)]
    struct Taking(#[serde(with = "serde_bytes")] Vec<u8>);

    impl<'de> Deserialize<'de> for Taking {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?.into_vec();
            match take_placed(&bytes) {
                Placed::No => Ok(Taking(bytes)),
                Placed::Content(content) => Ok(Taking(content)),
                Placed::Again => Err(serde::de::Error::custom("read twice")),
            }
        }
    }

    fn large(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        encode_payload_within(value, LIMIT).unwrap()
    }

    #[test]
    fn a_large_byte_string_keeps_the_payload_buffer() {
        let data = large(100_000);
        let payload = encode(&(7u8, Taking(data.clone()), "after"));
        let buffer = payload.as_ptr() as usize;
        let (seven, taken, after): (u8, Taking, String) =
            decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!((seven, &taken.0[..], &after[..]), (7, &data[..], "after"));
        assert_eq!(
            taken.0.as_ptr() as usize,
            buffer,
            "the string is the payload's buffer"
        );
    }

    #[test]
    fn only_the_first_large_string_is_taken_and_the_rest_read_as_ever() {
        let (first, second) = (large(20_000), large(30_000));
        let payload = encode(&(Taking(first.clone()), Taking(second.clone())));
        let decoded: (Taking, Taking) = decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!(decoded, (Taking(first), Taking(second)));
    }

    #[test]
    fn a_type_that_does_not_take_the_string_reads_the_payload_whole() {
        let data = large(LARGE_BYTES);
        let payload = encode(&(serde_bytes::Bytes::new(&data), 5u64));
        let (bytes, five): (serde_bytes::ByteBuf, u64) =
            decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!((bytes.into_vec(), five), (data, 5));
        // And the slot is empty again: a placeholder met now is not one.
        assert_eq!(take_placed(placeholder().unwrap()), Placed::No);
    }

    #[test]
    fn errors_are_those_of_reading_the_payload_whole() {
        let payload = encode(&(Taking(large(50_000)), 5u64));
        let owned = decode_payload_owned::<(Taking, String)>(payload.clone().into(), LIMIT);
        let whole = decode_payload_within::<(Taking, String)>(&payload, LIMIT);
        assert_eq!(owned.unwrap_err(), whole.unwrap_err());
        // Failing before the string: the same, and nothing was taken.
        let owned = decode_payload_owned::<(String, Taking)>(payload.clone().into(), LIMIT);
        let whole = decode_payload_within::<(String, Taking)>(&payload, LIMIT);
        assert_eq!(owned.unwrap_err(), whole.unwrap_err());
        // Elements left unread after the string.
        let payload = encode(&(Taking(large(50_000)), 5u64, 6u64));
        let owned = decode_payload_owned::<(Taking, u64)>(payload.clone().into(), LIMIT);
        let whole = decode_payload_within::<(Taking, u64)>(&payload, LIMIT);
        assert_eq!(owned.unwrap_err(), whole.unwrap_err());
    }

    #[test]
    fn a_string_replayed_after_it_was_taken_fails_saying_so() {
        #[derive(Debug, Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        enum Either {
            Text(Taking, String),
            Number(Taking, u64),
        }
        let payload = encode(&(Taking(large(50_000)), 5u64));
        let error = decode_payload_owned::<Either>(payload.into(), LIMIT).unwrap_err();
        assert!(error.to_string().contains("twice"), "{error}");
    }

    #[test]
    fn small_strings_and_other_16_byte_strings_are_what_they_say() {
        let payload = encode(&(Taking(vec![9; 16]), Taking(large(40_000))));
        let (small, big): (Taking, Taking) = decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!((small.0, big.0), (vec![9; 16], large(40_000)));
        let payload = encode(&(Taking(vec![1; 100]),));
        let (small,): (Taking,) = decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!(small.0, vec![1; 100]);
    }

    #[test]
    fn random_payloads_read_by_value_as_they_read_whole() {
        let mut rng = fastrand::Rng::with_seed(15);
        for _ in 0..200 {
            let strings: Vec<Taking> = (0..rng.usize(0..4))
                .map(|_| Taking(vec![rng.u8(..); rng.usize(0..40_000)]))
                .collect();
            let value = (rng.u64(..), strings, rng.bool());
            let mut payload = encode(&value);
            if rng.bool() {
                // Damage a byte.
                let at = rng.usize(..payload.len());
                payload[at] = rng.u8(..);
            }
            type Shape = (u64, Vec<Taking>, bool);
            let owned = decode_payload_owned::<Shape>(payload.clone().into(), LIMIT);
            let whole = decode_payload_within::<Shape>(&payload, LIMIT);
            assert_eq!(owned, whole);
        }
    }

    /// A `Vec<u8>` written as the core's `__private::Bytes` writes one.
    struct Giving(Mutex<Vec<u8>>);

    impl Serialize for Giving {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut bytes = self.0.lock().unwrap();
            match give_large(&mut bytes) {
                Some(placeholder) => serializer.serialize_bytes(placeholder),
                None => serializer.serialize_bytes(&bytes),
            }
        }
    }

    fn giving(bytes: Vec<u8>) -> Giving {
        Giving(Mutex::new(bytes))
    }

    #[test]
    fn a_large_byte_string_given_becomes_the_payload_buffer() {
        let mut data = Vec::with_capacity(100_064);
        data.extend(large(100_000));
        let buffer = data.as_ptr() as usize;
        let by_reference = encode(&(7u8, Taking(data.clone()), "after"));
        let payload = encode_payload_owned((7u8, giving(data), "after"), LIMIT).unwrap();
        assert_eq!(payload, by_reference);
        assert_eq!(
            payload.parts()[1].as_ptr() as usize,
            buffer,
            "the string's content is its own buffer"
        );
    }

    #[test]
    fn only_a_first_large_string_is_given_and_only_to_an_encode_by_value() {
        let (small, first, second) = (vec![1; 100], large(20_000), large(30_000));
        let value = || {
            (
                giving(small.clone()),
                giving(first.clone()),
                giving(second.clone()),
            )
        };
        let by_reference = encode(&value());
        assert_eq!(encode_payload_owned(value(), LIMIT).unwrap(), by_reference);
        // Nothing waits for a string outside an encode by value.
        let mut alone = first.clone();
        assert_eq!(give_large(&mut alone), None);
        assert_eq!(alone, first);
        // And none is given when it is not large.
        let small_only = (giving(small.clone()), 5u64);
        assert_eq!(
            encode_payload_owned(small_only, LIMIT).unwrap(),
            encode(&(Taking(small), 5u64))
        );
    }

    #[test]
    fn an_encode_by_value_is_held_to_its_limit_as_by_reference() {
        let value = || (giving(large(40_000)), "tail");
        let size = encode(&value()).len();
        assert_eq!(
            encode_payload_owned(value(), size - 1),
            Err(EncodeError::TooLarge {
                size,
                limit: size - 1
            })
        );
        assert_eq!(encode_payload_owned(value(), size).unwrap().len(), size);
    }

    #[test]
    fn given_and_taken_a_string_makes_the_round_trip_in_one_buffer() {
        let mut data = Vec::with_capacity(50_016);
        data.extend(large(50_000));
        let buffer = data.as_ptr() as usize;
        let payload = encode_payload_owned((giving(data),), LIMIT).unwrap();
        let (taken,): (Taking,) = decode_payload_owned(payload, LIMIT).unwrap();
        assert_eq!(
            (taken.0.as_ptr() as usize, taken.0),
            (buffer, large(50_000))
        );
    }
}
