//! The serving half of the request/response core: one socket, calls in,
//! replies out, each call run exactly once.
//!
//! ```text
//! socket -> each message of the datagram -> incarnation? procedure? signature?
//!        -> admission -> new: handler -> encode reply -> cache -> outbox
//!                     -> running: ACK | finished: cached reply | evicted: say so
//!                     -> no room to run: Overloaded, nothing recorded
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
//! another's await. With the `tokio` feature, a responder bound from inside
//! a tokio runtime polls (and drops) every handler inside that runtime, so
//! handlers may use tokio (rendezvous-runtime's doc says why entered, not
//! spawned onto). The price: a procedure that computes for long without
//! awaiting holds up the receive loop while it does (measured: 57k -> 90k
//! calls/s with 64 in flight, pinned to one CPU). A procedure still running
//! at its call's deadline is cancelled (the caller has given up), and a
//! panic becomes an error reply.
//!
//! [`Responder`] is what the matchmaker runs as it is; a [`crate::Server`]
//! runs one and keeps its procedures registered with the matchmaker.
//!
//! One room per job, each using only those listed after it:
//!
//! - `stream`: the stream transport (TCP): connections, frames in, answers
//!   out, each message dispatched as `receive` dispatches a datagram's;
//! - `placement`: where the loop runs, a task or (on one CPU) a thread of
//!   its own, and moving it when the process's CPUs change;
//! - `receive`: the loop, and dispatch of each message;
//! - `execute`: running an admitted call, at once or in a task;
//! - `answer`: replies, acks and refusals, and the amplification policy;
//! - `outbox`: batching one datagram's answers;
//! - `service`: what the loop and every call's task share (socket,
//!   procedures, reply cache, calls in flight, counters);
//! - `admission`: new, duplicate or refused, with the calls-in-flight limit;
//! - `refusals`: the rate limit on lines about calls refused;
//! - `counters` and `config`: what is counted, and how calls are treated;
//! - `connections`, `peer` and `sockets`: the open stream connections,
//!   where a message came from (address, transport), and binding the UDP
//!   socket with the TCP listener beside it.

mod admission;
mod answer;
mod config;
mod connections;
mod counters;
mod execute;
mod outbox;
mod peer;
mod placement;
mod receive;
mod refusals;
mod service;
mod sockets;
mod stream;
#[cfg(test)]
mod testing;

pub use config::{
    DEFAULT_ACK_DELAY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_MAX_INBOUND_BYTES, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_REPLY_CACHE_BYTES, DEFAULT_RETENTION, DEFAULT_STREAM_IDLE_TIMEOUT,
    DEFAULT_STREAM_READ_TIMEOUT, DEFAULT_STREAM_WRITE_TIMEOUT, ResponderConfig, StreamConfig,
};
pub use counters::ResponderStats;

use super::call_counts::CallCounts;
use super::procedure::ProcedureSet;
use crate::requester::Requester;
use crate::rt::{self, Instant};
use crate::wire::Incarnation;
use placement::Receiving;
use service::Service;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A socket serving a set of procedures. [`Responder::shutdown`] stops it
/// gracefully; dropping it stops it at once, like [`Responder::abort`].
#[derive(Debug)]
pub struct Responder {
    service: Arc<Service>,
    receiving: Option<Receiving>,
    /// The stream transport's accept loop, when it is served.
    accepting: Option<rt::JoinHandle<()>>,
}

/// What a responder's stream transport holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Connections open now.
    pub connections: usize,
    /// Connections closed at accept, over the limit in all or per source.
    pub refused: u64,
}

/// Reads a responder's counts: [`Responder::watch`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ResponderWatch {
    service: Arc<Service>,
}

impl ResponderWatch {
    pub fn stats(&self) -> ResponderStats {
        self.service.stats()
    }

    /// Each procedure's name and how its calls ended, by name.
    pub fn calls(&self) -> Vec<(String, CallCounts)> {
        let mut calls: Vec<(String, CallCounts)> = self
            .service
            .procedures
            .procedures()
            .iter()
            .map(|p| (p.name().to_owned(), p.calls()))
            .collect();
        calls.sort_by(|a, b| a.0.cmp(&b.0));
        calls
    }

    /// How long the responder has been serving.
    pub fn uptime(&self) -> Duration {
        self.service.bound_at.elapsed()
    }
}

