//! The calling side: resolve a name through the matchmaker (cached), call the
//! endpoint directly, retransmit until the reply, fail over when an endpoint
//! goes away.
//!
//! # What a caller can rely on
//!
//! * A call that returns `Ok` ran exactly once.
//! * A call keeps its xid to the end, so going back to an endpoint that was
//!   only slow or lossy is always safe: its reply cache recognises the call.
//! * A call moves to *another* endpoint only when the first one cannot have
//!   run it: it refused the call (no such procedure, another signature, a
//!   new incarnation answering the first copy), or it went silent and the
//!   matchmaker no longer lists it (it left gracefully). When the first
//!   endpoint went silent while still listed, acknowledged the call, or
//!   restarted while it was outstanding, the caller gets
//!   [`Error::OutcomeUnknown`] — unless the procedure is declared
//!   idempotent, in which case the call moves on — and later calls avoid
//!   that endpoint. An acknowledged call that reaches its deadline is
//!   `OutcomeUnknown` too.
//! * The residual risk: a server that shuts down gracefully while the reply
//!   to a call it ran is being lost on the network; the client then takes
//!   its silence for non-delivery.

mod endpoints;
pub(crate) mod transport;

pub use transport::TransportStats;

use crate::error::Error;
use crate::matchmaker::{self, MatchmakerClient};
use crate::retry::RetryPolicy;
use crate::rt::{self, Instant};
use crate::signature::Fingerprint;
use crate::wire::{self, Incarnation, MAX_DATAGRAM_BYTES, Outcome};
use endpoints::{EndpointCache, Target};
use once_cell::sync::OnceCell;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use transport::{Failure, Outgoing, Transport};

/// Why a call may have reached an endpoint it is leaving.
#[derive(Clone, Copy, Debug)]
enum Doubt {
    /// It went silent: the call, or only its reply, may have been lost.
    Silent,
    /// It acknowledged the call, then went silent.
    Acknowledged,
    /// It acknowledged the call and sent no reply before the deadline.
    AcknowledgedThenExpired,
    /// A new incarnation answered after earlier copies went unanswered.
    Restarted,
}

impl Doubt {
    fn error(self, procedure: &str, endpoint: Target) -> Error {
        let reason = match self {
            Doubt::Silent => "the server stopped answering, and the call may have reached it",
            Doubt::Acknowledged => "the server acknowledged the call, then stopped answering",
            Doubt::AcknowledgedThenExpired => {
                "the server acknowledged the call but sent no reply before its deadline"
            }
            Doubt::Restarted => "the server restarted while the call was outstanding",
        };
        Error::OutcomeUnknown {
            procedure: procedure.into(),
            endpoint: endpoint.address,
            reason: reason.into(),
        }
    }
}

/// Transmissions in a row an endpoint may leave unanswered before the
/// client looks for another (about 300 ms at loopback timers, 1.5 s cold).
pub const MAX_UNANSWERED: u32 = 4;

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
    shared: Arc<Shared>,
    policy: RetryPolicy,
}

#[derive(Debug)]
struct Shared {
    transport: Transport,
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
}

/// Configures a [`Client`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ClientBuilder {
    matchmakers: Option<Vec<SocketAddr>>,
    bind: Option<SocketAddr>,
    policy: RetryPolicy,
}

