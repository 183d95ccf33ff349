//! The table of calls waiting for an answer, each with its mailbox, and the
//! ticker that wakes them when their time comes.
//!
//! A call's mailbox lives in the table itself, so a call costs no channel of
//! its own: the reader posts ACKs and replies into it, the ticker posts
//! ticks and nudges, and the call takes the most important thing first.
//!
//! Calls arm no timer of their own: each records when it next wants to
//! wake, and one ticker task per requester wakes the calls whose time has
//! come, every [`TICK`] while any call is waiting. A timer per call would
//! cost two reactor round trips per call; the ticker costs one per tick.
//! The ticker also nudges a waiting call if none is reading (a safety net
//! for a hand-over lost to a call finishing at that moment). It ends when
//! the last clone of the requester is dropped.

use crate::rt::{self, Instant};
use crate::sync::lock;
use crate::wire::{Incarnation, Outcome, Xid};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

/// Granularity of retransmission timers and deadlines.
pub(super) const TICK: Duration = Duration::from_millis(5);

/// What a waiting call is handed.
#[derive(Debug)]
pub(super) enum Incoming {
    Ack(Incarnation),
    /// A reply, and the incarnation in its header.
    Reply(Outcome, Incarnation),
    /// The kernel said a copy sent to this address found nothing listening
    /// (see `refusals`).
    Refused(SocketAddr),
    /// From the ticker: the time the call asked to be woken has come.
    Tick,
    /// Nobody is reading the socket: try to become the reader.
    Nudge,
}

/// A call waiting for its answer, and its mailbox: what the reader and
/// the ticker left for it, and how to wake it.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) wake_at: Instant,
    reply: Option<(Outcome, Incarnation)>,
    /// Addresses that refused copies, one entry per copy.
    refused: Vec<SocketAddr>,
    ack: Option<Incarnation>,
    tick: bool,
    nudge: bool,
    pub(super) waker: Option<Waker>,
}

impl Waiting {
    pub(super) fn new(wake_at: Instant) -> Waiting {
        Waiting {
            wake_at,
            reply: None,
            refused: Vec::new(),
            ack: None,
            tick: false,
            nudge: false,
            waker: None,
        }
    }

    /// Leaves `incoming` for the call and wakes it. A reply replaces
    /// nothing (a call has one); flags stand for any number of their kind.
    pub(super) fn post(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Reply(outcome, incarnation) => {
                self.reply.get_or_insert((outcome, incarnation));
            }
            Incoming::Refused(to) => self.refused.push(to),
            Incoming::Ack(incarnation) => self.ack = Some(incarnation),
            Incoming::Tick => self.tick = true,
            Incoming::Nudge => self.nudge = true,
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// The most important thing left for the call, if any.
    pub(super) fn take(&mut self) -> Option<Incoming> {
        if let Some((outcome, incarnation)) = self.reply.take() {
            return Some(Incoming::Reply(outcome, incarnation));
        }
        if let Some(to) = self.refused.pop() {
            return Some(Incoming::Refused(to));
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

/// The calls waiting on one socket, by xid.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    calls: Mutex<BTreeMap<Xid, Waiting>>,
}

impl InFlight {
    pub(super) fn lock(&self) -> MutexGuard<'_, BTreeMap<Xid, Waiting>> {
        lock(&self.calls)
    }

    /// Hands an ACK or a reply to the call waiting on `xid`, if any.
    pub(super) fn deliver(&self, xid: Xid, incoming: Incoming) {
        if let Some(waiting) = self.lock().get_mut(&xid) {
            waiting.post(incoming);
        }
    }

    /// Asks one waiting call (other than `except`) to become the reader.
    pub(super) fn nudge(&self, except: Option<Xid>) {
        let mut calls = self.lock();
        let other = calls.iter_mut().find(|(xid, _)| Some(**xid) != except);
        if let Some((_, waiting)) = other {
            waiting.post(Incoming::Nudge);
        }
    }
}

/// Removes a call's entry when the call ends, however it ends (including
/// when the caller drops the future).
#[derive(Debug)]
pub(super) struct Registered<'a> {
    pub(super) in_flight: &'a InFlight,
    pub(super) xid: Xid,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.xid);
    }
}

