//! The matchmaker's requests and answers: plain data, as they travel.

use crate::signature::Fingerprint;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::fmt;
use std::net::SocketAddr;

/// Lease TTL a server asks for unless told otherwise.
pub const DEFAULT_LEASE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Bytes of random nonce in each authenticated request.
pub const NONCE_BYTES: usize = 16;

/// Bytes of an HMAC-SHA256 tag.
pub const MAC_BYTES: usize = 32;

/// What an authenticated request carries, under its `auth` key.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// The sender's clock when it made the request: milliseconds since the
    /// Unix epoch.
    pub timestamp_ms: u64,
    /// Random, fresh for each request: a nonce seen twice is a replay.
    #[serde(with = "serde_bytes")]
    pub nonce: [u8; NONCE_BYTES],
    /// HMAC-SHA256 of the MAC input (see [`super::auth`]) under the shared
    /// secret.
    #[serde(with = "serde_bytes")]
    pub mac: [u8; MAC_BYTES],
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Auth {{ timestamp_ms: {}, nonce: {:02x}{:02x}.., mac: {:02x}{:02x}.. }}",
            self.timestamp_ms, self.nonce[0], self.nonce[1], self.mac[0], self.mac[1]
        )
    }
}

/// The unguessable name of a lease: 128 bits from the OS's random source.
/// Whoever holds it can renew or end the lease.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeaseToken(#[serde(with = "serde_bytes")] pub [u8; 16]);

impl LeaseToken {
    /// A fresh token from the OS random source.
    pub fn generate() -> Result<LeaseToken, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(LeaseToken(bytes))
    }
}

impl fmt::Debug for LeaseToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret; the first bytes are enough to tell leases apart.
        write!(f, "LeaseToken({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

/// Most bytes of a registration's `signature_text`: a matchmaker refuses a
/// longer one as an invalid request.
pub const MAX_SIGNATURE_TEXT_BYTES: usize = 1024;

/// A procedure as registered: name and signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureSpec {
    pub name: String,
    pub signature: Fingerprint,
    /// The signature text the fingerprint was computed from
    /// (`math.add(i64, i64) -> i64`), for people: `list` prints it and a
    /// mismatch names it. At most [`MAX_SIGNATURE_TEXT_BYTES`]. Absent from
    /// older servers and from procedures built by hand without one; the
    /// matchmaker stores it as given and never checks it against the
    /// fingerprint (the fingerprint is what decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_text: Option<String>,
}

impl ProcedureSpec {
    /// A spec without a signature text (as an older server sends).
    pub fn new(name: impl Into<String>, signature: Fingerprint) -> ProcedureSpec {
        ProcedureSpec {
            name: name.into(),
            signature,
            signature_text: None,
        }
    }
}

/// `rendezvous.register`: put these procedures at `endpoint` under one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    pub procedures: Vec<ProcedureSpec>,
    pub endpoint: SocketAddr,
    pub incarnation: u64,
    /// Requested lease TTL; 0 asks for the matchmaker's default.
    pub ttl_ms: u64,
    /// The MAC, when the matchmaker has a shared secret (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
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
    /// The MAC, when the matchmaker has a shared secret (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewed {
    pub ttl_ms: u64,
}

/// `rendezvous.unregister`: end a lease and remove its registrations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnregisterRequest {
    pub token: LeaseToken,
    /// The MAC, when the matchmaker has a shared secret (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// `rendezvous.lookup`: where does `name` live?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupRequest {
    pub name: String,
    /// The signature the caller expects; `None` accepts any (for tools).
    pub signature: Option<Fingerprint>,
    /// Ignored bytes that make the request larger, and so the answer the
    /// matchmaker may send: its replies are at most
    /// [`crate::wire::AMPLIFICATION_FACTOR`] times the request's datagram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<ByteBuf>,
}

