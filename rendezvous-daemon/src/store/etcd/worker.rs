//! The store's side of the channel: one thread running a small tokio
//! runtime (etcd-client is built on tokio), which serves write commands and
//! keeps the read cache current with one prefix read and a watch.

use super::cache::Cache;
use super::layout::{BindingValue, Layout, LeaseValue, token_hash};
use super::{EtcdConfig, Health};
use crate::store::policy::{Limits, TtlBounds, validate};
use crate::store::{Counts, Expired};
use etcd_client::{
    Client, ConnectOptions, Error as EtcdError, EventType, GetOptions, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use rendezvous_core::protocol::matchmaker::*;
use rendezvous_core::protocol::wire;
use rendezvous_core::server::source_of;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::{Instant, sleep, timeout};
use tonic::Code;

/// How long one write may keep retrying etcd before the answer is
/// StoreUnavailable: well under the matchmaker client's 3 s per daemon, so
/// the server hears StoreUnavailable (and tries another daemon) rather than
/// silence, yet long enough to ride out an etcd leader election.
const WRITE_DEADLINE: Duration = Duration::from_millis(1_500);

/// The gRPC deadline of one etcd request.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);

/// Pause between attempts at a failed etcd request.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// HTTP/2 pings that notice a silently dead etcd connection (and so a dead
/// watch) within seconds. etcd closes connections that ping more often than
/// its `--grpc-keepalive-min-time` (5 s by default), so not faster.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest `reason` in a StoreUnavailable answer: it must fit the reply to
/// a renew, which may be at most three times the request's small datagram.
/// The whole error goes to the log.
const MAX_REASON_BYTES: usize = 80;

/// Waits between attempts to read the prefix again after a failure.
const RESYNC_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));

/// How long a write waits for its own change to reach this daemon's cache,
/// so a lookup here right after a register finds it.
const OWN_WRITE_VISIBLE: Duration = Duration::from_secs(1);

/// etcd's default `--max-txn-ops`: a registration of more keys is written
/// in several transactions.
const MAX_TXN_OPS: usize = 128;

pub type Reply<T> = async_channel::Sender<T>;

/// A write, crossing from the matchmaker's runtime to the store's.
#[derive(Debug)]
pub enum Command {
    Register {
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
        reply: Reply<Result<Lease, MatchmakerError>>,
    },
    Renew {
        token: LeaseToken,
        reply: Reply<Result<Renewed, MatchmakerError>>,
    },
    Unregister {
        token: LeaseToken,
        reply: Reply<Result<Expired, MatchmakerError>>,
    },
    Replace {
        endpoint: SocketAddr,
        incarnation: u64,
        reply: Reply<Vec<Expired>>,
    },
}

/// What the worker shares with the [`super::EtcdStore`] in front of it.
#[derive(Debug)]
pub struct Shared {
    pub cache: Mutex<Cache>,
    pub health: Health,
    pub ttl: TtlBounds,
    pub limits: Limits,
}

impl Shared {
    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Clone)]
struct Worker {
    client: Client,
    layout: Layout,
    endpoints: String,
    shared: Arc<Shared>,
    /// The cache's revision, for writers waiting to see their own change.
    revision: tokio::sync::watch::Sender<i64>,
}

/// Runs on the store's thread: connects, loads the cache (reporting the
/// outcome on `started`), then serves `commands` until they close.
pub fn run(
    config: EtcdConfig,
    shared: Arc<Shared>,
    commands: async_channel::Receiver<Command>,
    started: async_channel::Sender<Result<(), String>>,
    startup_deadline: Duration,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = started.try_send(Err(format!(
                "could not start the etcd client's runtime: {error}"
            )));
            return;
        }
    };
    runtime.block_on(async move {
        let worker = match Worker::connect(&config, shared).await {
            Ok(worker) => worker,
            Err(error) => {
                let _ = started.try_send(Err(error));
                return;
            }
        };
        match timeout(startup_deadline, worker.load()).await {
            Ok(Ok(revision)) => {
                let _ = started.try_send(Ok(()));
                tokio::spawn(worker.clone().keep_in_sync(revision));
            }
            Ok(Err(error)) => {
                let _ = started.try_send(Err(error));
                return;
            }
            Err(_) => {
                let _ = started.try_send(Err(format!(
                    "etcd at {} did not answer within {startup_deadline:?}",
                    worker.endpoints
                )));
                return;
            }
        }
        while let Ok(command) = commands.recv().await {
            tokio::spawn(worker.clone().serve(command));
        }
    });
}

