//! A finished call's encoded reply, shared by the reply cache and every
//! answer that carries it (the first send, a replay, a stream waiter's
//! copy): a large reply is never copied to be kept or sent again.
//!
//! A reply returning a large result ([`SPLIT_MIN_BYTES`] or more) is held
//! in parts, the envelope before the result's content and the result
//! itself as the handler's encode left it (its own buffer, `Payload`), so
//! it is not copied into one message either: a stream writes the parts one
//! after the other. A datagram needs
//! one buffer, and gets a copy (at most a datagram's size). A stream
//! connection's queue carries every answer in this form (an ack or a
//! refusal held whole, shared by no one).
//!
//! [`SPLIT_MIN_BYTES`]: crate::wire::SPLIT_MIN_BYTES

use crate::wire::Payload;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SharedReply(Arc<Parts>);

/// The message is `head ++ rest`.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    head: Vec<u8>,
    rest: Payload,
}

impl SharedReply {
    /// A message in one buffer.
    pub(crate) fn whole(bytes: Vec<u8>) -> SharedReply {
        SharedReply::around(bytes, Payload::default())
    }

    /// A message in two parts: `head`, then `rest` (a result, as the
    /// handler's encode holds it).
    pub(crate) fn around(head: Vec<u8>, rest: Payload) -> SharedReply {
        SharedReply(Arc::new(Parts { head, rest }))
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.head.len() + self.0.rest.len()
    }

    /// Its front, which holds the envelope's header (the whole message,
    /// unless held in parts).
    pub(crate) fn head(&self) -> &[u8] {
        &self.0.head
    }

    /// Its bytes, as the parts it is held in (all but the first may be
    /// empty; the third is the one that may be large).
    pub(crate) fn parts(&self) -> [&[u8]; 4] {
        let [before, large, after] = self.0.rest.parts();
        [&self.0.head, before, large, after]
    }

    /// Its bytes in one buffer: its own, if it is held whole and not
    /// shared; else a copy.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match Arc::try_unwrap(self.0) {
            Ok(Parts { head, rest }) if rest.is_empty() => head,
            Ok(parts) => parts.joined(),
            Err(shared) => shared.joined(),
        }
    }
}

impl Parts {
    fn joined(&self) -> Vec<u8> {
        let [before, large, after] = self.rest.parts();
        [&self.head[..], before, large, after].concat()
    }
}

impl From<Vec<u8>> for SharedReply {
    fn from(bytes: Vec<u8>) -> SharedReply {
        SharedReply::whole(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_reads_the_same_whole_or_in_parts_shared_or_not() {
        let whole = SharedReply::whole(b"headrest".to_vec());
        let parts = SharedReply::around(b"head".to_vec(), b"rest".to_vec().into());
        for reply in [whole, parts] {
            assert_eq!(reply.len(), 8);
            assert_eq!(reply.parts().concat(), b"headrest");
            assert!(reply.head().starts_with(b"head"));
            let kept = reply.clone();
            assert_eq!(reply.into_vec(), b"headrest");
            assert_eq!(kept.into_vec(), b"headrest");
        }
    }

    #[test]
    fn an_unshared_whole_reply_gives_its_own_buffer() {
        let bytes = vec![7; 100];
        let at = bytes.as_ptr() as usize;
        let back = SharedReply::whole(bytes).into_vec();
        assert_eq!(back.as_ptr() as usize, at);
    }
}
