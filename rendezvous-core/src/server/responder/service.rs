//! What the receive loop and every call's task share: one socket serving a
//! set of procedures, with the reply cache, the calls in flight and the
//! counters.
//!
//! It sits below every other room of the responder and imports none of
//! them but the leaves (config, counters, admission's limit): the rooms
//! above take a [`Service`] and never reach back.

use super::admission::CallsInFlight;
use super::config::ResponderConfig;
use super::connections::Connections;
use super::counters::{Counters, ResponderStats};
use super::peer::{Peer, Via};
use super::refusals::RefusalLog;
use crate::requester::{Feed, Requester};
use crate::rt::{HandlerRuntime, Instant, UdpSocket};
use crate::server::procedure::ProcedureSet;
use crate::server::reply_cache::ReplyCache;
use crate::server::shared_reply::SharedReply;
use crate::spin::Spin;
use crate::sync::lock;
use crate::wire::{ClientId, Incarnation, Message, Xid};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One socket serving a set of procedures, and what answering on it needs.
#[derive(Debug)]
pub(super) struct Service {
    socket: UdpSocket,
    pub(super) local_addr: SocketAddr,
    pub(super) incarnation: Incarnation,
    /// When the socket was bound: the incarnation's uptime, told to calls
    /// that name another one, counts from here (nothing earlier at this
    /// address can be this process: the port was not yet ours).
    pub(super) bound_at: Instant,
    pub(super) procedures: ProcedureSet,
    pub(super) config: ResponderConfig,
    cache: Mutex<ReplyCache>,
    pub(super) in_flight: CallsInFlight,
    pub(super) counters: Counters,
    refusals: Mutex<RefusalLog>,
    /// The runtime the handlers run inside: with the `tokio` feature, the
    /// tokio runtime the service was bound from, if any (see
    /// `rendezvous-runtime`'s doc for why it is entered, not spawned onto).
    pub(super) handlers: HandlerRuntime,
    /// Set by [`Service::abort`]: nothing more leaves the socket.
    aborted: AtomicBool,
    /// The same socket, for [`Service::requester`], and read by the spin.
    sender: std::net::UdpSocket,
    /// The spin before the receive loop parks.
    spin: Spin,
    /// The requester sending from this socket, once asked for, and what
    /// feeds it the acks and replies the receive loop reads.
    requester: Mutex<Option<(Requester, Feed)>>,
    /// The stream connections open, when the stream transport is served.
    connections: Mutex<Connections>,
    /// The stream listener, until the accept loop takes it.
    listener: Mutex<Option<std::net::TcpListener>>,
    /// Stream connections that sent a copy of a call while it ran: its
    /// reply goes to them too when it finishes (a stream copy is not
    /// retransmitted as a datagram is, so it would never hear it). With
    /// how many calls are listed, so the datagram path skips the lock.
    stream_waiters: Mutex<HashMap<(ClientId, Xid), Vec<u64>>>,
    stream_waiting: AtomicUsize,
}

impl Service {
    /// Binds `address`, with a fresh incarnation and an empty reply cache;
    /// its handlers will run inside the runtime this is called from.
    pub(super) async fn bind(
        address: SocketAddr,
        procedures: ProcedureSet,
        config: ResponderConfig,
    ) -> io::Result<Service> {
        let (bound, listener) = super::sockets::bind(address, config.stream.is_some())?;
        let bound_at = Instant::now();
        let sender = bound.try_clone()?;
        let socket = UdpSocket::from(bound);
        let local_addr = socket.local_addr()?;
        Ok(Service {
            socket,
            local_addr,
            bound_at,
            incarnation: Incarnation(crate::random::u64().max(1)),
            procedures,
            cache: Mutex::new(ReplyCache::new(config.reply_cache_bytes, config.retention)),
            in_flight: CallsInFlight::new(config.max_calls_in_flight),
            spin: Spin::new(config.spin),
            config,
            counters: Counters::default(),
            refusals: Mutex::new(RefusalLog::default()),
            handlers: HandlerRuntime::current(),
            aborted: AtomicBool::new(false),
            sender,
            requester: Mutex::new(None),
            connections: Mutex::default(),
            listener: Mutex::new(listener),
            stream_waiters: Mutex::default(),
            stream_waiting: AtomicUsize::new(0),
        })
    }

    /// The stream listener bound beside the socket, for the accept loop.
    pub(super) fn take_listener(&self) -> Option<std::net::TcpListener> {
        lock(&self.listener).take()
    }

