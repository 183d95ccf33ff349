//! One call's send/retransmit state machine.
//!
//! An [`Outgoing`] call keeps one xid for its whole life, even when it moves
//! between endpoints: each [`Outgoing::attempt`] sends it to one endpoint
//! and retransmits under the [`RetryPolicy`] until an answer, until that
//! endpoint has left `max_unanswered` transmissions in a row unanswered, or
//! until the call's deadline. An ACK proves the call arrived: the call then
//! only probes, and remembers who acknowledged it.
//!
//! A call too large for a datagram goes over the stream instead
//! ([`Outgoing::attempt`] picks per call, by its encoded size, so a small
//! call's path is what it was); a datagram call whose reply is too large
//! for one is told so (`[13]`) and fetches the reply there. Either way a
//! connection that breaks is a copy unanswered: the call is sent again (on
//! a fresh connection, same xid) after a pause, up to `max_unanswered`
//! times, and then it is `Silent` (it may have reached the server) unless
//! every copy found nothing listening (`Refused`).

use super::in_flight::{Incoming, Registered};
use super::reader::Reader;
use super::socket::ClientSocket;
use super::stream::Broken;
use crate::retry::RetryPolicy;
use crate::rt::Instant;
use crate::wire::{
    Call, Elsewhere, EncodeError, Incarnation, MAX_DATAGRAM_BYTES, Outcome, SPLIT_MIN_BYTES,
};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

/// Encodes `call`, of at most `limit` bytes: around its arguments when
/// they are large and the call does not fit a datagram, else whole (as
/// every small call is, by the one encoder it always had).
fn encode(call: &Call, limit: usize) -> Result<Encoded, Failure> {
    let failure = |error| match error {
        EncodeError::TooLarge { size, limit } => Failure::TooLarge { size, limit },
        EncodeError::Unencodable { reason } => Failure::Io(io::Error::other(reason)),
    };
    if call.args.len() < SPLIT_MIN_BYTES {
        let mut whole = Vec::new();
        call.encode_within(&mut whole, limit).map_err(failure)?;
        return Ok(Encoded::Whole(whole));
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    call.encode_around_args(&mut before, &mut after, limit)
        .map_err(failure)?;
    if before.len() + call.args.len() + after.len() <= MAX_DATAGRAM_BYTES {
        for part in call.args.parts() {
            before.extend_from_slice(part);
        }
        before.extend_from_slice(&after);
        return Ok(Encoded::Whole(before));
    }
    Ok(Encoded::AroundArgs { before, after })
}

/// Why an attempt got no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The call's deadline passed.
    Expired,
    /// The endpoint left `max_unanswered` transmissions in a row unanswered.
    Silent,
    /// Every copy the call ever sent to the endpoint's address was refused
    /// by the kernel (port unreachable): none was delivered there.
    Refused,
    /// The call is over the client's message limit.
    TooLarge {
        size: usize,
        limit: usize,
    },
    Io(io::Error),
}

/// A call in progress. Dropping it abandons the call.
pub(crate) struct Outgoing<'r> {
    pub(super) socket: &'r ClientSocket,
    pub(super) _registered: Registered<'r>,
    pub(super) call: Call,
    /// The call encoded for `call.incarnation`.
    pub(super) encoded: Option<Encoded>,
    pub(super) started: Instant,
    pub(super) deadline: Instant,
    pub(super) transmissions: u32,
    pub(super) acked_by: Option<Incarnation>,
    /// Each address the call was sent to: when first, how many copies,
    /// how many of them were refused.
    pub(super) sent_to: Vec<SentTo>,
    /// The incarnation in the header of the last reply.
    pub(super) answered_by: Option<Incarnation>,
}

/// A call's bytes: whole, for a datagram (or, past one, a stream), or
/// around its arguments, for a stream, which writes the arguments from the
/// call itself rather than from a copy (`wire::split`).
pub(super) enum Encoded {
    Whole(Vec<u8>),
    AroundArgs { before: Vec<u8>, after: Vec<u8> },
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

    /// The incarnation named in the header of the last reply, if any.
    /// The span a call's log lines belong to: `call{procedure, client,
    /// xid}`, the same on the server's side, so one call can be followed
    /// from the caller's log to the server's. Disabled (nothing recorded
    /// or formatted) unless a subscriber wants `rendezvous_core` at debug.
    pub(crate) fn span(&self) -> tracing::Span {
        let call = &self.call;
        tracing::debug_span!(
            "call",
            procedure = %call.procedure,
            client = %format_args!("{:016x}", call.client.0),
            xid = call.xid.0
        )
    }

