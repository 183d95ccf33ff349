//! The calling side: resolve a name through the matchmaker (cached), call the
//! endpoint directly, retransmit until the reply, fail over when an endpoint
//! goes away.
//!
//! ```text
//! Client::call -> endpoint cache (or a lookup) -> requester: an attempt
//!              -> failover: return, fail, or look again and retry elsewhere
//! ```
//!
//! [`Client`] drives each call; the call engine below it (the requester,
//! shared with the matchmaker client) sends and retransmits one attempt at
//! one endpoint; `endpoints` caches lookups; `failover` is the state machine
//! that reads each attempt and says where the call goes next.
//!
//! # What a caller can rely on
//!
//! * A call that returns `Ok` ran exactly once.
//! * A call keeps its xid to the end, so going back to an endpoint that was
//!   only slow or lossy is always safe: its reply cache recognises the call.
//! * A call moves to *another* endpoint only when the first one cannot have
//!   run it: it refused the call (no such procedure, another signature, a
//!   new incarnation answering the first copy), the kernel refused every
//!   copy sent there (port unreachable), a new incarnation's refusal
//!   carries an uptime longer than the call has been going there (the new
//!   process was serving before the call's first copy, so no earlier one
//!   got it: the call is resent to it at once), or it went silent and the
//!   matchmaker says it unregistered (it left gracefully). An endpoint
//!   merely no longer listed (its lease expired, or a new incarnation at
//!   its address replaced it) proves nothing. When the first endpoint went
//!   silent, acknowledged the call, or restarted while it was outstanding,
//!   the caller gets [`Error::OutcomeUnknown`] — unless the procedure is
//!   declared idempotent, in which case the call moves on — and later
//!   calls avoid that endpoint. An acknowledged call that reaches its
//!   deadline is `OutcomeUnknown` too.
//! * Once a call may have run at an endpoint, it stays so for its whole
//!   life: no pause, re-lookup or later refusal (a restarted server's
//!   `WrongIncarnation`, say) makes the client forget it; only the proofs
//!   above do.
//! * Fresh clients start at a random place among a name's endpoints, so
//!   they spread over them. A client's suspicion of an endpoint is its
//!   own: no client removes or demotes another server's registration.
//! * The residual risk: a server that shuts down gracefully while the
//!   reply to a call it ran is being lost on the network; the client then
//!   takes its silence for non-delivery.

mod endpoints;
mod failover;
mod ping;

use crate::error::{Error, refusal};
use crate::matchmaker::{self, MatchmakerClient};
pub use crate::requester::MAX_UNANSWERED;
use crate::requester::{Outgoing, Requester, bind_address_for};
use crate::retry::RetryPolicy;
use crate::rt::{self, Instant};
use crate::signature::Fingerprint;
use crate::wire::{self, Incarnation, Outcome, Payload};
use endpoints::{EndpointCache, Target};
use failover::{AfterAttempt, AfterLookup, Attempt, Failover, failure_error};
use once_cell::sync::OnceCell;
pub use ping::Pong;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// A procedure as a caller names it. Generated proxies hold one as a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteProcedure {
    pub name: &'static str,
    pub signature: Fingerprint,
    /// Running it twice is harmless: the client may retry it after a server
    /// restart instead of reporting [`Error::OutcomeUnknown`].
    pub idempotent: bool,
}

/// Calls remote procedures. Cheap to clone; clones share one socket and one
/// endpoint cache.
#[derive(Clone, Debug)]
pub struct Client {
    resources: Arc<Resources>,
    policy: RetryPolicy,
}

/// What the clones of one client share.
#[derive(Debug)]
struct Resources {
    requester: Requester,
    matchmaker: MatchmakerClient,
    endpoints: EndpointCache,
}

/// Counters of one client (and its clones).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Matchmaker lookups made (cache misses).
    pub lookups: u64,
    /// Calls sent, to servers and to the matchmaker, first transmissions
    /// and retransmissions alike.
    pub transmissions: u64,
    /// Of those, retransmissions.
    pub retransmissions: u64,
    /// Datagrams those took: fewer than transmissions when calls in flight
    /// together were batched.
    pub datagrams: u64,
    /// Datagrams read while a call alone in flight spun for its reply
    /// before parking (`ClientBuilder::spin`).
    pub datagrams_spun: u64,
}

