//! A gate: a faithful UDP forwarder that can be shut at an exact point of
//! the protocol, to make a server vanish in a precise state.
//!
//! [`crate::Relay`] models a bad network; a [`Gate`] models a server that
//! dies. Put it in front of a server (register the gate's address in the
//! server's place) and it forwards everything, both ways, until it is closed:
//! at once with [`Gate::close`], or right after it has passed one
//! acknowledgment from the server to a client with
//! [`Gate::close_after_next_ack`] — the client then provably holds an ACK of
//! its call, and hears nothing more from that server until the gate is
//! [opened](Gate::open) again, if ever.
//!
//! Like the relay, the gate listens on `127.0.0.1:0`, gives each client
//! source address its own upstream socket (so replies go back to the right
//! client), forwards to loopback targets only, and stops its tasks when
//! dropped.

use crate::front::{Front, MAX_DATAGRAM, receive, upstream_socket};
use rendezvous_core::protocol::wire::Message;
use rendezvous_runtime::{self as rt, UdpSocket};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// What a gate has forwarded so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GateStats {
    /// Datagrams passed from clients to the target.
    pub to_target: u64,
    /// Datagrams passed from the target back to clients.
    pub to_clients: u64,
    /// Of those, acknowledgments (`wire::Message::Ack`).
    pub acks_to_clients: u64,
    /// Datagrams from clients refused because the gate was closed.
    pub refused_from_clients: u64,
    /// Datagrams from the target refused because the gate was closed.
    pub refused_from_target: u64,
}

/// A running gate; stops when dropped.
#[derive(Debug)]
pub struct Gate {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    /// Closing it stops every task of the gate.
    stop: async_std::channel::Sender<()>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    open: AtomicBool,
    close_after_ack: AtomicBool,
    to_target: AtomicU64,
    to_clients: AtomicU64,
    acks_to_clients: AtomicU64,
    refused_from_clients: AtomicU64,
    refused_from_target: AtomicU64,
}

impl Gate {
    /// Starts forwarding datagrams sent to [`Gate::local_addr`] to `target`
    /// (a loopback address), and the target's answers back.
    pub fn start(target: SocketAddr) -> io::Result<Gate> {
        let front = Front::bind(target, "gate")?;
        let shared = Arc::new(Shared {
            target,
            open: AtomicBool::new(true),
            close_after_ack: AtomicBool::new(false),
            to_target: AtomicU64::new(0),
            to_clients: AtomicU64::new(0),
            acks_to_clients: AtomicU64::new(0),
            refused_from_clients: AtomicU64::new(0),
            refused_from_target: AtomicU64::new(0),
        });
        rt::spawn(front_loop(front.socket, shared.clone(), front.stopped));
        Ok(Gate {
            local_addr: front.local_addr,
            shared,
            stop: front.stop,
        })
    }

    /// The address clients send to instead of the target's.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether datagrams still pass.
    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Shuts the gate now: nothing passes any more, either way.
    pub fn close(&self) {
        self.shared.open.store(false, Ordering::SeqCst);
    }

    /// Opens the gate again: datagrams pass from now on.
    pub fn open(&self) {
        self.shared.open.store(true, Ordering::SeqCst);
    }

    /// Lets the next acknowledgment from the target through to its client,
    /// then shuts the gate, before anything else passes back to that client.
    pub fn close_after_next_ack(&self) {
        self.shared.close_after_ack.store(true, Ordering::SeqCst);
    }

    pub fn stats(&self) -> GateStats {
        let shared = &self.shared;
        GateStats {
            to_target: shared.to_target.load(Ordering::SeqCst),
            to_clients: shared.to_clients.load(Ordering::SeqCst),
            acks_to_clients: shared.acks_to_clients.load(Ordering::SeqCst),
            refused_from_clients: shared.refused_from_clients.load(Ordering::SeqCst),
            refused_from_target: shared.refused_from_target.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
        self.stop.close();
    }
}

/// Client -> gate -> target, creating each client's upstream socket and the
/// task carrying the target's answers back.
async fn front_loop(
    front: Arc<UdpSocket>,
    shared: Arc<Shared>,
    stopped: async_std::channel::Receiver<()>,
) {
    let mut upstream: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while let Some((length, client)) = receive(&front, &mut buffer, &stopped).await {
        if !client.ip().is_loopback() {
            continue;
        }
        if !shared.open.load(Ordering::SeqCst) {
            shared.refused_from_clients.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let socket = match upstream.get(&client) {
            Some(socket) => socket.clone(),
            None => {
                let Some(socket) = upstream_socket().await else {
                    continue;
                };
                rt::spawn(back_loop(
                    socket.clone(),
                    front.clone(),
                    client,
                    shared.clone(),
                    stopped.clone(),
                ));
                upstream.insert(client, socket.clone());
                socket
            }
        };
        if socket
            .send_to(&buffer[..length], shared.target)
            .await
            .is_ok()
        {
            shared.to_target.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Target -> gate -> one client.
async fn back_loop(
    socket: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    shared: Arc<Shared>,
    stopped: async_std::channel::Receiver<()>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while let Some((length, from)) = receive(&socket, &mut buffer, &stopped).await {
        if from != shared.target {
            continue;
        }
        if !shared.open.load(Ordering::SeqCst) {
            shared.refused_from_target.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let datagram = &buffer[..length];
        let is_ack = matches!(Message::decode(datagram), Ok(Message::Ack(_)));
        if front.send_to(datagram, client).await.is_ok() {
            shared.to_clients.fetch_add(1, Ordering::SeqCst);
            if is_ack {
                shared.acks_to_clients.fetch_add(1, Ordering::SeqCst);
            }
        }
        if is_ack && shared.close_after_ack.swap(false, Ordering::SeqCst) {
            shared.open.store(false, Ordering::SeqCst);
        }
    }
}
