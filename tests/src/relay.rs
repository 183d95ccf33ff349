//! A lossy UDP relay: put it between a client and a server to test how they
//! cope with a bad network.
//!
//! The relay listens on `127.0.0.1:0`. Each client source address gets its
//! own upstream socket (NAT-style), so the server sees one peer per client
//! and its replies go back to the right client. In both directions, each
//! datagram independently may be dropped, duplicated, or reordered (held
//! back until the next datagram of its direction has gone, or delayed by up
//! to [`RelayConfig::max_delay`]), decided by a [`fastrand::Rng`] seeded
//! with [`RelayConfig::seed`].
//!
//! The relay's tasks stop when it is dropped or [`Relay::stop`]ped.

use crate::front::{Front, MAX_DATAGRAM, receive, upstream_socket};
use crate::sync::lock;
use rendezvous_runtime::{self as rt, UdpSocket};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long a held-back datagram waits for a successor when
/// [`RelayConfig::max_delay`] is zero.
const DEFAULT_HOLD: Duration = Duration::from_millis(50);

/// The faults a [`Relay`] applies, in both directions. Probabilities are in
/// `0.0..=1.0`; the default relays everything faithfully.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayConfig {
    /// Seeds the fault decisions.
    pub seed: u64,
    /// Probability that a datagram is dropped.
    pub drop: f64,
    /// Probability that a datagram that is not dropped is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram that is not dropped is reordered: held
    /// back until the next datagram of its direction has been sent, or
    /// delayed by a random time up to `max_delay`.
    pub reorder: f64,
    /// The longest delay of a reordered datagram, and the longest a held-back
    /// one waits for a successor (50 ms if zero; then reordering only holds back).
    pub max_delay: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            seed: 0,
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            max_delay: Duration::ZERO,
        }
    }
}

/// What a relay has done so far, both directions together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Datagrams sent on (each copy of a duplicate counts).
    pub forwarded: u64,
    /// Datagrams dropped.
    pub dropped: u64,
    /// Datagrams duplicated (one extra copy each).
    pub duplicated: u64,
    /// Datagrams held back or delayed.
    pub reordered: u64,
}

/// A running relay; stops when dropped.
#[derive(Debug)]
pub struct Relay {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    /// Closing it stops every task of the relay.
    stop: async_std::channel::Sender<()>,
}

#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    config: RelayConfig,
    rng: Mutex<fastrand::Rng>,
    stopped: AtomicBool,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
}

/// One direction of one client's traffic.
#[derive(Debug)]
struct Lane {
    socket: Arc<UdpSocket>,
    destination: SocketAddr,
    /// A datagram held back until the next one (with its hold number).
    held: Mutex<Option<(u64, Vec<u8>)>>,
    holds: AtomicU64,
}

/// What to do with one datagram.
enum Fate {
    Drop,
    Send { copies: u32 },
    Hold { copies: u32 },
    Delay { copies: u32, by: Duration },
}

impl Relay {
    /// Starts relaying datagrams sent to [`Relay::local_addr`] to `target`
    /// (a loopback address), and the replies back.
    pub fn start(target: SocketAddr, config: RelayConfig) -> io::Result<Relay> {
        for (name, p) in [
            ("drop", config.drop),
            ("duplicate", config.duplicate),
            ("reorder", config.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name} probability {p} is not within 0..=1"),
                ));
            }
        }
        let front = Front::bind(target, "relay")?;
        let shared = Arc::new(Shared {
            target,
            rng: Mutex::new(fastrand::Rng::with_seed(config.seed)),
            config,
            stopped: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            duplicated: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
        });
        rt::spawn(front_loop(front.socket, shared.clone(), front.stopped));
        Ok(Relay {
            local_addr: front.local_addr,
            shared,
            stop: front.stop,
        })
    }

    /// The address clients send to instead of the target's.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Counts of what the relay has done so far.
    pub fn stats(&self) -> RelayStats {
        let shared = &self.shared;
        RelayStats {
            forwarded: shared.forwarded.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            duplicated: shared.duplicated.load(Ordering::Relaxed),
            reordered: shared.reordered.load(Ordering::Relaxed),
        }
    }

    /// Stops relaying: nothing more is forwarded (delayed datagrams
    /// included), and the relay's tasks end and close their sockets shortly.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.stop.close();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Client -> relay -> target, creating each client's upstream socket and
