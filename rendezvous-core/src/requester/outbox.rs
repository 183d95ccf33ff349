//! Batching: calls in flight together share datagrams.
//!
//! The first of them to send yields once, so that the others ready to send
//! queue behind it, then sends them as batches (PROTOCOL.md), as few
//! datagrams per endpoint as fit its [`batch_limit`]; a call alone sends at
//! once. A batched datagram that fails to go out is as lost: its calls
//! retransmit.

use crate::sync::lock;
use crate::wire::batch_limit;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Datagrams of several calls, by endpoint, waiting for the call that
/// sends them.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    batches: Vec<(SocketAddr, Vec<u8>)>,
    /// Whether a call has taken on sending them.
    flushing: bool,
}

impl Outbox {
    /// Adds a datagram to a batch for `endpoint`; true if the caller is to
    /// send the batches (nobody else has taken that on).
    pub(super) fn add(&mut self, endpoint: SocketAddr, datagram: &[u8]) -> bool {
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
pub(super) struct Flushing<'a>(&'a Mutex<Outbox>);

impl<'a> Flushing<'a> {
    /// Takes on the role (the caller's `add` returned true).
    pub(super) fn new(outbox: &'a Mutex<Outbox>) -> Flushing<'a> {
        Flushing(outbox)
    }

    /// Takes the batches and gives up the role, at once: a datagram queued
    /// from now on finds nobody sending and sends itself.
    pub(super) fn take(self) -> Vec<(SocketAddr, Vec<u8>)> {
        let batches = {
            let mut outbox = lock(self.0);
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
        lock(self.0).flushing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_first_datagram_takes_on_sending_and_later_ones_join_it() {
        let mut outbox = Outbox::default();
        assert!(outbox.add(addr(1), b"one"));
        assert!(!outbox.add(addr(1), b"two"));
        assert!(!outbox.add(addr(2), b"three"));
        assert_eq!(
            outbox.batches,
            [(addr(1), b"onetwo".to_vec()), (addr(2), b"three".to_vec())]
        );
    }

    #[test]
    fn a_batch_never_exceeds_its_endpoints_limit() {
        let limit = batch_limit(&addr(1));
        let datagram = vec![7u8; limit / 2 + 1];
        let mut outbox = Outbox::default();
        outbox.add(addr(1), &datagram);
        outbox.add(addr(1), &datagram);
        outbox.add(addr(1), &datagram);
        assert_eq!(outbox.batches.len(), 3, "no two fit one batch");
        assert!(outbox.batches.iter().all(|(_, b)| b.len() <= limit));
    }
}