/// Live endpoints of a name whose signature matched: all of them, or as
/// many as fit the reply's size limit, with `truncated` set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lookup {
    pub endpoints: Vec<EndpointInfo>,
    /// Other matching endpoints exist that did not fit; pad the request for
    /// more, or `list` them. Absent (false) when all are here.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Endpoints of this name that left recently by unregistering (a
    /// graceful exit), and only those: an endpoint whose lease expired, or
    /// that a new incarnation at its address replaced, is not here, since
    /// neither says whether it ran a call sent to it. A client that met
    /// silence at an endpoint reads it as "it left before taking the call"
    /// only when it is listed here. Absent (empty) from matchmakers that do
    /// not keep it, and dropped first when the answer must be cut.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unregistered: Vec<Departed>,
}

/// An endpoint that left a name's registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departed {
    pub address: SocketAddr,
    pub incarnation: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
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
    /// Ignored bytes that make the request larger, and so the page the
    /// matchmaker may send (up to its page cap), as for lookups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<ByteBuf>,
}

/// Where a page ended: the last registration it held, by (name, endpoint,
/// lease number).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListCursor {
    pub name: String,
    pub endpoint: SocketAddr,
    /// The matchmaker's number for the lease, which orders registrations of
    /// one name at one endpoint (a restarted server's next to its
    /// predecessor's until that one expires).
    #[serde(default)]
    pub lease: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListPage {
    pub registrations: Vec<Registration>,
    /// Pass this as `after` for the next page; `None` on the last page.
    pub next: Option<ListCursor>,
    /// The matchmaker cannot reach its shared store (etcd), so this page
    /// comes from its cache and may miss recent changes. Absent (false)
    /// when the data is current, and always from a single in-memory daemon.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stale: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub name: String,
    pub endpoint: SocketAddr,
    pub signature: Fingerprint,
    /// The signature text it was registered with, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_text: Option<String>,
    pub incarnation: u64,
    pub ttl_ms: u64,
}

/// `rendezvous.status`: how the matchmaker is, for operators. No fields
/// yet; a later one will be optional, so this request stays valid.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {}

/// What the matchmaker says of itself: where its table lives, whether it
/// can reach it, and how much it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchmakerStatus {
    /// `"memory"` (one daemon's table) or `"etcd"` (a shared store).
    pub store: String,
    /// Whether the store answers now (always true for memory); while an
    /// etcd store does not, lookups answer from the daemon's cache and
    /// registrations are refused `StoreUnavailable`.
    pub store_reachable: bool,
    /// Live leases (servers registered).
    pub leases: u64,
    /// Registrations (rows of `list`).
    pub registrations: u64,
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
        /// The signature texts of `available`, where registrations gave
        /// them: pairs, so that a text is never put beside the wrong
        /// fingerprint. Absent from older matchmakers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        available_texts: Vec<(Fingerprint, String)>,
    },
    /// The lease expired or was never granted here: register again.
    UnknownLease,
    /// The request breaks a rule (empty name, too many procedures, ...).
    InvalidRequest { reason: String },
    /// register/renew/unregister without a valid MAC under the matchmaker's
    /// shared secret (missing, or made with another secret).
    Unauthenticated { reason: String },
    /// The request's timestamp is outside the matchmaker's window: the
    /// clocks differ, or it is an old request replayed.
    StaleRequest {
        request_ms: u64,
        matchmaker_ms: u64,
        window_ms: u64,
    },
    /// The request's nonce was used before (within the window): a replay.
    Replayed,
    /// This matchmaker has no shared secret, so it accepts registrations
    /// only from loopback; this one came from `peer`.
    SecretRequired { peer: SocketAddr },
    /// Accepting the request would exceed one of the matchmaker's limits.
    LimitReached { what: String, limit: u64 },
    /// The answer does not fit the size allowed for a reply to a request
    /// this small: send the request again padded to `needed_bytes`.
    RequestTooSmall { needed_bytes: u64 },
    /// The matchmaker cannot reach the store it shares with other
    /// matchmakers (etcd), so it cannot register, renew or unregister now.
    /// Lookups still answer from its cache. Retry later, or through another
    /// matchmaker.
    StoreUnavailable { reason: String },
}
