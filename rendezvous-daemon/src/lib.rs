//! # rendezvous-daemon: the matchmaker
//!
//! The one process at a well-known address (default `127.0.0.1:5000`) that
//! maps procedure names to the servers that run them. Servers register their
//! procedures under a lease they keep renewing; clients look names up and
//! call the servers directly. The matchmaker is itself a procedure server:
//! its operations (`rendezvous.register`, `.renew`, `.unregister`, `.lookup`,
//! `.list`, `.status`) are served by the same [`Responder`] that serves user calls, so
//! retransmissions and duplicates are handled once, there (a retransmitted
//! `register` cannot create two leases).
//!
//! Embed it (demos and tests do):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let matchmaker = rendezvous_daemon::Matchmaker::bind("127.0.0.1:0".parse().unwrap()).await?;
//! println!("matchmaker at {}", matchmaker.local_addr());
//! matchmaker.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! or run the binary: `rendezvous-daemon --listen 127.0.0.1:5000`.
//!
//! By default the table lives in memory: a restarted matchmaker starts empty
//! and servers register again when their next renewal is refused as an
//! unknown lease (within one heartbeat). With the cargo feature `etcd`,
//! several matchmakers can share one etcd cluster instead
//! ([`Matchmaker::bind_with_store`], [`store`]).
//!
//! It is safe to expose (SECURITY.md at the repository root has the threat
//! model): registrations need the shared secret, or come from loopback when
//! there is none ([`gatekeeper`]); no answer is more than three times the
//! size of its request; everything that grows has a limit
//! ([`MatchmakerConfig`]); refusals are logged at most once a second per
//! kind ([`refusal_log`]).

mod budget;
pub mod gatekeeper;
mod metrics;
pub mod refusal_log;
mod service;
pub mod store;

pub use gatekeeper::{DEFAULT_AUTH_WINDOW, DEFAULT_MAX_NONCES, Gatekeeper};
// Granted to a server that asks for no TTL, between `MIN_LEASE_TTL` and
// `MAX_LEASE_TTL` (the default `TtlBounds`).
pub use rendezvous_core::protocol::matchmaker::DEFAULT_LEASE_TTL;
pub use store::{
    DEFAULT_MAX_REGISTRATIONS, DEFAULT_MAX_REGISTRATIONS_PER_SOURCE, LIST_PAGE_BYTES, Limits,
    MAX_LEASE_TTL, MAX_PROCEDURES_PER_LEASE, MIN_LEASE_TTL, Store, TtlBounds,
};

use rendezvous_core::matchmaker::Secret;
use rendezvous_core::server::metrics::MetricsHttp;
use rendezvous_core::server::{Responder, ResponderConfig, ResponderStats};
use rendezvous_runtime::{self as rt, Instant};
use service::{Shared, State, lock};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use store::MemoryStore;

/// How often leases past their TTL are swept out when nobody asks.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// How a matchmaker runs.
#[derive(Clone, Debug)]
pub struct MatchmakerConfig {
    /// The lease TTLs granted (by the in-memory store).
    pub ttl: TtlBounds,
    /// How requests are answered. The matchmaker always sets
    /// `bound_replies`: it answers anyone.
    pub responder: ResponderConfig,
    /// How many registrations it holds, in all and per source address (in
    /// the in-memory store).
    pub limits: Limits,
    /// The secret registrations must be signed with; without one, only
    /// loopback peers may register.
    pub secret: Option<Secret>,
    /// How far a signed request's timestamp may be from this host's clock.
    pub auth_window: Duration,
    /// How many nonces of signed requests it remembers at most.
    pub max_nonces: usize,
}

impl Default for MatchmakerConfig {
    fn default() -> Self {
        MatchmakerConfig {
            ttl: TtlBounds::default(),
            responder: ResponderConfig::default(),
            limits: Limits::default(),
            secret: None,
            auth_window: DEFAULT_AUTH_WINDOW,
            max_nonces: DEFAULT_MAX_NONCES,
        }
    }
}

