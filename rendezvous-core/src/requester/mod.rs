//! The call engine: one socket, many calls in flight; send, retransmit,
//! match answers by xid.
//!
//! This is the request half of the one request/response core, the mirror of
//! the server's responder: the matchmaker client and the user client both
//! stand on it, and it knows neither. A call ([`Outgoing`]) keeps one xid
//! for its whole life, even when it moves between endpoints, and
//! retransmits under the [`RetryPolicy`](crate::RetryPolicy) until its reply arrives or its
//! deadline passes. Where a call goes next is not decided here: the caller
//! reads each [`Outgoing::attempt`]'s outcome and picks the next endpoint.
//!
//! ```text
//! begin -> Outgoing::attempt -> outbox (batching) -> socket
//! socket -> reader (one waiting call) -> in-flight table -> the call's mailbox
//! ticker -> in-flight table (retransmission times, deadlines)
//! ```
//!
//! * [`outgoing`]: one call's send/retransmit state machine.
//! * [`in_flight`]: the table of waiting calls, their mailboxes, the ticker.
//! * [`reader`]: the reading role, handed from call to call.
//! * [`outbox`]: batching of calls in flight together.
//! * [`refusals`]: the kernel's port-unreachable errors, read per copy.
//! * [`stream`]: calls and replies too large for a datagram, over pooled
//!   TCP connections.
//! * [`socket`]: what all calls share, below the rest.

mod in_flight;
mod outbox;
mod outgoing;
mod overload;
mod reader;
mod refusals;
mod socket;
mod stream;

pub(crate) use outgoing::{Failure, Outgoing};

use crate::retry::RttEstimator;
use crate::rt::{self, Instant, UdpSocket};
use crate::signature::Fingerprint;
use crate::spin::Spin;
use crate::wire::{Call, ClientId, Elsewhere, Incarnation, Message, Payload, Xid};
use in_flight::{InFlight, Registered, Waiting, tick_loop};
use socket::ClientSocket;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Transmissions in a row an endpoint may leave unanswered before an
/// attempt gives up on it (about 300 ms at loopback timers, 1.5 s cold).
pub const MAX_UNANSWERED: u32 = 4;

/// A client socket shared by every call of one client. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    socket: Arc<ClientSocket>,
}

/// Datagram counts of one requester.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequesterStats {
    /// Calls sent, first transmissions and retransmissions alike.
    pub(crate) transmissions: u64,
    /// Of those, retransmissions.
    pub(crate) retransmissions: u64,
    /// Datagrams those took: fewer than transmissions when calls were
    /// batched.
    pub(crate) datagrams: u64,
    /// Datagrams read while a call spun for its reply.
    pub(crate) datagrams_spun: u64,
}

impl Requester {
    /// Binds a client socket.
    pub(crate) fn bind(address: SocketAddr) -> io::Result<Requester> {
        Requester::on_socket(std::net::UdpSocket::bind(address)?, false)
    }

    /// A requester sending from `socket`, which something else reads (a
    /// server's own socket, so that its registrations come from the
    /// endpoint they register): no call ever reads it, and the reader hands
    /// the requester what is meant for it through the returned [`Feed`].
    pub(crate) fn fed(socket: std::net::UdpSocket) -> io::Result<(Requester, Feed)> {
        let requester = Requester::on_socket(socket, true)?;
        let feed = Feed {
            socket: Arc::downgrade(&requester.socket),
        };
        Ok((requester, feed))
    }

    /// `read_elsewhere`: the socket is read by someone else, who feeds the
    /// answers in; the reading role is then taken for good.
    fn on_socket(socket: std::net::UdpSocket, read_elsewhere: bool) -> io::Result<Requester> {
        let ipv4 = socket.local_addr()?.is_ipv4();
        // Port-unreachable errors are queued only on a socket this requester
        // reads: a server's own socket is read by its receive loop, which
        // does not drain an error queue, so it keeps the kernel's default
        // (no errors reported for an unconnected socket), and a fed
        // requester's calls fall back to their timers.
        if !read_elsewhere {
            refusals::enable(&socket, ipv4);
        }
        let in_flight: Arc<InFlight> = Arc::default();
        let (stop, stopped) = async_channel::bounded(1);
        let (ticker, wakeups) = async_channel::bounded(1);
        let reading = Arc::new(AtomicBool::new(read_elsewhere));
        rt::spawn(tick_loop(
            in_flight.clone(),
            reading.clone(),
            wakeups,
            stopped,
        ));
        Ok(Requester {
            socket: Arc::new(ClientSocket {
                spinning: socket.try_clone()?,
                spin: Spin::default(),
                socket: UdpSocket::from(socket),
                client: ClientId(crate::random::u64()),
                next_xid: AtomicU64::new(1),
                in_flight,
                reading,
                buffer: Mutex::new(None),
                outbox: Mutex::default(),
                ipv4,
                rtt: RttEstimator::default(),
                transmissions: AtomicU64::new(0),
                retransmissions: AtomicU64::new(0),
                datagrams: AtomicU64::new(0),
                streams: stream::StreamPool::default(),
                ticker,
                _stop: stop,
            }),
        })
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.socket.local_addr()
    }

