//! [`Payload`]: a payload's bytes, in one buffer or in two.
//!
//! A payload whose large byte string moves between the socket and a value
//! without a copy (`large_bytes`) cannot live in one buffer: the value's
//! `Vec<u8>` holds the string's content from its first byte, so the few
//! bytes of CBOR in front of it (the argument tuple's head, the string's
//! own) and any after it are kept in a second, small buffer. Putting them
//! in one buffer would move the whole content along by those few bytes,
//! once on each side of a call: measured with perf, a fifth of a 16 MiB
//! echo's cycles.
//!
//! Every reader sees the same bytes either way: [`Payload::parts`] in
//! order, or [`Payload::to_vec`] joined. Equality is of the bytes.

use std::fmt;

/// A payload's CBOR bytes (a call's arguments, a returned result).
#[derive(Clone, Default)]
pub struct Payload {
    /// Its bytes; with `large`, all but that string's content.
    bytes: Vec<u8>,
    /// Boxed, so that the payload of every small call (in the call, its
    /// outcome, every future that holds them) stays a `Vec` and a pointer.
    large: Option<Box<Large>>,
}

/// A large byte string held apart from the payload's other bytes.
#[derive(Clone)]
struct Large {
    /// Where its head starts in the other bytes.
    head: usize,
    /// Where its content goes in them: just after its head.
    at: usize,
    content: Vec<u8>,
}

/// A payload in two buffers, taken apart (see [`Payload::apart`]).
pub(super) struct Apart {
    /// The bytes other than the large string's content.
    pub(super) around: Vec<u8>,
    /// Where the string's head starts in `around`.
    pub(super) head: usize,
    /// Where its content goes in `around`.
    pub(super) at: usize,
    pub(super) content: Vec<u8>,
}

