//! Several matchmakers: clients and servers given a list of them, failing
//! over from one that is silent, gone, or cut off from its store, to the
//! next.
//!
//! The matchmakers are embedded (`rendezvous_daemon::Matchmaker`), each with
//! its own in-memory table, which is how daemons without a shared store
//! behave: a lease granted by one is unknown to the others. A *silent*
//! matchmaker is a bound socket nobody reads (so no one else can take its
//! port, and the datagrams sent to it can be counted). A matchmaker whose
//! store is down is a responder answering register, renew and unregister
//! with `StoreUnavailable`, as a daemon that cannot reach etcd does.
//!
//! Every wait is bounded and generous; the tests assert outcomes and counts,
//! never how long something took.

use rendezvous_core::protocol::matchmaker::{
    Lease, MatchmakerError, ProcedureSpec, RegisterRequest, RenewRequest, Renewed,
    UnregisterRequest,
    operation::{self, Operation},
};
use rendezvous_core::protocol::wire::{Ack, Incarnation, Message};
use rendezvous_core::server::{ProcedureSet, Responder, ResponderConfig};
use rendezvous_core::{
    Client, Error, Fingerprint, MatchmakerClient, Procedure, RemoteProcedure, RetryPolicy, Server,
};
use rendezvous_daemon::{Matchmaker, MatchmakerConfig};
use rendezvous_tests::{SecretFile, client_of, eventually, loopback, run};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

// ------------------------------------------------------------- procedures

/// `double(n) = 2 n`.
const DOUBLE: RemoteProcedure = RemoteProcedure {
    name: "failover.double",
    signature: Fingerprint::of("failover.double(u64)->u64"),
    idempotent: false,
};

fn double() -> Procedure {
    Procedure::typed(
        DOUBLE.name,
        DOUBLE.signature,
        |(n,): (u64,), _| async move { 2 * n },
    )
}

// ---------------------------------------------------------------- helpers

/// How long to wait for something that happens within a heartbeat or two.
const PATIENCE: Duration = Duration::from_secs(30);

/// How often to look while waiting.
const POLL: Duration = Duration::from_millis(50);

/// A short lease, so that a server's renewals (every third of it) come
/// often; the embedded matchmaker's minimum.
const SHORT_LEASE: Duration = Duration::from_secs(1);

async fn matchmaker() -> Matchmaker {
    Matchmaker::bind(loopback(0))
        .await
        .expect("bind an embedded matchmaker")
}

/// A matchmaker that never answers: a loopback socket nobody reads. It
/// keeps its port, and counts what was sent to it.
struct Silent {
    socket: UdpSocket,
    received: u64,
}

impl Silent {
    fn new() -> Silent {
        let socket = UdpSocket::bind(loopback(0)).expect("bind a silent socket");
        socket
            .set_nonblocking(true)
            .expect("make the silent socket non-blocking");
        Silent {
            socket,
            received: 0,
        }
    }

    fn address(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("the silent socket's address")
    }

    /// Datagrams sent to it so far. Loopback delivers a datagram before
    /// `send_to` returns, so whatever a finished request sent is counted.
    fn received(&mut self) -> u64 {
        let mut buffer = [0u8; 65_536];
        while self.socket.recv_from(&mut buffer).is_ok() {
            self.received += 1;
        }
        self.received
    }
}

