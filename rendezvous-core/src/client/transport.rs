//! One socket, many calls in flight: send, retransmit, match replies by xid.
//!
//! This is the request half of the one request/response core: matchmaker
//! requests and user calls both go through it. A call ([`Outgoing`]) keeps
//! one xid for its whole life, even when it moves between endpoints, and
//! retransmits under the [`RetryPolicy`] until its reply arrives or its
//! deadline passes.
//!
//! There is no receive task. One of the waiting calls at a time is the
//! *reader*: it reads the socket and hands each ACK or reply to the call
//! waiting on its xid; when it leaves, it nudges another waiting call to
//! take over. With one call in flight the caller reads its own reply, with
//! no hop through another task; with many, the reader dispatches to the rest.
//!
//! Calls in flight together share datagrams: the first of them to send
//! yields once so the others ready to send queue behind it, then sends
//! them as batches (PROTOCOL.md); a call alone sends at once. A reader hands
//! out every message of a batched reply.
//!
//! Calls arm no timer of their own: each records when it next wants to
//! wake, and one ticker task per transport wakes the calls whose time has
//! come, every [`TICK`] while any call is waiting. A timer per call would
//! cost two reactor round trips per call; the ticker costs one per tick.
//! The ticker also nudges a waiting call if none is reading (a safety net
//! for a hand-over lost to a call finishing at that moment). It ends when
//! the last clone of the transport is dropped.

use crate::retry::{RetryPolicy, RttEstimator};
use crate::rt::{self, Instant, UdpSocket};
use crate::signature::Fingerprint;
use crate::sync::lock;
use crate::wire::{
    Call, ClientId, Confirm, EncodeError, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Xid,
    batch_limit,
};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// Granularity of retransmission timers and deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// What a waiting call is handed.
#[derive(Debug)]
enum Incoming {
    Ack(Incarnation),
    Reply(Outcome),
    /// From the ticker: the time the call asked to be woken has come.
    Tick,
    /// Nobody is reading the socket: try to become the reader.
    Nudge,
}

/// A call waiting for its answer, and its mailbox: what the reader and
/// the ticker left for it, and how to wake it. It lives in the pending
/// table itself, so a call costs no channel of its own.
#[derive(Debug)]
struct Waiting {
    wake_at: Instant,
    reply: Option<Outcome>,
    ack: Option<Incarnation>,
    tick: bool,
    nudge: bool,
    waker: Option<Waker>,
}

impl Waiting {
    fn new(wake_at: Instant) -> Waiting {
        Waiting {
            wake_at,
            reply: None,
            ack: None,
            tick: false,
            nudge: false,
            waker: None,
        }
    }

    /// Leaves `incoming` for the call and wakes it. A reply replaces
    /// nothing (a call has one); flags stand for any number of their kind.
    fn post(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Reply(outcome) => {
                self.reply.get_or_insert(outcome);
            }
            Incoming::Ack(incarnation) => self.ack = Some(incarnation),
            Incoming::Tick => self.tick = true,
            Incoming::Nudge => self.nudge = true,
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The most important thing left for the call, if any.
    fn take(&mut self) -> Option<Incoming> {
        if let Some(outcome) = self.reply.take() {
            return Some(Incoming::Reply(outcome));
        }
        if let Some(incarnation) = self.ack.take() {
            return Some(Incoming::Ack(incarnation));
        }
        if std::mem::take(&mut self.tick) {
            return Some(Incoming::Tick);
        }
        std::mem::take(&mut self.nudge).then_some(Incoming::Nudge)
    }
}

type Pending = Mutex<BTreeMap<Xid, Waiting>>;

/// A client socket shared by every call of one client.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    socket: Arc<UdpSocket>,
    client: ClientId,
    next_xid: AtomicU64,
    pending: Arc<Pending>,
    /// Whether a call is reading the socket now.
    reading: Arc<AtomicBool>,
    /// The reader's receive buffer, lent to each reader in turn.
    buffer: Mutex<Option<Vec<u8>>>,
    /// Calls' datagrams waiting to go out together.
    outbox: Mutex<Outbox>,
    /// The socket's address family: only datagrams to the same family are
    /// batched (a send to the other fails, and must fail its own call).
    ipv4: bool,
    rtt: RttEstimator,
    transmissions: AtomicU64,
    retransmissions: AtomicU64,
    datagrams: AtomicU64,
    /// Tells the idle ticker that a call is waiting.
    ticker: async_channel::Sender<()>,
    /// Dropping it (with the last transport) stops the ticker.
    _stop: async_channel::Sender<()>,
}

