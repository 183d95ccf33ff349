//! How a responder treats calls, and the defaults a server starts with.

use std::time::Duration;

/// How a responder treats calls.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// Memory the reply cache may hold: its tables, buffers and replies as
    /// allocated, so that filled to it the process grows by about this.
    /// A source's client records stay below `bytes / (sources + 1)`.
    pub reply_cache_bytes: usize,
    /// How long a reply is kept for a client that never confirms it.
    pub retention: Duration,
    /// A call running longer than this is acknowledged without waiting for a duplicate.
    pub ack_delay: Duration,
    /// On shutdown, how long calls in flight may take to finish.
    pub drain_timeout: Duration,
    /// Calls that may run at once; a new call beyond them is answered
    /// `Overloaded` without running.
    pub max_calls_in_flight: usize,
    /// Hold every reply, not only errors, to [`AMPLIFICATION_FACTOR`] times
    /// its call's datagram. For services that answer anyone (the
    /// matchmaker); off for user servers, whose results are theirs to size.
    ///
    /// [`AMPLIFICATION_FACTOR`]: crate::wire::AMPLIFICATION_FACTOR
    pub bound_replies: bool,
    /// The stream transport (TCP, on the UDP socket's port number): `None`
    /// serves datagrams only, as the matchmaker does.
    pub stream: Option<StreamConfig>,
    /// How long the receive loop polls its socket for the next datagram
    /// before parking (default and why: [`DEFAULT_SERVER_SPIN`];
    /// `Duration::ZERO`: never).
    ///
    /// [`DEFAULT_SERVER_SPIN`]: crate::spin::DEFAULT_SERVER_SPIN
    pub spin: Duration,
}

/// How a responder's stream transport bounds what its peers may hold
/// (see `stream` for the hostile cases each limit answers).
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// The largest message accepted, and the largest reply sent: a frame
    /// announcing more is refused by its length alone.
    pub max_message_bytes: usize,
    /// Connections open at once, in all; one more is closed at accept.
    pub max_connections: usize,
    /// Connections open at once from one source (`source_of`).
    pub max_connections_per_source: usize,
    /// Bytes of messages being read at once, on all connections: a frame
    /// waits for room before its buffer is allocated.
    pub max_inbound_bytes: usize,
    /// How long a started frame may wait for its next bytes.
    pub read_timeout: Duration,
    /// How long a reply may take to be written; a peer that does not read
    /// its replies is cut off then.
    pub write_timeout: Duration,
    /// How long a connection may stay open with no message in it.
    pub idle_timeout: Duration,
}

/// Enough for files and images; gRPC's default is 4 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = crate::wire::DEFAULT_MAX_MESSAGE_BYTES;
/// Connections a server keeps open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Connections one source may keep open at once: enough for a client's
/// many concurrent large calls (each takes a connection while it runs).
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: usize = 128;
/// Room for 64 messages of the default largest size being read at once.
pub const DEFAULT_MAX_INBOUND_BYTES: usize = 64 * DEFAULT_MAX_MESSAGE_BYTES;
/// Stream timeouts: generous for a slow link, short enough that a stalled
/// peer lets go of its connection and its buffers.
pub const DEFAULT_STREAM_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
            max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
            read_timeout: DEFAULT_STREAM_READ_TIMEOUT,
            write_timeout: DEFAULT_STREAM_WRITE_TIMEOUT,
            idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
        }
    }
}

/// 8 MiB of replies: ~100k small replies, enough for a full retention window
/// of a busy server, small enough not to matter on any host.
pub const DEFAULT_REPLY_CACHE_BYTES: usize = 8 << 20;
/// Longer than any default retry window (the default deadline is 10 s).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60);
/// Well above a loopback or LAN round trip, well below the first retransmission.
pub const DEFAULT_ACK_DELAY: Duration = Duration::from_millis(20);
/// Calls in flight at shutdown get this long to finish.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough concurrency for any one host's worth of clients; at most this
/// many argument buffers (each at most a datagram) and tasks held at once.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 1024;

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            reply_cache_bytes: DEFAULT_REPLY_CACHE_BYTES,
            retention: DEFAULT_RETENTION,
            ack_delay: DEFAULT_ACK_DELAY,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            bound_replies: false,
            stream: None,
            spin: crate::spin::DEFAULT_SERVER_SPIN,
        }
    }
}
