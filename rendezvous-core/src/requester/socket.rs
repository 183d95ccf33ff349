//! What all the calls of one client share: the socket, the in-flight
//! table, the reader's buffer, the outbox, the round-trip estimate and the
//! counters. It sits below every other room of the requester: each of them
//! uses it, and it uses only the in-flight table and the outbox.

use super::in_flight::{InFlight, Incoming};
use super::outbox::{Flushing, Outbox};
use super::refusals;
use super::stream::StreamPool;
use crate::retry::RttEstimator;
use crate::rt::UdpSocket;
use crate::spin::Spin;
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
    /// The same socket, read without the reactor by the spin.
    pub(super) spinning: std::net::UdpSocket,
    /// The spin before a call alone in flight parks for its reply.
    pub(super) spin: Spin,
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
    /// Connections for calls and replies too large for a datagram.
    pub(super) streams: StreamPool,
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
            return self.send_to(datagram, endpoint).await;
        }
        if !lock(&self.outbox).add(endpoint, datagram) {
            return Ok(());
        }
        let flushing = Flushing::new(&self.outbox);
        futures_lite::future::yield_now().await;
        let batches = flushing.take();
        for (endpoint, batch) in &batches {
            self.datagrams.fetch_add(1, Ordering::Relaxed);
            if let Err(error) = self.send_to(batch, *endpoint).await {
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
                Some((reply.xid, Incoming::Reply(reply.outcome, reply.incarnation)))
            }
            Message::Ack(ack) if ack.client == self.client => {
                Some((ack.xid, Incoming::Ack(ack.incarnation)))
            }
            _ => None,
        }
    }

    /// Sends one datagram. A send that fails on an earlier datagram's
    /// port-unreachable error (which the kernel reports on the next call
    /// on the socket) hands the refusals to their calls and sends again.
    async fn send_to(&self, datagram: &[u8], endpoint: SocketAddr) -> io::Result<()> {
        let mut tries = 0;
        loop {
            match self.socket.send_to(datagram, endpoint).await {
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused && tries < 3 => {
                    self.take_refusals();
                    tries += 1;
                }
                sent => return sent.map(drop),
            }
        }
    }

    /// Hands each refused copy queued on the socket to its call.
    pub(super) fn take_refusals(&self) {
        for refused in refusals::drain(&self.socket) {
            for (client, xid) in calls_in(&refused.datagram) {
                if client == self.client {
                    self.in_flight.deliver(xid, Incoming::Refused(refused.to));
                }
            }
        }
    }

    /// Tells the server it may forget the reply to `xid` (best effort).
    pub(super) async fn confirm(&self, endpoint: SocketAddr, xid: Xid) {
        let confirm = Message::Confirm(Confirm {
            client: self.client,
            xid,
        });
        if let Ok(datagram) = confirm.encode() {
            let _ = self.send_to(&datagram, endpoint).await;
        }
    }
}

/// The (client, xid) of each call in a refused datagram, as far as its
/// quoted bytes go: a call cut short still names itself in its header.
fn calls_in(datagram: &[u8]) -> Vec<(ClientId, Xid)> {
    let mut calls = Vec::new();
    for message in Message::decode_batch(datagram) {
        match message {
            Ok((Message::Call(call), _)) => calls.push((call.client, call.xid)),
            Ok(_) => {}
            Err(undecodable) => {
                if let Some(header) = undecodable.header.filter(|h| h.is_call()) {
                    calls.push((header.client, header.xid));
                }
            }
        }
    }
    calls
}
