//! [`Bytes`]: how `#[procedure]` carries an argument or result written as
//! a `u8` sequence (`Vec<u8>`, `[u8; N]`, or an `Option` of either): as a
//! CBOR byte string, through `serde_bytes`, rather than serde's array of
//! integers (twice the size, and hundreds of times slower to encode and
//! decode). The generated code wraps the value in it; the user never sees
//! it. Receivers read an array of integers too (PROTOCOL.md's lenient
//! reads), so a peer built before this encodes the same values and is
//! understood.
//!
//! A large `Vec<u8>` is decoded and encoded without a copy: it takes the
//! buffer the payload arrived in (`wire::decode_payload_owned`), and is
//! given away to become the buffer of the payload it is encoded into
//! (`wire::encode_payload_owned`; the `large_bytes` module says how),
//! which is why `Vec<u8>` has a visitor of its own here and `Bytes` holds
//! its value behind a lock.

use crate::wire::{self, Placed};
use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cell::RefCell;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A `u8` sequence carried as a CBOR byte string. Behind a lock so that
/// encoding it by reference can still give a large `Vec<u8>` away to an
/// encode by value (`wire::give_large`); the lock is never contended (one
/// value, encoded once).
#[derive(Debug)]
pub struct Bytes<T>(Mutex<T>);

impl<T> Bytes<T> {
    pub fn new(value: T) -> Bytes<T> {
        Bytes(Mutex::new(value))
    }

    /// The sequence (empty, if it was given to an encode by value).
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: ByteSequence> Serialize for Bytes<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut value = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        T::serialize_bytes(&mut value, serializer)
    }
}

impl<'de, T: ByteSequence> Deserialize<'de> for Bytes<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_bytes(deserializer).map(Bytes::new)
    }
}

/// The `u8` sequences [`Bytes`] carries.
pub trait ByteSequence: Sized {
    /// Writes `value` as a byte string; a large `Vec<u8>` may be given
    /// away, leaving `value` empty.
    fn serialize_bytes<S: Serializer>(value: &mut Self, serializer: S) -> Result<S::Ok, S::Error>;

    fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

impl ByteSequence for Vec<u8> {
    fn serialize_bytes<S: Serializer>(value: &mut Self, serializer: S) -> Result<S::Ok, S::Error> {
        match wire::give_large(value) {
            Some(placeholder) => serializer.serialize_bytes(placeholder),
            None => serializer.serialize_bytes(value),
        }
    }

    fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_byte_buf(ByteVec)
    }
}

impl<const N: usize> ByteSequence for [u8; N] {
    fn serialize_bytes<S: Serializer>(value: &mut Self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(value)
    }

    fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_bytes::deserialize(deserializer)
    }
}

impl<T: ByteSequence> ByteSequence for Option<T> {
    fn serialize_bytes<S: Serializer>(value: &mut Self, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => serializer.serialize_some(&Lent(RefCell::new(inner))),
            None => serializer.serialize_none(),
        }
    }

    fn deserialize_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(OptionOf(std::marker::PhantomData))
    }
}

/// A sequence inside an `Option`, written as [`Bytes`] writes it.
struct Lent<'a, T>(RefCell<&'a mut T>);

impl<T: ByteSequence> Serialize for Lent<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        T::serialize_bytes(&mut self.0.borrow_mut(), serializer)
    }
}

/// Reads a `Vec<u8>` as `serde_bytes::ByteBuf` does (a byte string, text,
/// or an array of integers), taking a large byte string's buffer whole.
struct ByteVec;

impl ByteVec {
    /// The large byte string `bytes` stands for, if it is the placeholder
    /// of one.
    fn taken<E: serde::de::Error>(bytes: &[u8]) -> Result<Option<Vec<u8>>, E> {
        match wire::take_placed(bytes) {
            Placed::No => Ok(None),
            Placed::Content(content) => Ok(Some(content)),
            Placed::Again => Err(E::custom(
                "a large byte string was read twice (through an untagged or flattened enum?)",
            )),
        }
    }
}

