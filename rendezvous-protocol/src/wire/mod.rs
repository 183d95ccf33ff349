//! The wire protocol: message types and their CBOR codec.
//!
//! Every message is one CBOR array whose first four elements are frozen for
//! all protocol versions: `[version, kind, client, xid, ...]`. A datagram
//! carries one message, or several back to back (a batch: a CBOR sequence,
//! RFC 8742) when a peer has many for the same address. A peer can
//! therefore answer a message of a version it does not speak with an
//! [`Outcome::UnsupportedVersion`] reply that the sender will match to its
//! call. PROTOCOL.md specifies every field; this module is its executable
//! form.
//!
//! Decoding is total and bounded: any byte string gives a [`Message`] or an
//! [`Undecodable`] naming what was wrong, never a panic. Datagrams are capped
//! at [`MAX_DATAGRAM_BYTES`], payload nesting at [`MAX_NESTING`], names at
//! [`MAX_NAME_BYTES`]. The envelope decoder allocates no more than the
//! input's own length. The payload decoder can transiently allocate up to
//! 1 MiB per nested collection whose declared length exceeds the input (serde
//! preallocates from the declared length, capped at 1 MiB): bounded, freed
//! at once, and a known item to remove (fuzz/README.md).
//!
//! The envelope is a strict CBOR subset read and written by hand (`cbor`):
//! definite lengths, unsigned integers, text, bytes, exact array lengths.
//! Payloads go through serde and ciborium (`payload`).
//!
//! Call arguments and results travel as opaque CBOR byte strings (payloads),
//! encoded and decoded with [`encode_payload`] and [`decode_payload`].

mod cbor;
mod depth;
mod envelope;
mod payload;

pub use payload::{decode_payload, encode_payload};

use crate::signature::Fingerprint;
use std::fmt;
use std::time::Duration;

/// The most bytes a peer puts in one datagram when it batches several
/// messages together: one Ethernet frame (1500) less IPv6 and UDP headers,
/// so a batch is never fragmented. A message larger than this travels alone.
pub const MAX_BATCH_BYTES: usize = 1452;

/// The same to a loopback address, whose interface carries 64 KiB frames:
/// large enough for a dozen 1 KiB calls, small enough that a socket's
/// default receive buffer holds many batches.
pub const MAX_LOOPBACK_BATCH_BYTES: usize = 16 * 1024;

/// The most bytes to batch into one datagram to `peer`.
pub fn batch_limit(peer: &std::net::SocketAddr) -> usize {
    if peer.ip().to_canonical().is_loopback() {
        MAX_LOOPBACK_BATCH_BYTES
    } else {
        MAX_BATCH_BYTES
    }
}

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// The largest datagram rendezvous sends or accepts: the largest UDP payload
/// over IPv4. Larger ones are refused before any decoding.
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

/// The longest procedure name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;

/// The deepest CBOR nesting any decoder accepts (arrays and maps).
pub const MAX_NESTING: usize = 32;

/// The longest deadline a call can carry (the wire field is in milliseconds).
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// An unauthenticated reply is at most this many times the size of the call
/// datagram that caused it. UDP source addresses can be forged, so a reply
/// much larger than its call would let anyone aim traffic at a third party
/// (rpcbind answers 7 to 28 times its query). Error replies to undecodable
/// calls and refusals always respect it; so does every reply of a responder
/// configured with `bound_replies` (`rendezvous-core`'s `ResponderConfig`),
/// as the matchmaker's is.
pub const AMPLIFICATION_FACTOR: usize = 3;

/// The most bytes a reply's envelope adds around its result payload:
/// `[1, 2, client, xid, incarnation, [0, bytes]]` with every integer at its
/// widest (9 bytes) and the byte string's header at 3 (a datagram's payload
/// is under 65 536 bytes).
pub const MAX_REPLY_ENVELOPE_BYTES: usize = 35;

/// The most bytes a reply to a call datagram of `call_bytes` may have under
/// [`AMPLIFICATION_FACTOR`].
pub fn reply_limit(call_bytes: usize) -> usize {
    AMPLIFICATION_FACTOR
        .saturating_mul(call_bytes)
        .min(MAX_DATAGRAM_BYTES)
}

/// The most bytes a result payload may have so that the reply carrying it
/// stays within [`reply_limit`] of a call datagram of `call_bytes`.
pub fn result_budget(call_bytes: usize) -> usize {
    reply_limit(call_bytes).saturating_sub(MAX_REPLY_ENVELOPE_BYTES)
}

/// Names one client instance; drawn at random when the client starts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ClientId(pub u64);

/// Transaction id: names one call of one client for the call's whole life.
/// Clients number their calls upwards from 1; 0 never names a call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Xid(pub u64);

