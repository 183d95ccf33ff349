//! The etcd store: several matchmakers sharing one etcd cluster, so any of
//! them answers for any server and losing one loses nothing.
//!
//! # Mapping
//!
//! - A rendezvous lease is one etcd lease with the granted TTL (etcd counts
//!   whole seconds, so TTLs round up to one). Renew is one keep-alive;
//!   expiry is etcd's; a lease etcd does not have answers `UnknownLease`,
//!   the same "register again" as a single daemon's.
//! - A registration is one key per (name, endpoint, lease) attached to the
//!   lease, and the lease has a record keyed by the SHA-256 of its token
//!   (never the token), so any daemon can renew or end any lease. The key
//!   layout is in [`layout`].
//! - Each daemon keeps a read cache ([`cache`]): one read of the prefix at
//!   revision R, then a watch from R + 1; after a compaction or a lost watch
//!   it reads again. Lookups and `list` answer from it and never wait on
//!   etcd. Writes go to etcd and wait (up to a second) for their own change
//!   to reach this daemon's cache, so a lookup here right after a register
//!   finds it.
//! - When etcd is unreachable, lookups answer from the cache, `list` pages
//!   say `stale`, and writes answer `StoreUnavailable` (servers retry, and
//!   try their other matchmakers). The outage is logged once when it starts
//!   and once when it ends; the watch loop keeps trying, so everything
//!   resumes by itself.
//!
//! # What a client may see
//!
//! etcd is linearizable; the caches are not. A registration through daemon
//! A is at A when register returns, and at B when B's watch delivers it
//! (typically milliseconds; longer while B is cut off from etcd, when B's
//! answers are stale). So during failover a client may briefly get NotFound
//! for a server that just registered elsewhere, or an endpoint whose lease
//! just ended; clients already treat both as they do a single daemon's
//! answers (retry the lookup later; fail over from a dead endpoint). Lookup
//! results carry the lease's granted TTL, not the time left: a daemon does
//! not see renewals made through others. Limits are counted in each
//! daemon's cache, so daemons registering at the same moment may together
//! pass a limit by what they admitted concurrently.
//!
//! # Runtime
//!
//! etcd-client is built on tokio. The store owns one thread running a
//! current-thread tokio runtime ([`worker`]); the matchmaker sends it writes
//! over channels, so no tokio type crosses the [`Store`] trait.

pub mod cache;
pub mod layout;
mod worker;

use crate::store::policy::{Limits, TtlBounds};
use crate::store::{Counts, Expired, Pending, Store, StoreHealth};
use cache::Cache;
use layout::Layout;
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::*;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use worker::{Command, Shared};

/// The prefix under which a matchmaker keeps its keys unless told otherwise.
pub const DEFAULT_PREFIX: &str = "/rendezvous/";

/// How long [`EtcdStore::connect`] waits for etcd before giving up.
pub const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// Writes queued for the store's thread at most; beyond it, callers wait.
const COMMAND_QUEUE: usize = 1024;

/// Where etcd is and how to talk to it.
#[derive(Clone)]
pub struct EtcdConfig {
    /// Client URLs, e.g. `http://127.0.0.1:2379`; several for a cluster.
    pub endpoints: Vec<String>,
    /// The key prefix; matchmakers sharing a prefix share a table.
    pub prefix: String,
    /// User name and password, for an etcd with authentication enabled.
    pub user: Option<(String, String)>,
    pub tls: Option<EtcdTls>,
}

impl fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("user", &self.user.as_ref().map(|(user, _)| user))
            .field("tls", &self.tls)
            .finish()
    }
}

impl EtcdConfig {
    /// `endpoints` under the default prefix, without authentication or TLS.
    pub fn new(endpoints: Vec<String>) -> EtcdConfig {
        EtcdConfig {
            endpoints,
            prefix: DEFAULT_PREFIX.to_owned(),
            user: None,
            tls: None,
        }
    }
}

/// TLS towards etcd (URLs then start with `https://`), as PEM.
#[derive(Clone)]
pub struct EtcdTls {
    /// The CA that signed etcd's certificate; the system's roots if `None`.
    pub ca: Option<Vec<u8>>,
    /// This matchmaker's certificate and key, for etcd's
    /// `--client-cert-auth`.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for EtcdTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdTls")
            .field("ca", &self.ca.is_some())
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl EtcdTls {
    fn options(&self) -> etcd_client::TlsOptions {
        let mut options = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca {
            options = options.ca_certificate(etcd_client::Certificate::from_pem(ca));
        }
        if let Some((certificate, key)) = &self.identity {
            options = options.identity(etcd_client::Identity::from_pem(certificate, key));
        }
        options
    }
}

/// Whether the cache is following etcd, logged once per change.
#[derive(Debug)]
pub struct Health {
    live: AtomicBool,
    /// Requests sent to etcd (each attempt), for `/metrics`.
    pub round_trips: AtomicU64,
    /// Transitions to unreachable, for `/metrics`.
    pub outages: AtomicU64,
    /// Serializes transitions, so each is logged exactly once.
    transition: Mutex<()>,
}

impl Health {
    fn new() -> Health {
        Health {
            live: AtomicBool::new(true),
            round_trips: AtomicU64::new(0),
            outages: AtomicU64::new(0),
            transition: Mutex::new(()),
        }
    }