/// Why an attempt got no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The call's deadline passed.
    Expired,
    /// The endpoint left `max_unanswered` transmissions in a row unanswered.
    Silent,
    /// The call does not fit a datagram.
    TooLarge {
        size: usize,
        limit: usize,
    },
    Io(io::Error),
}

/// Datagram counts of one transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Calls sent, first transmissions and retransmissions alike.
    pub transmissions: u64,
    /// Of those, retransmissions.
    pub retransmissions: u64,
    /// Datagrams those took: fewer than transmissions when calls were
    /// batched.
    pub datagrams: u64,
}

impl Transport {
    /// Binds a client socket.
    pub(crate) fn bind(address: SocketAddr) -> io::Result<Transport> {
        let socket = std::net::UdpSocket::bind(address)?;
        let ipv4 = socket.local_addr()?.is_ipv4();
        let socket = Arc::new(UdpSocket::from(socket));
        let pending: Arc<Pending> = Arc::default();
        let (stop, stopped) = async_channel::bounded(1);
        let (ticker, wakeups) = async_channel::bounded(1);
        let client = ClientId(crate::random::u64());
        let reading = Arc::new(AtomicBool::new(false));
        rt::spawn(tick_loop(
            pending.clone(),
            reading.clone(),
            wakeups,
            stopped,
        ));
        Ok(Transport {
            inner: Arc::new(Inner {
                socket,
                client,
                next_xid: AtomicU64::new(1),
                pending,
                reading,
                buffer: Mutex::new(None),
                outbox: Mutex::default(),
                ipv4,
                rtt: RttEstimator::default(),
                transmissions: AtomicU64::new(0),
                retransmissions: AtomicU64::new(0),
                datagrams: AtomicU64::new(0),
                ticker,
                _stop: stop,
            }),
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    pub(crate) fn stats(&self) -> TransportStats {
        TransportStats {
            transmissions: self.inner.transmissions.load(Ordering::Relaxed),
            retransmissions: self.inner.retransmissions.load(Ordering::Relaxed),
            datagrams: self.inner.datagrams.load(Ordering::Relaxed),
        }
    }

    /// Starts a call: draws its xid and listens for its answers.
    pub(crate) fn begin(
        &self,
        procedure: &str,
        signature: Fingerprint,
        args: Vec<u8>,
        deadline: Duration,
    ) -> Outgoing<'_> {
        let inner = &*self.inner;
        // The xid is drawn under the lock that registers it, so no call
        // can compute a watermark above an xid not yet registered.
        let started = Instant::now();
        let (xid, done_below, was_idle) = {
            let mut pending = lock(&inner.pending);
            let xid = Xid(inner.next_xid.fetch_add(1, Ordering::Relaxed));
            let was_idle = pending.is_empty();
            pending.insert(xid, Waiting::new(started + deadline));
            (xid, *pending.keys().next().unwrap_or(&xid), was_idle)
        };
        if was_idle {
            let _ = inner.ticker.try_send(());
        }
        Outgoing {
            transport: self,
            _registered: Registered {
                pending: &inner.pending,
                xid,
            },
            call: Call {
                client: inner.client,
                xid,
                incarnation: Incarnation::ANY,
                procedure: procedure.to_owned(),
                signature,
                deadline,
                done_below,
                args,
            },
            encoded: None,
            started,
            deadline: started + deadline,
            transmissions: 0,
            acked_by: None,
        }
    }

    /// Sends one call's datagram. While other calls wait, it joins a batch:
    /// the first sender yields once, so that the calls ready to send queue
    /// behind it, then sends them all in as few datagrams per endpoint as
    /// fit its [`batch_limit`]. A batched datagram that fails to go out is
    /// as lost (its calls retransmit); one call alone sends at once.
    async fn send(&self, datagram: &[u8], endpoint: SocketAddr) -> io::Result<()> {
        let inner = &*self.inner;
        let alone = datagram.len() > batch_limit(&endpoint)
            || endpoint.is_ipv4() != inner.ipv4
            || lock(&inner.pending).len() <= 1;
        if alone {
            inner.datagrams.fetch_add(1, Ordering::Relaxed);
            return inner.socket.send_to(datagram, endpoint).await.map(drop);
        }
        if !lock(&inner.outbox).add(endpoint, datagram) {
            return Ok(());
        }
        let flushing = Flushing(inner);
        futures_lite::future::yield_now().await;
        let batches = flushing.take();
        for (endpoint, batch) in &batches {
            inner.datagrams.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = inner.socket.send_to(batch, *endpoint).await {
                tracing::debug!(%endpoint, %error, "could not send a batch of calls");
            }
        }
        Ok(())
    }

    /// Tells the server it may forget the reply to `xid` (best effort).
    async fn confirm(&self, endpoint: SocketAddr, xid: Xid) {
        let confirm = Message::Confirm(Confirm {
            client: self.inner.client,
            xid,
        });
        if let Ok(datagram) = confirm.encode() {
            let _ = self.inner.socket.send_to(&datagram, endpoint).await;
        }
    }
}

/// A call in progress. Dropping it abandons the call.
pub(crate) struct Outgoing<'t> {
    transport: &'t Transport,
    _registered: Registered<'t>,
    call: Call,
    /// The call encoded for `call.incarnation`.
    encoded: Option<Vec<u8>>,
    started: Instant,
    deadline: Instant,
    transmissions: u32,
    acked_by: Option<Incarnation>,
}

impl Outgoing<'_> {
    /// Transmissions so far, to every endpoint.
    pub(crate) fn transmissions(&self) -> u32 {
        self.transmissions
    }