    pub(crate) fn answered_by(&self) -> Option<Incarnation> {
        self.answered_by
    }

    /// How long ago the call was first sent to `address` (before the send,
    /// so never less than the truth), if it was.
    pub(crate) fn age_at(&self, address: SocketAddr) -> Option<Duration> {
        let sent = self.sent_to.iter().find(|sent| sent.address == address)?;
        Some(sent.first.elapsed())
    }

    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Has the next attempt carry what is left of the deadline now, as a
    /// move to another incarnation does: for a call sent again after a
    /// refusal that recorded nothing (`Overloaded`), so the server that
    /// finally runs it does not count the whole deadline from then.
    pub(crate) fn refresh_deadline(&mut self) {
        self.call.deadline = self.remaining();
        self.encoded = None;
    }

    /// Has the next attempt tell its server what the call met at others
    /// (a note after the call: PROTOCOL.md, "Notes").
    pub(crate) fn tell_elsewhere(&mut self, elsewhere: Elsewhere) {
        if self.call.elsewhere != elsewhere {
            self.call.elsewhere = elsewhere;
            self.encoded = None;
        }
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
        let socket = self.socket;
        let moved = self.call.incarnation != incarnation;
        if self.encoded.is_none() || moved {
            // A call that moves tells its new server what is left of the
            // caller's deadline (PROTOCOL.md, "Deadlines"); copies to one
            // incarnation stay the same bytes, so its replay bound holds.
            if moved && self.transmissions > 0 {
                self.call.deadline = self.remaining();
            }
            self.call.incarnation = incarnation;
            let limit = socket.streams.max_message_bytes().max(MAX_DATAGRAM_BYTES);
            self.encoded = Some(encode(&self.call, limit)?);
        }
        let datagram = match &self.encoded {
            Some(Encoded::Whole(bytes)) if bytes.len() <= MAX_DATAGRAM_BYTES => bytes,
            _ => return Box::pin(self.over_stream(endpoint, policy, max_unanswered)).await,
        };
        let mut acked = false;
        let mut unanswered = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Err(Failure::Expired);
            }
            if unanswered >= max_unanswered {
                return Err(Failure::Silent);
            }
            record(&mut self.sent_to, endpoint).copies += 1;
            socket.send(datagram, endpoint).await.map_err(Failure::Io)?;
            if self.transmissions > 0 {
                socket.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            socket.transmissions.fetch_add(1, Ordering::Relaxed);
            self.transmissions += 1;
            unanswered += 1;
            let mut wake_at = Instant::now() + policy.timeout(&socket.rtt, unanswered - 1, acked);
            self.wake_at(wake_at.min(self.deadline));
            // Wait for the answer; an ACK only stretches the wait.
            loop {
                match self.next_incoming().await? {
                    Incoming::Reply(Outcome::ReplyWaiting { .. }, incarnation) => {
                        // It ran there; its reply waits on the stream.
                        self.answered_by = Some(incarnation);
                        self.acked_by = Some(incarnation);
                        return Box::pin(self.over_stream(endpoint, policy, max_unanswered)).await;
                    }
                    Incoming::Reply(outcome, incarnation) => {
                        self.answered_by = Some(incarnation);
                        // Karn: only unambiguous samples, and none that
                        // include a slow procedure's running time.
                        if self.transmissions == 1 && !acked {
                            socket.rtt.observe(self.started.elapsed());
                        }
                        if acked {
                            socket.confirm(endpoint, self.call.xid).await;
                        }
                        return Ok(outcome);
                    }
                    Incoming::Ack(incarnation) => {
                        self.acked_by = Some(incarnation);
                        unanswered = 0;
                        if !acked {
                            acked = true;
                            wake_at = Instant::now() + policy.timeout(&socket.rtt, 0, true);
                            self.wake_at(wake_at.min(self.deadline));
                        }
                    }
                    Incoming::Refused(to) => {
                        let sent = record(&mut self.sent_to, to);
                        sent.refused = (sent.refused + 1).min(sent.copies);
                        if to == endpoint && sent.refused == sent.copies {
                            return Err(Failure::Refused);
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

    /// Sends the encoded call over a stream to `endpoint` and waits for its
    /// reply there: for a call too large for a datagram, or to fetch a
    /// reply the server keeps (the same call is then a duplicate there).
    /// A broken connection is a copy unanswered (see the module docs).
    ///
    /// Awaited boxed: its reads and writes make a large future, which
    /// inline would sit (once per await) inside every call's future, and be
    /// copied with it, on the datagram path too (callgrind: 1.7k more
    /// instructions per 32 B call once the stream reader grew).
    async fn over_stream(
        &mut self,
        endpoint: SocketAddr,
        policy: &RetryPolicy,
        max_unanswered: u32,
    ) -> Result<Outcome, Failure> {
        let socket = self.socket;
        let [args_before, args, args_after] = self.call.args.parts();
        let call: [&[u8]; 5] = match &self.encoded {
            Some(Encoded::Whole(bytes)) => [bytes, &[], &[], &[], &[]],
            Some(Encoded::AroundArgs { before, after }) => {
                [before, args_before, args, args_after, after]
            }
            None => [&[]; 5],
        };
        let mut unanswered = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Err(Failure::Expired);
            }
            if unanswered >= max_unanswered {
                let sent = record(&mut self.sent_to, endpoint);
                return Err(if sent.refused == sent.copies {
                    Failure::Refused
                } else {
                    Failure::Silent
                });
            }
            record(&mut self.sent_to, endpoint).copies += 1;
            if self.transmissions > 0 {
                socket.retransmissions.fetch_add(1, Ordering::Relaxed);
            }
            socket.transmissions.fetch_add(1, Ordering::Relaxed);
            self.transmissions += 1;
            unanswered += 1;
            let mut acked_by = None;
            let exchange = socket
                .streams
                .exchange(
                    endpoint,
                    &call,
                    self.call.xid,
                    self.deadline,
                    |incarnation| acked_by = Some(incarnation),
                )
                .await;
            if acked_by.is_some() {
                self.acked_by = acked_by;
                unanswered = 0;
            }
            match exchange {
                Ok((outcome, incarnation)) => {
                    self.answered_by = Some(incarnation);
                    if self.acked_by.is_some() {
                        // Frees the reply (a large one, for a fetch) at once.
                        socket.confirm(endpoint, self.call.xid).await;
                    }
                    return Ok(outcome);
                }
                Err(Broken::Expired) => return Err(Failure::Expired),
                Err(Broken::Refused) => {
                    let sent = record(&mut self.sent_to, endpoint);
                    sent.refused = (sent.refused + 1).min(sent.copies);
                }
                Err(Broken::Lost) => {}
            }
            let step = unanswered.saturating_sub(1);
            let pause = policy.backoff(policy.min_timeout, step, policy.max_timeout);
            crate::rt::sleep(pause.min(self.remaining())).await;
        }
    }

    /// The next thing for this call: read from the socket as the reader, or
    /// handed over by the reader (or the ticker).
    async fn next_incoming(&self) -> Result<Incoming, Failure> {
        let socket = self.socket;
        loop {
            match self.try_take()? {
                Some(Incoming::Nudge) | None => {}
                Some(incoming) => return Ok(incoming),
            }
            let Some(mut reader) = Reader::acquire(socket, self.call.xid) else {
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
        let mut calls = self.socket.in_flight.lock();
        let waiting = calls.get_mut(&self.call.xid).ok_or_else(stopped)?;
        Ok(waiting.take())
    }

    /// Waits for something in this call's mailbox.
    async fn take(&self) -> Result<Incoming, Failure> {
        std::future::poll_fn(|context| {
            let mut calls = self.socket.in_flight.lock();
            let Some(waiting) = calls.get_mut(&self.call.xid) else {
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
        if let Some(waiting) = self.socket.in_flight.lock().get_mut(&self.call.xid) {
            waiting.wake_at = at;
        }
    }
}

/// The copies of one call sent to one address.
#[derive(Debug)]
pub(super) struct SentTo {
    address: SocketAddr,
    /// Before the first copy was sent.
    first: Instant,
    copies: u32,
    /// Never more than `copies`: a datagram is refused once.
    refused: u32,
}

/// The record of copies sent to `address`, made on first use.
fn record(sent_to: &mut Vec<SentTo>, address: SocketAddr) -> &mut SentTo {
    let index = match sent_to.iter().position(|sent| sent.address == address) {
        Some(index) => index,
        None => {
            sent_to.push(SentTo {
                address,
                first: Instant::now(),
                copies: 0,
                refused: 0,
            });
            sent_to.len() - 1
        }
    };
    &mut sent_to[index]
}

fn stopped() -> Failure {
    Failure::Io(io::Error::other("client transport stopped"))
}

/// What a reading call met first: a datagram (with or without something
/// for itself), or its own mailbox.
enum Next {
    Read(Option<Incoming>),
    Mine(Result<Incoming, Failure>),
}
