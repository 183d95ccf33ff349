//! The serving half of the request/response core: one socket, calls in,
//! replies out, each call run exactly once.
//!
//! ```text
//! socket -> each message of the datagram -> incarnation? procedure? signature?
//!        -> reply cache -> new: handler -> encode reply -> cache -> outbox
//!                       -> running: ACK | finished: cached reply | evicted: say so
//! outbox -> the datagram's answers, batched -> socket
//! ```
//!
//! The reply is the acknowledgment: a separate ACK goes out only when a call
//! has run longer than [`ResponderConfig::ack_delay`], or when a duplicate
//! arrives while it runs.
//!
//! A datagram may carry several calls (a batch, see PROTOCOL.md); the
//! answers to one datagram go out together, in as few datagrams as fit.
//! A new call is polled once right in the receive loop: one that finishes
//! at once (most do) is answered without the cost of a task; one that waits
//! continues in an async-std task of its own, so no call ever waits on
//! another's await. The price: a procedure that computes for long without
//! awaiting holds up the receive loop while it does (measured: 57k -> 90k
//! calls/s with 64 in flight, pinned to one CPU). A procedure still running at its call's deadline is
//! cancelled (the caller has given up), and a panic becomes an error reply.
//!
//! [`Responder`] is what the matchmaker runs as it is; a [`crate::Server`]
//! runs one and keeps its procedures registered with the matchmaker.

use super::procedure::{CallContext, HandlerError, Procedure, ProcedureSet};
use super::reply_cache::{Admission, ReplyCache};
use crate::rt::{self, Instant, UdpSocket};
use crate::sync::lock;
use crate::wire::{
    AMPLIFICATION_FACTOR, Ack, Call, EncodeError, Incarnation, MAX_DATAGRAM_BYTES, Message,
    Outcome, Reply, batch_limit, reply_limit,
};
use futures_lite::FutureExt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How a responder treats calls.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// Memory the reply cache may hold, replies and bookkeeping.
    pub reply_cache_bytes: usize,
    /// How long a reply is kept for a client that never confirms it.
    pub retention: Duration,
    /// A call running longer than this is acknowledged without waiting for a duplicate.
    pub ack_delay: Duration,
    /// On shutdown, how long calls in flight may take to finish.
    pub drain_timeout: Duration,
    /// Calls that may run at once; a new call beyond them is answered
    /// `Overloaded` without running.
    pub max_calls_in_flight: usize,
    /// Hold every reply, not only errors, to [`AMPLIFICATION_FACTOR`] times
    /// its call's datagram. For services that answer anyone (the
    /// matchmaker); off for user servers, whose results are theirs to size.
    pub bound_replies: bool,
}

/// 8 MiB of replies: ~100k small replies, enough for a full retention window
/// of a busy server, small enough not to matter on any host.
pub const DEFAULT_REPLY_CACHE_BYTES: usize = 8 << 20;
/// Longer than any default retry window (the default deadline is 10 s).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(60);
/// Well above a loopback or LAN round trip, well below the first retransmission.
pub const DEFAULT_ACK_DELAY: Duration = Duration::from_millis(20);
/// Calls in flight at shutdown get this long to finish.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Enough concurrency for any one host's worth of clients; at most this
/// many argument buffers (each at most a datagram) and tasks held at once.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 1024;
/// How often expired replies are swept out.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            reply_cache_bytes: DEFAULT_REPLY_CACHE_BYTES,
            retention: DEFAULT_RETENTION,
            ack_delay: DEFAULT_ACK_DELAY,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            bound_replies: false,
        }
    }
}

/// Counters of what a responder has done, for tests, benchmarks and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// Calls whose procedure was started.
    pub executed: u64,
    /// Duplicates answered with the cached reply instead of running again.
    pub replayed: u64,
    /// Separate acknowledgments sent.
    pub acks: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Replies (and, under extreme pressure, their tombstones) evicted from
    /// the reply cache by its memory cap.
    pub evictions: u64,
    /// Bytes the reply cache holds now.
    pub reply_cache_bytes: u64,
    /// New calls refused as `Overloaded` (at the calls-in-flight limit).
    pub overloaded: u64,
    /// Answers withheld or cut because they would have exceeded
    /// [`AMPLIFICATION_FACTOR`] times the datagram that asked for them.
    pub amplification_refused: u64,
    /// Datagrams received, and sent: several calls, or several answers,
    /// may share one.
    pub datagrams_received: u64,
    pub datagrams_sent: u64,
}