    /// The incarnation that acknowledged the call, if one did: proof that
    /// the call reached it.
    pub(crate) fn acked_by(&self) -> Option<Incarnation> {
        self.acked_by
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sends the call to `endpoint` (expecting `incarnation`) and waits for
    /// its answer, retransmitting; gives up on the endpoint after
    /// `max_unanswered` transmissions in a row met silence, and on the call
    /// at its deadline.
    pub(crate) async fn attempt(
        &mut self,
        endpoint: SocketAddr,
        incarnation: Incarnation,
        policy: &RetryPolicy,
        max_unanswered: u32,
    ) -> Result<Outcome, Failure> {
        let inner = &*self.transport.inner;
        if self.encoded.is_none() || self.call.incarnation != incarnation {
            self.call.incarnation = incarnation;
            let datagram = self.call.encode();
            self.encoded = Some(datagram.map_err(|error| match error {
                EncodeError::TooLarge { size, limit } => Failure::TooLarge { size, limit },
                EncodeError::Unencodable { reason } => Failure::Io(io::Error::other(reason)),
            })?);
        }
        let datagram = self.encoded.as_deref().unwrap_or_default();
        let mut acked = false;
        let mut unanswered = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Err(Failure::Expired);
            }
            if unanswered >= max_unanswered {
                return Err(Failure::Silent);
            }
            self.transport
                .send(datagram, endpoint)
                .await
                .map_err(Failure::Io)?;
            if self.transmissions > 0 {
                inner.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            inner.transmissions.fetch_add(1, Ordering::Relaxed);
            self.transmissions += 1;
            unanswered += 1;
            let mut wake_at = Instant::now() + policy.timeout(&inner.rtt, unanswered - 1, acked);
            self.wake_at(wake_at.min(self.deadline));
            // Wait for the answer; an ACK only stretches the wait.
            loop {
                match self.next_incoming().await? {
                    Incoming::Reply(outcome) => {
                        // Karn: only unambiguous samples, and none that
                        // include a slow procedure's running time.
                        if self.transmissions == 1 && !acked {
                            inner.rtt.observe(self.started.elapsed());
                        }
                        if acked {
                            self.transport.confirm(endpoint, self.call.xid).await;
                        }
                        return Ok(outcome);
                    }
                    Incoming::Ack(incarnation) => {
                        self.acked_by = Some(incarnation);
                        unanswered = 0;
                        if !acked {
                            acked = true;
                            wake_at = Instant::now() + policy.timeout(&inner.rtt, 0, true);
                            self.wake_at(wake_at.min(self.deadline));
                        }
                    }
                    Incoming::Nudge => {}
                    Incoming::Tick => {
                        let now = Instant::now();
                        if now >= self.deadline {
                            return Err(Failure::Expired);
                        }
                        if now >= wake_at {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// The next thing for this call: read from the socket as the reader, or
    /// handed over by the reader (or the ticker).
    async fn next_incoming(&self) -> Result<Incoming, Failure> {
        let inner = &*self.transport.inner;
        loop {
            match self.try_take()? {
                Some(Incoming::Nudge) | None => {}
                Some(incoming) => return Ok(incoming),
            }
            let Some(mut reader) = Reader::acquire(inner, self.call.xid) else {
                match self.take().await? {
                    Incoming::Nudge => continue,
                    incoming => return Ok(incoming),
                }
            };
            loop {
                let next =
                    futures_lite::future::or(async { Next::Read(reader.receive().await) }, async {
                        Next::Mine(self.take().await)
                    })
                    .await;
                match next {
                    Next::Mine(Ok(Incoming::Nudge)) | Next::Read(None) => {}
                    Next::Mine(mine) => return mine,
                    Next::Read(Some(incoming)) => return Ok(incoming),
                }
            }
        }
    }

    /// What is in this call's mailbox now.
    fn try_take(&self) -> Result<Option<Incoming>, Failure> {
        let mut pending = lock(&self.transport.inner.pending);
        let waiting = pending.get_mut(&self.call.xid).ok_or_else(stopped)?;
        Ok(waiting.take())
    }

    /// Waits for something in this call's mailbox.
    async fn take(&self) -> Result<Incoming, Failure> {
        std::future::poll_fn(|context| {
            let mut pending = lock(&self.transport.inner.pending);
            let Some(waiting) = pending.get_mut(&self.call.xid) else {
                return Poll::Ready(Err(stopped()));
            };
            match waiting.take() {
                Some(incoming) => Poll::Ready(Ok(incoming)),
                None => {
                    match &mut waiting.waker {
                        Some(waker) if waker.will_wake(context.waker()) => {}
                        slot => *slot = Some(context.waker().clone()),
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Asks the ticker to wake this call at `at`.
    fn wake_at(&self, at: Instant) {
        if let Some(waiting) = lock(&self.transport.inner.pending).get_mut(&self.call.xid) {
            waiting.wake_at = at;
        }
    }
}

fn stopped() -> Failure {
    Failure::Io(io::Error::other("client transport stopped"))
}

/// Datagrams of several calls, by endpoint, waiting for the call that
/// sends them.
#[derive(Debug, Default)]
struct Outbox {
    batches: Vec<(SocketAddr, Vec<u8>)>,
    /// Whether a call has taken on sending them.
    flushing: bool,
}

impl Outbox {
    /// Adds a datagram to a batch for `endpoint`; true if the caller is to
    /// send the batches (nobody else has taken that on).
    fn add(&mut self, endpoint: SocketAddr, datagram: &[u8]) -> bool {
        let room = self.batches.iter_mut().rev().find(|(to, batch)| {
            *to == endpoint && batch.len() + datagram.len() <= batch_limit(&endpoint)
        });
        match room {
            Some((_, batch)) => batch.extend_from_slice(datagram),
            None => self.batches.push((endpoint, datagram.to_vec())),
        }
        !std::mem::replace(&mut self.flushing, true)
    }
}

/// The sending role over the outbox; if the sender is dropped before it
/// sends (its call abandoned), the role falls to the next call that queues.
struct Flushing<'a>(&'a Inner);

impl Flushing<'_> {
    /// Takes the batches and gives up the role, at once: a datagram queued
    /// from now on finds nobody sending and sends itself.
    fn take(self) -> Vec<(SocketAddr, Vec<u8>)> {
        let batches = {
            let mut outbox = lock(&self.0.outbox);
            outbox.flushing = false;
            std::mem::take(&mut outbox.batches)
        };
        // The role is given up already.
        std::mem::forget(self);
        batches
    }
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        lock(&self.0.outbox).flushing = false;
    }
}

/// What a reading call met first: a datagram (with or without something
/// for itself), or its own mailbox.
enum Next {
    Read(Option<Incoming>),
    Mine(Result<Incoming, Failure>),
}

/// Removes a call's entry when the call ends, however it ends (including
/// when the caller drops the future).
struct Registered<'a> {
    pending: &'a Pending,
    xid: Xid,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.xid);
    }
}

/// The reading role, held by one waiting call at a time. Dropping it hands
/// the role to another waiting call.
struct Reader<'a> {
    inner: &'a Inner,
    xid: Xid,
    buffer: Vec<u8>,
}

impl<'a> Reader<'a> {
    fn acquire(inner: &'a Inner, xid: Xid) -> Option<Reader<'a>> {
        inner
            .reading
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let buffer = lock(&inner.buffer)
            .take()
            .unwrap_or_else(|| vec![0u8; MAX_DATAGRAM_BYTES + 1]);
        Some(Reader { inner, xid, buffer })
    }

    /// Reads one datagram and hands each ACK or reply in it to its call;
    /// returns the one for the reading call itself, if there is one.
    async fn receive(&mut self) -> Option<Incoming> {
        let length = match self.inner.socket.recv_from(&mut self.buffer).await {
            Ok((length, _from)) => length,
            Err(error) => {
                // ICMP errors surface here on some platforms; the calls' own
                // timers deal with the silence.
                tracing::debug!(%error, "client socket receive error");
                rt::sleep(Duration::from_millis(1)).await;
                return None;
            }
        };
        let mut mine = None;
        for message in Message::decode_batch(&self.buffer[..length]) {
            let (xid, incoming) = match message {
                Ok((Message::Reply(reply), _)) if reply.client == self.inner.client => {
                    (reply.xid, Incoming::Reply(reply.outcome))
                }
                Ok((Message::Ack(ack), _)) if ack.client == self.inner.client => {
                    (ack.xid, Incoming::Ack(ack.incarnation))
                }
                _ => continue,
            };
            if xid == self.xid {
                mine = Some(incoming);
            } else {
                deliver(self.inner, xid, incoming);
            }
        }
        mine
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        *lock(&self.inner.buffer) = Some(std::mem::take(&mut self.buffer));
        self.inner.reading.store(false, Ordering::Release);
        nudge(&self.inner.pending, Some(self.xid));
    }
}

/// Hands an ACK or a reply to the call waiting on `xid`, if any.
fn deliver(inner: &Inner, xid: Xid, incoming: Incoming) {
    if let Some(waiting) = lock(&inner.pending).get_mut(&xid) {
        waiting.post(incoming);
    }
}

/// Asks one waiting call (other than `except`) to become the reader.
fn nudge(pending: &Pending, except: Option<Xid>) {
    let mut pending = lock(pending);
    let other = pending.iter_mut().find(|(xid, _)| Some(**xid) != except);
    if let Some((_, waiting)) = other {
        waiting.post(Incoming::Nudge);
    }
}

/// Wakes the calls whose retransmission time or deadline has come, every
/// [`TICK`] while any call waits; sleeps on `wakeups` while none does.
async fn tick_loop(
    pending: Arc<Pending>,
    reading: Arc<AtomicBool>,
    wakeups: async_channel::Receiver<()>,
    stopped: async_channel::Receiver<()>,
) {
    let ticking = async {
        loop {
            if lock(&pending).is_empty() && wakeups.recv().await.is_err() {
                return;
            }
            rt::sleep(TICK).await;
            let now = Instant::now();
            for waiting in lock(&pending).values_mut() {
                if waiting.wake_at <= now {
                    waiting.post(Incoming::Tick);
                }
            }
            if !reading.load(Ordering::Acquire) {
                nudge(&pending, None);
            }
        }
    };
    futures_lite::future::or(ticking, async {
        let _ = stopped.recv().await;
    })
    .await;
}
