//! What the matchmaker keeps, behind one trait: leases and the names they
//! bind. The UDP front end, the protocol and the CLI are the same whatever
//! the store.
//!
//! - [`MemoryStore`], the default: one daemon's table in its memory;
//!   nothing else to install, and gone when the daemon stops (servers
//!   register again within one renewal).
//! - `EtcdStore` (cargo feature `etcd`): several daemons share one etcd
//!   cluster, so any of them answers for any server and a daemon's death
//!   loses nothing. Its layout and consistency are in its module's docs.
//!
//! Writes (register, renew, unregister) may wait on the store and so return
//! futures; reads (lookup, list) never wait: they answer from what this
//! daemon holds, which for the etcd store is a cache kept by a watch.

pub mod directory;
#[cfg(feature = "etcd")]
pub mod etcd;
mod memory;
mod policy;

pub use memory::{LeaseTable, MemoryStore};
pub use policy::{
    DEFAULT_MAX_REGISTRATIONS, DEFAULT_MAX_REGISTRATIONS_PER_SOURCE, LIST_PAGE_BYTES, Limits,
    MAX_LEASE_TTL, MAX_PROCEDURES_PER_LEASE, MIN_LEASE_TTL, TtlBounds, validate,
};

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::*;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

/// A store operation under way.
pub type Pending<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a lease covered when it ended, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    pub endpoint: SocketAddr,
    pub names: Vec<String>,
}

/// How much a store holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Live leases (servers registered).
    pub leases: usize,
    /// Registrations (rows of `list`).
    pub registrations: usize,
}

/// Where a store keeps the table, and whether it reaches it now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreHealth {
    /// `"memory"` or `"etcd"`.
    pub kind: &'static str,
    /// False while an etcd store cannot reach etcd (lookups answer from
    /// the cache, writes are refused `StoreUnavailable`).
    pub reachable: bool,
    /// Requests made to etcd so far, retries included (0 for memory).
    pub round_trips: u64,
    /// Times etcd became unreachable (0 for memory).
    pub outages: u64,
}

/// What the matchmaker keeps. Every implementation enforces
/// [`validate`], [`TtlBounds`] and [`Limits`] the same way, and answers
/// `UnknownLease` for a token it does not hold (expired, never granted, or
/// lost), which tells a server to register again.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Grants `token` a lease over the request's procedures at its endpoint,
    /// beside any registrations already there; `source` is the address the
    /// request came from (for the per-source limit).
    fn register(
        &self,
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
    ) -> Pending<Result<Lease, MatchmakerError>>;

    /// Extends the lease by its TTL.
    fn renew(&self, token: LeaseToken) -> Pending<Result<Renewed, MatchmakerError>>;

    /// Ends the lease and removes its registrations.
    fn unregister(&self, token: LeaseToken) -> Pending<Result<Expired, MatchmakerError>>;

    /// Every live endpoint of `name` with `signature` (any, if `None`),
    /// ordered by address, then by lease (older first), rotated to begin
    /// one further along than the name's previous lookup (see `directory`).
    fn lookup(&self, name: &str, signature: Option<Fingerprint>)
    -> Result<Lookup, MatchmakerError>;

    /// One page of registrations after `after`, at most `page_bytes` of
    /// CBOR result; `Err(bytes)` when the next one alone needs `bytes`.
    fn list(&self, after: Option<ListCursor>, page_bytes: usize) -> Result<ListPage, usize>;

    /// Whether leases of incarnations other than `incarnation` are held
    /// at `endpoint` (a restarted server's predecessor, or an impostor).
    fn others_at(&self, endpoint: SocketAddr, incarnation: u64) -> bool;

    /// Ends at once the leases at `endpoint` of incarnations other than
    /// `incarnation`, which the matchmaker found holding the endpoint
    /// (one process holds a port at a time). They are *replaced*: lookups
    /// do not name them as unregistered.
    fn replace(&self, endpoint: SocketAddr, incarnation: u64) -> Pending<Vec<Expired>>;

    /// Frees leases whose time has passed and returns what they covered;
    /// called periodically. (A store whose backend expires leases itself
    /// returns nothing here.)
    fn expire(&self) -> Vec<Expired>;

    fn counts(&self) -> Counts;

    /// For `status` and the metrics.
    fn health(&self) -> StoreHealth;
}
