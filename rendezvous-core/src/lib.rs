//! # rendezvous
//!
//! Remote procedure calls over UDP, where servers bind whatever port the OS
//! gives them and clients find them through a **matchmaker**: a daemon on one
//! well-known address (`127.0.0.1:5000` by default) that maps procedure names
//! to the endpoints that run them.
//!
//! ```text
//! server: bind :0 ──register(name, signature, endpoint, TTL)──▶ matchmaker
//! client: ──lookup(name, signature)──▶ matchmaker ──endpoints──▶ client (cached)
//! client: ──call(client id, xid, args)──▶ server ──reply (the ACK)──▶ client
//! ```
//!
//! * Every request — a lookup, a registration, a user call — is one
//!   [`wire::Message::Call`] named by (client id, xid), retransmitted under
//!   one [`RetryPolicy`] until its reply arrives or its deadline passes.
//! * Servers run each call **once**: a duplicate of a running call gets an
//!   ACK, a duplicate of a finished call gets the reply again from the
//!   server's reply cache.
//! * Signatures are fingerprinted ([`Fingerprint`]), so a caller built
//!   against another version of a procedure gets
//!   [`Error::SignatureMismatch`], not garbage.
//!
//! The matchmaker is itself a procedure server (its procedures are named
//! `rendezvous.*`); [`MatchmakerClient`] speaks to it:
//!
//! ```no_run
//! # async fn demo() -> Result<(), rendezvous_core::Error> {
//! use rendezvous_core::MatchmakerClient;
//!
//! let matchmaker = MatchmakerClient::connect("127.0.0.1:5000".parse().unwrap()).await?;
//! for endpoint in matchmaker.lookup("math.add", None).await? {
//!     println!("math.add lives at {}", endpoint.address);
//! }
//! # Ok(()) }
//! ```
//!
//! The wire protocol is specified in PROTOCOL.md at the repository root.

pub mod client;
mod error;
pub mod matchmaker;
mod random;
pub mod retry;
pub mod rt;
pub mod server;
pub mod signature;
pub mod wire;

pub use client::{Client, ClientBuilder, ClientStats, RemoteProcedure};
pub use error::Error;
pub use matchmaker::MatchmakerClient;
pub use retry::RetryPolicy;
pub use server::{Procedure, Server, ServerBuilder};
pub use signature::Fingerprint;