impl Responder {
    /// Binds `address` and starts serving `procedures` on it.
    pub async fn bind(
        address: SocketAddr,
        procedures: ProcedureSet,
        config: ResponderConfig,
    ) -> io::Result<Responder> {
        let service = Arc::new(Service::bind(address, procedures, config).await?);
        let receiving = Receiving::start(service.clone())?;
        let accepting = match service.take_listener() {
            Some(listener) => {
                let listener = rt::TcpListener::from_std(listener)?;
                Some(rt::spawn(stream::accept_loop(service.clone(), listener)))
            }
            None => None,
        };
        Ok(Responder {
            service,
            receiving: Some(receiving),
            accepting,
        })
    }

    /// The address the socket is bound to (with the port the OS chose).
    pub fn local_addr(&self) -> SocketAddr {
        self.service.local_addr
    }

    /// This run's incarnation id.
    pub fn incarnation(&self) -> Incarnation {
        self.service.incarnation
    }

    /// A requester whose calls leave from this responder's own socket, so
    /// their source is its endpoint (a server's registrations must be);
    /// their acks and replies are read by the receive loop and handed over.
    pub(crate) fn requester(&self) -> io::Result<Requester> {
        self.service.requester()
    }

    pub fn procedures(&self) -> &ProcedureSet {
        &self.service.procedures
    }

    pub fn stats(&self) -> ResponderStats {
        self.service.stats()
    }

    /// A handle that reads this responder's counts from elsewhere (an
    /// exporter's thread) for as long as it is kept.
    pub fn watch(&self) -> ResponderWatch {
        ResponderWatch {
            service: self.service.clone(),
        }
    }

    /// What the stream transport holds (all zero without one).
    pub fn stream_stats(&self) -> StreamStats {
        let connections = self.service.connections();
        StreamStats {
            connections: connections.len(),
            refused: connections.refused(),
        }
    }

    /// Stops accepting stream connections and closes those open.
    async fn stop_streams(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.cancel().await;
        }
        self.service.connections().close_all();
    }

    /// Stops at once, as a crash would: calls in flight run on but never
    /// reply or acknowledge.
    pub async fn abort(mut self) {
        self.service.abort();
        if let Some(receiving) = self.receiving.take() {
            receiving.stop().await;
        }
        self.stop_streams().await;
    }

    /// Stops taking calls, then waits (up to the drain timeout) for calls in
    /// flight to finish and send their replies.
    pub async fn shutdown(mut self) {
        if let Some(receiving) = self.receiving.take() {
            receiving.stop().await;
        }
        if let Some(accepting) = self.accepting.take() {
            accepting.cancel().await;
        }
        let deadline = Instant::now() + self.service.config.drain_timeout;
        while self.service.in_flight.running() > 0 && Instant::now() < deadline {
            rt::sleep(Duration::from_millis(5)).await;
        }
        self.stop_streams().await;
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(receiving) = self.receiving.take() {
            self.service.abort();
            drop(receiving);
        }
        if let Some(accepting) = self.accepting.take() {
            self.service.abort();
            rt::spawn(accepting.cancel());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{listener, math_add};
    use super::*;
    use crate::retry::RetryPolicy;
    use crate::signature::Fingerprint;
    use crate::wire::{Message, Outcome, Reply};

    /// What a server's registrations rely on: a call of the responder's
    /// requester leaves from the responder's own address, and the answer,
    /// read by the responder's receive loop, reaches the call.
    #[test]
    fn the_requester_sends_from_the_responders_socket_and_is_handed_its_replies() {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let set = math_add(|args| async { args });
        let responder = rt::block_on(Responder::bind(address, set, ResponderConfig::default()))
            .expect("bind a responder");
        let requester = responder.requester().expect("a requester on its socket");
        let peer = listener();
        let to = peer.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            let mut buffer = vec![0; 1 << 16];
            let (length, from) = peer.recv_from(&mut buffer).expect("the call");
            let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) else {
                panic!("not a call");
            };
            let reply = Message::Reply(Reply {
                client: call.client,
                xid: call.xid,
                incarnation: Incarnation(9),
                outcome: Outcome::Return(b"answered".to_vec().into()),
            });
            peer.send_to(&reply.encode().unwrap(), from).unwrap();
            from
        });
        let outcome = rt::block_on(async {
            let mut call = requester.begin(
                "p",
                Fingerprint::of("p"),
                Vec::new().into(),
                Duration::from_secs(10),
            );
            call.attempt(to, Incarnation::ANY, &RetryPolicy::default(), u32::MAX)
                .await
        });
        let from = answering.join().unwrap();
        assert_eq!(
            from,
            responder.local_addr(),
            "sent from the responder's socket"
        );
        assert!(
            matches!(outcome, Ok(Outcome::Return(ref bytes)) if bytes == b"answered"),
            "{outcome:?}"
        );
        rt::block_on(responder.abort());
    }
}