/// Wakes the calls whose retransmission time or deadline has come, every
/// [`TICK`] while any call waits; sleeps on `wakeups` while none does.
pub(super) async fn tick_loop(
    in_flight: Arc<InFlight>,
    reading: Arc<AtomicBool>,
    wakeups: async_channel::Receiver<()>,
    stopped: async_channel::Receiver<()>,
) {
    let ticking = async {
        loop {
            if in_flight.lock().is_empty() && wakeups.recv().await.is_err() {
                return;
            }
            rt::sleep(TICK).await;
            let now = Instant::now();
            for waiting in in_flight.lock().values_mut() {
                if waiting.wake_at <= now {
                    waiting.post(Incoming::Tick);
                }
            }
            if !reading.load(Ordering::Acquire) {
                in_flight.nudge(None);
            }
        }
    };
    futures_lite::future::or(ticking, async {
        let _ = stopped.recv().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting() -> Waiting {
        Waiting::new(Instant::now())
    }

    #[test]
    fn a_reply_is_taken_before_an_ack_a_tick_and_a_nudge() {
        let mut mailbox = waiting();
        mailbox.post(Incoming::Nudge);
        mailbox.post(Incoming::Tick);
        mailbox.post(Incoming::Ack(Incarnation(7)));
        mailbox.post(Incoming::Reply(Outcome::NoSuchProcedure, Incarnation(1)));
        assert!(matches!(
            mailbox.take(),
            Some(Incoming::Reply(Outcome::NoSuchProcedure, _))
        ));
        assert!(matches!(
            mailbox.take(),
            Some(Incoming::Ack(Incarnation(7)))
        ));
        assert!(matches!(mailbox.take(), Some(Incoming::Tick)));
        assert!(matches!(mailbox.take(), Some(Incoming::Nudge)));
        assert!(mailbox.take().is_none());
    }

    #[test]
    fn the_first_reply_stays_and_flags_count_once() {
        let mut mailbox = waiting();
        mailbox.post(Incoming::Reply(Outcome::Overloaded, Incarnation(1)));
        mailbox.post(Incoming::Reply(Outcome::NoSuchProcedure, Incarnation(1)));
        mailbox.post(Incoming::Tick);
        mailbox.post(Incoming::Tick);
        assert!(matches!(
            mailbox.take(),
            Some(Incoming::Reply(Outcome::Overloaded, _))
        ));
        assert!(matches!(mailbox.take(), Some(Incoming::Tick)));
        assert!(mailbox.take().is_none(), "one reply, one tick");
    }

    #[test]
    fn delivery_goes_to_the_call_of_that_xid_and_a_nudge_to_another() {
        let in_flight = InFlight::default();
        in_flight.lock().insert(Xid(1), waiting());
        in_flight.lock().insert(Xid(2), waiting());
        in_flight.deliver(Xid(2), Incoming::Ack(Incarnation(3)));
        in_flight.deliver(Xid(9), Incoming::Ack(Incarnation(3)));
        in_flight.nudge(Some(Xid(1)));
        let mut calls = in_flight.lock();
        assert!(calls.get_mut(&Xid(1)).and_then(Waiting::take).is_none());
        let second = calls.get_mut(&Xid(2)).expect("call 2 waits");
        assert!(matches!(second.take(), Some(Incoming::Ack(Incarnation(3)))));
        assert!(matches!(second.take(), Some(Incoming::Nudge)));
        assert_eq!(calls.len(), 2, "a reply for nobody adds nobody");
    }

    #[test]
    fn a_registered_call_leaves_the_table_when_dropped() {
        let in_flight = InFlight::default();
        in_flight.lock().insert(Xid(5), waiting());
        drop(Registered {
            in_flight: &in_flight,
            xid: Xid(5),
        });
        assert!(in_flight.lock().is_empty());
    }
}