/// A matchmaker stuck on every request: it acknowledges each call it
/// receives (as a matchmaker does when a request takes it longer than the
/// ack delay) and never answers. Stops when dropped.
struct Acknowledging {
    address: SocketAddr,
    acks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Acknowledging {
    fn start() -> Acknowledging {
        let socket = UdpSocket::bind(loopback(0)).expect("bind the acknowledging socket");
        socket
            .set_read_timeout(Some(POLL))
            .expect("give the acknowledging socket a read timeout");
        let address = socket
            .local_addr()
            .expect("the acknowledging socket's address");
        let (acks, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (counted, stopped) = (acks.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 65_536];
            while !stopped.load(Ordering::SeqCst) {
                let Ok((size, peer)) = socket.recv_from(&mut buffer) else {
                    continue;
                };
                if let Ok(Message::Call(call)) = Message::decode(&buffer[..size]) {
                    let ack = Message::Ack(Ack {
                        client: call.client,
                        xid: call.xid,
                        incarnation: Incarnation(7),
                    });
                    if let Ok(datagram) = ack.encode()
                        && socket.send_to(&datagram, peer).is_ok()
                    {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        });
        Acknowledging {
            address,
            acks,
            stop,
            thread: Some(thread),
        }
    }

    fn address(&self) -> SocketAddr {
        self.address
    }

    fn acks(&self) -> u64 {
        self.acks.load(Ordering::SeqCst)
    }
}

impl Drop for Acknowledging {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A matchmaker that cannot reach its store: register, renew and
/// unregister are answered `StoreUnavailable` (and counted); it has no
/// lookup.
struct StoreDown {
    responder: Responder,
    requests: Arc<AtomicU64>,
}

/// The reason the store-down matchmaker gives.
const STORE_DOWN_REASON: &str = "etcd at 127.0.0.1:2379 did not answer";

impl StoreDown {
    async fn start() -> StoreDown {
        let requests = Arc::new(AtomicU64::new(0));
        let refusal = || MatchmakerError::StoreUnavailable {
            reason: STORE_DOWN_REASON.into(),
        };
        let mut procedures = ProcedureSet::new();
        let counted = requests.clone();
        procedures
            .insert(Procedure::typed(
                operation::Register::NAME,
                operation::Register::SIGNATURE,
                move |(_,): (RegisterRequest,), _| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move { Err::<Lease, _>(refusal()) }
                },
            ))
            .expect("a fresh procedure set takes register");
        let counted = requests.clone();
        procedures
            .insert(Procedure::typed(
                operation::Renew::NAME,
                operation::Renew::SIGNATURE,
                move |(_,): (RenewRequest,), _| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move { Err::<Renewed, _>(refusal()) }
                },
            ))
            .expect("a fresh procedure set takes renew");
        let counted = requests.clone();
        procedures
            .insert(Procedure::typed(
                operation::Unregister::NAME,
                operation::Unregister::SIGNATURE,
                move |(_,): (UnregisterRequest,), _| {
                    counted.fetch_add(1, Ordering::SeqCst);
                    async move { Err::<(), _>(refusal()) }
                },
            ))
            .expect("a fresh procedure set takes unregister");
        let responder = Responder::bind(loopback(0), procedures, ResponderConfig::default())
            .await
            .expect("bind the store-down matchmaker");
        StoreDown {
            responder,
            requests,
        }
    }

    fn address(&self) -> SocketAddr {
        self.responder.local_addr()
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn matchmaker_client(matchmakers: &[SocketAddr]) -> MatchmakerClient {
    MatchmakerClient::connect_any(matchmakers)
        .await
        .expect("bind a matchmaker client")
}

/// Starts a server of `double`, registering through `matchmakers`.
async fn serve(matchmakers: &[SocketAddr]) -> Server {
    Server::builder()
        .matchmakers(matchmakers.iter().copied())
        .linked_procedures(false)
        .procedure(double())
        .lease_ttl(SHORT_LEASE)
        .start()
        .await
        .expect("start a server")
}

/// Whether the matchmaker at `address` (alone) lists `server` for `double`.
async fn lists(address: SocketAddr, server: &Server) -> bool {
    let endpoints = matchmaker_client(&[address])
        .await
        .lookup(DOUBLE.name, Some(DOUBLE.signature))
        .await
        .unwrap_or_default();
    endpoints
        .iter()
        .any(|e| e.address == server.advertised_addr())
}

fn specs() -> Vec<ProcedureSpec> {
    vec![ProcedureSpec {
        signature_text: None,
        name: DOUBLE.name.into(),
        signature: DOUBLE.signature,
    }]
}

// ------------------------------------------------------------------ tests

#[test]
fn a_client_looks_up_past_a_silent_matchmaker_and_calls() {
    run(async {
        let silent = Silent::new();
        let live = matchmaker().await;
        let server = serve(&[live.local_addr()]).await;
        assert!(server.is_registered());

        let client = client_of(&[silent.address(), live.local_addr()]);
        let doubled: u64 = client.call(&DOUBLE, &(21u64,)).await.unwrap();
        assert_eq!(doubled, 42);
        assert_eq!(client.matchmaker().address(), live.local_addr());
    });
}

#[test]
fn the_matchmaker_that_answered_is_asked_first_next_time() {
    run(async {
        let mut silent = Silent::new();
        let live = matchmaker().await;
        let matchmaker = matchmaker_client(&[silent.address(), live.local_addr()]).await;
        assert_eq!(
            matchmaker.address(),
            silent.address(),
            "first listed, first asked"
        );

        let first = matchmaker.lookup("failover.nothing", None).await;
        assert!(matches!(first, Err(Error::NotFound { .. })), "{first:?}");
        let sent_to_silent = silent.received();
        assert!(
            sent_to_silent > 0,
            "the first lookup asked the silent one first"
        );
        assert_eq!(matchmaker.address(), live.local_addr());

        for _ in 0..5 {
            let again = matchmaker.lookup("failover.nothing", None).await;
            assert!(matches!(again, Err(Error::NotFound { .. })), "{again:?}");
        }
        assert_eq!(
            silent.received(),
            sent_to_silent,
            "once the live matchmaker answered, the silent one is not asked again"
        );
    });
}

#[test]
fn a_server_registers_through_the_first_matchmaker_that_answers() {
    run(async {
        let silent = Silent::new();
        let live = matchmaker().await;
        let server = serve(&[silent.address(), live.local_addr()]).await;

        assert!(
            server.is_registered(),
            "registered at start, through the live one"
        );
        assert_eq!(server.matchmaker_addr(), live.local_addr());
        assert_eq!(
            server.matchmaker_addrs(),
            [silent.address(), live.local_addr()]
        );
        assert!(lists(live.local_addr(), &server).await);
        let client = client_of(&[live.local_addr()]);
        let doubled: u64 = client.call(&DOUBLE, &(5u64,)).await.unwrap();
        assert_eq!(doubled, 10);
    });
}

#[test]
fn a_matchmaker_whose_store_is_down_passes_registrations_to_the_next() {
    run(async {
        let store_down = StoreDown::start().await;
        let live = matchmaker().await;
        let server = serve(&[store_down.address(), live.local_addr()]).await;

        assert!(
            store_down.requests() >= 1,
            "the first listed was asked first"
        );
        assert!(server.is_registered());
        assert!(lists(live.local_addr(), &server).await);
        // Renewals go where the registration went, and keep it alive.
        let before = live.stats().executed;
        let renewed = eventually(PATIENCE, POLL, || async {
            (live.stats().executed >= before + 2).then_some(())
        })
        .await;
        assert!(
            renewed.is_some(),
            "the server renews at the live matchmaker"
        );
        assert!(lists(live.local_addr(), &server).await);
    });
}

#[test]
fn store_unavailable_everywhere_is_reported_naming_every_matchmaker_and_retried() {
    run(async {
        let (first, second) = (StoreDown::start().await, StoreDown::start().await);
        let addresses = [first.address(), second.address()];
        let matchmaker = matchmaker_client(&addresses).await;
        let refused = matchmaker
            .register(specs(), loopback(9), Incarnation(1), SHORT_LEASE)
            .await;
        let Err(Error::StoreUnavailable { reason }) = &refused else {
            panic!("expected StoreUnavailable, got {refused:?}");
        };
        for address in addresses {
            assert!(reason.contains(&address.to_string()), "{reason}");
        }
        assert!(reason.contains(STORE_DOWN_REASON), "{reason}");
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("etcd"), "{message}");

        // A server starts anyway, serves, and keeps asking both.
        let server = serve(&addresses).await;
        assert!(!server.is_registered());
        let (before_first, before_second) = (first.requests(), second.requests());
        let retried = eventually(PATIENCE, POLL, || async {
            (first.requests() > before_first + 1 && second.requests() > before_second + 1)
                .then_some(())
        })
        .await;
        assert!(
            retried.is_some(),
            "the server keeps trying both matchmakers"
        );
        assert!(!server.is_registered());
    });
}

#[test]
fn an_answer_from_one_matchmaker_is_final() {
    run(async {
        let empty = matchmaker().await;
        let holding = matchmaker().await;
        let server = serve(&[holding.local_addr()]).await;
        let before = holding.stats().executed;

        let matchmaker = matchmaker_client(&[empty.local_addr(), holding.local_addr()]).await;
        let found = matchmaker.lookup(DOUBLE.name, Some(DOUBLE.signature)).await;
        assert!(
            matches!(found, Err(Error::NotFound { .. })),
            "the first one's answer stands: {found:?}"
        );
        assert_eq!(holding.stats().executed, before, "the second was not asked");

        let client = client_of(&[empty.local_addr(), holding.local_addr()]);
        let refused = client.call::<_, u64>(&DOUBLE, &(1u64,)).await;
        assert!(
            matches!(refused, Err(Error::NotFound { .. })),
            "{refused:?}"
        );
        drop(server);
    });
}

#[test]
fn no_matchmaker_answering_is_an_error_naming_every_address() {
    run(async {
        let (mut first, mut second) = (Silent::new(), Silent::new());
        let addresses = [first.address(), second.address()];
        let matchmaker = matchmaker_client(&addresses).await;
        let error = matchmaker
            .lookup("failover.nothing", None)
            .await
            .unwrap_err();
        let Error::MatchmakerUnreachable { addresses: tried } = &error else {
            panic!("expected MatchmakerUnreachable, got {error:?}");
        };
        assert_eq!(tried, &addresses);
        let message = error.to_string();
        for address in addresses {
            assert!(message.contains(&address.to_string()), "{message}");
        }
        assert!(message.contains("rendezvous-daemon"), "{message}");
        assert!(first.received() > 0 && second.received() > 0);
        // Nobody answered: the next request starts at the second.
        assert_eq!(matchmaker.address(), second.address());
    });
}

#[test]
fn one_silent_matchmaker_reads_as_it_always_did() {
    run(async {
        let silent = Silent::new();
        let matchmaker = matchmaker_client(&[silent.address()])
            .await
            .with_policy(RetryPolicy::default().with_deadline(Duration::from_millis(500)));
        let error = matchmaker
            .lookup("failover.nothing", None)
            .await
            .unwrap_err();
        let Error::MatchmakerUnreachable { addresses } = &error else {
            panic!("expected MatchmakerUnreachable, got {error:?}");
        };
        assert_eq!(addresses, &[silent.address()]);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "the matchmaker at {} did not answer",
                silent.address()
            )),
            "{message}"
        );
    });
}