/// Configures a [`Client`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    matchmakers: Option<Vec<SocketAddr>>,
    bind: Option<SocketAddr>,
    policy: RetryPolicy,
    max_message_bytes: Option<usize>,
    spin: Option<Duration>,
}

impl ClientBuilder {
    /// The largest message the client sends or reads (default 16 MiB,
    /// [`wire::DEFAULT_MAX_MESSAGE_BYTES`]): a call whose arguments exceed
    /// it fails with [`Error::PayloadTooLarge`] before anything is sent.
    /// Calls beyond a datagram travel over the stream transport; the
    /// server's own limit (`ServerBuilder::max_message_bytes`) applies
    /// there too.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = Some(bytes.clamp(wire::MAX_DATAGRAM_BYTES, wire::MAX_FRAME_BYTES));
        self
    }

    /// The matchmaker to ask (default: `RENDEZVOUS_MATCHMAKER`, else
    /// `127.0.0.1:5000`). The one-address form of
    /// [`ClientBuilder::matchmakers`].
    pub fn matchmaker(self, address: SocketAddr) -> Self {
        self.matchmakers([address])
    }

    /// Matchmakers sharing one store, in order of preference: lookups go
    /// to the one that answered last and move to the next when it does not
    /// answer (see [`MatchmakerClient`]). An empty list makes
    /// [`ClientBuilder::build`] fail.
    pub fn matchmakers(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.matchmakers = Some(addresses.into_iter().collect());
        self
    }

    /// The local address of the client socket (default: the unspecified
    /// address of the first matchmaker's family, port 0).
    pub fn bind(mut self, address: SocketAddr) -> Self {
        self.bind = Some(address);
        self
    }

    /// How long each call may take, retransmissions and failover included
    /// (default [`crate::retry::DEFAULT_DEADLINE`]).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.policy.deadline = deadline;
        self
    }

    /// How long a call alone in flight polls for its reply before its
    /// thread parks (default and why: [`crate::DEFAULT_SPIN`];
    /// `Duration::ZERO`: never).
    pub fn spin(mut self, budget: Duration) -> Self {
        self.spin = Some(budget);
        self
    }

    /// Retransmission timers and deadline, all at once.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let addresses = match self.matchmakers {
            Some(addresses) => addresses,
            None => matchmaker::addresses_from_env()?,
        };
        let Some(&first) = addresses.first() else {
            return Err(Error::MatchmakerAddress {
                reason: "ClientBuilder::matchmakers was given an empty list; give at least one HOST:PORT".into(),
            });
        };
        let bind = self.bind.unwrap_or_else(|| bind_address_for(first));
        let requester = Requester::bind(bind)
            .map_err(|e| Error::io(format!("could not bind a client socket on {bind}"), e))?;
        if let Some(bytes) = self.max_message_bytes {
            requester.set_max_message_bytes(bytes);
        }
        if let Some(budget) = self.spin {
            requester.set_spin(budget);
        }
        let matchmaker = MatchmakerClient::on(requester.clone(), &addresses)?;
        Ok(Client {
            resources: Arc::new(Resources {
                requester,
                matchmaker,
                endpoints: EndpointCache::default(),
            }),
            policy: self.policy,
        })
    }
}

static GLOBAL: OnceCell<Client> = OnceCell::new();

impl Client {
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The process-wide default client, created on first use from the
    /// environment (`RENDEZVOUS_MATCHMAKER`, one address or a list). Generated proxies' `remote`
    /// functions use it.
    pub fn global() -> Result<Client, Error> {
        GLOBAL
            .get_or_try_init(|| Client::builder().build())
            .cloned()
    }

