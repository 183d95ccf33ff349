//! Floods: what one source can do to everyone else by sending calls as fast
//! as loopback carries them, with client ids it makes up (issue 13, items
//! 2, 3 and 5).
//!
//! Every flood here is bounded in count and time. The two sources are
//! 127.0.0.1 and ::1 (the daemon and the server listen on `[::]`, which
//! hears both); [`source_of`](rendezvous_core::server::source_of) counts
//! them as two hosts, as it does two hosts of a network namespace.

use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::matchmaker::{
    LeaseToken, LookupRequest, MatchmakerError, ProcedureSpec, RegisterRequest, RenewRequest,
};
use rendezvous_core::protocol::wire::{self, Call, ClientId, Incarnation, Message, Outcome, Xid};
use rendezvous_core::server::{CallContext, Procedure, Server};
use rendezvous_core::{Client, Error, Fingerprint, MatchmakerClient, RemoteProcedure, RetryPolicy};
use rendezvous_daemon::{Matchmaker, MatchmakerConfig};
use rendezvous_runtime::{self as rt, Instant};
use rendezvous_tests::{Daemon, SecretFile, run, run_with_timeout};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const ECHO: &str = "flood.echo";

fn echo_signature() -> Fingerprint {
    Fingerprint::of("flood.echo(u64) -> u64")
}

fn echo_procedure() -> Procedure {
    Procedure::typed(
        ECHO,
        echo_signature(),
        |(n,): (u64,), _: CallContext| async move { n },
    )
}

const ECHO_REMOTE: RemoteProcedure = RemoteProcedure {
    name: ECHO,
    signature: Fingerprint(0),
    idempotent: false,
};

fn echo_remote() -> RemoteProcedure {
    RemoteProcedure {
        signature: echo_signature(),
        ..ECHO_REMOTE
    }
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

fn any_v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))
}

/// An encoded call of matchmaker operation `O`.
fn matchmaker_call<O: Operation>(client: u64, xid: u64, request: &O::Request) -> Vec<u8> {
    let args = wire::encode_payload(&(request,)).expect("encode the request");
    call_bytes(client, xid, O::NAME, O::SIGNATURE, args)
}

fn call_bytes(
    client: u64,
    xid: u64,
    procedure: &str,
    signature: Fingerprint,
    args: Vec<u8>,
) -> Vec<u8> {
    Message::Call(Call {
        client: ClientId(client),
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: procedure.to_owned(),
        signature,
        deadline: Duration::from_secs(5),
        done_below: Xid(1),
        args: args.into(),
        elsewhere: Default::default(),
    })
    .encode()
    .expect("encode a call")
}

/// A lookup of `name` (unpadded: an answer too large for it is still an
/// answer, `RequestTooSmall`, not a refusal).
fn lookup_request(name: &str) -> LookupRequest {
    LookupRequest {
        name: name.to_owned(),
        signature: None,
        padding: None,
    }
}

/// Sends `datagram` (a call of `xid`) from `socket` to `to` until a reply
/// to it comes back, retransmitting the same bytes (loopback under a flood
/// may drop a datagram: a loss is not a refusal); its outcome.
fn ask(socket: &UdpSocket, to: SocketAddr, datagram: &[u8], xid: u64) -> Outcome {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set a read timeout");
    let mut buffer = vec![0u8; 65_536];
    let give_up = Instant::now() + Duration::from_secs(20);
    while Instant::now() < give_up {
        socket.send_to(datagram, to).expect("send a call");
        let resend = Instant::now() + Duration::from_millis(300);
        while Instant::now() < resend {
            let Ok((length, _)) = socket.recv_from(&mut buffer) else {
                continue;
            };
            for message in Message::decode_batch(&buffer[..length]) {
                if let Ok((Message::Reply(reply), _)) = message
                    && reply.xid == Xid(xid)
                {
                    return reply.outcome;
                }
            }
        }
    }
    panic!("no reply to xid {xid} from {to} in 20 s");
}

