//! Whether a server (or a matchmaker: it is one too) answers, and who it
//! is: `Client::ping`, for `rendezvous-daemon ping`, and
//! `Client::incarnation_at`, the matchmaker's check of who holds an
//! endpoint.
//!
//! Nothing runs: the probe is a call of a name no server has, which any
//! server refuses (`NoSuchProcedure`) with its incarnation in the reply
//! header. Its uptime comes the one way the protocol gives it today: a
//! call naming *another* incarnation is refused `[4]` + `[12, uptime_ms]`
//! (PROTOCOL.md, outcome 12), so the second probe names one that is not
//! the server's.

use super::failover::failure_error;
use crate::error::{Error, refusal};
use crate::requester::{MAX_UNANSWERED, Requester};
use crate::retry::RetryPolicy;
use crate::rt::Instant;
use crate::signature::Fingerprint;
use crate::wire::{Incarnation, Outcome};
use std::net::SocketAddr;
use std::time::Duration;

/// The name the probes call, which no server may have (it is reserved).
const NOBODYS: &str = "rendezvous.incarnation";

/// What a ping learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The incarnation that holds the address now.
    pub incarnation: Incarnation,
    /// From the first probe's first send to its answer (retransmissions
    /// included, if copies were lost).
    pub round_trip: Duration,
    /// How long that incarnation has been serving, if it says (a server
    /// of an older version, or one whose answer would exceed the call's
    /// amplification bound, does not).
    pub uptime: Option<Duration>,
}

/// [`Client::ping`](super::Client::ping): the first probe names any
/// incarnation, the second one that is not the server's (nor 0, "any").
pub(super) async fn ping(
    requester: &Requester,
    policy: &RetryPolicy,
    endpoint: SocketAddr,
) -> Result<Pong, Error> {
    let started = Instant::now();
    let (incarnation, _) = probe(requester, policy, endpoint, Incarnation::ANY).await?;
    let round_trip = started.elapsed();
    let other = Incarnation(if incarnation.0 == 1 { 2 } else { 1 });
    let uptime = match probe(requester, policy, endpoint, other).await {
        Ok((_, Outcome::WrongIncarnationUptime(ms))) => Some(Duration::from_millis(ms)),
        _ => None,
    };
    Ok(Pong {
        incarnation,
        round_trip,
        uptime,
    })
}

/// One call of [`NOBODYS`] naming `incarnation`: who answered, and how.
pub(super) async fn probe(
    requester: &Requester,
    policy: &RetryPolicy,
    endpoint: SocketAddr,
    incarnation: Incarnation,
) -> Result<(Incarnation, Outcome), Error> {
    let mut call = requester.begin(NOBODYS, Fingerprint(0), vec![0x80].into(), policy.deadline);
    let answer = call
        .attempt(endpoint, incarnation, policy, MAX_UNANSWERED)
        .await;
    match (answer, call.answered_by()) {
        (Ok(outcome), Some(by)) => Ok((by, outcome)),
        (Ok(outcome), None) => Err(refusal(NOBODYS, endpoint, outcome)),
        (Err(failure), _) => Err(failure_error(
            NOBODYS,
            endpoint,
            failure,
            call.transmissions(),
            policy.deadline,
        )),
    }
}