impl<'de> Visitor<'de> for ByteVec {
    type Value = Vec<u8>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("byte array")
    }

    fn visit_seq<V: SeqAccess<'de>>(self, mut seq: V) -> Result<Vec<u8>, V::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element()? {
            bytes.push(byte);
        }
        Ok(bytes)
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(ByteVec::taken(v)?.unwrap_or_else(|| v.to_vec()))
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(ByteVec::taken(&v)?.unwrap_or(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        Ok(v.as_bytes().to_vec())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Vec<u8>, E> {
        Ok(v.into_bytes())
    }
}

/// Reads an `Option` of a [`ByteSequence`] as serde does (none, unit, or
/// some).
struct OptionOf<T>(std::marker::PhantomData<fn() -> T>);

impl<'de, T: ByteSequence> Visitor<'de> for OptionOf<T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("optional byte array")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        T::deserialize_bytes(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_payload_owned, encode_payload_owned, encode_payload_within};

    const LIMIT: usize = 1 << 30;

    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        encode_payload_within(value, LIMIT).unwrap()
    }

    fn data() -> Vec<u8> {
        (0..200_000u32).map(|i| (i % 253) as u8).collect()
    }

    #[test]
    fn a_large_vec_is_the_buffer_it_arrived_in() {
        let payload = encode(&(Bytes::new(data()), 3u8));
        let buffer = payload.as_ptr() as usize;
        let (vec, three): (Bytes<Vec<u8>>, u8) =
            decode_payload_owned(payload.into(), LIMIT).unwrap();
        let vec = vec.into_inner();
        assert_eq!((&vec, three), (&data(), 3));
        assert_eq!(vec.as_ptr() as usize, buffer);

        let payload = encode(&(Bytes::new(Some(data())),));
        let buffer = payload.as_ptr() as usize;
        let (some,): (Bytes<Option<Vec<u8>>>,) =
            decode_payload_owned(payload.into(), LIMIT).unwrap();
        let some = some.into_inner().expect("some bytes");
        assert_eq!((&some, some.as_ptr() as usize), (&data(), buffer));
    }

    #[test]
    fn a_large_vec_given_by_value_is_the_buffer_it_leaves_in() {
        let mut sent = Vec::with_capacity(200_000 + 16);
        sent.extend(data());
        let buffer = sent.as_ptr() as usize;
        let payload = encode_payload_owned((Bytes::new(sent), 3u8), LIMIT).unwrap();
        assert_eq!(payload, encode(&(Bytes::new(data()), 3u8)));
        assert_eq!(payload.parts()[1].as_ptr() as usize, buffer);
        // In an `Option` too.
        let payload = encode_payload_owned((Bytes::new(Some(data())),), LIMIT).unwrap();
        assert_eq!(payload, encode(&(Bytes::new(Some(data())),)));
    }

    #[test]
    fn encoding_by_reference_leaves_the_value_whole() {
        let value = (Bytes::new(data()), Bytes::new(Some(data())));
        let first = encode(&value);
        assert_eq!(encode(&value), first);
        let (vec, some) = value;
        assert_eq!(
            (vec.into_inner(), some.into_inner()),
            (data(), Some(data()))
        );
    }

    #[test]
    fn every_form_a_sequence_takes_reads_back() {
        type Shape = (
            Bytes<Vec<u8>>,
            Bytes<[u8; 3]>,
            Bytes<Option<Vec<u8>>>,
            Bytes<Option<[u8; 2]>>,
        );
        let value = (
            Bytes::new(vec![1, 2]),
            Bytes::new([3, 4, 5]),
            Bytes::new(None::<Vec<u8>>),
            Bytes::new(Some([6, 7])),
        );
        let (a, b, c, d): Shape = decode_payload_owned(encode(&value).into(), LIMIT).unwrap();
        assert_eq!(
            (
                a.into_inner(),
                b.into_inner(),
                c.into_inner(),
                d.into_inner()
            ),
            (vec![1, 2], [3, 4, 5], None, Some([6, 7]))
        );
    }

    #[test]
    fn arrays_of_integers_read_as_bytes() {
        // What a peer without `Bytes` sends: serde's array of integers.
        let payload = encode(&(vec![1u8, 2, 3], Some(vec![4u8])));
        let (a, b): (Bytes<Vec<u8>>, Bytes<Option<Vec<u8>>>) =
            decode_payload_owned(payload.into(), LIMIT).unwrap();
        assert_eq!(
            (a.into_inner(), b.into_inner()),
            (vec![1, 2, 3], Some(vec![4]))
        );
    }
}
