//! `Server`: a responder whose procedures are kept registered with the
//! matchmaker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rendezvous_core::Error> {
//! use rendezvous_core::server::{Procedure, Server};
//! use rendezvous_core::Fingerprint;
//!
//! let add = Procedure::typed(
//!     "math.add",
//!     Fingerprint::of("math.add(i64,i64)->i64"),
//!     |(a, b): (i64, i64), _| async move { a + b },
//! );
//! let server = Server::builder().procedure(add).start().await?;
//! println!("serving at {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use super::procedure::{Procedure, ProcedureSet};
use super::registration::Registration;
use super::responder::{Responder, ResponderConfig, ResponderStats};
use crate::error::Error;
use crate::matchmaker::protocol::{DEFAULT_LEASE_TTL, ProcedureSpec};
use crate::matchmaker::{self, MatchmakerClient};
use crate::rt;
use crate::wire::Incarnation;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Namespace for [`Server::builder`]; a started server is a [`Server`].
#[derive(Debug)]
pub struct Server {
    responder: Responder,
    registration: Arc<Registration>,
    keeper: rt::JoinHandle<()>,
    advertised: SocketAddr,
}

/// Configures and starts a [`Server`].
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    matchmaker: Option<SocketAddr>,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    procedures: Vec<Procedure>,
    lease_ttl: Duration,
    config: ResponderConfig,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            matchmaker: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            advertise: None,
            procedures: Vec::new(),
            lease_ttl: DEFAULT_LEASE_TTL,
            config: ResponderConfig::default(),
        }
    }
}

impl ServerBuilder {
    /// The matchmaker to register with (default: `RENDEZVOUS_MATCHMAKER`,
    /// else `127.0.0.1:5000`).
    pub fn matchmaker(mut self, address: SocketAddr) -> Self {
        self.matchmaker = Some(address);
        self
    }

    /// Where to listen (default `127.0.0.1:0`: the OS picks the port, and the
    /// matchmaker tells clients which).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.bind = address;
        self
    }

    /// The address to register, when clients must use another address than
    /// the bound one (a wildcard bind, NAT, a relay).
    pub fn advertise(mut self, address: SocketAddr) -> Self {
        self.advertise = Some(address);
        self
    }

    /// Adds a procedure.
    pub fn procedure(mut self, procedure: Procedure) -> Self {
        self.procedures.push(procedure);
        self
    }

    /// The lease TTL to ask for; the server renews at a third of what is granted.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Memory the reply cache may use (default 8 MiB).
    pub fn reply_cache_bytes(mut self, bytes: usize) -> Self {
        self.config.reply_cache_bytes = bytes;
        self
    }

    /// Everything about how calls are answered.
    pub fn responder_config(mut self, config: ResponderConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds, starts answering calls and registers with the matchmaker.
    ///
    /// An unreachable matchmaker is not an error: the server says so, serves
    /// clients that know its address, and keeps registering in the background.
    pub async fn start(self) -> Result<Server, Error> {
        let mut set = ProcedureSet::new();
        for procedure in self.procedures {
            set.insert(procedure).map_err(|e| Error::Configuration {
                reason: e.to_string(),
            })?;
        }
        if set.is_empty() {
            return Err(Error::Configuration {
                reason: "no procedures to serve; add them with ServerBuilder::procedure".into(),
            });
        }
        let specs: Vec<ProcedureSpec> = set
            .procedures()
            .iter()
            .map(|p| ProcedureSpec {
                name: p.name().to_owned(),
                signature: p.signature(),
            })
            .collect();
        let matchmaker_address = match self.matchmaker {
            Some(address) => address,
            None => matchmaker::address_from_env()?,
        };
        let responder = Responder::bind(self.bind, set, self.config)
            .await
            .map_err(|e| {
                Error::io(
                    format!("could not bind the server socket on {}", self.bind),
                    e,
                )
            })?;
        let advertised = self.advertise.unwrap_or(responder.local_addr());
        if advertised.ip().is_unspecified() {
            responder.shutdown().await;
            return Err(Error::Configuration {
                reason: format!(
                    "bound to {advertised}, which clients cannot dial; call ServerBuilder::advertise with the address they should use"
                ),
            });
        }
        let matchmaker = MatchmakerClient::connect(matchmaker_address).await?;
        let registration = Arc::new(Registration::new(
            matchmaker,
            specs,
            advertised,
            responder.incarnation(),
            self.lease_ttl,
        ));
        let granted = match registration.register().await {
            Ok(lease) => Some(Duration::from_millis(lease.ttl_ms)),
            Err(error @ Error::InvalidRequest { .. }) => {
                responder.shutdown().await;
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    endpoint = %advertised,
                    "not registered yet: serving clients that know this address, registering in the background"
                );
                None
            }
        };
        let keeper = rt::spawn(registration.clone().keep(granted));
        Ok(Server {
            responder,
            registration,
            keeper,
            advertised,
        })
    }

    /// Starts the server and serves until the process ends.
    pub async fn serve(self) -> Result<(), Error> {
        let _server = self.start().await?;
        futures_lite::future::pending().await
    }
}

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.responder.local_addr()
    }

    /// The address registered with the matchmaker.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    pub fn incarnation(&self) -> Incarnation {
        self.responder.incarnation()
    }

    /// The matchmaker this server registers with.
    pub fn matchmaker_addr(&self) -> SocketAddr {
        self.registration.matchmaker()
    }

    /// Whether the server holds a lease now.
    pub fn is_registered(&self) -> bool {
        self.registration.is_registered()
    }

    pub fn procedures(&self) -> Vec<&Procedure> {
        self.responder.procedures().procedures()
    }

    pub fn stats(&self) -> ResponderStats {
        self.responder.stats()
    }

    /// Unregisters, stops taking calls, and lets calls in flight finish (for
    /// at most the drain timeout).
    pub async fn shutdown(self) {
        self.keeper.cancel().await;
        self.registration.unregister().await;
        self.responder.shutdown().await;
    }
}