impl Worker {
    async fn connect(config: &EtcdConfig, shared: Arc<Shared>) -> Result<Worker, String> {
        let mut options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT)
            .with_keep_alive_while_idle(true)
            // A member cut off from the others must not answer.
            .with_require_leader(true);
        if let Some((user, password)) = &config.user {
            options = options.with_user(user, password);
        }
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls.options());
        }
        let endpoints = config.endpoints.join(",");
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|error| format!("could not connect to etcd at {endpoints}: {error}"))?;
        let revision = tokio::sync::watch::Sender::new(0);
        Ok(Worker {
            client,
            layout: Layout::new(&config.prefix),
            endpoints,
            shared,
            revision,
        })
    }

    /// Reads the whole prefix into the cache; returns its revision.
    async fn load(&self) -> Result<i64, String> {
        let prefix = self.layout.prefix().to_owned();
        let response = self
            .retrying(Instant::now() + REQUEST_TIMEOUT * 3, |mut client| {
                let prefix = prefix.clone();
                async move {
                    client
                        .get(prefix, Some(GetOptions::new().with_prefix()))
                        .await
                }
            })
            .await
            .map_err(|error| self.describe(&error))?;
        let revision = response.header().map_or(0, |header| header.revision());
        let kvs = response
            .kvs()
            .iter()
            .map(|kv| (kv.key(), kv.value(), kv.create_revision()));
        let counts = {
            let mut cache = self.shared.cache();
            cache.reset(revision, kvs);
            cache.counts()
        };
        self.revision.send_replace(revision);
        let Counts {
            leases,
            registrations,
        } = counts;
        tracing::info!(
            etcd = %self.endpoints, prefix = %self.layout.prefix(), revision, leases, registrations,
            "read the registrations from etcd"
        );
        Ok(revision)
    }

    /// Follows the prefix from `revision` on, forever: on a lost watch or a
    /// compaction, reads it all again (with back-off while etcd is away).
    async fn keep_in_sync(self, mut revision: i64) {
        let mut pause = RESYNC_BACKOFF.0;
        loop {
            let reason = self.follow(revision).await;
            // A lost watch is often one member of a cluster gone, or a
            // compaction: read again at once before calling etcd away.
            if let Ok(loaded) = self.load().await {
                revision = loaded;
                continue;
            }
            self.shared.health.down(&reason);
            loop {
                sleep(pause).await;
                pause = (pause * 2).min(RESYNC_BACKOFF.1);
                match self.load().await {
                    Ok(loaded) => {
                        revision = loaded;
                        pause = RESYNC_BACKOFF.0;
                        break;
                    }
                    Err(error) => self.shared.health.down(&error),
                }
            }
        }
    }

    /// Applies the watch's events from `revision + 1`; returns why it
    /// stopped.
    async fn follow(&self, revision: i64) -> String {
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1)
            .with_progress_notify();
        let mut client = self.client.clone();
        let mut stream = match client.watch(self.layout.prefix(), Some(options)).await {
            Ok(stream) => stream,
            Err(error) => return self.describe(&error),
        };
        loop {
            let response = match stream.message().await {
                Ok(Some(response)) => response,
                Ok(None) => return format!("etcd at {} ended the watch", self.endpoints),
                Err(error) => return self.describe(&error),
            };
            if response.canceled() || response.compact_revision() > 0 {
                return format!(
                    "etcd cancelled the watch ({}; compacted up to revision {}); reading again",
                    response.cancel_reason(),
                    response.compact_revision()
                );
            }
            if response.created() {
                self.shared.health.up(&self.endpoints);
            }
            let revision = response.header().map_or(0, |header| header.revision());
            {
                let mut cache = self.shared.cache();
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    match event.event_type() {
                        EventType::Put => cache.put(kv.key(), kv.value(), kv.create_revision()),
                        EventType::Delete => cache.delete(kv.key()),
                    }
                }
                cache.advance(revision);
            }
            self.revision.send_if_modified(|seen| {
                let newer = revision > *seen;
                *seen = (*seen).max(revision);
                newer
            });
        }
    }

    async fn serve(self, command: Command) {
        match command {
            Command::Register {
                request,
                token,
                source,
                reply,
            } => {
                let _ = reply
                    .send(self.register(request, token, source).await)
                    .await;
            }
            Command::Renew { token, reply } => {
                let _ = reply.send(self.renew(token).await).await;
            }
            Command::Unregister { token, reply } => {
                let _ = reply.send(self.unregister(token).await).await;
            }
            Command::Replace {
                endpoint,
                incarnation,
                reply,
            } => {
                let _ = reply.send(self.replace(endpoint, incarnation).await).await;
            }
        }
    }

    async fn register(
        &self,
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
    ) -> Result<Lease, MatchmakerError> {
        validate(&request)?;
        let source = source.to_canonical();
        let count = request.procedures.len();
        {
            // Counted from this daemon's cache: a limit shared by all the
            // daemons, enforced as exactly as their caches agree.
            let cache = self.shared.cache();
            let total = cache.counts().registrations;
            self.shared
                .limits
                .admit(count, source, total, cache.from_source(source_of(source)))?;
        }
        let deadline = self.write_deadline();
        let ttl = self.shared.ttl.grant(Duration::from_millis(request.ttl_ms));
        // etcd counts TTLs in whole seconds.
        let seconds = ttl.as_secs().max(1) + u64::from(ttl.subsec_nanos() > 0);
        let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
        let granted = self
            .retrying(deadline, |mut client| async move {
                client.lease_grant(seconds, None).await
            })
            .await
            .map_err(|error| self.unavailable(&error))?;
        let (id, ttl_ms) = (granted.id(), granted.ttl().max(1) as u64 * 1_000);

        let hash = token_hash(&token);
        let lease = LeaseValue {
            id,
            endpoint: request.endpoint,
            ttl_ms,
            source,
            names: request.procedures.iter().map(|p| p.name.clone()).collect(),
            incarnation: Some(request.incarnation),
        };
        let mut puts = vec![(self.layout.lease_key(&hash), encode(&lease)?)];
        for spec in &request.procedures {
            let binding = BindingValue {
                name: spec.name.clone(),
                endpoint: request.endpoint,
                signature: spec.signature,
                signature_text: spec.signature_text.clone(),
                incarnation: request.incarnation,
                lease: id,
                ttl_ms,
            };
            puts.push((self.layout.binding_key(&binding), encode(&binding)?));
        }
        match self.put_all(id, puts, deadline).await {
            Ok(revision) => {
                self.await_cache(revision).await;
                Ok(Lease { token, ttl_ms })
            }
            Err(error) => {
                // Half a registration must not stay: the lease takes what
                // was written with it.
                let mut client = self.client.clone();
                let _ = client.lease_revoke(id).await;
                Err(self.unavailable(&error))
            }
        }
    }

    /// Writes `puts` on lease `id`, in transactions of etcd's size; returns
    /// the revision of the last.
    async fn put_all(
        &self,
        id: i64,
        puts: Vec<(String, Vec<u8>)>,
        deadline: Instant,
    ) -> Result<i64, EtcdError> {
        let mut revision = 0;
        for chunk in puts.chunks(MAX_TXN_OPS) {
            let operations: Vec<TxnOp> = chunk
                .iter()
                .map(|(key, value)| {
                    TxnOp::put(
                        key.as_str(),
                        value.as_slice(),
                        Some(PutOptions::new().with_lease(id)),
                    )
                })
                .collect();
            let response = self
                .retrying(deadline, |mut client| {
                    let txn = Txn::new().and_then(operations.clone());
                    async move { client.txn(txn).await }
                })
                .await?;
            revision = response
                .header()
                .map_or(revision, |header| header.revision());
        }
        Ok(revision)
    }

    /// Revokes the leases at `endpoint` of other incarnations (best
    /// effort: one not revoked still expires).
    async fn replace(&self, endpoint: SocketAddr, incarnation: u64) -> Vec<Expired> {
        let replaced = self.shared.cache().replaced_by(endpoint, incarnation);
        let mut gone = Vec::new();
        let mut revision = 0;
        for (id, names) in replaced {
            let mut client = self.client.clone();
            match client.lease_revoke(id).await {
                Ok(response) => {
                    revision = response.header().map_or(revision, |h| h.revision());
                    gone.push(Expired { endpoint, names });
                }
                Err(error) if is_not_found(&error) => {}
                Err(error) => {
                    tracing::debug!(%error, "could not end a replaced incarnation's lease")
                }
            }
        }
        if revision > 0 {
            self.await_cache(revision).await;
        }
        gone
    }

    async fn renew(&self, token: LeaseToken) -> Result<Renewed, MatchmakerError> {
        let deadline = self.write_deadline();
        let lease = self.lease_of(&token, deadline).await?;
        let ttl = self
            .retrying(deadline, |mut client| async move {
                let (mut keeper, mut responses) = client.lease_keep_alive(lease.id).await?;
                keeper.keep_alive().await?;
                Ok(responses
                    .message()
                    .await?
                    .map_or(0, |response| response.ttl()))
            })
            .await
            .map_err(|error| self.unavailable(&error))?;
        if ttl <= 0 {
            // etcd no longer has it: expired while no renewal came.
            return Err(MatchmakerError::UnknownLease);
        }
        Ok(Renewed {
            ttl_ms: ttl as u64 * 1_000,
        })
    }

    async fn unregister(&self, token: LeaseToken) -> Result<Expired, MatchmakerError> {
        let deadline = self.write_deadline();
        let lease = self.lease_of(&token, deadline).await?;
        let mut attempts = 0;
        let revoked = self
            .retrying(deadline, |mut client| {
                attempts += 1;
                let retried = attempts > 1;
                async move {
                    match client.lease_revoke(lease.id).await {
                        Ok(response) => Ok(response.header().map_or(0, |h| h.revision())),
                        // Not found on a retry: the first attempt revoked it
                        // and its answer was lost.
                        Err(error) if retried && is_not_found(&error) => Ok(0),
                        Err(error) => Err(error),
                    }
                }
            })
            .await;
        match revoked {
            Ok(revision) => {
                self.await_cache(revision).await;
                Ok(Expired {
                    endpoint: lease.endpoint,
                    names: lease.names,
                })
            }
            Err(error) if is_not_found(&error) => Err(MatchmakerError::UnknownLease),
            Err(error) => Err(self.unavailable(&error)),
        }
    }

    /// The lease record of `token`: from the cache, else from etcd (a
    /// registration made through another daemon a moment ago).
    async fn lease_of(
        &self,
        token: &LeaseToken,
        deadline: Instant,
    ) -> Result<LeaseValue, MatchmakerError> {
        let hash = token_hash(token);
        if let Some(lease) = self.shared.cache().lease(&hash) {
            return Ok(lease.clone());
        }
        let key = self.layout.lease_key(&hash);
        let response = self
            .retrying(deadline, |mut client| {
                let key = key.clone();
                async move { client.get(key, None).await }
            })
            .await
            .map_err(|error| self.unavailable(&error))?;
        let kv = response
            .kvs()
            .first()
            .ok_or(MatchmakerError::UnknownLease)?;
        wire::decode_payload(kv.value()).map_err(|_| MatchmakerError::UnknownLease)
    }

    /// Waits (briefly) until the cache holds etcd's `revision`.
    async fn await_cache(&self, revision: i64) {
        let mut seen = self.revision.subscribe();
        let _ = timeout(OWN_WRITE_VISIBLE, seen.wait_for(|seen| *seen >= revision)).await;
    }

    /// When a write started now must have its answer: soon while the cache
    /// has lost etcd (one attempt, not a series of them).
    fn write_deadline(&self) -> Instant {
        let patience = if self.shared.health.is_live() {
            WRITE_DEADLINE
        } else {
            REQUEST_TIMEOUT
        };
        Instant::now() + patience
    }

    /// Runs `request` until it succeeds, fails for good, or `deadline`
    /// passes, pausing between attempts at transient failures.
    async fn retrying<T, F, Fut>(&self, deadline: Instant, mut request: F) -> Result<T, EtcdError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>>,
    {
        loop {
            let health = &self.shared.health;
            health
                .round_trips
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match request(self.client.clone()).await {
                Err(error) if is_transient(&error) && Instant::now() + RETRY_PAUSE < deadline => {
                    tracing::debug!(%error, "etcd request failed; trying again");
                    sleep(RETRY_PAUSE).await;
                }
                outcome => return outcome,
            }
        }
    }

    fn describe(&self, error: &EtcdError) -> String {
        format!("etcd at {}: {error}", self.endpoints)
    }

    fn unavailable(&self, error: &EtcdError) -> MatchmakerError {
        tracing::debug!(etcd = %self.endpoints, %error, "an etcd write failed");
        let reason = match error {
            EtcdError::GRpcStatus(status)
                if !matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) =>
            {
                format!("etcd refused the write ({:?})", status.code())
            }
            error if is_transient(error) => "etcd did not answer".to_owned(),
            other => other.to_string(),
        };
        MatchmakerError::StoreUnavailable {
            reason: truncate(reason, MAX_REASON_BYTES),
        }
    }
}

fn truncate(mut text: String, bytes: usize) -> String {
    if text.len() > bytes {
        let mut end = bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, MatchmakerError> {
    wire::encode_payload(value).map_err(|error| MatchmakerError::InvalidRequest {
        reason: format!("the registration could not be encoded for etcd: {error}"),
    })
}

fn is_not_found(error: &EtcdError) -> bool {
    matches!(error, EtcdError::GRpcStatus(status) if status.code() == Code::NotFound)
}

/// Failures worth another attempt: etcd unreachable, no leader yet, a
/// request cut off. Anything else (permission denied, bad request) is final.
fn is_transient(error: &EtcdError) -> bool {
    match error {
        EtcdError::GRpcStatus(status) => matches!(
            status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::Unknown
        ),
        EtcdError::TransportError(_)
        | EtcdError::IoError(_)
        | EtcdError::LeaseKeepAliveError(_) => true,
        _ => false,
    }
}