#[test]
fn an_acknowledged_register_is_not_sent_to_another_matchmaker() {
    run(async {
        let stuck = Acknowledging::start();
        // Signed: only a signed registration may name an endpoint (here
        // one nobody listens on) other than its source.
        let secret = SecretFile::test_secret();
        let config = MatchmakerConfig {
            secret: Some(secret.secret()),
            ..MatchmakerConfig::default()
        };
        let live = Matchmaker::bind_with(loopback(0), config)
            .await
            .expect("bind an embedded matchmaker");
        let matchmaker = matchmaker_client(&[stuck.address(), live.local_addr()])
            .await
            .with_secret(Some(secret.secret()))
            .with_policy(RetryPolicy::default().with_deadline(Duration::from_secs(5)));

        let first = matchmaker
            .register(specs(), loopback(9), Incarnation(1), SHORT_LEASE)
            .await;
        assert!(
            matches!(&first, Err(Error::MatchmakerUnreachable { addresses }) if addresses == &[stuck.address()]),
            "{first:?}"
        );
        assert!(stuck.acks() > 0, "the stuck matchmaker acknowledged it");
        assert_eq!(
            live.lease_count(),
            0,
            "not sent on after the acknowledgment"
        );

        // The next attempt starts at the next matchmaker.
        let second = matchmaker
            .register(specs(), loopback(9), Incarnation(1), SHORT_LEASE)
            .await;
        assert!(second.is_ok(), "{second:?}");
        assert_eq!(live.lease_count(), 1);
    });
}

