//! The serving side: procedures, the reply cache and the responder loop.

mod procedure;
mod reply_cache;
mod responder;

pub use procedure::{CallContext, Handler, HandlerError, Procedure, ProcedureSet, ProcedureSetError};
pub use responder::{
    DEFAULT_ACK_DELAY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REPLY_CACHE_BYTES, DEFAULT_RETENTION,
    Responder, ResponderConfig, ResponderStats,
};