impl ClientBuilder {
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
        let transport = Transport::bind(bind)
            .map_err(|e| Error::io(format!("could not bind a client socket on {bind}"), e))?;
        let matchmaker = MatchmakerClient::on(transport.clone(), &addresses)?;
        Ok(Client {
            shared: Arc::new(Shared {
                transport,
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
            shared: self.shared.clone(),
            policy: self.policy.with_deadline(deadline),
        }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The matchmaker client this client resolves names with.
    pub fn matchmaker(&self) -> &MatchmakerClient {
        &self.shared.matchmaker
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.shared
            .transport
            .local_addr()
            .map_err(|e| Error::io("could not read the client socket's address", e))
    }

    pub fn stats(&self) -> ClientStats {
        let transport = self.shared.transport.stats();
        ClientStats {
            lookups: self.shared.endpoints.lookups(),
            transmissions: transport.transmissions,
            retransmissions: transport.retransmissions,
            datagrams: transport.datagrams,
        }
    }

    /// Calls `procedure` with an argument tuple and decodes its result.
    pub async fn call<A, R>(&self, procedure: &RemoteProcedure, args: &A) -> Result<R, Error>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let args = encode_args(procedure.name, args)?;
        let result = self.call_raw(procedure, args).await?;
        decode_result(procedure.name, &result)
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
        let args = encode_args(procedure.name, args)?;
        let (name, signature) = (procedure.name, procedure.signature);
        let mut call = self
            .shared
            .transport
            .begin(name, signature, args, self.policy.deadline);
        let anywhere = Target {
            address: endpoint,
            incarnation: Incarnation::ANY,
        };
        let answer = riding_out_overload(&mut call, anywhere, &self.policy, u32::MAX).await;
        let bytes = match answer {
            Ok(Outcome::Return(bytes)) => bytes,
            Ok(outcome) => return Err(refusal(name, endpoint, outcome)),
            Err(failure) => return Err(self.failure(name, endpoint, failure, 0)),
        };
        decode_result(name, &bytes)
    }

    /// Calls `procedure` with encoded arguments; returns the encoded result.
    /// This is what generated proxies call.
    pub async fn call_raw(
        &self,
        procedure: &RemoteProcedure,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        let shared = &*self.shared;
        let (name, signature) = (procedure.name, procedure.signature);
        let started = Instant::now();
        let endpoints = shared
            .endpoints
            .resolve(name, signature, &shared.matchmaker)
            .await?;
        let mut current = shared
            .endpoints
            .pick(&endpoints, &[])
            .ok_or_else(|| Error::NotFound { name: name.into() })?;
        let remaining = self.policy.deadline.saturating_sub(started.elapsed());
        let mut call = shared.transport.begin(name, signature, args, remaining);
        let mut left_behind: Vec<Target> = Vec::new();
        let mut pause = self.policy.min_timeout;
        loop {
            let before = call.transmissions();
            let attempt =
                riding_out_overload(&mut call, current, &self.policy, MAX_UNANSWERED).await;
            // Whether an earlier transmission may have reached a server
            // that has since been replaced at this address.
            let unanswered_before = call.transmissions() - before > 1
                || left_behind.iter().any(|t| t.address == current.address);
            // Why the call may have reached `current`, if it may have.
            let doubt = match attempt {
                Ok(Outcome::Return(bytes)) => return Ok(bytes),
                Ok(Outcome::WrongIncarnation) if unanswered_before => Some(Doubt::Restarted),
                Ok(Outcome::WrongIncarnation) => None,
                Ok(Outcome::NoSuchProcedure | Outcome::SignatureMismatch(_)) => None,
                Ok(outcome) => return Err(refusal(name, current.address, outcome)),
                Err(Failure::Silent) => Some(Doubt::Silent),
                Err(Failure::Expired) if call.acked_by().is_some() => {
                    return Err(Doubt::AcknowledgedThenExpired.error(name, current));
                }
                Err(failure) => {
                    return Err(self.failure(name, current.address, failure, call.transmissions()));
                }
            };
            let doubt = match call.acked_by() {
                Some(_) => Some(Doubt::Acknowledged),
                None => doubt,
            };

            // Look again: `current` went silent, or is not (any longer) the
            // server we looked up.
            let failed_at = Instant::now();
            shared.endpoints.suspect(current);
            shared.endpoints.invalidate(name, signature, failed_at);
            left_behind.push(current);
            let endpoints = match shared
                .endpoints
                .resolve(name, signature, &shared.matchmaker)
                .await
            {
                Ok(endpoints) => endpoints,
                Err(_) if doubt.is_some() && !procedure.idempotent => {
                    return Err(doubt.unwrap_or(Doubt::Silent).error(name, current));
                }
                Err(error) => return Err(error),
            };
            // A silent server that the matchmaker no longer lists left it
            // gracefully (it unregisters before it stops taking calls, then
            // answers what it took) or let its lease run out: its silence is
            // not taken as delivery.
            let doubt = match doubt {
                Some(Doubt::Silent) if !endpoints.contains(&current) => None,
                other => other,
            };
            let next = shared
                .endpoints
                .pick(&endpoints, &left_behind)
                .ok_or_else(|| Error::NotFound { name: name.into() })?;
            // Moving a call that may have reached one server to another
            // could run it twice; staying with the same server cannot.
            if let Some(doubt) = doubt
                && next != current
                && !procedure.idempotent
            {
                return Err(doubt.error(name, current));
            }
            if left_behind.contains(&next) {
                // Nowhere new to go: try again after a pause, backing off.
                rt::sleep(pause.min(call.remaining())).await;
                pause = (pause * 2).min(self.policy.max_timeout);
                left_behind.retain(|t| *t != next);
            }
            current = next;
        }
    }

    fn failure(&self, name: &str, endpoint: SocketAddr, failure: Failure, attempts: u32) -> Error {
        match failure {
            Failure::Expired | Failure::Silent => Error::DeadlineExceeded {
                procedure: name.into(),
                endpoint,
                attempts,
                deadline: self.policy.deadline,
            },
            Failure::TooLarge { size, limit } => Error::PayloadTooLarge {
                what: "arguments",
                size,
                limit,
            },
            Failure::Io(error) => {
                Error::io(format!("could not send `{name}` to {endpoint}"), error)
            }
        }
    }
}

fn encode_args<A: Serialize + ?Sized>(procedure: &str, args: &A) -> Result<Vec<u8>, Error> {
    wire::encode_payload(args).map_err(|error| match error {
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

fn decode_result<R: DeserializeOwned>(procedure: &str, bytes: &[u8]) -> Result<R, Error> {
    wire::decode_payload(bytes).map_err(|error| Error::Decode {
        what: format!("the result of `{procedure}`"),
        reason: error.to_string(),
    })
}

/// One attempt at `target`, repeated while it ends in `Overloaded`, with a
/// pause before each repeat (the policy's floor, doubling up to its cap,
/// jittered). The same call, with its xid, goes back to the same server:
/// one that answered `Overloaded` neither ran nor recorded it. If the
/// deadline passes while the server is still overloaded, the answer is
/// `Overloaded`.
async fn riding_out_overload(
    call: &mut Outgoing<'_>,
    target: Target,
    policy: &RetryPolicy,
    max_unanswered: u32,
) -> Result<Outcome, Failure> {
    let mut refusals = 0u32;
    loop {
        let attempt = call
            .attempt(target.address, target.incarnation, policy, max_unanswered)
            .await;
        match attempt {
            Ok(Outcome::Overloaded) => {
                let remaining = call.remaining();
                if remaining.is_zero() {
                    return Ok(Outcome::Overloaded);
                }
                rt::sleep(overload_pause(policy, refusals).min(remaining)).await;
                refusals += 1;
            }
            Err(Failure::Expired) if refusals > 0 && call.acked_by().is_none() => {
                return Ok(Outcome::Overloaded);
            }
            other => return other,
        }
    }
}

/// The pause after the `refusals`-th consecutive `Overloaded` (from 0).
fn overload_pause(policy: &RetryPolicy, refusals: u32) -> Duration {
    let factor = policy.backoff.max(1).saturating_pow(refusals.min(16));
    let pause = policy
        .min_timeout
        .saturating_mul(factor)
        .min(policy.max_timeout);
    let jitter = policy.jitter.clamp(0.0, 1.0);
    pause.mul_f64(1.0 + jitter * (2.0 * fastrand::f64() - 1.0))
}

/// The unspecified address of the family of `target`, port 0, so one socket
/// can reach it.
pub(crate) fn bind_address_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The error for an outcome in which the procedure returned nothing.
pub(crate) fn refusal(procedure: &str, endpoint: SocketAddr, outcome: Outcome) -> Error {
    let procedure = procedure.to_owned();
    let remote = |reason: String| Error::Remote {
        procedure: procedure.clone(),
        endpoint,
        reason,
    };
    match outcome {
        Outcome::Return(_) => remote("returned a value where none was expected".into()),
        Outcome::Panicked(message) => Error::ProcedurePanicked {
            procedure,
            endpoint,
            message,
        },
        Outcome::NoSuchProcedure => remote("the server there does not have this procedure".into()),
        Outcome::SignatureMismatch(actual) => remote(format!(
            "the server's procedure has signature {actual}, not the one this caller was built against"
        )),
        Outcome::WrongIncarnation => {
            remote("the server there restarted since the address was looked up".into())
        }
        Outcome::UnsupportedVersion(versions) => remote(format!(
            "the server speaks protocol versions {versions:?}, not this client's"
        )),
        Outcome::Malformed(reason) => {
            remote(format!("the server could not decode the call: {reason}"))
        }
        Outcome::BadArguments(reason) => remote(format!("arguments rejected: {reason}")),
        Outcome::ReplyTooLarge { size, limit } => Error::PayloadTooLarge {
            what: "result",
            size: size as usize,
            limit: limit.min(MAX_DATAGRAM_BYTES as u64) as usize,
        },
        Outcome::ReplyEvicted => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "the server's full reply cache evicted this call's reply before this client received it".into(),
        },
        Outcome::DeadlineExceeded => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "the server cancelled it at its deadline, possibly part-way through".into(),
        },
        Outcome::Overloaded => Error::Overloaded {
            procedure,
            endpoint,
        },
    }
}