#[test]
fn when_a_matchmaker_dies_its_server_moves_to_another_and_clients_follow() {
    run(async {
        let doomed = matchmaker().await;
        let survivor = matchmaker().await;
        let addresses = [doomed.local_addr(), survivor.local_addr()];
        let server = serve(&addresses).await;
        assert_eq!(server.matchmaker_addr(), doomed.local_addr());
        assert!(lists(doomed.local_addr(), &server).await);
        assert!(!lists(survivor.local_addr(), &server).await);

        let early = client_of(&addresses);
        let doubled: u64 = early.call(&DOUBLE, &(1u64,)).await.unwrap();
        assert_eq!(doubled, 2);

        doomed.shutdown().await;

        // Its next renewal gets no answer there, and `UnknownLease` from
        // the survivor, which does not share its table: it registers again.
        let moved = eventually(PATIENCE, POLL, || async {
            lists(survivor.local_addr(), &server).await.then_some(())
        })
        .await;
        assert!(moved.is_some(), "the server registered with the survivor");
        assert_eq!(server.matchmaker_addr(), survivor.local_addr());
        assert!(server.is_registered());

        // A client that knew the server keeps calling it; one that did not
        // finds it through the survivor.
        let late = client_of(&addresses);
        for n in 2..12u64 {
            let from_early: u64 = early.call(&DOUBLE, &(n,)).await.unwrap();
            let from_late: u64 = late.call(&DOUBLE, &(n,)).await.unwrap();
            assert_eq!((from_early, from_late), (2 * n, 2 * n));
        }
        assert_eq!(late.matchmaker().address(), survivor.local_addr());
    });
}

#[test]
fn an_empty_list_of_matchmakers_is_refused_with_advice() {
    run(async {
        let built = Client::builder().matchmakers([]).build();
        let Err(Error::MatchmakerAddress { reason }) = &built else {
            panic!("expected MatchmakerAddress, got {built:?}");
        };
        assert!(reason.contains("empty"), "{reason}");
        assert!(reason.contains("HOST:PORT"), "{reason}");

        let started = Server::builder()
            .matchmakers([])
            .linked_procedures(false)
            .procedure(double())
            .start()
            .await;
        assert!(
            matches!(started, Err(Error::MatchmakerAddress { .. })),
            "{started:?}"
        );
        let connected = MatchmakerClient::connect_any(&[]).await;
        assert!(
            matches!(connected, Err(Error::MatchmakerAddress { .. })),
            "{connected:?}"
        );
    });
}