    /// The same client (sharing socket and cache) with another deadline per call.
    pub fn with_deadline(&self, deadline: Duration) -> Client {
        Client {
            resources: self.resources.clone(),
            policy: self.policy.with_deadline(deadline),
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The matchmaker client this client resolves names with.
    pub fn matchmaker(&self) -> &MatchmakerClient {
        &self.resources.matchmaker
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.resources
            .requester
            .local_addr()
            .map_err(|e| Error::io("could not read the client socket's address", e))
    }

    pub fn stats(&self) -> ClientStats {
        let requester = self.resources.requester.stats();
        ClientStats {
            lookups: self.resources.endpoints.lookups(),
            transmissions: requester.transmissions,
            retransmissions: requester.retransmissions,
            datagrams: requester.datagrams,
            datagrams_spun: requester.datagrams_spun,
        }
    }

    /// Calls `procedure` with an argument tuple and decodes its result.
    pub async fn call<A, R>(&self, procedure: &RemoteProcedure, args: &A) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let limit = self.resources.requester.max_message_bytes();
        self.call_payload(
            procedure,
            wire::encode_payload_within(args, limit).map(Payload::from),
        )
        .await
    }

    /// [`Client::call`] with the arguments given by value, so that a large
    /// byte string among them (`__private::Bytes`) becomes the payload
    /// rather than being copied into one: what generated proxies call.
    pub(crate) async fn call_by_value<A, R>(
        &self,
        procedure: &RemoteProcedure,
        args: A,
    ) -> Result<R, Error>
    where
        A: Serialize,
        R: DeserializeOwned,
    {
        let limit = self.resources.requester.max_message_bytes();
        self.call_payload(procedure, wire::encode_payload_owned(args, limit))
            .await
    }

    /// Calls `procedure` with its encoded arguments (or fails with why
    /// they did not encode) and decodes its result.
    async fn call_payload<R: DeserializeOwned>(
        &self,
        procedure: &RemoteProcedure,
        args: Result<Payload, wire::EncodeError>,
    ) -> Result<R, Error> {
        let args = args_encoded(procedure.name, args)?;
        let result = self.call_held(procedure, args).await?;
        decode_result(procedure.name, result)
    }

    /// Asks `endpoint` whether it answers: its incarnation, the round
    /// trip, and its uptime (see [`Pong`]). Runs nothing there.
    pub async fn ping(&self, endpoint: SocketAddr) -> Result<Pong, Error> {
        ping::ping(&self.resources.requester, &self.policy, endpoint).await
    }

    /// The incarnation of the server that holds `endpoint` now: the one in
    /// the header of its answer to a call of a procedure no server has
    /// (it runs nothing). The matchmaker uses it to check that a new
    /// incarnation registering at an endpoint really holds it before the
    /// old one's registrations go.
    pub async fn incarnation_at(&self, endpoint: SocketAddr) -> Result<Incarnation, Error> {
        let probed = ping::probe(
            &self.resources.requester,
            &self.policy,
            endpoint,
            Incarnation::ANY,
        );
        Ok(probed.await?.0)
    }

    /// Calls a server at a known address, without the matchmaker.
    pub async fn call_at<A, R>(
        &self,
        endpoint: SocketAddr,
        procedure: &RemoteProcedure,
        args: &A,
    ) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let limit = self.resources.requester.max_message_bytes();
        let args = wire::encode_payload_within(args, limit).map(Payload::from);
        let args = args_encoded(procedure.name, args)?;
        let (name, signature) = (procedure.name, procedure.signature);
        let mut call = self
            .resources
            .requester
            .begin(name, signature, args, self.policy.deadline);
        let anywhere = Target {
            address: endpoint,
            incarnation: Incarnation::ANY,
        };
        let answer = call
            .attempt_riding_out_overload(
                anywhere.address,
                anywhere.incarnation,
                &self.policy,
                u32::MAX,
            )
            .await;
        let bytes = match answer {
            Ok(Outcome::Return(bytes)) => bytes,
            Ok(outcome) => return Err(refusal(name, endpoint, outcome)),
            Err(failure) => {
                return Err(failure_error(
                    name,
                    endpoint,
                    failure,
                    0,
                    self.policy.deadline,
                ));
            }
        };
        decode_result(name, bytes)
    }

    /// Calls `procedure` with arguments already encoded as CBOR (an array
    /// of the arguments, as [`Client::call`] encodes them); returns the
    /// result as CBOR. For tools that carry calls they do not decode.
    ///
    /// Resolves the name (cached), then moves the call between endpoints
    /// as [`failover`](self#what-a-caller-can-rely-on) allows, under one
    /// xid and one deadline.
    pub async fn call_encoded(
        &self,
        procedure: &RemoteProcedure,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let result = self.call_held(procedure, args.into()).await?;
        Ok(result.into_vec())
    }