/// A socket serving a set of procedures. [`Responder::shutdown`] stops it
/// gracefully; dropping it stops it at once, like [`Responder::abort`].
#[derive(Debug)]
pub struct Responder {
    shared: Arc<Shared>,
    task: Option<rt::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    socket: UdpSocket,
    local_addr: SocketAddr,
    incarnation: Incarnation,
    procedures: ProcedureSet,
    config: ResponderConfig,
    cache: Mutex<ReplyCache>,
    in_flight: AtomicUsize,
    /// Set by [`Responder::abort`]: nothing more leaves the socket.
    aborted: AtomicBool,
    executed: AtomicU64,
    replayed: AtomicU64,
    acks: AtomicU64,
    malformed: AtomicU64,
    overloaded: AtomicU64,
    amplification_refused: AtomicU64,
    datagrams_received: AtomicU64,
    datagrams_sent: AtomicU64,
}

impl Responder {
    /// Binds `address` and starts serving `procedures` on it.
    pub async fn bind(
        address: SocketAddr,
        procedures: ProcedureSet,
        config: ResponderConfig,
    ) -> io::Result<Responder> {
        let socket = UdpSocket::bind(address).await?;
        let local_addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            socket,
            local_addr,
            incarnation: Incarnation(crate::random::u64().max(1)),
            procedures,
            cache: Mutex::new(ReplyCache::new(config.reply_cache_bytes, config.retention)),
            config,
            in_flight: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
            executed: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            amplification_refused: AtomicU64::new(0),
            datagrams_received: AtomicU64::new(0),
            datagrams_sent: AtomicU64::new(0),
        });
        let task = rt::spawn(shared.clone().receive_loop());
        Ok(Responder {
            shared,
            task: Some(task),
        })
    }

    /// The address the socket is bound to (with the port the OS chose).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// This run's incarnation id.
    pub fn incarnation(&self) -> Incarnation {
        self.shared.incarnation
    }

    pub fn procedures(&self) -> &ProcedureSet {
        &self.shared.procedures
    }

    pub fn stats(&self) -> ResponderStats {
        let shared = &self.shared;
        let cache = shared.cache();
        ResponderStats {
            executed: shared.executed.load(Ordering::Relaxed),
            replayed: shared.replayed.load(Ordering::Relaxed),
            acks: shared.acks.load(Ordering::Relaxed),
            malformed: shared.malformed.load(Ordering::Relaxed),
            evictions: cache.evictions() + cache.tombstones_dropped(),
            reply_cache_bytes: cache.bytes() as u64,
            overloaded: shared.overloaded.load(Ordering::Relaxed),
            amplification_refused: shared.amplification_refused.load(Ordering::Relaxed),
            datagrams_received: shared.datagrams_received.load(Ordering::Relaxed),
            datagrams_sent: shared.datagrams_sent.load(Ordering::Relaxed),
        }
    }

    /// Stops at once, as a crash would: calls in flight run on but never
    /// reply or acknowledge.
    pub async fn abort(mut self) {
        self.shared.aborted.store(true, Ordering::Release);
        if let Some(task) = self.task.take() {
            task.cancel().await;
        }
    }

    /// Stops taking calls, then waits (up to the drain timeout) for calls in
    /// flight to finish and send their replies.
    pub async fn shutdown(mut self) {
        if let Some(task) = self.task.take() {
            task.cancel().await;
        }
        let deadline = Instant::now() + self.shared.config.drain_timeout;
        while self.shared.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            rt::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.shared.aborted.store(true, Ordering::Release);
            rt::spawn(task.cancel());
        }
    }
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, ReplyCache> {
        lock(&self.cache)
    }

    async fn receive_loop(self: Arc<Self>) {
        let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        // Reused for every datagram, addressed to its sender.
        let mut out = Outbox::new(SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
        loop {
            let (length, peer) = match self.socket.recv_from(&mut buffer).await {
                Ok(received) => received,
                Err(error) => {
                    tracing::debug!(%error, "server socket receive error");
                    rt::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            self.datagrams_received.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            out.peer = peer;
            let mut messages = Message::decode_batch(&buffer[..length]);
            while let Some(message) = messages.next() {
                match message {
                    Ok((Message::Call(call), bytes)) => {
                        let from = Peer {
                            address: peer,
                            datagram_bytes: bytes,
                        };
                        self.on_call(call, from, now, &mut out).await;
                    }
                    Ok((Message::Confirm(confirm), _)) => {
                        self.cache().confirm(confirm.client, confirm.xid)
                    }
                    Ok((Message::Ack(_) | Message::Reply(_), _)) => {}
                    Err(undecodable) => {
                        // What is left of the datagram is what it answers.
                        let from = Peer {
                            address: peer,
                            datagram_bytes: messages.rest().len(),
                        };
                        self.malformed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%peer, error = %undecodable.error, "undecodable datagram");
                        match undecodable.error_reply_within(self.incarnation, from.datagram_bytes)
                        {
                            Some(reply) => self.post(&Message::Reply(reply), from, &mut out).await,
                            None if undecodable.header.is_some_and(|h| h.is_call()) => {
                                self.amplification_refused.fetch_add(1, Ordering::Relaxed);
                            }
                            None => {}
                        }
                    }
                }
            }
            self.flush(&mut out).await;
            if now >= next_sweep {
                self.cache().sweep(now);
                next_sweep = now + SWEEP_INTERVAL;
            }
        }
    }

    async fn on_call(self: &Arc<Self>, call: Call, peer: Peer, now: Instant, out: &mut Outbox) {
        if call.incarnation != Incarnation::ANY && call.incarnation != self.incarnation {
            return self
                .refuse(&call, Outcome::WrongIncarnation, peer, out)
                .await;
        }
        let procedure = match self.procedures.get(&call.procedure) {
            None => {
                return self
                    .refuse(&call, Outcome::NoSuchProcedure, peer, out)
                    .await;
            }
            Some(p) if p.signature() != call.signature => {
                let outcome = Outcome::SignatureMismatch(p.signature());
                return self.refuse(&call, outcome, peer, out).await;
            }
            Some(p) => p.clone(),
        };
        let admission = {
            let mut cache = self.cache();
            match cache.admit(call.client, call.xid, call.done_below, call.deadline, now) {
                Admission::New
                    if self.in_flight.load(Ordering::Acquire)
                        >= self.config.max_calls_in_flight =>
                {
                    cache.withdraw(call.client, call.xid);
                    None
                }
                // No room to record a new client: as overloaded.
                Admission::Full => None,
                admission => Some(admission),
            }
        };
        let Some(admission) = admission else {
            self.overloaded.fetch_add(1, Ordering::Relaxed);
            return self.refuse(&call, Outcome::Overloaded, peer, out).await;
        };
        match admission {
            Admission::New => {
                self.in_flight.fetch_add(1, Ordering::AcqRel);
                self.executed.fetch_add(1, Ordering::Relaxed);
                self.execute(call, procedure, peer, out).await;
            }
            Admission::Running => {
                self.acks.fetch_add(1, Ordering::Relaxed);
                self.post(&self.ack(&call), peer, out).await;
            }
            Admission::Replay(reply) => {
                self.replayed.fetch_add(1, Ordering::Relaxed);
                // A legitimate retransmission is the same bytes as the call
                // that made the reply; a shorter copy is someone else's.
                if self.config.bound_replies && reply.len() > reply_limit(peer.datagram_bytes) {
                    self.amplification_refused.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                self.post_bytes(reply, out).await;
            }
            Admission::Stale | Admission::Full => {}
            Admission::Evicted => self.refuse(&call, Outcome::ReplyEvicted, peer, out).await,
        }
    }

    /// Runs one call: polled once here, so a call that finishes at once
    /// costs no task and no timer; one that does not moves, with its
    /// handler's future, to a task of its own.
    async fn execute(
        self: &Arc<Self>,
        mut call: Call,
        procedure: Arc<Procedure>,
        peer: Peer,
        out: &mut Outbox,
    ) {
        let context = CallContext {
            peer: peer.address,
            client: call.client,
            datagram_bytes: peer.datagram_bytes,
        };
        let args = std::mem::take(&mut call.args);
        let started =
            std::panic::catch_unwind(AssertUnwindSafe(|| (procedure.handler())(args, context)));
        let outcome = match started {
            Ok(future) => {
                // A boxed future, so moving it to a task after this poll is
                // allowed.
                let mut running = AssertUnwindSafe(future).catch_unwind();
                match futures_lite::future::poll_once(&mut running).await {
                    Some(result) => outcome_of(result),
                    None => {
                        rt::spawn(self.clone().finish_slowly(call, running, peer));
                        return;
                    }
                }
            }
            Err(panic) => Outcome::Panicked(panic_message(&*panic)),
        };
        let reply = self.finish(&call, outcome, peer);
        self.post_bytes(reply, out).await;
        // Counted out of flight once the outbox is sent.
        out.finished += 1;
    }

    /// Waits for a call that did not finish at once: acknowledges it after
    /// the ACK delay, cancels it at its deadline.
    async fn finish_slowly(
        self: Arc<Self>,
        call: Call,
        running: impl Future<Output = std::thread::Result<Result<Vec<u8>, HandlerError>>>,
        peer: Peer,
    ) {
        let ack_then_cancel = async {
            let ack_delay = self.config.ack_delay.min(call.deadline);
            rt::sleep(ack_delay).await;
            self.acks.fetch_add(1, Ordering::Relaxed);
            if let Some(ack) = self.encode_within(&self.ack(&call), peer) {
                self.send_bytes(&ack, peer.address).await;
            }
            rt::sleep(call.deadline.saturating_sub(ack_delay)).await;
            Outcome::DeadlineExceeded
        };
        let outcome = async { outcome_of(running.await) }
            .or(ack_then_cancel)
            .await;
        let reply = self.finish(&call, outcome, peer);
        self.send_bytes(&reply, peer.address).await;
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Encodes and records the reply of a call that ran.
    fn finish(&self, call: &Call, outcome: Outcome, peer: Peer) -> Vec<u8> {
        let limit = if self.config.bound_replies {
            reply_limit(peer.datagram_bytes)
        } else {
            MAX_DATAGRAM_BYTES
        };
        let reply = self.encode_reply(call, outcome, limit);
        self.cache()
            .complete(call.client, call.xid, &reply, Instant::now());
        reply
    }

    /// Encodes the reply; a result too large for a datagram, or for `limit`,
    /// becomes an error outcome saying so.
    fn encode_reply(&self, call: &Call, outcome: Outcome, limit: usize) -> Vec<u8> {
        let reply = |outcome| {
            Message::Reply(Reply {
                client: call.client,
                xid: call.xid,
                incarnation: self.incarnation,
                outcome,
            })
        };
        match reply(outcome).encode() {
            Ok(bytes) if bytes.len() <= limit => bytes,
            Ok(bytes) => {
                self.amplification_refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    procedure = %call.procedure,
                    size = bytes.len(),
                    limit,
                    "a reply exceeded {AMPLIFICATION_FACTOR} times its call's datagram; sent ReplyTooLarge instead"
                );
                let outcome = Outcome::ReplyTooLarge {
                    size: bytes.len() as u64,
                    limit: limit as u64,
                };
                reply(outcome).encode().unwrap_or_default()
            }
            Err(error) => {
                let outcome = match error {
                    EncodeError::TooLarge { size, limit } => Outcome::ReplyTooLarge {
                        size: size as u64,
                        limit: limit as u64,
                    },
                    EncodeError::Unencodable { reason } => Outcome::Panicked(reason),
                };
                reply(outcome).encode().unwrap_or_default()
            }
        }
    }

    fn ack(&self, call: &Call) -> Message {
        Message::Ack(Ack {
            client: call.client,
            xid: call.xid,
            incarnation: self.incarnation,
        })
    }

    /// Answers a call that will not run (not cached: nothing ran).
    async fn refuse(&self, call: &Call, outcome: Outcome, peer: Peer, out: &mut Outbox) {
        let reply = Message::Reply(Reply {
            client: call.client,
            xid: call.xid,
            incarnation: self.incarnation,
            outcome,
        });
        self.post(&reply, peer, out).await;
    }

    /// Encodes an ack or a refusal, unless it would exceed
    /// [`AMPLIFICATION_FACTOR`] times the message it answers (no real call
    /// is that short: these are at most 40 bytes).
    fn encode_within(&self, message: &Message, peer: Peer) -> Option<Vec<u8>> {
        match message.encode() {
            Ok(bytes) if bytes.len() <= reply_limit(peer.datagram_bytes) => Some(bytes),
            Ok(_) => {
                self.amplification_refused.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(error) => {
                tracing::warn!(%error, "could not encode a reply");
                None
            }
        }
    }

    /// Queues an ack or a refusal for the datagram's sender.
    async fn post(&self, message: &Message, peer: Peer, out: &mut Outbox) {
        if let Some(bytes) = self.encode_within(message, peer) {
            self.post_bytes(bytes, out).await;
        }
    }

    /// Queues `bytes` for the datagram's sender: batched with the other
    /// answers to its datagram when they fit one; sent alone if too large
    /// to batch; the outbox is sent first if it is full.
    async fn post_bytes(&self, bytes: Vec<u8>, out: &mut Outbox) {
        if bytes.len() > batch_limit(&out.peer) {
            return self.send_bytes(&bytes, out.peer).await;
        }
        if let Err(bytes) = out.push(bytes) {
            self.send_batches(out).await;
            let _ = out.push(bytes);
        }
    }

    /// Sends what the outbox holds, and counts the calls it answered as
    /// finished.
    async fn flush(&self, out: &mut Outbox) {
        self.send_batches(out).await;
        let finished = std::mem::take(&mut out.finished);
        if finished > 0 {
            self.in_flight.fetch_sub(finished, Ordering::AcqRel);
        }
    }

    async fn send_batches(&self, out: &mut Outbox) {
        let mut batches = std::mem::take(&mut out.batches);
        for batch in &batches {
            self.send_bytes(batch, out.peer).await;
        }
        // The list's room is kept for the next datagram.
        batches.clear();
        out.batches = batches;
    }

    async fn send_bytes(&self, datagram: &[u8], peer: SocketAddr) {
        if self.aborted.load(Ordering::Acquire) {
            return;
        }
        self.datagrams_sent.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = self.socket.send_to(datagram, peer).await {
            tracing::debug!(%peer, %error, "could not send");
        }
    }
}

/// The answers to one datagram, batched into as few datagrams as fit the
/// peer's [`batch_limit`], and sent when the datagram is handled.
#[derive(Debug)]
struct Outbox {
    peer: SocketAddr,
    batches: Vec<Vec<u8>>,
    /// Calls answered here whose replies are not sent yet.
    finished: usize,
}

impl Outbox {
    /// Most batches held before they must be sent.
    const MAX_BATCHES: usize = 16;

    fn new(peer: SocketAddr) -> Outbox {
        Outbox {
            peer,
            batches: Vec::new(),
            finished: 0,
        }
    }

    /// Adds `bytes` (at most the peer's [`batch_limit`]); gives them back
    /// if full.
    /// A message that starts a batch is kept as it is, so a lone answer is
    /// sent without a copy.
    fn push(&mut self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        if let Some(batch) = self.batches.last_mut()
            && batch.len() + bytes.len() <= batch_limit(&self.peer)
        {
            batch.extend_from_slice(&bytes);
            return Ok(());
        }
        if self.batches.len() >= Outbox::MAX_BATCHES {
            return Err(bytes);
        }
        self.batches.push(bytes);
        Ok(())
    }
}

/// Where a message came from, and how large it was (its share of a batched
/// datagram): what its answers go to and are measured against.
#[derive(Clone, Copy, Debug)]
struct Peer {
    address: SocketAddr,
    datagram_bytes: usize,
}

/// What a handler's result, or its panic, tells the caller.
fn outcome_of(result: std::thread::Result<Result<Vec<u8>, HandlerError>>) -> Outcome {
    match result {
        Ok(Ok(bytes)) => Outcome::Return(bytes),
        Ok(Err(HandlerError::BadArguments(reason))) => Outcome::BadArguments(reason),
        Ok(Err(error @ HandlerError::ResultUnencodable(_))) => Outcome::Panicked(error.to_string()),
        Ok(Err(HandlerError::ResultTooLarge { size, limit })) => Outcome::ReplyTooLarge {
            size: size as u64,
            limit: limit as u64,
        },
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
