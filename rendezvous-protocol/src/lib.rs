//! # rendezvous-protocol
//!
//! What travels between rendezvous peers, and nothing that moves it: the
//! message types and their CBOR codec ([`wire`]), signature fingerprints
//! ([`signature`]), the matchmaker's requests and answers
//! ([`matchmaker`]), each of its six procedures as one typed
//! [`Operation`], and the MAC that signs registrations
//! ([`matchmaker::auth`]). PROTOCOL.md at the repository root is the
//! specification; this crate is its executable form.
//!
//! `rendezvous-core`, the runtime, depends on this crate and re-exports it
//! whole as `rendezvous_core::protocol`, so users need only that one
//! dependency.
//!
//! ## Why a crate of its own
//!
//! The protocol is a crate, not a module of the runtime, so that the
//! compiler keeps it free of the runtime: its dependencies are serde,
//! ciborium, HMAC-SHA256 and the OS random source, with no socket, no
//! executor and no timer among them, and nothing here can name
//! `rendezvous-core`. A module would keep that rule only by review. Two
//! readers gain from it: a peer written in another language has one small
//! crate to read beside PROTOCOL.md, and the fuzz targets of the decoders
//! need nothing but what they check.

pub mod matchmaker;
pub mod signature;
pub mod wire;

pub use matchmaker::operation::Operation;
pub use signature::Fingerprint;
