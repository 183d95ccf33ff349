//! The matchmaker's procedures: reserved names, argument and result types,
//! and the MAC that signs registrations.
//!
//! The matchmaker is a procedure server at a well-known address, as the
//! portmapper is RPC program 100000 on port 111. Its operations travel in the
//! same call/reply envelope as user calls; each takes one argument (a request
//! struct, so the argument tuple is a one-element CBOR array) and returns
//! `Result<T, MatchmakerError>`, encoded the way serde encodes a `Result`
//! (`{"Ok": ...}` or `{"Err": ...}`). Struct fields are CBOR maps with text
//! keys, so a peer in another language can read them without a schema.
//!
//! [`messages`](self) are the data, [`operation`] pairs each request with
//! its name, signature and answer, [`auth`] signs and checks requests.

pub mod auth;
mod messages;
pub mod operation;

pub use messages::*;
pub use operation::Operation;
