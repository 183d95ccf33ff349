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

use super::lease_keeper::LeaseKeeper;
use super::linked::linked_procedures;
use super::procedure::{Procedure, ProcedureSet};
use super::responder::{
    DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_REPLY_CACHE_BYTES, Responder, ResponderConfig,
    ResponderStats, StreamConfig, StreamStats,
};
use super::state::{SharedState, States};
use crate::client::RemoteProcedure;
use crate::error::Error;
use crate::matchmaker::protocol::{DEFAULT_LEASE_TTL, ProcedureSpec, operation};
use crate::matchmaker::{self, MatchmakerClient, Secret};
use crate::rt;
use crate::wire::{Incarnation, MAX_DATAGRAM_BYTES, MAX_FRAME_BYTES};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A server's reply cache by default: 8 MiB of small replies, and room for
/// two replies of the largest size waiting to be fetched over the stream.
pub const DEFAULT_SERVER_REPLY_CACHE_BYTES: usize =
    DEFAULT_REPLY_CACHE_BYTES + 2 * DEFAULT_MAX_MESSAGE_BYTES;

/// A running server: its socket answers calls and its procedures stay
/// registered. [`Server::shutdown`] stops it gracefully; dropping it stops
/// it at once, like [`Server::abort`].
#[derive(Debug)]
pub struct Server {
    responder: Responder,
    lease_keeper: Arc<LeaseKeeper>,
    /// The lease keeper's task, renewing until cancelled.
    keeper_task: rt::JoinHandle<()>,
    advertised: SocketAddr,
    /// Dropped with the server, which ends the keeper task.
    _keeper_stop: async_channel::Sender<()>,
    /// `/metrics` and the status page, if asked for; stops when dropped.
    #[cfg(feature = "metrics")]
    metrics: Option<super::metrics::MetricsHttp>,
}

/// Configures and starts a [`Server`].
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    matchmakers: Option<Vec<SocketAddr>>,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    procedures: Vec<Procedure>,
    linked: bool,
    states: States,
    required: Vec<RemoteProcedure>,
    lease_ttl: Duration,
    config: ResponderConfig,
    secret: SecretSource,
    /// Where to serve `/metrics`.
    #[cfg(feature = "metrics")]
    metrics: Option<SocketAddr>,
    /// Whether that may be off loopback.
    #[cfg(feature = "metrics")]
    metrics_allow_remote: bool,
}

/// Where the secret that signs registrations comes from.
#[derive(Debug)]
enum SecretSource {
    /// `RENDEZVOUS_SECRET_FILE`, if set; else none.
    Environment,
    Given(Secret),
    File(PathBuf),
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            matchmakers: None,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            advertise: None,
            procedures: Vec::new(),
            linked: true,
            states: States::new(),
            required: Vec::new(),
            lease_ttl: DEFAULT_LEASE_TTL,
            config: ResponderConfig {
                reply_cache_bytes: DEFAULT_SERVER_REPLY_CACHE_BYTES,
                stream: Some(StreamConfig::default()),
                ..ResponderConfig::default()
            },
            secret: SecretSource::Environment,
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "metrics")]
            metrics_allow_remote: false,
        }
    }
}

impl ServerBuilder {
    /// The matchmaker to register with (default: `RENDEZVOUS_MATCHMAKER`,
    /// else `127.0.0.1:5000`). The one-address form of
    /// [`ServerBuilder::matchmakers`].
    pub fn matchmaker(self, address: SocketAddr) -> Self {
        self.matchmakers([address])
    }

    /// Matchmakers sharing one store, in order of preference: the server
    /// registers through any that answers and renews through any (see
    /// [`MatchmakerClient`]); while none can, it serves and keeps trying.
    /// An empty list makes [`ServerBuilder::start`] fail.
    pub fn matchmakers(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.matchmakers = Some(addresses.into_iter().collect());
        self
    }

