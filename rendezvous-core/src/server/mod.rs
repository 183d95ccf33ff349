//! The serving side: procedures, the reply cache, the responder loop, and
//! the server that keeps its procedures registered with the matchmaker.

mod linked;
mod procedure;
mod registration;
mod reply_cache;
mod responder;
mod serve;

pub use linked::{LinkedProcedure, linked_procedures};
pub use procedure::{
    CallContext, Handler, HandlerError, Procedure, ProcedureSet, ProcedureSetError,
};
pub use responder::{
    DEFAULT_ACK_DELAY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_REPLY_CACHE_BYTES, DEFAULT_RETENTION,
    Responder, ResponderConfig, ResponderStats,
};
pub use serve::{Server, ServerBuilder};