    /// The stream connections open.
    pub(super) fn connections(&self) -> MutexGuard<'_, Connections> {
        lock(&self.connections)
    }

    /// Has the reply of the running call (`client`, `xid`) go to stream
    /// connection `id` too, when it finishes.
    pub(super) fn await_reply_on_stream(&self, client: ClientId, xid: Xid, id: u64) {
        let mut waiters = lock(&self.stream_waiters);
        let ids = waiters.entry((client, xid)).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
        self.stream_waiting.store(waiters.len(), Ordering::Release);
    }

    /// Hands the finished reply of (`client`, `xid`) to the stream
    /// connections that await it, if any.
    pub(super) fn reply_to_stream_waiters(&self, client: ClientId, xid: Xid, reply: &SharedReply) {
        if self.stream_waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let ids = {
            let mut waiters = lock(&self.stream_waiters);
            let ids = waiters.remove(&(client, xid));
            self.stream_waiting.store(waiters.len(), Ordering::Release);
            ids
        };
        for id in ids.into_iter().flatten() {
            self.connections().post(id, SharedReply::clone(reply));
        }
    }

    /// Sends an answer back the way `peer`'s message came: a datagram to
    /// its address, or a frame on its connection (shared, not copied, when
    /// it is a reply the cache holds). Unless aborted.
    pub(super) async fn deliver(&self, bytes: SharedReply, peer: Peer) {
        match peer.via {
            Via::Datagram => self.send(&bytes.into_vec(), peer.address).await,
            Via::Stream(id) => {
                if !self.aborted.load(Ordering::Acquire) {
                    self.connections().post(id, bytes);
                }
            }
        }
    }

    /// A requester whose calls leave from this socket (made on first use),
    /// so their source is this service's endpoint.
    pub(super) fn requester(&self) -> io::Result<Requester> {
        let mut slot = lock(&self.requester);
        if let Some((requester, _)) = &*slot {
            return Ok(requester.clone());
        }
        let (requester, feed) = Requester::fed(self.sender.try_clone()?)?;
        *slot = Some((requester.clone(), feed));
        Ok(requester)
    }

    /// Hands an ack or a reply that arrived here to the requester of
    /// [`Service::requester`] (if there is one; else it is dropped).
    pub(super) fn feed(&self, message: Message) {
        let feed = lock(&self.requester).as_ref().map(|(_, feed)| feed.clone());
        if let Some(feed) = feed {
            feed.deliver(message);
        }
    }

    pub(super) fn cache(&self) -> MutexGuard<'_, ReplyCache> {
        lock(&self.cache)
    }

    /// The rate limit on lines about refusals.
    pub(super) fn refusals(&self) -> MutexGuard<'_, RefusalLog> {
        lock(&self.refusals)
    }

    pub(super) fn stats(&self) -> ResponderStats {
        self.counters.snapshot(&self.cache(), &self.spin)
    }

    /// The next datagram into `buffer`: its length and sender. Spins
    /// first (`crate::spin`), so that the next call of a ping-pong is read
    /// by a thread that did not sleep, without a hop through the reactor.
    pub(super) async fn receive(&self, buffer: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        if let Some(received) = self.spin.receive(&self.sender, buffer) {
            return received;
        }
        self.socket.recv_from(buffer).await
    }

    /// [`Service::receive`] for a thread of its own: after the spin, it
    /// blocks in `poll(2)` on the socket and on `stop`, so the kernel wakes
    /// this thread when a datagram arrives; `None` once `stop` is readable
    /// (its other end hung up).
    #[cfg(target_os = "linux")]
    pub(super) fn receive_blocking(
        &self,
        buffer: &mut [u8],
        stop: &std::os::unix::net::UnixStream,
    ) -> Option<io::Result<(usize, SocketAddr)>> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        if let Some(received) = self.spin.receive(&self.sender, buffer) {
            return Some(received);
        }
        loop {
            let mut fds = [
                PollFd::new(self.sender.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(error) => return Some(Err(error.into())),
            }
            if fds[1].revents().is_some_and(|events| !events.is_empty()) {
                return None;
            }
            match self.sender.recv_from(buffer) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                received => return Some(received),
            }
        }
    }

    /// Sends one datagram, unless aborted; every datagram the responder
    /// sends leaves here.
    pub(super) async fn send(&self, datagram: &[u8], peer: SocketAddr) {
        if self.aborted.load(Ordering::Acquire) {
            return;
        }
        self.counters.datagrams_sent.bump();
        if let Err(error) = self.socket.send_to(datagram, peer).await {
            tracing::debug!(%peer, %error, "could not send");
        }
    }

    /// From now on nothing leaves the socket, as after a crash.
    pub(super) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        self.connections().close_all();
    }

    /// A service bound to a loopback port, for the responder's unit tests.
    #[cfg(test)]
    pub(super) fn on_loopback(procedures: ProcedureSet, config: ResponderConfig) -> Service {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        crate::rt::block_on(Service::bind(address, procedures, config)).expect("bind loopback")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{hears_nothing, listener, received};
    use super::*;

    #[test]
    fn an_aborted_service_sends_nothing() {
        let service = Service::on_loopback(ProcedureSet::new(), ResponderConfig::default());
        let listener = listener();
        let to = listener.local_addr().unwrap();
        crate::rt::block_on(service.send(b"before", to));
        service.abort();
        crate::rt::block_on(service.send(b"after", to));
        assert_eq!(received(&listener), b"before");
        assert!(hears_nothing(&listener), "sent after abort");
        assert_eq!(service.stats().datagrams_sent, 1);
    }
}
