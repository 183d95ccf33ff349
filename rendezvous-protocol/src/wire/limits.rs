//! The protocol's numbers: its version, and the sizes, depths and ratios
//! that bound every message.

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

/// The largest message a stream peer sends or accepts unless told
/// otherwise (`ServerBuilder::max_message_bytes`, the client's alike);
/// gRPC's default is 4 MiB, files and images want more.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;

/// The most a stream frame's 4-byte length can say: no limit may exceed it.
pub const MAX_FRAME_BYTES: usize = u32::MAX as usize;

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
