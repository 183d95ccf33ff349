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
        }
    }
}
