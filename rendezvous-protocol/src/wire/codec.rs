//! The messages' methods that read and write bytes (through `envelope`),
//! batches of several messages in one datagram, and the error reply to a
//! datagram that does not decode.

use super::envelope;
use super::limits::{MAX_DATAGRAM_BYTES, PROTOCOL_VERSION, reply_limit};
use super::message::*;

impl Message {
    /// Decodes a datagram that carries one message.
    pub fn decode(datagram: &[u8]) -> Result<Message, Undecodable> {
        envelope::decode(datagram, MAX_DATAGRAM_BYTES)
    }

    /// Decodes one message of at most `limit` bytes (a stream frame's body).
    pub fn decode_within(bytes: &[u8], limit: usize) -> Result<Message, Undecodable> {
        envelope::decode(bytes, limit)
    }

    /// Decodes every message of a datagram, front to back, with the bytes
    /// each took; stops after the first that does not decode.
    pub fn decode_batch(datagram: &[u8]) -> Batch<'_> {
        Batch {
            rest: datagram,
            failed: false,
        }
    }

    /// Encodes into `out` (cleared first), refusing what would not fit a datagram.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        envelope::encode_into(self, out, MAX_DATAGRAM_BYTES)
    }

    /// Encodes into `out` (cleared first), refusing what exceeds `limit`
    /// bytes (a stream's limit rather than a datagram's).
    pub fn encode_within(&self, out: &mut Vec<u8>, limit: usize) -> Result<(), EncodeError> {
        envelope::encode_into(self, out, limit)
    }

    /// Encodes into a new buffer.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    pub fn header(&self) -> Header {
        let (kind, client, xid) = match self {
            Message::Call(m) => (envelope::KIND_CALL, m.client, m.xid),
            Message::Ack(m) => (envelope::KIND_ACK, m.client, m.xid),
            Message::Reply(m) => (envelope::KIND_REPLY, m.client, m.xid),
            Message::Confirm(m) => (envelope::KIND_CONFIRM, m.client, m.xid),
        };
        Header {
            version: PROTOCOL_VERSION,
            kind,
            client,
            xid,
        }
    }
}

/// The messages of one datagram (see [`Message::decode_batch`]).
#[derive(Debug)]
pub struct Batch<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Batch<'a> {
    /// The bytes not yet decoded (all of them, after a failure).
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

impl Iterator for Batch<'_> {
    type Item = Result<(Message, usize), Undecodable>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match envelope::decode_front(self.rest, MAX_DATAGRAM_BYTES) {
            Ok((message, length)) => {
                self.rest = &self.rest[length..];
                Some(Ok((message, length)))
            }
            Err(undecodable) => {
                self.failed = true;
                Some(Err(undecodable))
            }
        }
    }
}

macro_rules! encode_by_reference {
    ($($kind:ident => $encode:ident),*) => {$(
        impl $kind {
            /// Encodes into `out` (cleared first), refusing what would not
            /// fit a datagram; no copy of the message is made.
            pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
                envelope::$encode(self, out, MAX_DATAGRAM_BYTES)
            }

            /// Encodes into `out` (cleared first), refusing what exceeds
            /// `limit` bytes (a stream's limit rather than a datagram's).
            pub fn encode_within(&self, out: &mut Vec<u8>, limit: usize) -> Result<(), EncodeError> {
                envelope::$encode(self, out, limit)
            }

            /// Encodes into a new buffer.
            pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
                let mut out = Vec::new();
                self.encode_into(&mut out)?;
                Ok(out)
            }
        }
    )*};
}

encode_by_reference!(Call => encode_call, Ack => encode_ack, Reply => encode_reply, Confirm => encode_confirm);

impl Header {
    /// The frozen header at the front of `bytes`, which may be only the
    /// first bytes of a message (a stream frame too large to read: its
    /// refusal names the call from these).
    pub fn decode_front(bytes: &[u8]) -> Result<Header, DecodeError> {
        envelope::decode_header(bytes)
    }

    /// True when the message was a call, the only kind that deserves an
    /// error reply (answering anything else could start a reply loop).
    pub fn is_call(&self) -> bool {
        self.kind == envelope::KIND_CALL
    }
}

impl Undecodable {
    /// The reply to a call that did not decode, if it deserves one, with
    /// the whole reason. Servers send [`Undecodable::error_reply_within`].
    pub fn error_reply(&self, incarnation: Incarnation) -> Option<Reply> {
        self.error_reply_within(incarnation, MAX_DATAGRAM_BYTES)
    }

    /// The reply a server sends to a call of `datagram_bytes` that it cannot
    /// decode, if any, within [`reply_limit`] of it: a reason that does not
    /// fit is cut (at a character boundary), and a datagram too short for
    /// even the shortest reply to fit gets none (no real call is that short).
    pub fn error_reply_within(
        &self,
        incarnation: Incarnation,
        datagram_bytes: usize,
    ) -> Option<Reply> {
        let header = self.header.filter(Header::is_call)?;
        let limit = reply_limit(datagram_bytes);
        let reply = |outcome| Reply {
            client: header.client,
            xid: header.xid,
            incarnation,
            outcome,
        };
        let fits = |reply: &Reply| reply.encode().is_ok_and(|bytes| bytes.len() <= limit);
        let reason = match &self.error {
            DecodeError::UnsupportedVersion { .. } => {
                let answer = reply(Outcome::UnsupportedVersion(vec![PROTOCOL_VERSION]));
                return fits(&answer).then_some(answer);
            }
            other => other.to_string(),
        };
        let shortest = reply(Outcome::Malformed(String::new())).encode().ok()?;
        let room = limit.checked_sub(shortest.len())?;
        // A text header grows by at most 2 bytes with its length (< 65 536).
        let mut cut = reason.len().min(room.saturating_sub(2));
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let answer = reply(Outcome::Malformed(reason[..cut].to_owned()));
        fits(&answer).then_some(answer)
    }
}
