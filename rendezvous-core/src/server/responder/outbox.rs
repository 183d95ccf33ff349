//! The answers to one datagram, batched into as few datagrams as fit the
//! peer's [`batch_limit`], and sent when the datagram is handled.

use super::peer::{Peer, Via};
use super::service::Service;
use crate::server::shared_reply::SharedReply;
use crate::wire::batch_limit;
use std::net::SocketAddr;

/// The answers to one datagram, held until it is handled. One outbox is
/// reused for every datagram, so its room is allocated once.
#[derive(Debug)]
pub(super) struct Outbox {
    peer: SocketAddr,
    /// A stream's answers are not batched: each is its own frame.
    via: Via,
    batches: Vec<Vec<u8>>,
    /// Calls answered here whose replies are not sent yet.
    answered_calls: usize,
}

impl Outbox {
    /// Most batches held before they must be sent.
    const MAX_BATCHES: usize = 16;

    /// An empty outbox, addressed to no one yet.
    pub(super) fn new() -> Outbox {
        Outbox {
            peer: SocketAddr::from(([0, 0, 0, 0], 0)),
            via: Via::Datagram,
            batches: Vec::new(),
            answered_calls: 0,
        }
    }

    /// Addresses what follows to the sender of the next datagram (the
    /// outbox is empty: it was flushed).
    pub(super) fn address_to(&mut self, peer: SocketAddr) {
        self.peer = peer;
        self.via = Via::Datagram;
    }

    /// Addresses what follows to stream connection `id` (from `peer`).
    pub(super) fn address_to_stream(&mut self, peer: SocketAddr, id: u64) {
        self.peer = peer;
        self.via = Via::Stream(id);
    }

    /// Notes that a call was answered here: its place in flight is given
    /// back once the outbox is sent.
    pub(super) fn answered_call(&mut self) {
        self.answered_calls += 1;
    }

    /// Queues `bytes` for the datagram's sender: batched with the other
    /// answers to its datagram when they fit one; sent alone if too large
    /// to batch; the outbox is sent first if it is full.
    pub(super) async fn post(&mut self, service: &Service, bytes: Vec<u8>) {
        if let Via::Stream(_) = self.via {
            return self.deliver_on_stream(service, bytes.into()).await;
        }
        if bytes.len() > batch_limit(&self.peer) {
            return service.send(&bytes, self.peer).await;
        }
        if let Err(bytes) = self.push(bytes) {
            self.send_batches(service).await;
            let _ = self.push(bytes);
        }
    }

    /// [`Outbox::post`] of a reply the cache holds too: over a stream it is
    /// not copied; in a datagram it is (it may be batched).
    pub(super) async fn post_shared(&mut self, service: &Service, reply: SharedReply) {
        match self.via {
            Via::Stream(_) => self.deliver_on_stream(service, reply).await,
            Via::Datagram => self.post(service, reply.into_vec()).await,
        }
    }

    /// Hands `bytes` to the stream connection the outbox is addressed to.
    async fn deliver_on_stream(&self, service: &Service, bytes: SharedReply) {
        let peer = Peer {
            address: self.peer,
            datagram_bytes: bytes.len(),
            via: self.via,
        };
        service.deliver(bytes, peer).await
    }

    /// Sends what the outbox holds, and gives back the places in flight of
    /// the calls it answered.
    pub(super) async fn flush(&mut self, service: &Service) {
        self.send_batches(service).await;
        let answered = std::mem::take(&mut self.answered_calls);
        if answered > 0 {
            service.in_flight.finish(answered);
        }
    }