impl Payload {
    /// The payload `around[..at] ++ content ++ around[at..]`, where
    /// `around[head..at]` is the head of a byte string of `content`'s
    /// length: held in these two buffers. Bytes that are not that are
    /// joined into one buffer instead (the same payload).
    pub fn around(mut around: Vec<u8>, head: usize, at: usize, content: Vec<u8>) -> Payload {
        let is_head =
            head < at && at <= around.len() && is_bytes_head(&around[head..at], content.len());
        if !is_head {
            let at = at.min(around.len());
            around.splice(at..at, content);
            return Payload::from(around);
        }
        Payload {
            bytes: around,
            large: Some(Box::new(Large { head, at, content })),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.large.as_ref().map_or(0, |large| large.content.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes in order, as three slices: held in two buffers, the bytes
    /// before its large string's content, that content, and the bytes
    /// after it; held in one, nothing, all of them, nothing. The middle
    /// one is the one that may be large.
    pub fn parts(&self) -> [&[u8]; 3] {
        match &self.large {
            Some(large) => [
                &self.bytes[..large.at],
                &large.content,
                &self.bytes[large.at..],
            ],
            None => [&[], &self.bytes, &[]],
        }
    }

    /// The bytes its buffers have room for.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
            + self
                .large
                .as_ref()
                .map_or(0, |large| large.content.capacity())
    }

    /// Its bytes in one buffer, when it is held in one.
    pub fn as_slice(&self) -> Option<&[u8]> {
        self.large.is_none().then_some(&self.bytes[..])
    }

    /// Its bytes joined in a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        self.parts().concat()
    }

    /// Its bytes in one buffer: its own, if it is held in one; else joined.
    pub fn into_vec(self) -> Vec<u8> {
        match self.large {
            None => self.bytes,
            Some(_) => self.to_vec(),
        }
    }

    /// Held in two buffers: its parts by value; else `Err` with itself.
    pub(super) fn apart(self) -> Result<Apart, Vec<u8>> {
        match self.large.map(|large| *large) {
            Some(Large { head, at, content }) => Ok(Apart {
                around: self.bytes,
                head,
                at,
                content,
            }),
            None => Err(self.bytes),
        }
    }

    /// Whether its bytes are `other`.
    fn same_bytes(&self, mut other: &[u8]) -> bool {
        if other.len() != self.len() {
            return false;
        }
        self.parts().iter().all(|part| {
            let (front, rest) = other.split_at(part.len());
            other = rest;
            front == *part
        })
    }
}

/// Whether `bytes` are exactly the head of a definite-length byte string
/// of `length` bytes (RFC 8949 §3: major type 2, the length in the
/// initial byte or in the 1, 2, 4 or 8 bytes after it).
fn is_bytes_head(bytes: &[u8], length: usize) -> bool {
    let Some((&initial, argument)) = bytes.split_first() else {
        return false;
    };
    let declared = match (initial >> 5, initial & 0x1f) {
        (2, info @ 0..=23) if argument.is_empty() => u64::from(info),
        (2, info @ 24..=27) if argument.len() == 1 << (info - 24) => argument
            .iter()
            .fold(0u64, |value, byte| (value << 8) | u64::from(*byte)),
        _ => return false,
    };
    declared == length as u64
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Payload {
        Payload { bytes, large: None }
    }
}

impl From<&[u8]> for Payload {
    fn from(bytes: &[u8]) -> Payload {
        Payload::from(bytes.to_vec())
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        match other.as_slice() {
            Some(bytes) => self.same_bytes(bytes),
            None => self.same_bytes(&other.to_vec()),
        }
    }
}

impl Eq for Payload {}

impl PartialEq<[u8]> for Payload {
    fn eq(&self, other: &[u8]) -> bool {
        self.same_bytes(other)
    }
}

impl PartialEq<&[u8]> for Payload {
    fn eq(&self, other: &&[u8]) -> bool {
        self.same_bytes(other)
    }
}

impl PartialEq<Vec<u8>> for Payload {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.same_bytes(other)
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Payload {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.same_bytes(other)
    }
}

impl fmt::Debug for Payload {
    /// Its bytes, as a `Vec<u8>`'s are shown; a large string apart as its
    /// length alone.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.large {
            None => self.bytes.fmt(f),
            Some(large) => f
                .debug_struct("Payload")
                .field("before", &&self.bytes[..large.at])
                .field("large", &format_args!("{} bytes", large.content.len()))
                .field("after", &&self.bytes[large.at..])
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[h'…']` with 20,000 bytes, in two buffers and in one.
    fn both() -> (Payload, Vec<u8>) {
        let content: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        let around = vec![0x81, 0x59, 0x4e, 0x20];
        let whole = [&around[..], &content].concat();
        (Payload::around(around, 1, 4, content), whole)
    }

    #[test]
    fn a_payload_in_two_buffers_is_its_bytes_in_order() {
        let (apart, whole) = both();
        assert_eq!(apart.len(), whole.len());
        assert_eq!(apart.parts().concat(), whole);
        assert_eq!(apart.parts()[1].len(), 20_000);
        assert_eq!(apart, whole);
        assert_eq!(apart, Payload::from(whole.clone()));
        assert_eq!(Payload::from(whole.clone()), apart);
        assert_eq!(apart.as_slice(), None);
        assert_eq!(apart.clone().into_vec(), whole);
        let mut other = whole.clone();
        *other.last_mut().unwrap() ^= 1;
        assert_ne!(apart, other);
        assert_ne!(apart, whole[..whole.len() - 1]);
    }

    #[test]
    fn parts_that_do_not_hold_a_string_head_are_joined() {
        let (_, whole) = both();
        let content = whole[4..].to_vec();
        // A head of the wrong length, a head that is not one, out of range.
        for (around, head, at) in [
            (vec![0x81, 0x59, 0x4e, 0x21], 1, 4),
            (vec![0x81, 0x19, 0x4e, 0x20], 1, 4),
            (vec![0x81, 0x59, 0x4e, 0x20], 1, 9),
            (vec![0x81, 0x59, 0x4e, 0x20], 4, 4),
        ] {
            let payload = Payload::around(around.clone(), head, at, content.clone());
            let at = at.min(around.len());
            let expected = [&around[..at], &content, &around[at..]].concat();
            assert_eq!(payload.as_slice(), Some(&expected[..]));
        }
    }

    #[test]
    fn a_payload_in_one_buffer_is_that_buffer() {
        let bytes = vec![0x82, 0x02, 0x03];
        let pointer = bytes.as_ptr() as usize;
        let payload = Payload::from(bytes);
        assert_eq!(payload.parts(), [&[][..], &[0x82, 0x02, 0x03], &[]]);
        assert_eq!(payload, [0x82, 0x02, 0x03]);
        assert_eq!(format!("{payload:?}"), "[130, 2, 3]");
        let back = payload.into_vec();
        assert_eq!(back.as_ptr() as usize, pointer);
        assert!(Payload::default().is_empty());
    }
}
