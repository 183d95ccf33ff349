//! The serving side: procedures, the reply cache, the responder, and the
//! server that keeps its procedures registered with the matchmaker.
//!
//! A call reads top to bottom: socket -> [`Responder`] (`responder/`: the
//! receive loop, admission, execute, answer, outbox) -> reply cache ->
//! the procedure -> answer -> socket. Beside it, [`Server`] (`serve`) binds
//! a responder and runs the lease keeper (`lease_keeper`), which registers
//! the procedures with the matchmaker and renews their lease. No file here
//! imports one that imports it back: `serve` stands on the responder and
//! the lease keeper; the responder on `reply_cache` and `procedure`.

mod call_counts;
mod lease_keeper;
pub(crate) mod linked;
#[cfg(feature = "metrics")]
pub mod metrics;
mod procedure;
mod reply_cache;
mod responder;
mod serve;
mod shared_reply;
mod source;
mod state;

pub use crate::wire::Elsewhere;
pub use call_counts::CallCounts;
pub use procedure::{
    CallContext, Handler, HandlerError, Procedure, ProcedureSet, ProcedureSetError,
};
pub use responder::{
    DEFAULT_ACK_DELAY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_MAX_INBOUND_BYTES, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_REPLY_CACHE_BYTES, DEFAULT_RETENTION, DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_STREAM_READ_TIMEOUT, DEFAULT_STREAM_WRITE_TIMEOUT, Responder, ResponderConfig,
    ResponderStats, ResponderWatch, StreamConfig, StreamStats,
};
pub use serve::{DEFAULT_SERVER_REPLY_CACHE_BYTES, Server, ServerBuilder};
pub use source::{Source, source_of};
pub use state::{MissingState, SharedState, State, States};
