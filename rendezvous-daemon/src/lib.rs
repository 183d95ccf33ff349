//! # rendezvous-daemon: the matchmaker
//!
//! The one process at a well-known address (default `127.0.0.1:5000`) that
//! maps procedure names to the servers that run them. Servers register their
//! procedures under a lease they keep renewing; clients look names up and
//! call the servers directly. The matchmaker is itself a procedure server:
//! its operations (`rendezvous.register`, `.renew`, `.unregister`, `.lookup`,
//! `.list`) are served by the same [`Responder`] that serves user calls, so
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
//! The table lives in memory: a restarted matchmaker starts empty and
//! servers register again when their next renewal is refused as an unknown
//! lease (within one heartbeat).

mod service;
pub mod table;

pub use table::{LIST_PAGE_BYTES, MAX_PROCEDURES_PER_LEASE, TtlBounds};

use rendezvous_core::rt::{self, Instant};
use rendezvous_core::server::{Responder, ResponderConfig, ResponderStats};
use service::SharedTable;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use table::LeaseTable;

/// How often leases past their TTL are swept out when nobody asks.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// How a matchmaker runs.
#[derive(Clone, Debug, Default)]
pub struct MatchmakerConfig {
    pub ttl: TtlBounds,
    pub responder: ResponderConfig,
}

/// A running matchmaker.
#[derive(Debug)]
pub struct Matchmaker {
    responder: Responder,
    table: SharedTable,
    sweeper: rt::JoinHandle<()>,
}

impl Matchmaker {
    /// Binds `address` and serves with the default configuration.
    pub async fn bind(address: SocketAddr) -> io::Result<Matchmaker> {
        Matchmaker::bind_with(address, MatchmakerConfig::default()).await
    }

    pub async fn bind_with(
        address: SocketAddr,
        config: MatchmakerConfig,
    ) -> io::Result<Matchmaker> {
        let table: SharedTable = Arc::new(Mutex::new(LeaseTable::new(config.ttl)));
        let procedures = service::procedures(&table);
        let responder = Responder::bind(address, procedures, config.responder).await?;
        let sweeper = rt::spawn(sweep_expired(table.clone()));
        Ok(Matchmaker {
            responder,
            table,
            sweeper,
        })
    }

    /// The bound address, with the port the OS chose if bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.responder.local_addr()
    }

    /// Number of live leases (servers registered).
    pub fn lease_count(&self) -> usize {
        service::lock(&self.table).lease_count()
    }

    pub fn stats(&self) -> ResponderStats {
        self.responder.stats()
    }

    /// Stops answering; requests in flight finish first.
    pub async fn shutdown(self) {
        self.sweeper.cancel().await;
        self.responder.shutdown().await;
    }
}

async fn sweep_expired(table: SharedTable) {
    loop {
        rt::sleep(EXPIRY_SWEEP_INTERVAL).await;
        for gone in service::lock(&table).expire(Instant::now()) {
            tracing::info!(endpoint = %gone.endpoint, procedures = ?gone.names, "lease expired");
        }
    }
}