    /// The largest message this requester sends or reads (over the
    /// stream; a datagram is smaller).
    pub(crate) fn max_message_bytes(&self) -> usize {
        self.socket.streams.max_message_bytes()
    }

    pub(crate) fn set_max_message_bytes(&self, bytes: usize) {
        self.socket.streams.set_max_message_bytes(bytes);
    }

    /// How long a call alone in flight polls for its reply before parking
    /// (`crate::spin`).
    pub(crate) fn set_spin(&self, budget: Duration) {
        self.socket.spin.set_budget(budget);
    }

    pub(crate) fn stats(&self) -> RequesterStats {
        let socket = &*self.socket;
        RequesterStats {
            transmissions: socket.transmissions.load(Ordering::Relaxed),
            retransmissions: socket.retransmissions.load(Ordering::Relaxed),
            datagrams: socket.datagrams.load(Ordering::Relaxed),
            datagrams_spun: socket.spin.datagrams(),
        }
    }

    /// Starts a call: draws its xid and listens for its answers.
    pub(crate) fn begin(
        &self,
        procedure: &str,
        signature: Fingerprint,
        args: Payload,
        deadline: Duration,
    ) -> Outgoing<'_> {
        let socket = &*self.socket;
        // The xid is drawn under the lock that registers it, so no call
        // can compute a watermark above an xid not yet registered.
        let started = Instant::now();
        let (xid, done_below, was_idle) = {
            let mut calls = socket.in_flight.lock();
            let xid = Xid(socket.next_xid.fetch_add(1, Ordering::Relaxed));
            let was_idle = calls.is_empty();
            calls.insert(xid, Waiting::new(started + deadline));
            (xid, *calls.keys().next().unwrap_or(&xid), was_idle)
        };
        if was_idle {
            let _ = socket.ticker.try_send(());
        }
        Outgoing {
            socket,
            _registered: Registered {
                in_flight: &socket.in_flight,
                xid,
            },
            call: Call {
                client: socket.client,
                xid,
                incarnation: Incarnation::ANY,
                procedure: procedure.to_owned(),
                signature,
                deadline,
                done_below,
                args,
                elsewhere: Elsewhere::Nowhere,
            },
            encoded: None,
            started,
            deadline: started + deadline,
            transmissions: 0,
            acked_by: None,
            sent_to: Vec::new(),
            answered_by: None,
        }
    }
}

/// Hands a [`Requester::fed`] requester the acks and replies that the
/// socket's reader received for it. Holds the requester weakly: once the
/// requester is gone, what is fed is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Feed {
    socket: Weak<ClientSocket>,
}

impl Feed {
    /// Delivers `message` to the call it answers, if it is an ack or a
    /// reply to one of this requester's calls still waiting.
    pub(crate) fn deliver(&self, message: Message) {
        if let Some(socket) = self.socket.upgrade()
            && let Some((xid, incoming)) = socket.incoming(message)
        {
            socket.in_flight.deliver(xid, incoming);
        }
    }
}

