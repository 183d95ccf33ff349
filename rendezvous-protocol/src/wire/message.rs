//! The messages as data: the four kinds, their fields, the outcomes, and
//! why a message does not decode or encode. How they become bytes is
//! `envelope` (and `codec`, their methods).

use super::limits::PROTOCOL_VERSION;
use super::payload_bytes::Payload;
use crate::signature::Fingerprint;
use std::fmt;
use std::time::Duration;

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
    pub args: Payload,
    /// What the caller knows of the call's attempts at other servers. Not
    /// [`Elsewhere::Nowhere`], it travels as a note right after the call
    /// in the same datagram (PROTOCOL.md, "Notes"), which version-1 peers
    /// that do not know notes skip.
    pub elsewhere: Elsewhere,
}

/// What a caller knows of a call's attempts at *other* servers (other
/// endpoints, or other incarnations at this one) before it sent the call
/// here. Ordered: each level says more than the one before. A handler of
/// an idempotent procedure may use it to check for effects an earlier
/// attempt left (only idempotent calls move once they may have run).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Elsewhere {
    /// No other server can have run it, as far as the caller knows.
    #[default]
    Nowhere,
    /// It was sent to another server that then went silent or restarted:
    /// it may have run there, fully, partly or not at all.
    Unanswered,
    /// Another server acknowledged it: it started there, and may have
    /// finished.
    Acknowledged,
}

/// "Your call is running"; stop retransmitting at full rate" (kind 1).
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
/// `WrongIncarnation`, `WrongIncarnationUptime`, `UnsupportedVersion`, `Malformed`, `BadArguments`
/// and `Overloaded` mean it did not run; the others say how far it got.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// It ran and returned this CBOR-encoded value.
    Return(Payload),
    /// It ran and panicked with this message.
    Panicked(String),
    /// This server has no procedure of that name; it did not run.
    NoSuchProcedure,
    /// This server's procedure has another signature (given); it did not run.
    SignatureMismatch(Fingerprint),
    /// The call named an incarnation other than the server's (in the reply
    /// header); it did not run.
    WrongIncarnation,
    /// `WrongIncarnation`, and how long the answering incarnation has been
    /// serving (ms since it bound its socket). Sent right after a
    /// `WrongIncarnation` for the same call, in the same datagram, where a
    /// peer that does not know it stops reading (PROTOCOL.md, Outcomes).
    /// A call first sent to that address less than this long ago cannot
    /// have reached an earlier process there.
    WrongIncarnationUptime(u64),
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
    /// It ran; its reply, `size` bytes, is too large for a datagram and
    /// waits in the server's reply cache: send the same call (same client
    /// id and xid) over the stream to fetch it. Sent only right after a
    /// `ReplyTooLarge` for the same call, in the same datagram, where a
    /// peer that does not know it stops reading (PROTOCOL.md, Streams).
    ReplyWaiting { size: u64 },
    /// The message, `size` bytes, is over the receiver's `limit`: it was
    /// neither read whole nor run. Sent on a stream only.
    MessageTooLarge { size: u64, limit: u64 },
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
    #[error("the CBOR ends early: it was truncated or is incomplete")]
    Truncated,
    #[error("malformed: {reason}")]
    Malformed { reason: String },
    #[error("CBOR nested deeper than the limit of {limit} levels")]
    TooDeep { limit: usize },
    #[error("{count} unexpected bytes after the end of the message")]
    TrailingBytes { count: usize },
    /// A payload (arguments or result) holds more than one CBOR item.
    #[error("{count} unexpected bytes after the payload's CBOR item")]
    PayloadTrailingBytes { count: usize },
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