/// What a flood did: datagrams sent, and `Overloaded` answers it heard,
/// in all and from each target.
#[derive(Debug, Default)]
struct FloodCounts {
    sent: AtomicU64,
    overloaded: AtomicU64,
    overloaded_by: [AtomicU64; 2],
}

/// Floods from 127.0.0.1 until `stop` (or `max` datagrams, or 60 s): each
/// datagram a call from a new random client id, made by `make`, to one of
/// `targets` in turn. Paced so that the receiver reads most of it.
fn flood(
    targets: Vec<SocketAddr>,
    max: u64,
    stop: Arc<AtomicBool>,
    counts: Arc<FloodCounts>,
    make: impl Fn(usize, u64) -> Vec<u8> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let socket = UdpSocket::bind(v4(0)).expect("bind the flood's socket");
        socket.set_nonblocking(true).expect("a non-blocking socket");
        let mut buffer = vec![0u8; 65_536];
        let give_up = Instant::now() + Duration::from_secs(60);
        for i in 0..max {
            if stop.load(Ordering::Relaxed) || Instant::now() > give_up {
                break;
            }
            let target = (i as usize) % targets.len();
            let datagram = make(target, fastrand::u64(..));
            let _ = socket.send_to(&datagram, targets[target]);
            counts.sent.fetch_add(1, Ordering::Relaxed);
            while let Ok((length, from)) = socket.recv_from(&mut buffer) {
                if let Ok(Message::Reply(reply)) = Message::decode(&buffer[..length])
                    && reply.outcome == Outcome::Overloaded
                {
                    counts.overloaded.fetch_add(1, Ordering::Relaxed);
                    if let Some(which) = targets.iter().position(|t| *t == from)
                        && let Some(count) = counts.overloaded_by.get(which)
                    {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if i % 16 == 15 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    })
}

/// Item 2: a lookup is read-only, so answering one records nothing.
#[test]
fn a_flood_of_lookups_leaves_no_record_behind() {
    const LOOKUPS: u64 = 20_000;
    run(async {
        // Signed: only a signed registration may name an endpoint (here
        // one nobody listens on) other than its source.
        let secret = SecretFile::test_secret();
        let config = MatchmakerConfig {
            secret: Some(secret.secret()),
            ..MatchmakerConfig::default()
        };
        let matchmaker = Matchmaker::bind_with(v4(0), config).await.unwrap();
        let address = matchmaker.local_addr();
        let client = MatchmakerClient::connect(address)
            .await
            .unwrap()
            .with_secret(Some(secret.secret()));
        let spec = ProcedureSpec {
            signature_text: None,
            name: ECHO.into(),
            signature: echo_signature(),
        };
        client
            .register(
                vec![spec],
                v4(40_001),
                Incarnation(1),
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        let before = matchmaker.stats();

        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(FloodCounts::default());
        let request = lookup_request(ECHO);
        let flooding = flood(
            vec![address],
            LOOKUPS,
            stop,
            counts.clone(),
            move |_, id| matchmaker_call::<operation::Lookup>(id, 1, &request),
        );
        flooding.join().unwrap();
        // Answered: the flood reached the daemon and ran.
        let probe = UdpSocket::bind(v4(0)).unwrap();
        let last = matchmaker_call::<operation::Lookup>(7, 1, &lookup_request(ECHO));
        assert!(matches!(ask(&probe, address, &last, 1), Outcome::Return(_)));
        let after = matchmaker.stats();
        // Judged by what reached the daemon: a loaded kernel may drop
        // datagrams before it reads them, and those were never asked.
        let arrived = after.datagrams_received - before.datagrams_received;
        let answered = (after.executed + after.duplicates + after.replayed)
            - (before.executed + before.duplicates + before.replayed);
        assert!(
            arrived >= LOOKUPS / 20,
            "the flood barely arrived: {before:?} -> {after:?}"
        );
        assert_eq!(
            answered, arrived,
            "every lookup that arrived was answered: {before:?} -> {after:?}"
        );
        assert_eq!(
            after.reply_cache_bytes,
            before.reply_cache_bytes,
            "{} lookups left records behind",
            after.executed - before.executed
        );
        assert_eq!(after.overloaded, 0);
        matchmaker.shutdown().await;
    });
}

/// Item 2: a flood from 127.0.0.1 of calls that are recorded (renewals of
/// made-up leases at the matchmaker, calls of a user server's procedure),
/// each from a new client id, fills what that source may hold; meanwhile a
/// client on ::1 looks up, registers and calls without one refusal.
#[test]
fn a_flood_from_one_source_refuses_no_client_of_another() {
    const FLOOD: u64 = 200_000;
    /// The legitimate client goes on until the flood has sent them all.
    const DURING: u64 = FLOOD;
    run_with_timeout(Duration::from_secs(240), async {
        // The default reply caches (8 MiB), as the issue found them.
        let matchmaker = Matchmaker::bind_with(any_v6(0), MatchmakerConfig::default())
            .await
            .unwrap();
        let daemon_v6 = v6(matchmaker.local_addr().port());
        let daemon_v4 = v4(matchmaker.local_addr().port());
        let port = std::net::UdpSocket::bind(any_v6(0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Server::builder()
            .matchmaker(daemon_v6)
            .bind(any_v6(port))
            .advertise(v6(port))
            .linked_procedures(false)
            .procedure(echo_procedure())
            .start()
            .await
            .unwrap();
        assert!(server.is_registered());
        let server_v4 = v4(port);

        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(FloodCounts::default());
        let flooding = flood(
            vec![daemon_v4, server_v4],
            FLOOD,
            stop.clone(),
            counts.clone(),
            |target, id| match target {
                0 => matchmaker_call::<operation::Renew>(
                    id,
                    1,
                    &RenewRequest {
                        token: LeaseToken(id.to_le_bytes().repeat(2).try_into().unwrap()),
                        auth: None,
                    },
                ),
                _ => call_bytes(
                    id,
                    1,
                    ECHO,
                    echo_signature(),
                    wire::encode_payload(&(id,)).unwrap(),
                ),
            },
        );
        // Until the flood has filled what its source may hold, at the
        // matchmaker and at the server.
        let both_full = || {
            counts
                .overloaded_by
                .iter()
                .all(|count| count.load(Ordering::Relaxed) >= 100)
        };
        let filled = Instant::now() + Duration::from_secs(60);
        while !both_full() && Instant::now() < filled {
            rt::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            both_full(),
            "the flood never filled the reply caches: {counts:?}"
        );

        // The legitimate client, on ::1, while the flood goes on.
        let probe = UdpSocket::bind(v6(0)).unwrap();
        let own = probe.local_addr().unwrap();
        let mut refused = Vec::new();
        let id = fastrand::u64(..);
        let mut rounds = 0u64;
        let until = Instant::now() + Duration::from_secs(90);
        for round in 0..20_000u64 {
            if counts.sent.load(Ordering::Relaxed) >= DURING || Instant::now() > until {
                break;
            }
            rounds += 1;
            let xid = 3 * round + 1;
            let lookup = matchmaker_call::<operation::Lookup>(id, xid, &lookup_request(ECHO));
            match ask(&probe, daemon_v6, &lookup, xid) {
                Outcome::Return(_) => {}
                other => refused.push(format!("lookup: {other:?}")),
            }
            // A registration every tenth round: fewer than the per-source limit.
            if round % 10 == 0 {
                let register = RegisterRequest {
                    procedures: vec![ProcedureSpec {
                        signature_text: None,
                        name: format!("flood.legit_{}", round % 8),
                        signature: echo_signature(),
                    }],
                    endpoint: own,
                    incarnation: id,
                    ttl_ms: 60_000,
                    auth: None,
                };
                let register = matchmaker_call::<operation::Register>(id, xid + 1, &register);
                match ask(&probe, daemon_v6, &register, xid + 1) {
                    Outcome::Return(bytes) => {
                        let answer: Result<
                            rendezvous_core::protocol::matchmaker::Lease,
                            MatchmakerError,
                        > = wire::decode_payload(&bytes.to_vec()).unwrap();
                        if let Err(error) = answer {
                            refused.push(format!("register: {error:?}"));
                        }
                    }
                    other => refused.push(format!("register: {other:?}")),
                }
            }
            let args = wire::encode_payload(&(round,)).unwrap();
            let call = call_bytes(id, xid + 2, ECHO, echo_signature(), args);
            match ask(&probe, v6(port), &call, xid + 2) {
                Outcome::Return(_) => {}
                other => refused.push(format!("call: {other:?}")),
            }
        }
        // And the library's own client, from ::1 as well.
        let policy = RetryPolicy {
            deadline: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let client = Client::builder()
            .matchmaker(daemon_v6)
            .bind(v6(0))
            .retry_policy(policy.clone())
            .build()
            .unwrap();
        for n in 0..20u64 {
            match client.call::<_, u64>(&echo_remote(), &(n,)).await {
                Ok(answer) => assert_eq!(answer, n),
                Err(error) => refused.push(format!("client call: {error}")),
            }
        }
        let fresh = MatchmakerClient::connect(daemon_v6)
            .await
            .unwrap()
            .with_policy(policy);
        if let Err(error) = fresh.lookup(ECHO, None).await {
            refused.push(format!("fresh lookup: {error}"));
        }
        stop.store(true, Ordering::Relaxed);
        flooding.join().unwrap();
        let sent = counts.sent.load(Ordering::Relaxed);
        let flood_refused = counts.overloaded.load(Ordering::Relaxed);
        eprintln!(
            "flood: {sent} datagrams from 127.0.0.1, {flood_refused} of them refused \
             ({:?} by the matchmaker, the server); \
             the client on ::1 made {} requests and was refused {} times",
            counts.overloaded_by,
            2 * rounds + rounds.div_ceil(10) + 21,
            refused.len()
        );
        refused.truncate(10);
        assert!(
            refused.is_empty(),
            "a flood from 127.0.0.1 refused the client on ::1: {refused:?}"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

/// Item 3: a lookup refused `Overloaded` is sent again, after the one
/// backoff, until the call's deadline: here a matchmaker that is
/// overloaded for its first three copies, then answers.
#[test]
fn a_lookup_refused_as_overloaded_is_retried_until_it_is_answered() {
    run(async {
        let fake = UdpSocket::bind(v4(0)).unwrap();
        let address = fake.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            fake.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buffer = vec![0u8; 65_536];
            let mut xids = Vec::new();
            while let Ok((length, from)) = fake.recv_from(&mut buffer) {
                let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) else {
                    continue;
                };
                xids.push(call.xid);
                let outcome = if xids.len() <= 3 {
                    Outcome::Overloaded
                } else {
                    let answer: Result<
                        rendezvous_core::protocol::matchmaker::Lookup,
                        MatchmakerError,
                    > = Ok(rendezvous_core::protocol::matchmaker::Lookup {
                        endpoints: Vec::new(),
                        truncated: false,
                        unregistered: Vec::new(),
                    });
                    Outcome::Return(wire::encode_payload(&answer).unwrap().into())
                };
                let reply = Message::Reply(wire::Reply {
                    client: call.client,
                    xid: call.xid,
                    incarnation: Incarnation(9),
                    outcome,
                });
                fake.send_to(&reply.encode().unwrap(), from).unwrap();
                if xids.len() > 3 {
                    break;
                }
            }
            xids
        });
        let client = MatchmakerClient::connect(address).await.unwrap();
        let found = client.lookup(ECHO, None).await;
        assert_eq!(found.unwrap(), Vec::new());
        let xids = answering.join().unwrap();
        assert_eq!(xids.len(), 4, "{xids:?}");
        assert!(xids.iter().all(|x| *x == xids[0]), "one call: {xids:?}");
    });
}

/// Item 3: a matchmaker that stays overloaded fails the lookup as
/// `Overloaded` only at the deadline, after several copies.
#[test]
fn a_lookup_still_overloaded_at_its_deadline_says_so() {
    run(async {
        let fake = UdpSocket::bind(v4(0)).unwrap();
        let address = fake.local_addr().unwrap();
        let answering = std::thread::spawn(move || {
            fake.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut buffer = vec![0u8; 65_536];
            let mut copies = 0;
            while let Ok((length, from)) = fake.recv_from(&mut buffer) {
                let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) else {
                    continue;
                };
                copies += 1;
                let reply = Message::Reply(wire::Reply {
                    client: call.client,
                    xid: call.xid,
                    incarnation: Incarnation(9),
                    outcome: Outcome::Overloaded,
                });
                fake.send_to(&reply.encode().unwrap(), from).unwrap();
            }
            copies
        });
        let policy = RetryPolicy {
            deadline: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let client = MatchmakerClient::connect(address)
            .await
            .unwrap()
            .with_policy(policy);
        let found = client.lookup(ECHO, None).await;
        assert!(matches!(found, Err(Error::Overloaded { .. })), "{found:?}");
        let copies = answering.join().unwrap();
        assert!(copies >= 4, "only {copies} copies before giving up");
    });
}

/// Item 5: addresses of one host are one source: 127.0.0.1 ... 127.0.0.6
/// share the per-source limit.
#[test]
fn registrations_from_all_of_127_slash_8_share_one_per_source_limit() {
    let daemon = Daemon::start(&["--max-registrations-per-source", "3"]);
    let mut outcomes = Vec::new();
    for host in 1..=6u8 {
        let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
        let own = socket.local_addr().unwrap();
        let request = RegisterRequest {
            procedures: vec![ProcedureSpec {
                signature_text: None,
                name: format!("flood.host_{host}"),
                signature: echo_signature(),
            }],
            endpoint: own,
            incarnation: u64::from(host),
            ttl_ms: 60_000,
            auth: None,
        };
        let call = matchmaker_call::<operation::Register>(u64::from(host), 1, &request);
        let Outcome::Return(bytes) = ask(&socket, daemon.address(), &call, 1) else {
            panic!("register from {own} not answered");
        };
        let answer: Result<rendezvous_core::protocol::matchmaker::Lease, MatchmakerError> =
            wire::decode_payload(&bytes.to_vec()).unwrap();
        outcomes.push((own.ip(), answer));
    }
    let accepted: Vec<IpAddr> = outcomes
        .iter()
        .filter(|(_, answer)| answer.is_ok())
        .map(|(ip, _)| *ip)
        .collect();
    assert_eq!(accepted.len(), 3, "{outcomes:?}");
    for (ip, answer) in &outcomes[3..] {
        match answer {
            Err(MatchmakerError::LimitReached { what, limit: 3 }) => {
                assert!(
                    what.contains("--max-registrations-per-source"),
                    "{ip}: {what}"
                );
                assert!(what.contains("127.0.0.0/8"), "{ip}: {what}");
            }
            other => panic!("{ip}: {other:?}"),
        }
    }
}

/// Item 5: a server that a limit refused says which limit, not only that
/// no matchmaker registered it.
#[test]
fn a_server_refused_by_a_limit_says_which() {
    let daemon = Daemon::start(&["--max-registrations-per-source", "1"]);
    run(async {
        let other = Procedure::typed(
            "flood.other",
            Fingerprint::of("flood.other"),
            |(): (), _: CallContext| async {},
        );
        let server = Server::builder()
            .matchmaker(daemon.address())
            .bind(v4(0))
            .linked_procedures(false)
            .procedure(echo_procedure())
            .procedure(other)
            .start()
            .await
            .unwrap();
        assert!(!server.is_registered());
        match server.registration_error() {
            Some(Error::LimitReached { what, limit: 1 }) => {
                assert!(what.contains("--max-registrations-per-source"), "{what}");
                assert!(what.contains("127.0.0.0/8"), "{what}");
            }
            other => panic!("{other:?}"),
        }
        server.shutdown().await;
    });
}

/// Item 2: refusals are logged, with the source, at most about once a
/// second however many there are.
#[test]
fn refusals_are_logged_with_their_source_at_most_once_a_second() {
    const FLOOD: u64 = 30_000;
    let daemon = Daemon::start(&["--reply-cache-bytes", "64KiB"]);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(FloodCounts::default());
    flood(
        vec![daemon.address()],
        FLOOD,
        stop,
        counts.clone(),
        |_, id| {
            matchmaker_call::<operation::Renew>(
                id,
                1,
                &RenewRequest {
                    token: LeaseToken([7; 16]),
                    auth: None,
                },
            )
        },
    )
    .join()
    .unwrap();
    let seconds = started.elapsed().as_secs();
    let refused = counts.overloaded.load(Ordering::Relaxed);
    assert!(
        refused > 1_000,
        "the flood was refused only {refused} times"
    );
    std::thread::sleep(Duration::from_millis(500));
    let stderr = daemon.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("refused a call as overloaded"))
        .collect();
    assert!(!lines.is_empty(), "no refusal logged:\n{stderr}");
    assert!(
        lines.len() as u64 <= seconds + 2,
        "{} lines in {seconds} s for {refused} refusals",
        lines.len()
    );
    assert!(
        lines.iter().all(|line| line.contains("127.0.0.0/8")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|line| line.contains("suppressed")),
        "{lines:?}"
    );
}

/// Item 4, on the real daemon: a flood of new client ids from two sources
/// (what costs a reply cache most per byte of reply), until both are
/// refused for want of room, grows the daemon's VmRSS by at most 1.5 times
/// its reply cache's cap.
#[test]
fn a_daemon_flooded_from_two_sources_grows_by_at_most_one_and_a_half_caps() {
    const CAP: u64 = 8 << 20;
    const MAX: u64 = 300_000;
    let daemon = Daemon::start_on_with(any_v6(0), &["--reply-cache-bytes", "8MiB"]);
    let port = daemon.address().port();
    let sockets = [
        (UdpSocket::bind(v4(0)).unwrap(), v4(port)),
        (UdpSocket::bind(v6(0)).unwrap(), v6(port)),
    ];
    let renew = |id: u64| {
        matchmaker_call::<operation::Renew>(
            id,
            1,
            &RenewRequest {
                token: LeaseToken([7; 16]),
                auth: None,
            },
        )
    };
    // Warm up, then measure from here.
    for (socket, to) in &sockets {
        assert!(matches!(ask(socket, *to, &renew(1), 1), Outcome::Return(_)));
    }
    let before = daemon.rss_bytes().expect("the daemon's VmRSS");
    let mut refused = [0u64; 2];
    let mut buffer = vec![0u8; 65_536];
    for (socket, _) in &sockets {
        socket.set_nonblocking(true).unwrap();
    }
    let started = Instant::now();
    let mut sent = 0;
    while sent < MAX && started.elapsed() < Duration::from_secs(90) {
        for (which, (socket, to)) in sockets.iter().enumerate() {
            let _ = socket.send_to(&renew(fastrand::u64(2..)), to);
            sent += 1;
            while let Ok((length, _)) = socket.recv_from(&mut buffer) {
                if let Ok(Message::Reply(reply)) = Message::decode(&buffer[..length])
                    && reply.outcome == Outcome::Overloaded
                {
                    refused[which] += 1;
                }
            }
        }
        if sent % 32 == 0 {
            std::thread::sleep(Duration::from_micros(300));
        }
        if refused.iter().all(|r| *r > 5_000) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = daemon.rss_bytes().expect("the daemon's VmRSS");
    let growth = after.saturating_sub(before);
    eprintln!(
        "daemon: {sent} datagrams, refused {refused:?} (127.0.0.1, ::1); VmRSS {before} -> {after} \
         (+{growth}, {:.2} x the {CAP}-byte cap)",
        growth as f64 / CAP as f64
    );
    assert!(
        refused.iter().all(|r| *r > 5_000),
        "the flood did not fill both sources' shares: refused {refused:?} of {sent}"
    );
    assert!(
        growth <= CAP * 3 / 2,
        "VmRSS grew by {growth} bytes: {:.2} x the cap",
        growth as f64 / CAP as f64
    );
}
