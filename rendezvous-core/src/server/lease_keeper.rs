//! The lease keeper: what keeps a server registered. One lease for all its
//! procedures, renewed at a third of its TTL; registered again when the
//! matchmaker has forgotten it (it restarted, or the renewal reached another
//! matchmaker that does not share its store); retried in the background
//! while no matchmaker is reachable or can reach its store. Which of several
//! matchmakers each request goes to is the [`MatchmakerClient`]'s business;
//! a server's client sends from the server's own socket (see `serve`), so
//! a registration comes from the endpoint it registers.
//! State changes are logged once, not on every attempt.

use crate::error::Error;
use crate::matchmaker::MatchmakerClient;
use crate::matchmaker::protocol::{Lease, LeaseToken, ProcedureSpec};
use crate::retry::RetryPolicy;
use crate::rt;
use crate::sync::lock;
use crate::wire::Incarnation;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// First pause before registering again after a failure; grows by
/// [`RetryPolicy::backoff`] (doubling, jittered) up to
/// a third of the TTL.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Holds a server's lease with the matchmaker: registers, renews, and
/// registers again when the lease is lost.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    matchmaker: MatchmakerClient,
    procedures: Vec<ProcedureSpec>,
    endpoint: SocketAddr,
    incarnation: Incarnation,
    ttl: Duration,
    /// The lease now held, for renewals and the final unregister.
    lease: Mutex<Option<LeaseToken>>,
    /// Why the last registration or renewal failed, while it has not
    /// succeeded since: what `Server::registration_error` tells.
    last_error: Mutex<Option<Error>>,
}

impl LeaseKeeper {
    pub(crate) fn new(
        matchmaker: MatchmakerClient,
        procedures: Vec<ProcedureSpec>,
        endpoint: SocketAddr,
        incarnation: Incarnation,
        ttl: Duration,
    ) -> LeaseKeeper {
        LeaseKeeper {
            matchmaker,
            procedures,
            endpoint,
            incarnation,
            ttl,
            lease: Mutex::new(None),
            last_error: Mutex::new(None),
        }
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.lease().is_some()
    }

    pub(crate) fn matchmaker(&self) -> &MatchmakerClient {
        &self.matchmaker
    }

    fn lease(&self) -> MutexGuard<'_, Option<LeaseToken>> {
        lock(&self.lease)
    }

    /// Why the server is not registered, if the last attempt failed: the
    /// matchmaker's own refusal (a `LimitReached` naming its limit, say),
    /// not only that none registered it.
    pub(crate) fn last_error(&self) -> Option<Error> {
        lock(&self.last_error).clone()
    }

    fn failed(&self, error: &Error) {
        *lock(&self.last_error) = Some(error.clone());
    }

    /// One registration attempt.
    pub(crate) async fn register(&self) -> Result<Lease, Error> {
        let registered = self
            .matchmaker
            .register(
                self.procedures.clone(),
                self.endpoint,
                self.incarnation,
                self.ttl,
            )
            .await;
        let lease = registered.inspect_err(|error| self.failed(error))?;
        *self.lease() = Some(lease.token);
        *lock(&self.last_error) = None;
        tracing::info!(
            endpoint = %self.endpoint,
            matchmaker = %self.matchmaker.address(),
            procedures = self.procedures.len(),
            ttl_ms = lease.ttl_ms,
            "registered with the matchmaker"
        );
        Ok(lease)
    }

    /// Renews forever (until the task is cancelled), registering again
    /// whenever the lease is lost. A failed renewal is retried with backoff
    /// (not a full heartbeat later), so a lease survives a brief outage.
    pub(crate) async fn keep(self: Arc<Self>, granted: Option<Duration>) {
        let mut heartbeat = granted.unwrap_or(self.ttl) / 3;
        let mut wait = heartbeat;
        let backoff = RetryPolicy::default();
        let mut failures = 0u32;
        let mut healthy = true;
        loop {
            let token = *self.lease();
            let outcome = match token {
                Some(token) => {
                    rt::sleep(wait).await;
                    match self.matchmaker.renew(token).await {
                        Err(Error::UnknownLease) => {
                            tracing::info!(
                                matchmaker = %self.matchmaker.address(),
                                "the matchmaker does not know this server's lease (it restarted, or does not share a store with the one that granted it); registering again"
                            );
                            *self.lease() = None;
                            continue;
                        }
                        renewed => renewed,
                    }
                }
                None => self
                    .register()
                    .await
                    .map(|lease| Duration::from_millis(lease.ttl_ms)),
            };
            match outcome {
                Ok(ttl) => {
                    heartbeat = ttl / 3;
                    wait = heartbeat;
                    failures = 0;
                    if !healthy {
                        tracing::info!(matchmaker = %self.matchmaker.address(), "matchmaker reachable again");
                        healthy = true;
                    }
                }
                Err(error) => {
                    self.failed(&error);
                    if healthy {
                        tracing::warn!(%error, "could not keep this server registered; retrying in the background");
                        healthy = false;
                    }
                    let retry = backoff.backoff(FIRST_RETRY, failures, heartbeat.max(FIRST_RETRY));
                    failures = failures.saturating_add(1);
                    if token.is_none() {
                        rt::sleep(retry).await;
                    }
                    wait = retry;
                }
            }
        }
    }

    /// Ends the lease, if one is held (best effort: the lease expires anyway).
    pub(crate) async fn unregister(&self) {
        let token = self.lease().take();
        if let Some(token) = token
            && let Err(error) = self.matchmaker.unregister(token).await
        {
            tracing::debug!(%error, "could not unregister; the lease will expire");
        }
    }
}