    /// [`Client::call_encoded`] of a payload as it is held, with its
    /// result as it was read.
    async fn call_held(
        &self,
        procedure: &RemoteProcedure,
        args: Payload,
    ) -> Result<Payload, Error> {
        let resources = &*self.resources;
        let (name, signature) = (procedure.name, procedure.signature);
        let started = Instant::now();
        let endpoints = resources
            .endpoints
            .resolve(name, signature, &resources.matchmaker)
            .await?;
        let first = resources
            .endpoints
            .pick(&endpoints, &[])
            .ok_or_else(|| Error::NotFound { name: name.into() })?;
        let remaining = self.policy.deadline.saturating_sub(started.elapsed());
        let mut call = resources.requester.begin(name, signature, args, remaining);
        let span = call.span();
        // Untraced, the call is not wrapped: a disabled span still costs
        // every poll an enter and an exit (and a `log` check wherever
        // tracing's `log` feature is on).
        if span.is_disabled() {
            return self.drive(&mut call, procedure, first).await;
        }
        let result = self
            .drive(&mut call, procedure, first)
            .instrument(span.clone())
            .await;
        span.in_scope(|| match &result {
            Ok(_) => tracing::debug!("call returned"),
            Err(error) => tracing::debug!(%error, "call failed"),
        });
        result
    }

    /// Moves `call` between endpoints, from `first`, until it returns or
    /// fails ([`failover`](self#what-a-caller-can-rely-on)).
    async fn drive(
        &self,
        call: &mut Outgoing<'_>,
        procedure: &RemoteProcedure,
        first: Target,
    ) -> Result<Payload, Error> {
        let resources = &*self.resources;
        let (name, signature) = (procedure.name, procedure.signature);
        let mut failover = Failover::new(name, procedure.idempotent, &self.policy, first);
        let mut target = first;
        loop {
            call.tell_elsewhere(failover.elsewhere(target));
            let before = call.transmissions();
            let answer = call
                .attempt_riding_out_overload(
                    target.address,
                    target.incarnation,
                    &self.policy,
                    MAX_UNANSWERED,
                )
                .await;
            let attempt = Attempt {
                answer,
                transmissions: call.transmissions() - before,
                total_transmissions: call.transmissions(),
                acknowledged: call.acked_by().is_some(),
                answered_by: call.answered_by(),
                age: call.age_at(target.address),
            };
            match failover.after_attempt(attempt) {
                AfterAttempt::Return(bytes) => return Ok(bytes),
                AfterAttempt::Fail(error) => return Err(error),
                AfterAttempt::LookAgain => {}
                AfterAttempt::Resend(next) => {
                    // The address has a new incarnation: later calls look
                    // it up again instead of naming the old one.
                    resources
                        .endpoints
                        .invalidate(name, signature, Instant::now());
                    target = next;
                    continue;
                }
            }
            // `target` went silent, or is not (any longer) the server that
            // was looked up: avoid it for a while, and look again.
            let failed_at = Instant::now();
            resources.endpoints.suspect(target);
            resources.endpoints.invalidate(name, signature, failed_at);
            let found = resources
                .endpoints
                .resolve(name, signature, &resources.matchmaker)
                .await;
            let found = found.as_deref().map_err(Error::clone);
            let pick =
                |endpoints: &[Target], avoid: &[Target]| resources.endpoints.pick(endpoints, avoid);
            let unregistered = |t: Target| resources.endpoints.unregistered(t);
            match failover.after_lookup(found, pick, unregistered, call.remaining()) {
                AfterLookup::Fail(error) => return Err(error),
                AfterLookup::Retry {
                    target: next,
                    pause,
                } => {
                    if !pause.is_zero() {
                        rt::sleep(pause).await;
                    }
                    target = next;
                }
            }
        }
    }
}

/// The arguments of `procedure`, encoded, or the error saying why not.
fn args_encoded(
    procedure: &str,
    encoded: Result<Payload, wire::EncodeError>,
) -> Result<Payload, Error> {
    encoded.map_err(|error| match error {
        wire::EncodeError::TooLarge { size, limit } => Error::PayloadTooLarge {
            what: "arguments",
            size,
            limit,
        },
        other => Error::Encode {
            what: format!("the arguments of `{procedure}`"),
            reason: other.to_string(),
        },
    })
}

fn decode_result<R: DeserializeOwned>(procedure: &str, bytes: Payload) -> Result<R, Error> {
    // Bounded already, by the message that carried it; by value, so that a
    // large byte string keeps its buffer.
    wire::decode_payload_owned(bytes, wire::MAX_FRAME_BYTES).map_err(|error| Error::Decode {
        what: format!("the result of `{procedure}`"),
        reason: error.to_string(),
    })
}