    /// Where to listen (default `127.0.0.1:0`: the OS picks the port, and the
    /// matchmaker tells clients which).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.bind = address;
        self
    }

    /// The address to register, when clients must use another address than
    /// the bound one (a wildcard bind, NAT, a relay). A matchmaker without
    /// a secret accepts only a registration sent from the endpoint it
    /// registers, so an address this socket does not send from needs
    /// [`ServerBuilder::secret`] (SECURITY.md).
    pub fn advertise(mut self, address: SocketAddr) -> Self {
        self.advertise = Some(address);
        self
    }

    /// Adds a procedure by hand (beside the `#[procedure]`s linked in).
    pub fn procedure(mut self, procedure: Procedure) -> Self {
        self.procedures.push(procedure);
        self
    }

    /// Gives the server a shared state: every procedure that takes a
    /// [`crate::State<T>`] argument gets this value, one for all its calls
    /// (a second value of one type replaces the first). A procedure that
    /// takes a state the server was not given makes
    /// [`ServerBuilder::start`] fail, naming the procedure and the type.
    ///
    /// ```
    /// use rendezvous_core::{State, procedure};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// #[derive(Default)]
    /// pub struct Visits(AtomicU64);
    ///
    /// #[procedure(name = "site.visit")]
    /// pub async fn visit(visits: State<Visits>) -> u64 {
    ///     visits.0.fetch_add(1, Ordering::Relaxed) + 1
    /// }
    ///
    /// # async fn demo() -> Result<(), rendezvous_core::Error> {
    /// let server = rendezvous_core::Server::builder()
    ///     .state(Visits::default())
    ///     .start()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn state<T: SharedState>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Procedures this server must serve: [`ServerBuilder::start`] fails,
    /// naming the first one missing, if it would serve none of that name
    /// or one of another signature. Pass the constants `#[procedure]`
    /// generates, by value or by reference:
    /// `.require([add::PROCEDURE, div::PROCEDURE])`, or a service crate's
    /// list of them, `.require(math_service::SERVICE)`.
    ///
    /// The trap it closes: a crate of procedures that the server binary
    /// never references is not linked, so its procedures are not served
    /// and clients get `NotFound`, with nothing said at start. Naming a
    /// procedure here references its crate, so it is linked, and a
    /// procedure that went missing all the same (renamed, moved behind a
    /// feature) is an error at start rather than at the first call.
    pub fn require<P: Borrow<RemoteProcedure>>(
        mut self,
        procedures: impl IntoIterator<Item = P>,
    ) -> Self {
        self.required
            .extend(procedures.into_iter().map(|p| *p.borrow()));
        self
    }

    /// Whether to serve every `#[procedure]` linked into the binary
    /// (default `true`); `false` serves only those added by hand.
    pub fn linked_procedures(mut self, serve_them: bool) -> Self {
        self.linked = serve_them;
        self
    }

    /// The lease TTL to ask for; the server renews at a third of what is granted.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Memory the reply cache may use (default 40 MiB: 8 MiB of small
    /// replies and room for two of the largest, whose callers fetch them
    /// over the stream). A reply larger than the whole cap is evicted at
    /// once, so its caller is told `OutcomeUnknown`: raise this with
    /// [`ServerBuilder::max_message_bytes`].
    pub fn reply_cache_bytes(mut self, bytes: usize) -> Self {
        self.config.reply_cache_bytes = bytes;
        self
    }

    /// The largest message the server accepts, and the largest reply it
    /// gives (default 16 MiB, [`DEFAULT_MAX_MESSAGE_BYTES`]); beyond a
    /// datagram, both travel over the stream transport. A call over it is
    /// refused unrun, by its frame's length alone; a result over it is
    /// answered `ReplyTooLarge`. Its buffers are bounded by the stream
    /// limits ([`StreamConfig`]).
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        let limit = bytes.clamp(MAX_DATAGRAM_BYTES, MAX_FRAME_BYTES);
        self.config
            .stream
            .get_or_insert_with(StreamConfig::default)
            .max_message_bytes = limit;
        self
    }

    /// The stream transport's limits and timeouts, or `None` to serve
    /// datagrams only (then every call and result must fit one).
    pub fn stream(mut self, config: Option<StreamConfig>) -> Self {
        self.config.stream = config;
        self
    }

    /// How long the server's receive loop polls its socket for the next
    /// datagram before its thread parks (default and why:
    /// [`crate::DEFAULT_SERVER_SPIN`]; `Duration::ZERO`: never).
    pub fn spin(mut self, budget: Duration) -> Self {
        self.config.spin = budget;
        self
    }

    /// Calls that may run at once (default 1024); a new call beyond them is
    /// answered `Overloaded` without running, and the client retries it
    /// after a pause.
    pub fn max_calls_in_flight(mut self, calls: usize) -> Self {
        self.config.max_calls_in_flight = calls;
        self
    }

    /// The secret shared with the matchmaker, to sign registrations
    /// (default: the file `RENDEZVOUS_SECRET_FILE` names, else none, which
    /// a matchmaker accepts only from its own host).
    pub fn secret(mut self, secret: Secret) -> Self {
        self.secret = SecretSource::Given(secret);
        self
    }

    /// Like [`ServerBuilder::secret`], read from a file when the server
    /// starts (its bytes less trailing whitespace; at least 16).
    pub fn secret_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.secret = SecretSource::File(path.into());
        self
    }

    /// Serves `/metrics` (Prometheus text: calls by procedure and outcome,
    /// duplicates, ACKs, the reply cache, refusals) and a status page at
    /// `/` over HTTP on `address`, e.g. `127.0.0.1:9096` (feature
    /// `metrics`). [`ServerBuilder::start`] refuses an address off
    /// loopback unless [`ServerBuilder::metrics_allow_remote`].
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, address: SocketAddr) -> Self {
        self.metrics = Some(address);
        self
    }

    /// Lets [`ServerBuilder::metrics`] listen where other hosts can
    /// reach it: the page names every procedure served, to whoever asks.
    #[cfg(feature = "metrics")]
    pub fn metrics_allow_remote(mut self, allow: bool) -> Self {
        self.metrics_allow_remote = allow;
        self
    }

    /// Everything about how calls are answered.
    pub fn responder_config(mut self, config: ResponderConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds, starts answering calls and registers with the matchmaker.
    ///
    /// No matchmaker reachable, or none able to reach its store, is not an
    /// error: the server says so, serves clients that know its address, and
    /// keeps registering in the background.
    /// A refusal that retrying cannot mend is: an invalid registration, or
    /// one refused as unauthenticated (no secret, or another secret, or
    /// clocks too far apart).
    pub async fn start(self) -> Result<Server, Error> {
        let set = procedure_set(self.procedures, self.linked, &self.states, &self.required)?;
        let specs: Vec<ProcedureSpec> = set
            .procedures()
            .iter()
            .map(|p| ProcedureSpec {
                name: p.name().to_owned(),
                signature: p.signature(),
                signature_text: p.signature_text().map(str::to_owned),
            })
            .collect();
        let matchmakers = match self.matchmakers {
            Some(addresses) if addresses.is_empty() => {
                return Err(Error::MatchmakerAddress {
                    reason: "ServerBuilder::matchmakers was given an empty list; give at least one HOST:PORT".into(),
                });
            }
            Some(addresses) => addresses,
            None => matchmaker::addresses_from_env()?,
        };
        let secret = match self.secret {
            SecretSource::Environment => Secret::from_env()?,
            SecretSource::Given(secret) => Some(secret),
            SecretSource::File(path) => Some(Secret::from_file(path)?),
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
        #[cfg(feature = "metrics")]
        let metrics = match self.metrics {
            Some(address) => match serve_metrics(&responder, address, self.metrics_allow_remote) {
                Ok(served) => Some(served),
                Err(error) => {
                    responder.shutdown().await;
                    return Err(error);
                }
            },
            None => None,
        };
        let matchmaker = match matchmaker_client(&responder, &matchmakers).await {
            Ok(client) => client.with_secret(secret),
            Err(error) => {
                responder.shutdown().await;
                return Err(error);
            }
        };
        let lease_keeper = Arc::new(LeaseKeeper::new(
            matchmaker,
            specs,
            advertised,
            responder.incarnation(),
            self.lease_ttl,
        ));
        let granted = match lease_keeper.register().await {
            Ok(lease) => Some(Duration::from_millis(lease.ttl_ms)),
            // Mistakes of configuration, which retrying cannot mend.
            Err(error @ (Error::InvalidRequest { .. } | Error::Unauthenticated { .. })) => {
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
        let (keeper_stop, stopped) = async_channel::bounded::<()>(1);
        let keep = lease_keeper.clone().keep(granted);
        let keeper_task = rt::spawn(futures_lite::future::or(keep, async move {
            let _ = stopped.recv().await;
        }));
        Ok(Server {
            responder,
            lease_keeper,
            keeper_task,
            advertised,
            _keeper_stop: keeper_stop,
            #[cfg(feature = "metrics")]
            metrics,
        })
    }

    /// Starts the server and serves until the process ends.
    pub async fn serve(self) -> Result<(), Error> {
        let _server = self.start().await?;
        futures_lite::future::pending().await
    }
}

/// The server's `/metrics` and status page.
#[cfg(feature = "metrics")]
fn serve_metrics(
    responder: &Responder,
    address: SocketAddr,
    allow_remote: bool,
) -> Result<super::metrics::MetricsHttp, Error> {
    use super::metrics::{MetricsHttp, Registry, ResponderMetrics, ServerPage};
    let watch = responder.watch();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ResponderMetrics::new(watch.clone())));
    let page = ServerPage {
        address: responder.local_addr(),
        watch,
    };
    MetricsHttp::start(address, allow_remote, registry, Box::new(page)).map_err(|error| match error
        .kind()
    {
        std::io::ErrorKind::InvalidInput => Error::Configuration {
            reason: format!("{error} (ServerBuilder::metrics_allow_remote)"),
        },
        _ => Error::io(format!("could not serve metrics on {address}"), error),
    })
}

/// The server's client of the matchmakers. It sends from the responder's
/// own socket, so a registration's source is the endpoint it registers
/// (a matchmaker without a secret accepts no other; see SECURITY.md), and
/// the responder hands it the answers. A socket of one IP family cannot
/// reach the other: if some matchmaker is of the other family, the client
/// has a socket of its own, and only a signed registration is accepted.
async fn matchmaker_client(
    responder: &Responder,
    matchmakers: &[SocketAddr],
) -> Result<MatchmakerClient, Error> {
    let family = responder.local_addr().is_ipv4();
    if matchmakers
        .iter()
        .any(|address| address.is_ipv4() != family)
    {
        return MatchmakerClient::connect_any(matchmakers).await;
    }
    let requester = responder.requester().map_err(|error| {
        Error::io(
            format!(
                "could not share the server socket on {} with its matchmaker client",
                responder.local_addr()
            ),
            error,
        )
    })?;
    MatchmakerClient::on(requester, matchmakers)
}

/// The procedures to serve: those added by hand and, if asked, every linked
/// `#[procedure]`, built with the states they take. Two with one name, a
/// state not given, a required procedure missing, or none at all, are
/// errors saying what to do.
fn procedure_set(
    by_hand: Vec<Procedure>,
    linked: bool,
    states: &States,
    required: &[RemoteProcedure],
) -> Result<ProcedureSet, Error> {
    let configuration = |reason: String| Error::Configuration { reason };
    let mut set = ProcedureSet::new();
    let mut locations: HashMap<&str, &str> = HashMap::new();
    let linked = if linked {
        linked_procedures()
    } else {
        Vec::new()
    };
    for entry in &linked {
        refuse_reserved(entry.name, Some(entry.location))?;
        if let Some(first) = locations.insert(entry.name, entry.location) {
            return Err(configuration(format!(
                "two procedures are named `{}`: at {first} and at {}; give one of them `#[procedure(name = \"...\")]`",
                entry.name, entry.location
            )));
        }
        let procedure = (entry.make)(states)
            .map_err(|missing| configuration(format!("{missing} (it is at {})", entry.location)))?;
        set.insert(procedure)
            .map_err(|e| configuration(e.to_string()))?;
    }
    for procedure in by_hand {
        refuse_reserved(procedure.name(), None)?;
        set.insert(procedure)
            .map_err(|e| configuration(e.to_string()))?;
    }
    for wanted in required {
        match set.get(wanted.name) {
            None => {
                return Err(configuration(format!(
                    "this server must serve `{}` (ServerBuilder::require), but no such procedure is in it: reference the crate that defines it from this binary (e.g. `use math_service as _;`) so the linker keeps it, or add it with ServerBuilder::procedure",
                    wanted.name
                )));
            }
            Some(served) if served.signature() != wanted.signature => {
                return Err(configuration(format!(
                    "this server must serve `{}` with signature {} (ServerBuilder::require), but the one linked in has signature {}: the required declaration and the implementation disagree on the types or on `idempotent`; make them agree",
                    wanted.name,
                    wanted.signature,
                    served.signature()
                )));
            }
            Some(_) => {}
        }
    }
    if set.is_empty() {
        return Err(configuration(
            "no procedures to serve: no #[procedure] is linked into this binary. If they are defined in another crate, reference that crate from this binary (e.g. `use math_service as _;`) so the linker keeps it; or add procedures with ServerBuilder::procedure".into(),
        ));
    }
    Ok(set)
}

/// A server registers what it serves, and names under
/// [`operation::RESERVED_PREFIX`] are the matchmaker's: refused here, naming
/// the procedure (and where it is defined, for a `#[procedure]`). The
/// matchmaker builds its own procedures into a [`ProcedureSet`] served by a
/// bare `Responder`, which registers nothing and so may carry them.
fn refuse_reserved(name: &str, location: Option<&str>) -> Result<(), Error> {
    if !operation::is_reserved(name) {
        return Ok(());
    }
    let at = location.map(|l| format!(" (at {l})")).unwrap_or_default();
    Err(Error::Configuration {
        reason: format!(
            "procedure `{name}`{at} has a reserved name: names starting with `{}` belong to the matchmaker's own procedures; give it a name of your own, e.g. `#[procedure(name = \"myservice.lookup\")]`",
            operation::RESERVED_PREFIX
        ),
    })
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

    /// The matchmaker this server talks to now: the one that answered
    /// last, else the first given.
    pub fn matchmaker_addr(&self) -> SocketAddr {
        self.lease_keeper.matchmaker().address()
    }

    /// Every matchmaker this server may register and renew through, in
    /// order of preference.
    pub fn matchmaker_addrs(&self) -> &[SocketAddr] {
        self.lease_keeper.matchmaker().addresses()
    }

    /// Whether the server holds a lease now.
    pub fn is_registered(&self) -> bool {
        self.lease_keeper.is_registered()
    }

    /// Why the server is not registered now, if its last attempt to
    /// register (or renew) failed: the matchmaker's answer as it came, e.g.
    /// [`Error::LimitReached`] naming the limit that refused it, or
    /// [`Error::MatchmakerUnreachable`]. `None` while registered.
    pub fn registration_error(&self) -> Option<Error> {
        self.lease_keeper.last_error()
    }

    pub fn procedures(&self) -> Vec<&Procedure> {
        self.responder.procedures().procedures()
    }

    /// What the stream transport holds now.
    pub fn stream_stats(&self) -> StreamStats {
        self.responder.stream_stats()
    }

    pub fn stats(&self) -> ResponderStats {
        self.responder.stats()
    }

    /// Where `/metrics` is served, if [`ServerBuilder::metrics`] asked.
    #[cfg(feature = "metrics")]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|served| served.local_addr())
    }

    /// Stops at once, as if the process had died: no unregister, no drain;
    /// calls in flight never reply. The matchmaker forgets the server when
    /// its lease expires. For demonstrations and fault tests.
    pub async fn abort(self) {
        self.keeper_task.cancel().await;
        self.responder.abort().await;
    }

    /// Unregisters, stops taking calls, and lets calls in flight finish (for
    /// at most the drain timeout).
    pub async fn shutdown(self) {
        self.keeper_task.cancel().await;
        self.lease_keeper.unregister().await;
        self.responder.shutdown().await;
    }
}
