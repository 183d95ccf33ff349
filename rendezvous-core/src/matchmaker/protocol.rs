//! The matchmaker's procedures: reserved names, argument and result types.
//!
//! The matchmaker is a procedure server at a well-known address, as the
//! portmapper is RPC program 100000 on port 111. Its operations travel in the
//! same call/reply envelope as user calls; each takes one argument (a request
//! struct, so the argument tuple is a one-element CBOR array) and returns
//! `Result<T, MatchmakerError>`, encoded the way serde encodes a `Result`
//! (`{"Ok": ...}` or `{"Err": ...}`). Struct fields are CBOR maps with text
//! keys, so a peer in another language can read them without a schema.

use crate::signature::Fingerprint;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Lease TTL a server asks for unless told otherwise.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Reserved procedure names.
pub const REGISTER: &str = "rendezvous.register";
pub const RENEW: &str = "rendezvous.renew";
pub const UNREGISTER: &str = "rendezvous.unregister";
pub const LOOKUP: &str = "rendezvous.lookup";
pub const LIST: &str = "rendezvous.list";

/// Their signatures, computed like any procedure's.
pub const REGISTER_SIGNATURE: Fingerprint =
    Fingerprint::of("rendezvous.register(RegisterRequest)->Result<Lease,MatchmakerError>");
pub const RENEW_SIGNATURE: Fingerprint =
    Fingerprint::of("rendezvous.renew(RenewRequest)->Result<Renewed,MatchmakerError>");
pub const UNREGISTER_SIGNATURE: Fingerprint =
    Fingerprint::of("rendezvous.unregister(UnregisterRequest)->Result<(),MatchmakerError>");
pub const LOOKUP_SIGNATURE: Fingerprint =
    Fingerprint::of("rendezvous.lookup(LookupRequest)->Result<Lookup,MatchmakerError>");
pub const LIST_SIGNATURE: Fingerprint =
    Fingerprint::of("rendezvous.list(ListRequest)->Result<ListPage,MatchmakerError>");

/// The unguessable name of a lease: 128 bits from the OS's random source.
/// Whoever holds it can renew or end the lease.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(#[serde(with = "serde_bytes")] pub [u8; 16]);

impl LeaseToken {
    /// A fresh token from the OS random source.
    pub fn generate() -> Result<LeaseToken, getrandom::Error> {
        crate::random::token().map(LeaseToken)
    }
}

impl std::fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret; the first bytes are enough to tell leases apart.
        write!(f, "LeaseToken({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// A procedure as registered: name and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureSpec {
    pub name: String,
    pub signature: Fingerprint,
}

/// `rendezvous.register`: put these procedures at `endpoint` under one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub procedures: Vec<ProcedureSpec>,
    pub endpoint: SocketAddr,
    pub incarnation: u64,
    /// Requested lease TTL; 0 asks for the matchmaker's default.
    pub ttl_ms: u64,
}

/// A granted lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub token: LeaseToken,
    /// The TTL granted (the request clamped to the matchmaker's bounds).
    pub ttl_ms: u64,
}

/// `rendezvous.renew`: extend a lease by its TTL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewRequest {
    pub token: LeaseToken,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewed {
    pub ttl_ms: u64,
}

/// `rendezvous.unregister`: end a lease and remove its registrations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterRequest {
    pub token: LeaseToken,
}

/// `rendezvous.lookup`: where does `name` live?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRequest {
    pub name: String,
    /// The signature the caller expects; `None` accepts any (for tools).
    pub signature: Option<Fingerprint>,
}

/// Every live endpoint of a name whose signature matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub endpoints: Vec<EndpointInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub address: SocketAddr,
    pub signature: Fingerprint,
    pub incarnation: u64,
    /// Time left on the lease; clients may cache the endpoint this long.
    pub ttl_ms: u64,
}

/// `rendezvous.list`: one page of every registration, ordered by
/// (name, endpoint), starting after `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRequest {
    pub after: Option<ListCursor>,
}

/// Where a page ended: the last (name, endpoint) it held.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListCursor {
    pub name: String,
    pub endpoint: SocketAddr,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage {
    pub registrations: Vec<Registration>,
    /// Pass this as `after` for the next page; `None` on the last page.
    pub next: Option<ListCursor>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub name: String,
    pub endpoint: SocketAddr,
    pub signature: Fingerprint,
    pub incarnation: u64,
    pub ttl_ms: u64,
}

/// Why the matchmaker refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchmakerError {
    /// No live registration has this name.
    NotFound { name: String },
    /// Registrations exist, but none with the expected signature.
    SignatureMismatch {
        name: String,
        expected: Fingerprint,
        available: Vec<Fingerprint>,
    },
    /// The lease expired or was never granted here: register again.
    UnknownLease,
    /// The request breaks a rule (empty name, too many procedures, ...).
    InvalidRequest { reason: String },
}