/// The unspecified address of the family of `target`, port 0, so one socket
/// can reach it.
pub(crate) fn bind_address_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::RetryPolicy;
    use crate::wire::{Ack, Message, Outcome, Reply};

    const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    /// Fast timers, and a deadline no healthy loopback call comes near.
    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_timeout: Duration::from_millis(20),
            min_timeout: Duration::from_millis(10),
            max_timeout: Duration::from_millis(40),
            ..RetryPolicy::default()
        }
    }

    /// A socket that answers the first `ignore` copies of each call with
    /// silence, then with `answer(call)`.
    fn peer(ignore: usize, answer: fn(&Call) -> Vec<Message>) -> SocketAddr {
        let socket = std::net::UdpSocket::bind(LOOPBACK).expect("bind a peer");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        let address = socket.local_addr().expect("peer address");
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            let mut seen = 0;
            while let Ok((length, from)) = socket.recv_from(&mut buffer) {
                let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) else {
                    continue;
                };
                seen += 1;
                if seen <= ignore {
                    continue;
                }
                for message in answer(&call) {
                    let bytes = message.encode().expect("encode an answer");
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        address
    }

    /// A socket that answers each call with `answer(call)`, all in one
    /// datagram.
    fn peer_batch(answer: fn(&Call) -> Vec<Message>) -> SocketAddr {
        let socket = std::net::UdpSocket::bind(LOOPBACK).expect("bind a peer");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        let address = socket.local_addr().expect("peer address");
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((length, from)) = socket.recv_from(&mut buffer) {
                let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) else {
                    continue;
                };
                let mut datagram = Vec::new();
                for message in answer(&call) {
                    datagram.extend(message.encode().expect("encode an answer"));
                }
                let _ = socket.send_to(&datagram, from);
            }
        });
        address
    }

    fn reply(call: &Call, outcome: Outcome) -> Message {
        Message::Reply(Reply {
            client: call.client,
            xid: call.xid,
            incarnation: Incarnation(42),
            outcome,
        })
    }

    fn attempt(
        requester: &Requester,
        endpoint: SocketAddr,
        max_unanswered: u32,
        deadline: Duration,
    ) -> (Result<Outcome, Failure>, u32, Option<Incarnation>) {
        rt::block_on(async {
            let mut call = requester.begin("t.echo", Fingerprint(1), vec![0x80].into(), deadline);
            let answer = call
                .attempt(endpoint, Incarnation::ANY, &policy(), max_unanswered)
                .await;
            (answer, call.transmissions(), call.acked_by())
        })
    }

    fn requester() -> Requester {
        Requester::bind(LOOPBACK).expect("bind a requester")
    }

    #[test]
    fn a_reply_ends_the_attempt_with_its_outcome() {
        let endpoint = peer(0, |call| {
            vec![reply(call, Outcome::Return(vec![0x01].into()))]
        });
        let (answer, transmissions, _) = attempt(
            &requester(),
            endpoint,
            MAX_UNANSWERED,
            Duration::from_secs(20),
        );
        assert!(matches!(answer, Ok(Outcome::Return(bytes)) if bytes == [0x01]));
        assert_eq!(transmissions, 1);
    }

    /// `[4]` followed by `[12, uptime]` for the same call, in one
    /// datagram, is one refusal, read as the second; the reply header's
    /// incarnation is kept.
    #[test]
    fn a_wrong_incarnation_followed_by_its_uptime_reads_as_the_uptime() {
        let endpoint = peer_batch(|call| {
            vec![
                reply(call, Outcome::WrongIncarnation),
                reply(call, Outcome::WrongIncarnationUptime(1_234)),
            ]
        });
        let requester = requester();
        let (answer, answered_by) = rt::block_on(async {
            let mut call = requester.begin(
                "t.echo",
                Fingerprint(1),
                vec![0x80].into(),
                Duration::from_secs(20),
            );
            let answer = call
                .attempt(endpoint, Incarnation(5), &policy(), MAX_UNANSWERED)
                .await;
            assert!(call.age_at(endpoint).is_some());
            (answer, call.answered_by())
        });
        assert!(
            matches!(answer, Ok(Outcome::WrongIncarnationUptime(1_234))),
            "{answer:?}"
        );
        assert_eq!(answered_by, Some(Incarnation(42)));
    }

    #[test]
    fn lost_copies_are_retransmitted_under_the_same_xid() {
        let endpoint = peer(2, |call| vec![reply(call, Outcome::Return(vec![].into()))]);
        let requester = requester();
        let (answer, transmissions, _) = attempt(
            &requester,
            endpoint,
            MAX_UNANSWERED,
            Duration::from_secs(20),
        );
        assert!(matches!(answer, Ok(Outcome::Return(_))), "{answer:?}");
        assert_eq!(transmissions, 3);
        assert_eq!(requester.stats().retransmissions, 2);
    }

    #[test]
    fn an_endpoint_that_never_answers_is_left_after_max_unanswered_copies() {
        let endpoint = peer(usize::MAX, |_| vec![]);
        let (answer, transmissions, acked) =
            attempt(&requester(), endpoint, 3, Duration::from_secs(20));
        assert!(matches!(answer, Err(Failure::Silent)), "{answer:?}");
        assert_eq!(transmissions, 3);
        assert_eq!(acked, None);
    }

    /// Issue 13, item 1(c): a port nothing listens on refuses the first
    /// copy, and the attempt ends at once, not after its timers.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_port_nobody_listens_on_refuses_the_call_at_its_first_copy() {
        let nobody = std::net::UdpSocket::bind(LOOPBACK)
            .and_then(|socket| socket.local_addr())
            .expect("find a free port");
        let requester = requester();
        for _ in 0..2 {
            // The second call meets a socket whose error was just read.
            let (answer, transmissions, acked) =
                attempt(&requester, nobody, u32::MAX, Duration::from_secs(20));
            assert!(matches!(answer, Err(Failure::Refused)), "{answer:?}");
            assert_eq!(transmissions, 1);
            assert_eq!(acked, None);
        }
        assert_eq!(requester.stats().retransmissions, 0);
    }

    #[test]
    fn an_ack_is_remembered_and_the_reply_still_awaited() {
        let endpoint = peer(0, |call| {
            vec![
                Message::Ack(Ack {
                    client: call.client,
                    xid: call.xid,
                    incarnation: Incarnation(42),
                }),
                reply(call, Outcome::Return(vec![0x02].into())),
            ]
        });
        let (answer, _, acked) = attempt(
            &requester(),
            endpoint,
            MAX_UNANSWERED,
            Duration::from_secs(20),
        );
        assert!(matches!(answer, Ok(Outcome::Return(bytes)) if bytes == [0x02]));
        assert_eq!(acked, Some(Incarnation(42)));
    }

    /// A socket that answers nothing and hands over the `deadline_ms` of
    /// each call it receives.
    fn deadline_listener() -> (SocketAddr, std::sync::mpsc::Receiver<Duration>) {
        let socket = std::net::UdpSocket::bind(LOOPBACK).expect("bind a peer");
        socket
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        let address = socket.local_addr().expect("peer address");
        let (heard, deadlines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((length, _)) = socket.recv_from(&mut buffer) {
                if let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) {
                    if heard.send(call.deadline).is_err() {
                        return;
                    }
                }
            }
        });
        (address, deadlines)
    }

    #[test]
    fn a_call_that_moves_carries_what_is_left_of_its_deadline() {
        let (first, at_first) = deadline_listener();
        let (second, at_second) = deadline_listener();
        let deadline = Duration::from_secs(20);
        let pause = Duration::from_millis(300);
        let requester = requester();
        rt::block_on(async {
            let mut call = requester.begin("t.echo", Fingerprint(1), vec![0x80].into(), deadline);
            let silent = call.attempt(first, Incarnation(1), &policy(), 2).await;
            assert!(matches!(silent, Err(Failure::Silent)), "{silent:?}");
            rt::sleep(pause).await;
            let silent = call.attempt(second, Incarnation(2), &policy(), 1).await;
            assert!(matches!(silent, Err(Failure::Silent)), "{silent:?}");
        });
        let wait = Duration::from_secs(20);
        // Copies to one server are the same bytes: the whole deadline.
        assert_eq!(at_first.recv_timeout(wait).unwrap(), deadline);
        assert_eq!(at_first.recv_timeout(wait).unwrap(), deadline);
        // The new server hears what was left when the call moved: at least
        // the pause (and the first attempt) less.
        let moved = at_second.recv_timeout(wait).unwrap();
        assert!(moved <= deadline - pause, "{moved:?}");
        assert!(moved > Duration::ZERO, "{moved:?}");
    }

    #[test]
    fn a_call_whose_deadline_passes_expires() {
        let endpoint = peer(usize::MAX, |_| vec![]);
        let (answer, _, _) = attempt(&requester(), endpoint, u32::MAX, Duration::from_millis(100));
        assert!(matches!(answer, Err(Failure::Expired)), "{answer:?}");
    }

    #[test]
    fn many_calls_in_flight_each_get_their_own_reply() {
        let endpoint = peer(0, |call| {
            vec![reply(
                call,
                Outcome::Return(call.xid.0.to_be_bytes().to_vec().into()),
            )]
        });
        let requester = requester();
        let xids = rt::block_on(async {
            let calls = (0..32).map(|_| {
                let requester = requester.clone();
                rt::spawn(async move {
                    let mut call = requester.begin(
                        "t.echo",
                        Fingerprint(1),
                        vec![0x80].into(),
                        Duration::from_secs(20),
                    );
                    let answer = call
                        .attempt(endpoint, Incarnation::ANY, &policy(), u32::MAX)
                        .await;
                    (call.call.xid, answer)
                })
            });
            let mut all = Vec::new();
            for call in calls.collect::<Vec<_>>() {
                all.push(call.await);
            }
            all
        });
        for (xid, answer) in xids {
            assert!(
                matches!(answer, Ok(Outcome::Return(bytes)) if bytes == xid.0.to_be_bytes()),
                "{xid:?}"
            );
        }
    }

    #[test]
    fn the_bind_address_is_of_the_targets_family() {
        assert_eq!(
            bind_address_for("10.0.0.1:5000".parse().unwrap()),
            "0.0.0.0:0".parse().unwrap()
        );
        assert_eq!(
            bind_address_for("[::1]:5000".parse().unwrap()),
            "[::]:0".parse().unwrap()
        );
    }
}