    /// True while the watch is established: the cache is current.
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn up(&self, endpoints: &str) {
        let _transition = self.transition.lock();
        if !self.live.swap(true, Ordering::AcqRel) {
            tracing::info!(etcd = %endpoints, "etcd is reachable again: registrations resume and lookups are current");
        }
    }

    fn down(&self, reason: &str) {
        let _transition = self.transition.lock();
        if self.live.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                %reason,
                "etcd is unreachable: lookups answer from this matchmaker's cache (list says stale), and register/renew/unregister are refused as StoreUnavailable until it is back"
            );
        }
    }
}

/// The [`Store`] over etcd.
#[derive(Debug)]
pub struct EtcdStore {
    shared: Arc<Shared>,
    commands: async_channel::Sender<Command>,
}

impl EtcdStore {
    /// Connects to etcd and reads the table; fails if etcd does not answer
    /// within [`STARTUP_DEADLINE`] (a matchmaker starting with an empty
    /// cache would answer NotFound for everything).
    pub async fn connect(
        config: EtcdConfig,
        ttl: TtlBounds,
        limits: Limits,
    ) -> Result<EtcdStore, String> {
        if config.endpoints.is_empty() {
            return Err("no etcd URL given (e.g. --etcd http://127.0.0.1:2379)".into());
        }
        let shared = Arc::new(Shared {
            cache: Mutex::new(Cache::new(Layout::new(&config.prefix))),
            health: Health::new(),
            ttl,
            limits,
        });
        let (commands, queue) = async_channel::bounded(COMMAND_QUEUE);
        let (started, startup) = async_channel::bounded(1);
        let worker_shared = shared.clone();
        std::thread::Builder::new()
            .name("rendezvous-etcd".into())
            .spawn(move || worker::run(config, worker_shared, queue, started, STARTUP_DEADLINE))
            .map_err(|error| format!("could not start the etcd client's thread: {error}"))?;
        let outcome = startup
            .recv()
            .await
            .unwrap_or_else(|_| Err("the etcd client's thread stopped while starting".into()));
        outcome.map(|()| EtcdStore { shared, commands })
    }

    /// True while the cache follows etcd; false while it cannot reach it.
    pub fn is_live(&self) -> bool {
        self.shared.health.is_live()
    }

    /// Sends one write to the store's thread and waits for its answer.
    fn send<T: Send + 'static>(
        &self,
        command: impl FnOnce(async_channel::Sender<T>) -> Command,
        stopped: fn() -> T,
    ) -> Pending<T> {
        let commands = self.commands.clone();
        let (reply, answer) = async_channel::bounded(1);
        let command = command(reply);
        Box::pin(async move {
            if commands.send(command).await.is_err() {
                return stopped();
            }
            answer.recv().await.unwrap_or_else(|_| stopped())
        })
    }
}

fn worker_stopped<T>() -> Result<T, MatchmakerError> {
    Err(MatchmakerError::StoreUnavailable {
        reason: "the matchmaker's etcd client stopped".into(),
    })
}

impl Store for EtcdStore {
    fn register(
        &self,
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
    ) -> Pending<Result<Lease, MatchmakerError>> {
        self.send(
            |reply| Command::Register {
                request,
                token,
                source,
                reply,
            },
            worker_stopped,
        )
    }

    fn renew(&self, token: LeaseToken) -> Pending<Result<Renewed, MatchmakerError>> {
        self.send(|reply| Command::Renew { token, reply }, worker_stopped)
    }

    fn unregister(&self, token: LeaseToken) -> Pending<Result<Expired, MatchmakerError>> {
        self.send(|reply| Command::Unregister { token, reply }, worker_stopped)
    }

    fn lookup(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
    ) -> Result<Lookup, MatchmakerError> {
        self.shared
            .cache()
            .directory
            .lookup(name, signature, |granted| *granted)
    }

    fn list(&self, after: Option<ListCursor>, page_bytes: usize) -> Result<ListPage, usize> {
        let mut page = self
            .shared
            .cache()
            .directory
            .list(after, page_bytes, |granted| *granted)?;
        page.stale = !self.is_live();
        Ok(page)
    }

    fn others_at(&self, endpoint: SocketAddr, incarnation: u64) -> bool {
        !self
            .shared
            .cache()
            .replaced_by(endpoint, incarnation)
            .is_empty()
    }

    fn replace(&self, endpoint: SocketAddr, incarnation: u64) -> Pending<Vec<Expired>> {
        self.send(
            |reply| Command::Replace {
                endpoint,
                incarnation,
                reply,
            },
            Vec::new,
        )
    }

    fn expire(&self) -> Vec<Expired> {
        // etcd expires leases; their keys leave the cache through the watch.
        Vec::new()
    }

    fn counts(&self) -> Counts {
        self.shared.cache().counts()
    }

    fn health(&self) -> StoreHealth {
        StoreHealth {
            kind: "etcd",
            reachable: self.is_live(),
            round_trips: self.shared.health.round_trips.load(Ordering::Relaxed),
            outages: self.shared.health.outages.load(Ordering::Relaxed),
        }
    }
}