/// A running matchmaker.
#[derive(Debug)]
pub struct Matchmaker {
    responder: Responder,
    state: Shared,
    sweeper: rt::JoinHandle<()>,
}

impl Matchmaker {
    /// Binds `address` and serves with the default configuration.
    pub async fn bind(address: SocketAddr) -> io::Result<Matchmaker> {
        Matchmaker::bind_with(address, MatchmakerConfig::default()).await
    }

    /// Binds `address` and serves as `config` says, keeping the table in
    /// memory.
    pub async fn bind_with(
        address: SocketAddr,
        config: MatchmakerConfig,
    ) -> io::Result<Matchmaker> {
        let store = Arc::new(MemoryStore::new(config.ttl, config.limits));
        Matchmaker::bind_with_store(address, config, store).await
    }

    /// Binds `address` and serves from `store`, which applies its own TTL
    /// bounds and limits (`config.ttl` and `config.limits` are for the
    /// in-memory store of [`Matchmaker::bind_with`]).
    pub async fn bind_with_store(
        address: SocketAddr,
        config: MatchmakerConfig,
        store: Arc<dyn Store>,
    ) -> io::Result<Matchmaker> {
        let signed = config.secret.is_some();
        let gate = Gatekeeper::new(config.secret, config.auth_window, config.max_nonces);
        let state = State::new(store, gate);
        let procedures = service::procedures(&state);
        let responder_config = ResponderConfig {
            bound_replies: true,
            ..config.responder
        };
        let responder = Responder::bind(address, procedures, responder_config).await?;
        if signed {
            tracing::info!(
                window = ?config.auth_window,
                "register, renew and unregister must carry an HMAC under the shared secret, from any address"
            );
        } else {
            tracing::warn!(
                "no shared secret (--secret-file): registrations are accepted only from loopback, i.e. from servers on this host"
            );
        }
        let sweeper = rt::spawn(sweep(state.clone()));
        Ok(Matchmaker {
            responder,
            state,
            sweeper,
        })
    }

    /// The bound address, with the port the OS chose if bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.responder.local_addr()
    }

    /// Number of live leases (servers registered).
    pub fn lease_count(&self) -> usize {
        self.state.store.counts().leases
    }

    /// Number of registrations held (rows of `list`).
    pub fn registration_count(&self) -> usize {
        self.state.store.counts().registrations
    }

    pub fn stats(&self) -> ResponderStats {
        self.responder.stats()
    }

    /// Serves `/metrics` (Prometheus text) and a status page at `/` on
    /// `address`, until the returned endpoint is dropped. An address off
    /// loopback is refused unless `allow_remote`.
    pub fn serve_metrics(
        &self,
        address: SocketAddr,
        allow_remote: bool,
    ) -> io::Result<MetricsHttp> {
        let watch = self.responder.watch();
        let registry = metrics::registry(watch.clone(), self.state.clone());
        let page = metrics::Page {
            address: self.local_addr(),
            watch,
            state: self.state.clone(),
        };
        MetricsHttp::start(address, allow_remote, registry, Box::new(page))
    }

    /// Stops answering; requests in flight finish first.
    pub async fn shutdown(self) {
        self.sweeper.cancel().await;
        self.responder.shutdown().await;
    }
}

/// Expires leases nobody asked about, and writes the counts of refusals
/// whose log lines were suppressed.
async fn sweep(state: Shared) {
    loop {
        rt::sleep(EXPIRY_SWEEP_INTERVAL).await;
        let now = Instant::now();
        for gone in state.store.expire() {
            tracing::info!(endpoint = %gone.endpoint, procedures = ?gone.names, "lease expired");
        }
        for (kind, suppressed) in lock(&state.log).flush(now) {
            tracing::warn!(
                suppressed,
                "{suppressed} more requests refused: {}",
                kind.describe()
            );
        }
    }
}