    async fn send_batches(&mut self, service: &Service) {
        let mut batches = std::mem::take(&mut self.batches);
        for batch in &batches {
            service.send(batch, self.peer).await;
        }
        // The list's room is kept for the next datagram.
        batches.clear();
        self.batches = batches;
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

#[cfg(test)]
mod tests {
    use super::super::admission::{Admission, admit};
    use super::super::config::ResponderConfig;
    use super::super::testing::{call, listener, received};
    use super::*;
    use crate::rt::{Instant, block_on};
    use crate::server::ProcedureSet;
    use crate::wire::{MAX_BATCH_BYTES, MAX_LOOPBACK_BATCH_BYTES};

    /// An outbox addressed to `peer`.
    fn to(peer: SocketAddr) -> Outbox {
        let mut out = Outbox::new();
        out.address_to(peer);
        out
    }

    /// An outbox addressed to a host beyond loopback (never sent to here).
    fn to_remote() -> Outbox {
        to(SocketAddr::from(([192, 0, 2, 1], 9)))
    }

    #[test]
    fn answers_that_fit_one_batch_share_it() {
        let mut out = to_remote();
        out.push(b"one".to_vec()).unwrap();
        out.push(b"two".to_vec()).unwrap();
        assert_eq!(out.batches, vec![b"onetwo".to_vec()]);
    }

    #[test]
    fn an_answer_that_starts_a_batch_is_kept_without_a_copy() {
        let mut out = to_remote();
        let answer = vec![7; 100];
        let address = answer.as_ptr();
        out.push(answer).unwrap();
        assert_eq!(out.batches[0].as_ptr(), address);
    }

    #[test]
    fn an_answer_past_the_peers_batch_limit_starts_another_batch() {
        let mut out = to_remote();
        out.push(vec![1; MAX_BATCH_BYTES - 10]).unwrap();
        out.push(vec![2; 11]).unwrap();
        assert_eq!(out.batches.len(), 2);
        // To loopback, whose limit is larger, the same two share one.
        let mut out = to(SocketAddr::from(([127, 0, 0, 1], 9)));
        out.push(vec![1; MAX_BATCH_BYTES - 10]).unwrap();
        out.push(vec![2; 11]).unwrap();
        assert_eq!(out.batches.len(), 1);
    }

    #[test]
    fn a_full_outbox_gives_the_answer_back() {
        let mut out = to_remote();
        for _ in 0..Outbox::MAX_BATCHES {
            out.push(vec![0; MAX_BATCH_BYTES]).unwrap();
        }
        assert_eq!(out.push(vec![9; 3]), Err(vec![9; 3]));
        assert_eq!(out.batches.len(), Outbox::MAX_BATCHES);
    }

    #[test]
    fn a_full_outbox_is_sent_before_the_next_answer_is_queued() {
        let service = Service::on_loopback(ProcedureSet::new(), ResponderConfig::default());
        let listener = listener();
        let mut out = to(listener.local_addr().unwrap());
        block_on(async {
            for _ in 0..Outbox::MAX_BATCHES {
                out.post(&service, vec![1; MAX_LOOPBACK_BATCH_BYTES]).await;
            }
            assert_eq!(service.stats().datagrams_sent, 0, "held until full");
            out.post(&service, b"next".to_vec()).await;
        });
        // (Counted, not received: so many may overflow a receive buffer.)
        assert_eq!(service.stats().datagrams_sent, Outbox::MAX_BATCHES as u64);
        assert_eq!(received(&listener).len(), MAX_LOOPBACK_BATCH_BYTES);
        assert_eq!(out.batches, vec![b"next".to_vec()]);
    }

    #[test]
    fn an_answer_too_large_to_batch_is_sent_alone_at_once() {
        let service = Service::on_loopback(ProcedureSet::new(), ResponderConfig::default());
        let listener = listener();
        let mut out = to(listener.local_addr().unwrap());
        block_on(out.post(&service, vec![5; MAX_LOOPBACK_BATCH_BYTES + 1]));
        assert_eq!(received(&listener), vec![5; MAX_LOOPBACK_BATCH_BYTES + 1]);
        assert!(out.batches.is_empty());
    }

    #[test]
    fn the_places_of_answered_calls_are_given_back_once_their_replies_are_sent() {
        let service = Service::on_loopback(ProcedureSet::new(), ResponderConfig::default());
        let listener = listener();
        let mut out = to(listener.local_addr().unwrap());
        for xid in 1..=2 {
            let admission = admit(
                &mut service.cache(),
                &service.in_flight,
                &call(xid),
                super::super::testing::source(),
                Instant::now(),
            );
            assert_eq!(admission, Admission::New);
        }
        block_on(async {
            out.post(&service, b"a".to_vec()).await;
            out.answered_call();
            out.post(&service, b"b".to_vec()).await;
            out.answered_call();
        });
        assert_eq!(service.in_flight.running(), 2, "not sent yet");
        block_on(out.flush(&service));
        assert_eq!(received(&listener), b"ab");
        assert_eq!(service.in_flight.running(), 0);
    }
}