/// the task carrying its replies back.
async fn front_loop(
    front: Arc<UdpSocket>,
    shared: Arc<Shared>,
    stopped: async_std::channel::Receiver<()>,
) {
    let mut upstream: HashMap<SocketAddr, Arc<Lane>> = HashMap::new();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while let Some((length, client)) = receive(&front, &mut buffer, &stopped).await {
        if !client.ip().is_loopback() {
            continue;
        }
        let lane = match upstream.get(&client) {
            Some(lane) => lane.clone(),
            None => {
                let Some(socket) = upstream_socket().await else {
                    continue;
                };
                let down = Arc::new(Lane::new(front.clone(), client));
                rt::spawn(back_loop(
                    socket.clone(),
                    down,
                    shared.clone(),
                    stopped.clone(),
                ));
                let up = Arc::new(Lane::new(socket, shared.target));
                upstream.insert(client, up.clone());
                up
            }
        };
        lane.forward(&shared, buffer[..length].to_vec()).await;
    }
}

/// Target -> relay -> one client.
async fn back_loop(
    socket: Arc<UdpSocket>,
    down: Arc<Lane>,
    shared: Arc<Shared>,
    stopped: async_std::channel::Receiver<()>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    while let Some((length, from)) = receive(&socket, &mut buffer, &stopped).await {
        if from == shared.target {
            down.forward(&shared, buffer[..length].to_vec()).await;
        }
    }
}

impl Shared {
    fn rng(&self) -> MutexGuard<'_, fastrand::Rng> {
        lock(&self.rng)
    }

    fn fate(&self) -> Fate {
        let config = &self.config;
        let mut rng = self.rng();
        if rng.f64() < config.drop {
            return Fate::Drop;
        }
        let copies = if rng.f64() < config.duplicate { 2 } else { 1 };
        if rng.f64() >= config.reorder {
            return Fate::Send { copies };
        }
        if !config.max_delay.is_zero() && rng.bool() {
            let by = config.max_delay.mul_f64(rng.f64());
            Fate::Delay { copies, by }
        } else {
            Fate::Hold { copies }
        }
    }

    fn hold_limit(&self) -> Duration {
        if self.config.max_delay.is_zero() {
            DEFAULT_HOLD
        } else {
            self.config.max_delay
        }
    }
}

impl Lane {
    fn new(socket: Arc<UdpSocket>, destination: SocketAddr) -> Lane {
        Lane {
            socket,
            destination,
            held: Mutex::new(None),
            holds: AtomicU64::new(0),
        }
    }

    fn held(&self) -> MutexGuard<'_, Option<(u64, Vec<u8>)>> {
        lock(&self.held)
    }

    /// Applies the relay's faults to one datagram of this lane.
    async fn forward(self: &Arc<Self>, shared: &Arc<Shared>, datagram: Vec<u8>) {
        let fate = shared.fate();
        if let Fate::Send { copies: 2 } | Fate::Hold { copies: 2 } | Fate::Delay { copies: 2, .. } =
            fate
        {
            shared.duplicated.fetch_add(1, Ordering::Relaxed);
        }
        let copies = match fate {
            Fate::Drop => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Fate::Send { copies } => copies,
            Fate::Delay { copies, by } => {
                shared.reordered.fetch_add(1, Ordering::Relaxed);
                let (lane, shared) = (self.clone(), shared.clone());
                rt::spawn(async move {
                    rt::sleep(by).await;
                    lane.send(&shared, &datagram, copies).await;
                });
                return;
            }
            Fate::Hold { copies } => {
                shared.reordered.fetch_add(1, Ordering::Relaxed);
                let number = self.holds.fetch_add(1, Ordering::Relaxed);
                let previous = self.held().replace((number, datagram.clone()));
                // One slot: a datagram already held goes now, ahead of this one.
                if let Some((_, previous)) = previous {
                    self.send(shared, &previous, 1).await;
                }
                if copies > 1 {
                    self.send(shared, &datagram, copies - 1).await;
                }
                // Nothing may wait forever for a successor.
                let (lane, shared) = (self.clone(), shared.clone());
                rt::spawn(async move {
                    rt::sleep(shared.hold_limit()).await;
                    let mine = {
                        let mut held = lane.held();
                        match held.as_ref() {
                            Some((n, _)) if *n == number => held.take(),
                            _ => None,
                        }
                    };
                    if let Some((_, datagram)) = mine {
                        lane.send(&shared, &datagram, 1).await;
                    }
                });
                return;
            }
        };
        self.send(shared, &datagram, copies).await;
        let released = self.held().take();
        if let Some((_, held)) = released {
            self.send(shared, &held, 1).await;
        }
    }

    /// Sends `copies` copies of `datagram`, unless the relay has stopped.
    async fn send(&self, shared: &Shared, datagram: &[u8], copies: u32) {
        for _ in 0..copies {
            if shared.stopped.load(Ordering::SeqCst) {
                return;
            }
            if self
                .socket
                .send_to(datagram, self.destination)
                .await
                .is_ok()
            {
                shared.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
