//! A payload's large byte string decoded without a copy: the buffer that
//! holds the payload becomes the decoded `Vec<u8>`.
//!
//! ciborium reads a byte string into a `Vec` of its own, growing it 256
//! bytes at a time: for a megabyte, two copies and twice its size in fresh
//! pages, on each side of a call. Instead, when a payload held by value has
//! a large definite-length byte string ([`LARGE_BYTES`]), the decode reads
//! a copy of the payload with that string replaced by a placeholder: a
//! 16-byte string drawn at random once per process, which never leaves it.
//! The payload itself waits in a slot of this thread. A deserializer that
//! can take the string whole (the macro's `__private::Bytes` of a
//! `Vec<u8>`) asks [`take_placed`] about each 16-byte string it meets; on
//! the placeholder, it gets the payload's buffer, shifted down to the
//! string's content and cut to its length (a move within memory just
//! read, no new buffer).
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
//! [`LARGE_BYTES`]: super::item::LARGE_BYTES

use super::item::LargeBytes;
use super::message::DecodeError;
use std::cell::RefCell;
use std::sync::OnceLock;

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
enum Slot {
    Empty,
    /// Waiting to be taken: the payload, and where the string's content lies.
    Waiting {
        payload: Vec<u8>,
        content: std::ops::Range<usize>,
    },
    Taken,
    /// The placeholder was met again once taken.
    TakenTwice,
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
        Slot::Waiting {
            mut payload,
            content,
        } => {
            payload.truncate(content.end);
            payload.drain(..content.start);
            Placed::Content(payload)
        }
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
    let Some(placeholder) = placeholder() else {
        return decode(&payload);
    };
    let after = &payload[large.content.end..];
    let mut stand_in = Vec::with_capacity(large.head + 1 + PLACEHOLDER_BYTES + after.len());
    stand_in.extend_from_slice(&payload[..large.head]);
    stand_in.push(PLACEHOLDER_HEAD);
    stand_in.extend_from_slice(placeholder);
    stand_in.extend_from_slice(after);
    let waiting = Slot::Waiting {
        payload,
        content: large.content,
    };
    let (decoded, slot) = {
        let guard = Restore(Some(SLOT.replace(waiting)));
        let decoded = decode(&stand_in);
        (decoded, guard.finish())
    };
    match slot {
        Slot::Taken => decoded,
        Slot::Waiting { payload, .. } => decode(&payload),
        Slot::TakenTwice | Slot::Empty => Err(DecodeError::Malformed {
            reason: "a type read the payload's large byte string twice, which is not supported: \
                     read it once (not through an untagged or flattened enum)"
                .into(),
        }),
    }
}

/// Puts back the slot as it was before a decode (a decode inside a decode,
/// a deserializer that panics), returning this decode's.
struct Restore(Option<Slot>);

impl Restore {
    fn finish(mut self) -> Slot {
        SLOT.replace(self.0.take().unwrap_or(Slot::Empty))
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            SLOT.set(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::item::LARGE_BYTES;
    use super::super::payload::{
        decode_payload_owned, decode_payload_within, encode_payload_within,
    };
    use super::*;
    use serde::{Deserialize, Deserializer, Serialize};

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
            decode_payload_owned(payload, LIMIT).unwrap();
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
        let decoded: (Taking, Taking) = decode_payload_owned(payload, LIMIT).unwrap();
        assert_eq!(decoded, (Taking(first), Taking(second)));
    }

    #[test]
    fn a_type_that_does_not_take_the_string_reads_the_payload_whole() {
        let data = large(LARGE_BYTES);
        let payload = encode(&(serde_bytes::Bytes::new(&data), 5u64));
        let (bytes, five): (serde_bytes::ByteBuf, u64) =
            decode_payload_owned(payload, LIMIT).unwrap();
        assert_eq!((bytes.into_vec(), five), (data, 5));
        // And the slot is empty again: a placeholder met now is not one.
        assert_eq!(take_placed(placeholder().unwrap()), Placed::No);
    }

    #[test]
    fn errors_are_those_of_reading_the_payload_whole() {
        let payload = encode(&(Taking(large(50_000)), 5u64));
        let owned = decode_payload_owned::<(Taking, String)>(payload.clone(), LIMIT);
        let whole = decode_payload_within::<(Taking, String)>(&payload, LIMIT);
        assert_eq!(owned.unwrap_err(), whole.unwrap_err());
        // Failing before the string: the same, and nothing was taken.
        let owned = decode_payload_owned::<(String, Taking)>(payload.clone(), LIMIT);
        let whole = decode_payload_within::<(String, Taking)>(&payload, LIMIT);
        assert_eq!(owned.unwrap_err(), whole.unwrap_err());
        // Elements left unread after the string.
        let payload = encode(&(Taking(large(50_000)), 5u64, 6u64));
        let owned = decode_payload_owned::<(Taking, u64)>(payload.clone(), LIMIT);
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
        let error = decode_payload_owned::<Either>(payload, LIMIT).unwrap_err();
        assert!(error.to_string().contains("twice"), "{error}");
    }

    #[test]
    fn small_strings_and_other_16_byte_strings_are_what_they_say() {
        let payload = encode(&(Taking(vec![9; 16]), Taking(large(40_000))));
        let (small, big): (Taking, Taking) = decode_payload_owned(payload, LIMIT).unwrap();
        assert_eq!((small.0, big.0), (vec![9; 16], large(40_000)));
        let payload = encode(&(Taking(vec![1; 100]),));
        let (small,): (Taking,) = decode_payload_owned(payload, LIMIT).unwrap();
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
            let owned = decode_payload_owned::<Shape>(payload.clone(), LIMIT);
            let whole = decode_payload_within::<Shape>(&payload, LIMIT);
            assert_eq!(owned, whole);
        }
    }
}
