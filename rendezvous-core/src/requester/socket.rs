//! What all the calls of one client share: the socket, the in-flight
//! table, the reader's buffer, the outbox, the round-trip estimate and the
//! counters. It sits below every other room of the requester: each of them
//! uses it, and it uses only the in-flight table and the outbox.

use super::in_flight::{InFlight, Incoming};
use super::outbox::{Flushing, Outbox};
use crate::retry::RttEstimator;
use crate::rt::UdpSocket;
use crate::sync::lock;
use crate::wire::{ClientId, Confirm, Message, Xid, batch_limit};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One client socket and what all its calls share.
#[derive(Debug)]
pub(super) struct ClientSocket {
    pub(super) socket: UdpSocket,
    pub(super) client: ClientId,
    pub(super) next_xid: AtomicU64,
    pub(super) in_flight: Arc<InFlight>,
    /// Whether a call is reading the socket now.
    pub(super) reading: Arc<AtomicBool>,
    /// The reader's receive buffer, lent to each reader in turn.
    pub(super) buffer: Mutex<Option<Vec<u8>>>,
    /// Calls' datagrams waiting to go out together.
    pub(super) outbox: Mutex<Outbox>,
    /// The socket's address family: only datagrams to the same family are
    /// batched (a send to the other fails, and must fail its own call).
    pub(super) ipv4: bool,
    pub(super) rtt: RttEstimator,
    pub(super) transmissions: AtomicU64,
    pub(super) retransmissions: AtomicU64,
    pub(super) datagrams: AtomicU64,
    /// Tells the idle ticker that a call is waiting.
    pub(super) ticker: async_channel::Sender<()>,
    /// Dropping it (with the last requester) stops the ticker.
    pub(super) _stop: async_channel::Sender<()>,
}

impl ClientSocket {
    /// Sends one call's datagram: at once when it is alone (or cannot be
    /// batched), else in a batch with the calls queued behind it.
    pub(super) async fn send(&self, datagram: &[u8], endpoint: SocketAddr) -> io::Result<()> {
        let alone = datagram.len() > batch_limit(&endpoint)
            || endpoint.is_ipv4() != self.ipv4
            || self.in_flight.lock().len() <= 1;
        if alone {
            self.datagrams.fetch_add(1, Ordering::Relaxed);
            return self.socket.send_to(datagram, endpoint).await.map(drop);
        }
        if !lock(&self.outbox).add(endpoint, datagram) {
            return Ok(());
        }
        let flushing = Flushing::new(&self.outbox);
        futures_lite::future::yield_now().await;
        let batches = flushing.take();
        for (endpoint, batch) in &batches {
            self.datagrams.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = self.socket.send_to(batch, *endpoint).await {
                tracing::debug!(%endpoint, %error, "could not send a batch of calls");
            }
        }
        Ok(())
    }

    /// What `message` is for one of this socket's calls: an ack or a reply
    /// carrying this client's id, with the xid it answers.
    pub(super) fn incoming(&self, message: Message) -> Option<(Xid, Incoming)> {
        match message {
            Message::Reply(reply) if reply.client == self.client => {
                Some((reply.xid, Incoming::Reply(reply.outcome)))
            }
            Message::Ack(ack) if ack.client == self.client => {
                Some((ack.xid, Incoming::Ack(ack.incarnation)))
            }
            _ => None,
        }
    }

    /// Tells the server it may forget the reply to `xid` (best effort).
    pub(super) async fn confirm(&self, endpoint: SocketAddr, xid: Xid) {
        let confirm = Message::Confirm(Confirm {
            client: self.client,
            xid,
        });
        if let Ok(datagram) = confirm.encode() {
            let _ = self.socket.send_to(&datagram, endpoint).await;
        }
    }
}