/// Names one run of a server process; drawn at random at start, so a server
/// restarted on the same port is recognisably a different one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Incarnation(pub u64);

impl Incarnation {
    /// In a call: "whichever incarnation answers" (the caller knows only the address).
    pub const ANY: Incarnation = Incarnation(0);
}

impl fmt::Display for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One datagram.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    Call(Call),
    Ack(Ack),
    Reply(Reply),
    Confirm(Confirm),
}

/// A request to run a procedure (kind 0).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Call {
    pub client: ClientId,
    pub xid: Xid,
    /// The server incarnation the caller expects, or [`Incarnation::ANY`].
    pub incarnation: Incarnation,
    pub procedure: String,
    pub signature: Fingerprint,
    /// Time the caller will wait, from when it first sent the call.
    pub deadline: Duration,
    /// Every call of this client with a lower xid has finished at the client:
    /// the server may forget those replies and drop late duplicates of them.
    pub done_below: Xid,
    /// The CBOR encoding of the argument tuple.
    pub args: Vec<u8>,
}

/// "Your call is running; stop retransmitting at full rate" (kind 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Ack {
    pub client: ClientId,
    pub xid: Xid,
    pub incarnation: Incarnation,
}

/// The result of a call, or why there is none (kind 2). The reply is the
/// acknowledgment of the call.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reply {
    pub client: ClientId,
    pub xid: Xid,
    /// The incarnation of the server that answered.
    pub incarnation: Incarnation,
    pub outcome: Outcome,
}

/// "I have the reply to `xid`; forget it" (kind 3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Confirm {
    pub client: ClientId,
    pub xid: Xid,
}

/// What became of a call. `NoSuchProcedure`, `SignatureMismatch`,
/// `WrongIncarnation`, `UnsupportedVersion`, `Malformed`, `BadArguments`
/// and `Overloaded` mean it did not run; the others say how far it got.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// It ran and returned this CBOR-encoded value.
    Return(Vec<u8>),
    /// It ran and panicked with this message.
    Panicked(String),
    /// This server has no procedure of that name; it did not run.
    NoSuchProcedure,
    /// This server's procedure has another signature (given); it did not run.
    SignatureMismatch(Fingerprint),
    /// The call named an incarnation other than the server's (in the reply
    /// header); it did not run.
    WrongIncarnation,
    /// The message's protocol version is not spoken here; these are.
    UnsupportedVersion(Vec<u64>),
    /// The message could not be decoded; it did not run.
    Malformed(String),
    /// The arguments did not decode as the procedure's parameters; it did not run.
    BadArguments(String),
    /// It ran, but its result, or the reply carrying it, is `size` bytes:
    /// over the datagram limit.
    ReplyTooLarge { size: u64, limit: u64 },
    /// The server's reply cache, full, evicted its record of this call before
    /// the caller received the reply: it ran, or (rarely) it was forgotten
    /// unrun. It will not run now.
    ReplyEvicted,
    /// It was cancelled at its deadline, possibly part-way through.
    DeadlineExceeded,
    /// The server was running as many calls as it allows; this one did not
    /// run and was not recorded. Send the same call again after a pause.
    Overloaded,
}

/// The frozen first four elements of every message, all versions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    pub version: u64,
    pub kind: u64,
    pub client: ClientId,
    pub xid: Xid,
}

/// Why a byte string is not a [`Message`].
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("datagram of {size} bytes exceeds the {limit}-byte limit; send smaller arguments")]
    TooLarge { size: usize, limit: usize },
    #[error("message ends early: it was truncated or is incomplete")]
    Truncated,
    #[error("malformed: {reason}")]
    Malformed { reason: String },
    #[error("CBOR nested deeper than the limit of {limit} levels")]
    TooDeep { limit: usize },
    #[error("{count} unexpected bytes after the end of the message")]
    TrailingBytes { count: usize },
    #[error(
        "protocol version {version} is not supported; this peer speaks version {PROTOCOL_VERSION}"
    )]
    UnsupportedVersion { version: u64 },
    #[error("field `{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

/// A datagram that did not decode. When its frozen header did, `header` says
/// who sent it, so the receiver can answer with an error reply.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Undecodable {
    pub header: Option<Header>,
    pub error: DecodeError,
}

/// Why a message could not be encoded.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("encoded message is {size} bytes, over the {limit}-byte datagram limit")]
    TooLarge { size: usize, limit: usize },
    #[error("value could not be encoded as CBOR: {reason}")]
    Unencodable { reason: String },
}

impl Message {
    /// Decodes a datagram that carries one message.
    pub fn decode(datagram: &[u8]) -> Result<Message, Undecodable> {
        envelope::decode(datagram)
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
        envelope::encode_into(self, out)
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
        match envelope::decode_front(self.rest) {
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
                envelope::$encode(self, out)
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
