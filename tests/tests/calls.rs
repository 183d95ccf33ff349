//! The call path end to end: clients looking procedures up at a matchmaker
//! and calling servers directly over real loopback sockets, through loss,
//! duplication and reordering, server restarts and deaths, matchmaker
//! restarts, overload and oversized payloads.
//!
//! The matchmaker is embedded (`rendezvous_daemon::Matchmaker`) except where
//! a restart of the real daemon binary is the point. A server crashes by
//! being dropped (it stops without unregistering). Where it must vanish at
//! a precise moment, or stay registered while unreachable, a [`Relay`] or a
//! [`Gate`] stands in front of it (the server advertises the front's
//! address) and the front is stopped.
//!
//! Every wait is bounded and generous; the tests assert outcomes and counts,
//! never how long something took.

use rendezvous_core::client::MAX_UNANSWERED;
use rendezvous_core::rt::{self, UdpSocket};
use rendezvous_core::wire::{
    self, Call, ClientId, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Xid,
};
use rendezvous_core::{
    Client, Error, Fingerprint, Procedure, RemoteProcedure, RetryPolicy, Server,
};
use rendezvous_daemon::Matchmaker;
use rendezvous_tests::gate::Gate;
use rendezvous_tests::{Daemon, Relay, RelayConfig, eventually};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// ------------------------------------------------------------- procedures

/// `add(a, b) = a * 1000 + b`: the result names the arguments it came from.
const ADD: RemoteProcedure = RemoteProcedure {
    name: "calls.add",
    signature: Fingerprint::of("calls.add(u64,u64)->u64"),
    idempotent: false,
};

fn add_result(a: u64, b: u64) -> u64 {
    a * 1_000 + b
}

/// `add`, counting its executions in `executions`.
fn add(executions: &Arc<AtomicU64>) -> Procedure {
    let executions = executions.clone();
    Procedure::typed(ADD.name, ADD.signature, move |(a, b): (u64, u64), _| {
        executions.fetch_add(1, Ordering::SeqCst);
        async move { add_result(a, b) }
    })
}

/// `sleep(ms)`: sleeps `ms` milliseconds, then returns `ms`.
const SLEEP: RemoteProcedure = RemoteProcedure {
    name: "calls.sleep",
    signature: Fingerprint::of("calls.sleep(u64)->u64"),
    idempotent: false,
};

fn sleep() -> Procedure {
    Procedure::typed(SLEEP.name, SLEEP.signature, |(ms,): (u64,), _| async move {
        if ms > 0 {
            rt::sleep(Duration::from_millis(ms)).await;
        }
        ms
    })
}

/// `blob(n)`: a string of `n` bytes.
const BLOB: RemoteProcedure = RemoteProcedure {
    name: "calls.blob",
    signature: Fingerprint::of("calls.blob(u64)->String"),
    idempotent: false,
};

fn blob() -> Procedure {
    Procedure::typed(BLOB.name, BLOB.signature, |(n,): (u64,), _| async move {
        "x".repeat(n as usize)
    })
}

/// `length(text)`: the length of `text` in bytes.
const LENGTH: RemoteProcedure = RemoteProcedure {
    name: "calls.length",
    signature: Fingerprint::of("calls.length(String)->u64"),
    idempotent: false,
};

fn length() -> Procedure {
    Procedure::typed(
        LENGTH.name,
        LENGTH.signature,
        |(text,): (String,), _| async move { text.len() as u64 },
    )
}

/// `check(n)`: panics on odd numbers, returns even ones.
const CHECK: RemoteProcedure = RemoteProcedure {
    name: "calls.check",
    signature: Fingerprint::of("calls.check(u64)->u64"),
    idempotent: false,
};

fn check() -> Procedure {
    Procedure::typed(CHECK.name, CHECK.signature, |(n,): (u64,), _| async move {
        assert!(n % 2 == 0, "check refuses odd number {n}");
        n
    })
}

// ---------------------------------------------------------------- helpers

/// [`rendezvous_tests::run`] with the test body on the heap. async-std's
/// `block_on` passes the body by value through some twenty stack frames,
/// and `rt::timeout` (which `run` wraps it in) makes a future several times
/// larger than the one it wraps: in a debug build a body of about 10 KB (a
/// `Client::call` inside one more `rt::timeout`) overflows the 2 MiB stack
/// of a test thread.
fn run<F: Future>(body: F) -> F::Output {
    rendezvous_tests::run(Box::pin(body))
}

/// A deadline no healthy call comes near, even on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A loopback address nothing listens on now: bound by the OS, then freed.
fn free_address() -> SocketAddr {
    std::net::UdpSocket::bind(loopback(0))
        .and_then(|socket| socket.local_addr())
        .expect("bind a loopback socket to learn a free port")
}

async fn matchmaker() -> Matchmaker {
    Matchmaker::bind(loopback(0))
        .await
        .expect("bind an embedded matchmaker")
}

fn client(matchmaker: SocketAddr) -> Client {
    Client::builder()
        .matchmaker(matchmaker)
        .deadline(DEADLINE)
        .build()
        .expect("build a client")
}

/// Starts a server of `procedures`, registered with `matchmaker`.
async fn serve(matchmaker: SocketAddr, procedures: &[Procedure]) -> Server {
    let mut builder = Server::builder().matchmaker(matchmaker);
    for procedure in procedures {
        builder = builder.procedure(procedure.clone());
    }
    builder.start().await.expect("start a server")
}

/// Starts a server of `procedures` behind a front (a relay or a gate): the
/// front forwards to the server, and the server registers the front's
/// address in place of its own, so clients reach it only through the front.
/// The server's port is chosen first (a free one), so the front can be made
/// for it; if another socket takes the port meanwhile, it tries another.
async fn serve_behind<F>(
    matchmaker: SocketAddr,
    procedures: &[Procedure],
    make_front: impl Fn(SocketAddr) -> F,
    front_address: impl Fn(&F) -> SocketAddr,
) -> (Server, F) {
    for _ in 0..10 {
        let address = free_address();
        let front = make_front(address);
        let mut builder = Server::builder()
            .matchmaker(matchmaker)
            .bind(address)
            .advertise(front_address(&front));
        for procedure in procedures {
            builder = builder.procedure(procedure.clone());
        }
        match builder.start().await {
            Ok(server) => return (server, front),
            // The port was taken between learning and binding it.
            Err(Error::Io { .. }) => continue,
            Err(error) => panic!("could not start a server behind a front: {error}"),
        }
    }
    panic!("could not bind a server on a free loopback port in 10 tries");
}

fn faithful_relay(target: SocketAddr) -> Relay {
    Relay::start(target, RelayConfig::default()).expect("start a relay")
}

fn gate(target: SocketAddr) -> Gate {
    Gate::start(target).expect("start a gate")
}

/// Retransmission timers that give up on a silent endpoint within about
/// two seconds instead of five, and never retransmit before 250 ms (so
/// on loopback an ACK always comes before the first retransmission).
fn quick_failover(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        min_timeout: Duration::from_millis(250),
        acked_probe: Duration::from_millis(250),
        max_timeout: Duration::from_millis(500),
        deadline,
        ..RetryPolicy::default()
    }
}

/// Awaits `future`, failing the test if it takes longer than `limit`: for
/// calls that must end (with an error) rather than hang.
async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    rt::timeout(limit, future)
        .await
        .unwrap_or_else(|| panic!("{what} did not finish within {limit:?}: it hangs"))
}

// ------------------------------------------------ exactly once, lossy links

/// 2,000 calls (50 tasks of 40 calls, one client) through a relay that
/// drops 30 % of the datagrams both ways, duplicates 10 % and reorders 10 %:
/// every call returns its own result, and the server runs each exactly once.
#[test]
fn lossy_network_runs_every_call_exactly_once() {
    const TASKS: u64 = 50;
    const CALLS_PER_TASK: u64 = 40;
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let lossy = RelayConfig {
            seed: 0x1055_1e55,
            drop: 0.3,
            duplicate: 0.1,
            reorder: 0.1,
            max_delay: Duration::from_millis(10),
        };
        let (server, relay) = serve_behind(
            matchmaker.local_addr(),
            &[add(&executions)],
            |target| Relay::start(target, lossy.clone()).expect("start a lossy relay"),
            Relay::local_addr,
        )
        .await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(60))
            .build()
            .expect("build a client");

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let client = client.clone();
                rt::spawn(async move {
                    let mut failures = Vec::new();
                    for call in 0..CALLS_PER_TASK {
                        match client.call::<_, u64>(&ADD, &(task, call)).await {
                            Ok(sum) if sum == add_result(task, call) => {}
                            other => failures.push(format!("add({task}, {call}) -> {other:?}")),
                        }
                    }
                    failures
                })
            })
            .collect();
        let mut failures = Vec::new();
        for task in tasks {
            failures.extend(task.await);
        }
        // Late copies still in the relay must not run anything again.
        rt::sleep(Duration::from_millis(100)).await;

        let total = TASKS * CALLS_PER_TASK;
        assert!(
            failures.is_empty(),
            "{} of {total} calls failed; the first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(executions.load(Ordering::SeqCst), total);
        assert_eq!(server.stats().executed, total);
        let faults = relay.stats();
        assert!(
            faults.dropped > 0 && faults.duplicated > 0 && faults.reordered > 0,
            "the relay did not apply every fault: {faults:?}"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// --------------------------------------------------------- acknowledgments

#[test]
fn slow_call_is_acknowledged_and_not_retransmitted_at_full_rate() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[sleep()]).await;
        let client = client(matchmaker.local_addr());
        // Looks the name up and measures a round trip, so the call below
        // runs on the short, measured timeout and costs no lookup.
        let quick: u64 = client.call(&SLEEP, &(0u64,)).await.expect("a quick call");
        assert_eq!(quick, 0);

        let before = client.stats();
        let acks_before = server.stats().acks;
        let slept: u64 = client.call(&SLEEP, &(500u64,)).await.expect("a slow call");
        let after = client.stats();

        assert_eq!(slept, 500);
        assert!(
            server.stats().acks > acks_before,
            "the server never acknowledged a call running 500 ms"
        );
        let sent = after.transmissions - before.transmissions;
        assert!(
            (1..=4).contains(&sent),
            "a 500 ms call took {sent} transmissions; once acknowledged it should only be probed"
        );
        assert_eq!(
            after.lookups, before.lookups,
            "the slow call was taken for a dead endpoint and looked up again"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// ------------------------------------------------ servers that move or die

#[test]
fn server_restarted_on_a_new_port_is_found_again() {
    run(async {
        let matchmaker = matchmaker().await;
        let (old_runs, new_runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let old = serve(matchmaker.local_addr(), &[add(&old_runs)]).await;
        let client = client(matchmaker.local_addr());
        assert_eq!(client.call::<_, u64>(&ADD, &(1, 2)).await.unwrap(), 1_002);
        let lookups = client.stats().lookups;

        // The replacement binds while the old server still holds its port,
        // so it surely gets another one; then the old one shuts down
        // (unregistering). The client still has the old address cached.
        let new = serve(matchmaker.local_addr(), &[add(&new_runs)]).await;
        assert_ne!(new.local_addr(), old.local_addr());
        old.shutdown().await;

        assert_eq!(client.call::<_, u64>(&ADD, &(3, 4)).await.unwrap(), 3_004);
        assert!(
            client.stats().lookups > lookups,
            "the client never looked the moved server up again"
        );
        assert_eq!(old_runs.load(Ordering::SeqCst), 1);
        assert_eq!(new_runs.load(Ordering::SeqCst), 1);
        new.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn crashed_server_replaced_on_a_new_port_is_found_again() {
    run(async {
        let matchmaker = matchmaker().await;
        let (old_runs, new_runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let old = serve(matchmaker.local_addr(), &[add(&old_runs)]).await;
        let client = client(matchmaker.local_addr());
        assert_eq!(client.call::<_, u64>(&ADD, &(1, 2)).await.unwrap(), 1_002);
        let lookups = client.stats().lookups;

        // The replacement starts first, so it surely gets another port.
        // Then the old server crashes: dropped, it stops without
        // unregistering, and the matchmaker still lists it.
        let new = serve(matchmaker.local_addr(), &[add(&new_runs)]).await;
        let old_address = old.local_addr();
        drop(old);
        let released = eventually(
            Duration::from_secs(30),
            Duration::from_millis(10),
            || async { std::net::UdpSocket::bind(old_address).ok().map(|_| ()) },
        )
        .await;
        assert!(released.is_some(), "the dropped server kept its socket");
        let listed: Vec<SocketAddr> = client
            .matchmaker()
            .lookup(ADD.name, Some(ADD.signature))
            .await
            .expect("look up both endpoints")
            .iter()
            .map(|endpoint| endpoint.address)
            .collect();
        assert!(
            listed.contains(&old_address) && listed.contains(&new.local_addr()),
            "{listed:?}"
        );

        // The first call meets the silent, still-listed endpoint: it may
        // have reached it, so a non-idempotent call is not moved but
        // reported; the endpoint is then avoided, and the next call reaches
        // the replacement.
        match client.call::<_, u64>(&ADD, &(3, 4)).await {
            Err(Error::OutcomeUnknown { endpoint, .. }) => assert_eq!(endpoint, old_address),
            other => panic!("expected OutcomeUnknown from the crashed server, got {other:?}"),
        }
        assert_eq!(client.call::<_, u64>(&ADD, &(5, 6)).await.unwrap(), 5_006);
        assert!(client.stats().lookups > lookups);
        assert_eq!(old_runs.load(Ordering::SeqCst), 1);
        assert_eq!(new_runs.load(Ordering::SeqCst), 1);

        // An idempotent call is moved to the replacement instead.
        let client = self::client(matchmaker.local_addr());
        const ADD_IDEMPOTENT: RemoteProcedure = RemoteProcedure {
            idempotent: true,
            ..ADD
        };
        for (a, b) in [(7, 8), (9, 10)] {
            let sum: u64 = client.call(&ADD_IDEMPOTENT, &(a, b)).await.unwrap();
            assert_eq!(sum, a * 1_000 + b);
        }
        assert_eq!(new_runs.load(Ordering::SeqCst), 3);
        new.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn server_restarted_on_the_same_port_is_called_at_its_new_incarnation() {
    // Idempotent, so that a second copy sent before the old incarnation's
    // refusal came back (a slow machine) does not turn the restart into
    // OutcomeUnknown, which is right for non-idempotent calls.
    const ADD_AGAIN: RemoteProcedure = RemoteProcedure {
        idempotent: true,
        ..ADD
    };
    run(async {
        let matchmaker = matchmaker().await;
        let (old_runs, new_runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let old = serve(matchmaker.local_addr(), &[add(&old_runs)]).await;
        let (address, old_incarnation) = (old.local_addr(), old.incarnation());
        let client = client(matchmaker.local_addr());
        assert_eq!(
            client.call::<_, u64>(&ADD_AGAIN, &(1, 2)).await.unwrap(),
            1_002
        );

        old.shutdown().await;
        let new = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .bind(address)
            .procedure(add(&new_runs))
            .start()
            .await
            .expect("restart the server on the port it had");
        assert_ne!(new.incarnation(), old_incarnation);

        assert_eq!(
            client.call::<_, u64>(&ADD_AGAIN, &(3, 4)).await.unwrap(),
            3_004
        );
        assert_eq!(old_runs.load(Ordering::SeqCst), 1);
        assert_eq!(new_runs.load(Ordering::SeqCst), 1);
        new.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn call_to_a_vanished_server_fails_with_deadline_exceeded() {
    run(async {
        let matchmaker = matchmaker().await;
        let (server, relay) = serve_behind(
            matchmaker.local_addr(),
            &[add(&Arc::default())],
            faithful_relay,
            Relay::local_addr,
        )
        .await;
        let client = client(matchmaker.local_addr());
        assert_eq!(client.call::<_, u64>(&ADD, &(1, 2)).await.unwrap(), 1_002);

        relay.stop();
        let short = client.with_deadline(Duration::from_secs(2));
        let result = within(
            Duration::from_secs(60),
            "a call with a 2 s deadline",
            short.call::<_, u64>(&ADD, &(5, 6)),
        )
        .await;
        match result {
            Err(Error::DeadlineExceeded {
                procedure,
                endpoint,
                attempts,
                deadline,
            }) => {
                assert_eq!(procedure, ADD.name);
                assert_eq!(endpoint, relay.local_addr());
                assert!(attempts >= 1);
                assert_eq!(deadline, Duration::from_secs(2));
            }
            other => panic!("expected DeadlineExceeded, got {other:?}"),
        }
        assert_eq!(
            server.stats().executed,
            1,
            "only the first call got through"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

/// Runs a 1.5 s `sleep` call whose first server (behind a gate) dies right
/// after acknowledging it, while a second server for the name is up.
/// Returns the call's result and how many calls each server executed.
async fn call_while_its_server_dies(procedure: RemoteProcedure) -> (Result<u64, Error>, u64, u64) {
    let matchmaker = matchmaker().await;
    let (first, gate) =
        serve_behind(matchmaker.local_addr(), &[sleep()], gate, Gate::local_addr).await;
    // A non-idempotent call whose server died after acknowledging it may
    // be probed until its deadline (while the matchmaker lists that server
    // alone), so keep that short.
    let deadline = if procedure.idempotent {
        DEADLINE
    } else {
        Duration::from_secs(5)
    };
    let client = Client::builder()
        .matchmaker(matchmaker.local_addr())
        .retry_policy(quick_failover(deadline))
        .build()
        .expect("build a client");
    // The client caches the first server (the gate) as the only endpoint...
    let quick: u64 = client
        .call(&procedure, &(0u64,))
        .await
        .expect("a quick call");
    assert_eq!(quick, 0);
    // ... and the second one registers after that.
    let second = serve(matchmaker.local_addr(), &[sleep()]).await;
    gate.close_after_next_ack();

    let result = within(
        Duration::from_secs(60),
        "a call whose server died",
        client.call::<_, u64>(&procedure, &(1_500u64,)),
    )
    .await;

    let passed = gate.stats();
    assert!(
        !gate.is_open(),
        "the first server never acknowledged the call"
    );
    assert_eq!(passed.acks_to_clients, 1, "{passed:?}");
    let executed = (first.stats().executed, second.stats().executed);
    second.shutdown().await;
    first.shutdown().await;
    matchmaker.shutdown().await;
    (result, executed.0, executed.1)
}

#[test]
fn non_idempotent_call_in_flight_when_its_server_dies_is_outcome_unknown() {
    run(async {
        let (result, first, second) = call_while_its_server_dies(SLEEP).await;
        match result {
            Err(Error::OutcomeUnknown { procedure, .. }) => assert_eq!(procedure, SLEEP.name),
            other => panic!("expected OutcomeUnknown, got {other:?}"),
        }
        assert_eq!(first, 2, "the quick call and the one in flight");
        assert_eq!(
            second, 0,
            "a call that may have run must not be sent elsewhere"
        );
    });
}

#[test]
fn idempotent_call_in_flight_when_its_server_dies_completes_elsewhere() {
    const IDEMPOTENT_SLEEP: RemoteProcedure = RemoteProcedure {
        idempotent: true,
        ..SLEEP
    };
    run(async {
        let (result, first, second) = call_while_its_server_dies(IDEMPOTENT_SLEEP).await;
        assert_eq!(
            result.expect("the call completes at the other server"),
            1_500
        );
        assert_eq!(first, 2, "the quick call and the one in flight");
        assert_eq!(second, 1, "the call was retried at the other server");
    });
}

#[test]
fn acknowledged_call_outlasting_a_short_outage_of_its_server_completes() {
    run(async {
        let matchmaker = matchmaker().await;
        let (server, gate) =
            serve_behind(matchmaker.local_addr(), &[sleep()], gate, Gate::local_addr).await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .retry_policy(quick_failover(DEADLINE))
            .build()
            .expect("build a client");
        let quick: u64 = client.call(&SLEEP, &(0u64,)).await.expect("a quick call");
        assert_eq!(quick, 0);

        // The server acknowledges the call, then is unreachable for as many
        // probes as make the client give up on an endpoint; then it is back,
        // with the reply in its reply cache, long before the deadline.
        gate.close_after_next_ack();
        let call = rt::spawn({
            let client = client.clone();
            async move { client.call::<_, u64>(&SLEEP, &(100u64,)).await }
        });
        let outage = eventually(
            Duration::from_secs(30),
            Duration::from_millis(5),
            || async {
                (gate.stats().refused_from_clients >= u64::from(MAX_UNANSWERED)).then_some(())
            },
        )
        .await;
        assert!(
            outage.is_some(),
            "the client stopped probing: {:?}",
            gate.stats()
        );
        gate.open();

        let result = within(Duration::from_secs(60), "the acknowledged call", call).await;
        assert_eq!(
            result.expect("the call completes once its server is back"),
            100
        );
        assert_eq!(
            server.stats().executed,
            2,
            "the quick call and this one, once"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn acknowledged_call_with_no_reply_by_its_deadline_is_outcome_unknown() {
    // PROTOCOL.md, "What a client knows": an ack, then silence until the
    // deadline, means the call reached the server and ran fully, partly or
    // not at all: OutcomeUnknown. DeadlineExceeded is for calls of which
    // nothing is known. The gate makes the silence certain: the server's
    // own cancellation reply ([10], also OutcomeUnknown) cannot pass it.
    run(async {
        let matchmaker = matchmaker().await;
        let (server, gate) =
            serve_behind(matchmaker.local_addr(), &[sleep()], gate, Gate::local_addr).await;
        let client = client(matchmaker.local_addr());
        let quick: u64 = client.call(&SLEEP, &(0u64,)).await.expect("a quick call");
        assert_eq!(quick, 0);

        gate.close_after_next_ack();
        let short = client.with_deadline(Duration::from_secs(2));
        let result = within(
            Duration::from_secs(60),
            "a call with a 2 s deadline",
            short.call::<_, u64>(&SLEEP, &(5_000u64,)),
        )
        .await;
        assert_eq!(gate.stats().acks_to_clients, 1, "the client got no ack");
        match result {
            Err(Error::OutcomeUnknown { procedure, .. }) => assert_eq!(procedure, SLEEP.name),
            other => panic!("expected OutcomeUnknown for an acknowledged call, got {other:?}"),
        }
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// ------------------------------------------------------ matchmaker restart

#[test]
fn matchmaker_restart_keeps_calls_working() {
    let mut daemon = Daemon::start(&[]);
    let address = daemon.address();
    run(async {
        let executions = Arc::new(AtomicU64::new(0));
        // A 6 s lease: renewed every 2 s, so the server notices a restarted
        // matchmaker soon; clients cache its endpoint for 4 s or more.
        let server = Server::builder()
            .matchmaker(address)
            .procedure(add(&executions))
            .lease_ttl(Duration::from_secs(6))
            .start()
            .await
            .expect("start a server");
        assert!(server.is_registered());
        let client = client(address);
        assert_eq!(client.call::<_, u64>(&ADD, &(1, 2)).await.unwrap(), 1_002);
        let lookups = client.stats().lookups;

        daemon.kill();
        for n in 0..20 {
            let sum = client
                .call::<_, u64>(&ADD, &(2, n))
                .await
                .expect("a call to the cached endpoint while the matchmaker is down");
            assert_eq!(sum, add_result(2, n));
        }
        assert_eq!(
            client.stats().lookups,
            lookups,
            "the calls needed the matchmaker"
        );

        let _restarted = Daemon::start_on(address);
        let newcomer = self::client(address);
        let found = eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { newcomer.call::<_, u64>(&ADD, &(3, 4)).await.ok() },
        )
        .await;
        assert_eq!(
            found,
            Some(3_004),
            "a new client never found the server at the restarted matchmaker"
        );
        assert!(server.is_registered());
        assert_eq!(executions.load(Ordering::SeqCst), 22);
        server.shutdown().await;
    });
}

#[test]
fn server_starts_without_a_matchmaker_and_registers_when_it_appears() {
    run(async {
        let matchmaker_address = free_address();
        let server = Server::builder()
            .matchmaker(matchmaker_address)
            .procedure(add(&Arc::default()))
            .start()
            .await
            .expect("a server starts although no matchmaker answers");
        assert!(!server.is_registered());
        let client = client(matchmaker_address);
        let direct: u64 = client
            .call_at(server.local_addr(), &ADD, &(1, 2))
            .await
            .expect("a call to the server's address");
        assert_eq!(direct, 1_002);

        let matchmaker = Matchmaker::bind(matchmaker_address)
            .await
            .expect("bind the matchmaker where the server looks for it");
        let registered = eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { server.is_registered().then_some(()) },
        )
        .await;
        assert!(registered.is_some(), "the server never registered");
        assert_eq!(client.call::<_, u64>(&ADD, &(3, 4)).await.unwrap(), 3_004);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// ----------------------------------------------------------------- load

#[test]
fn a_thousand_concurrent_calls_from_one_client_complete() {
    const CALLS: u64 = 1_000;
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        let calls: Vec<_> = (0..CALLS)
            .map(|n| {
                let client = client.clone();
                rt::spawn(async move { (n, client.call::<_, u64>(&ADD, &(n, 7)).await) })
            })
            .collect();
        let mut failures = Vec::new();
        for call in calls {
            match call.await {
                (n, Ok(sum)) if sum == add_result(n, 7) => {}
                (n, other) => failures.push(format!("add({n}, 7) -> {other:?}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {CALLS} calls failed; the first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(executions.load(Ordering::SeqCst), CALLS);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn calls_spread_across_two_servers() {
    const CALLS: u64 = 200;
    run(async {
        let matchmaker = matchmaker().await;
        let one = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let two = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        for n in 0..CALLS {
            assert_eq!(
                client.call::<_, u64>(&ADD, &(n, 1)).await.unwrap(),
                add_result(n, 1)
            );
        }
        let (at_one, at_two) = (one.stats().executed, two.stats().executed);
        assert_eq!(at_one + at_two, CALLS);
        assert!(
            at_one > 0 && at_two > 0,
            "all calls went to one server: {at_one} and {at_two}"
        );
        one.shutdown().await;
        two.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// ---------------------------------------------------------- reply cache

/// A client that writes its own calls and never confirms anything: every
/// call says `done_below = 1`, so the server may forget none of them.
struct RawClient {
    socket: UdpSocket,
    id: ClientId,
    server: SocketAddr,
}

impl RawClient {
    async fn new(server: SocketAddr) -> RawClient {
        RawClient {
            socket: UdpSocket::bind(loopback(0))
                .await
                .expect("bind a raw client socket"),
            id: ClientId(fastrand::u64(1..)),
            server,
        }
    }

    /// Sends call `xid` of `procedure` and returns the outcome of its reply,
    /// retransmitting on silence.
    async fn call(&self, xid: u64, procedure: &RemoteProcedure, args: Vec<u8>) -> Outcome {
        let datagram = Message::Call(Call {
            client: self.id,
            xid: Xid(xid),
            incarnation: Incarnation::ANY,
            procedure: procedure.name.to_owned(),
            signature: procedure.signature,
            deadline: DEADLINE,
            done_below: Xid(1),
            args,
        })
        .encode()
        .expect("encode a call");
        let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        for _ in 0..20 {
            self.socket
                .send_to(&datagram, self.server)
                .await
                .expect("send a call");
            while let Some(received) =
                rt::timeout(Duration::from_secs(1), self.socket.recv_from(&mut buffer)).await
            {
                let (length, _) = received.expect("receive from the server");
                match Message::decode(&buffer[..length]) {
                    Ok(Message::Reply(reply)) if reply.xid == Xid(xid) => return reply.outcome,
                    _ => continue,
                }
            }
        }
        panic!("no reply to call {xid} after 20 transmissions");
    }
}

/// Makes `calls` calls of `blob(1024)`, none confirmed, to a server whose
/// reply cache may hold `cap` bytes; checks every reply and the cap after
/// each call.
async fn fill_reply_cache(cap: usize, calls: u64) -> (Server, RawClient, Matchmaker) {
    let matchmaker = matchmaker().await;
    let server = Server::builder()
        .matchmaker(matchmaker.local_addr())
        .procedure(blob())
        .reply_cache_bytes(cap)
        .start()
        .await
        .expect("start a server");
    let raw = RawClient::new(server.local_addr()).await;
    let args = wire::encode_payload(&(1_024u64,)).expect("encode the arguments");
    for xid in 1..=calls {
        match raw.call(xid, &BLOB, args.clone()).await {
            Outcome::Return(bytes) => {
                let text: String = wire::decode_payload(&bytes).expect("decode a blob");
                assert_eq!(text.len(), 1_024);
            }
            other => panic!("call {xid} got {other:?}"),
        }
        let held = server.stats().reply_cache_bytes;
        assert!(
            held <= cap as u64,
            "after call {xid} the reply cache holds {held} bytes"
        );
    }
    (server, raw, matchmaker)
}

#[test]
fn reply_cache_stays_under_its_cap_when_confirmations_are_lost() {
    const CAP: usize = 64 * 1024;
    const CALLS: u64 = 2_000;
    run(async {
        let (server, _raw, matchmaker) = fill_reply_cache(CAP, CALLS).await;
        let stats = server.stats();
        assert_eq!(stats.executed, CALLS);
        assert!(stats.reply_cache_bytes <= CAP as u64, "{stats:?}");
        assert!(stats.evictions > 0, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn duplicate_of_a_call_whose_reply_was_evicted_is_not_run_again() {
    // 2,000 unconfirmed calls leave 2,000 tombstones of 64 bytes each: the
    // cap must hold them (plus some replies) for this test to see
    // ReplyEvicted for the call itself; past that the cache drops the oldest
    // tombstones and refuses calls below them (the forgotten floor).
    const CAP: usize = 256 * 1024;
    const CALLS: u64 = 2_000;
    run(async {
        let (server, raw, matchmaker) = fill_reply_cache(CAP, CALLS).await;
        let filled = server.stats();
        assert_eq!(filled.executed, CALLS);
        assert!(filled.evictions > 0, "{filled:?}");

        let args = wire::encode_payload(&(1_024u64,)).expect("encode the arguments");
        let early = raw.call(1, &BLOB, args.clone()).await;
        assert_eq!(early, Outcome::ReplyEvicted);
        let late = raw.call(CALLS, &BLOB, args).await;
        assert!(
            matches!(&late, Outcome::Return(bytes) if bytes.len() > 1_024),
            "the latest reply is still cached: {late:?}"
        );

        let stats = server.stats();
        assert_eq!(stats.executed, CALLS, "a duplicate ran again");
        assert!(stats.replayed > filled.replayed, "{stats:?}");
        assert!(stats.reply_cache_bytes <= CAP as u64, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// ------------------------------------------------------ runtime and errors

#[test]
fn calls_work_from_a_plain_block_on_outside_async_std() {
    let (matchmaker, server) = run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        (matchmaker, server)
    });
    let address = matchmaker.local_addr();
    let outcome = std::thread::spawn(move || {
        futures_lite::future::block_on(async move {
            rt::timeout(Duration::from_secs(60), async {
                let client = client(address);
                let first: u64 = client.call(&ADD, &(1, 2)).await?;
                let second: u64 = client.call(&ADD, &(3, 4)).await?;
                Ok::<_, Error>((first, second))
            })
            .await
        })
    })
    .join()
    .expect("the calling thread panicked");
    let sums = outcome
        .expect("calls under a plain block_on hung")
        .expect("calls under a plain block_on failed");
    assert_eq!(sums, (1_002, 3_004));
    run(async {
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn panicking_procedure_is_reported_and_the_server_keeps_serving() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[check()]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&CHECK, &(3u64,)).await {
            Err(Error::ProcedurePanicked {
                procedure,
                endpoint,
                message,
            }) => {
                assert_eq!(procedure, CHECK.name);
                assert_eq!(endpoint, server.local_addr());
                assert!(
                    message.contains("check refuses odd number 3"),
                    "{message:?}"
                );
            }
            other => panic!("expected ProcedurePanicked, got {other:?}"),
        }
        assert_eq!(client.call::<_, u64>(&CHECK, &(4u64,)).await.unwrap(), 4);
        assert_eq!(server.stats().executed, 2);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn shutdown_unregisters_and_finishes_calls_in_flight() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[sleep()]).await;
        let client = client(matchmaker.local_addr());
        let in_flight = rt::spawn({
            let client = client.clone();
            async move { client.call::<_, u64>(&SLEEP, &(1_000u64,)).await }
        });
        let running = eventually(
            Duration::from_secs(30),
            Duration::from_millis(5),
            || async { (server.stats().executed >= 1).then_some(()) },
        )
        .await;
        assert!(running.is_some(), "the call never reached the server");

        server.shutdown().await;
        let result = within(Duration::from_secs(60), "the call in flight", in_flight).await;
        assert_eq!(result.expect("the call in flight completes"), 1_000);
        match client
            .matchmaker()
            .lookup(SLEEP.name, Some(SLEEP.signature))
            .await
        {
            Err(Error::NotFound { name }) => assert_eq!(name, SLEEP.name),
            other => panic!("expected NotFound after shutdown, got {other:?}"),
        }
        matchmaker.shutdown().await;
    });
}

#[test]
fn unknown_procedure_is_not_found() {
    const NOBODY: RemoteProcedure = RemoteProcedure {
        name: "calls.nobody",
        signature: Fingerprint::of("calls.nobody()->u64"),
        idempotent: false,
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&NOBODY, &()).await {
            Err(Error::NotFound { name }) => assert_eq!(name, NOBODY.name),
            other => panic!("expected NotFound, got {other:?}"),
        }
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn caller_with_another_signature_gets_signature_mismatch() {
    const ADD_V2: RemoteProcedure = RemoteProcedure {
        signature: Fingerprint::of("calls.add(u64,u64,u64)->u64"),
        ..ADD
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&ADD_V2, &(1u64, 2u64, 3u64)).await {
            Err(Error::SignatureMismatch {
                name,
                expected,
                available,
            }) => {
                assert_eq!(name, ADD.name);
                assert_eq!(expected, ADD_V2.signature);
                assert_eq!(available, vec![ADD.signature]);
            }
            other => panic!("expected SignatureMismatch, got {other:?}"),
        }
        assert_eq!(server.stats().executed, 0);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn caller_with_another_signature_at_a_known_address_is_refused_by_the_server() {
    const ADD_V2: RemoteProcedure = RemoteProcedure {
        signature: Fingerprint::of("calls.add(u64,u64,u64)->u64"),
        ..ADD
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        let result = client
            .call_at::<_, u64>(server.local_addr(), &ADD_V2, &(1u64, 2u64, 3u64))
            .await;
        match result {
            Err(Error::Remote {
                procedure,
                endpoint,
                refusal,
            }) => {
                let reason = refusal.to_string();
                assert_eq!(procedure, ADD.name);
                assert_eq!(endpoint, server.local_addr());
                assert!(reason.contains(&ADD.signature.to_string()), "{reason:?}");
            }
            other => panic!("expected the server to refuse the call, got {other:?}"),
        }
        assert_eq!(server.stats().executed, 0);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

// -------------------------------------------------------------- payload size

/// Calls `length` with a string of `size` bytes after a warm-up call, and
/// checks that it is refused as too large without a datagram being sent.
async fn call_with_oversized_argument(size: usize) {
    let matchmaker = matchmaker().await;
    let server = serve(matchmaker.local_addr(), &[length()]).await;
    let client = client(matchmaker.local_addr());
    let short: u64 = client
        .call(&LENGTH, &("short",))
        .await
        .expect("a warm-up call");
    assert_eq!(short, 5);

    let before = client.stats();
    let result = client.call::<_, u64>(&LENGTH, &("x".repeat(size),)).await;
    match result {
        Err(Error::PayloadTooLarge { what, limit, .. }) => {
            assert_eq!(what, "arguments");
            assert_eq!(limit, MAX_DATAGRAM_BYTES);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(client.stats(), before, "something was sent");
    assert_eq!(server.stats().executed, 1, "only the warm-up call ran");
    server.shutdown().await;
    matchmaker.shutdown().await;
}

#[test]
fn oversized_arguments_are_refused_before_sending() {
    run(call_with_oversized_argument(70_000));
}

#[test]
fn arguments_that_fit_a_payload_but_not_a_datagram_are_refused_before_sending() {
    // The args payload (65,483 bytes) is under the limit; the call around
    // it is not.
    run(call_with_oversized_argument(65_480));
}

/// Calls `blob(size)` and expects PayloadTooLarge for its result; then a
/// small call works.
async fn call_with_oversized_result(size: u64) -> Error {
    let matchmaker = matchmaker().await;
    let server = serve(matchmaker.local_addr(), &[blob()]).await;
    let client = client(matchmaker.local_addr());
    let error = match client.call::<_, String>(&BLOB, &(size,)).await {
        Err(error @ Error::PayloadTooLarge { .. }) => error,
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    };
    let small: String = client.call(&BLOB, &(3u64,)).await.expect("a small result");
    assert_eq!(small, "xxx");
    assert_eq!(server.stats().executed, 2);
    server.shutdown().await;
    matchmaker.shutdown().await;
    error
}

#[test]
fn oversized_result_is_reported_as_payload_too_large() {
    run(async {
        match call_with_oversized_result(70_000).await {
            Error::PayloadTooLarge { what, size, limit } => {
                assert_eq!(what, "result");
                assert_eq!(limit, MAX_DATAGRAM_BYTES);
                assert!(size > limit, "{size} bytes");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    });
}

#[test]
fn result_that_fits_a_payload_but_not_a_reply_is_reported_as_payload_too_large() {
    run(async {
        match call_with_oversized_result(65_480).await {
            Error::PayloadTooLarge { what, limit, .. } => {
                assert_eq!(what, "result");
                assert_eq!(limit, MAX_DATAGRAM_BYTES);
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    });
}

// ---------------------------------------------------------------- batching

/// Calls in flight together share datagrams both ways, and still each run
/// exactly once with its own result.
#[test]
fn calls_in_flight_together_are_batched_and_each_runs_once() {
    const TASKS: u64 = 64;
    const CALLS_PER_TASK: u64 = 50;
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        // Resolve once, so the burst below is calls only.
        let warm: u64 = client
            .call(&ADD, &(0u64, 0u64))
            .await
            .expect("warm-up call");
        assert_eq!(warm, 0);
        let before = client.stats();
        let server_before = server.stats();

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let client = client.clone();
                rt::spawn(async move {
                    for i in 0..CALLS_PER_TASK {
                        let sum: u64 = client.call(&ADD, &(task, i)).await?;
                        assert_eq!(sum, add_result(task, i), "call ({task}, {i})");
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for task in tasks {
            within(DEADLINE * 2, "a task of calls", task)
                .await
                .expect("every call succeeds");
        }

        let calls = TASKS * CALLS_PER_TASK;
        let sent = client.stats();
        let transmissions = sent.transmissions - before.transmissions;
        let datagrams = sent.datagrams - before.datagrams;
        assert!(
            transmissions >= calls,
            "{transmissions} transmissions for {calls} calls"
        );
        assert!(
            datagrams < transmissions,
            "{transmissions} transmissions went out in {datagrams} datagrams: none were batched"
        );
        let served = server.stats();
        let executed = served.executed - server_before.executed;
        assert_eq!(executed, calls, "every call ran exactly once");
        assert_eq!(executions.load(Ordering::SeqCst), calls + 1);
        let received = served.datagrams_received - server_before.datagrams_received;
        let replied = served.datagrams_sent - server_before.datagrams_sent;
        assert!(
            received < calls && replied < calls,
            "{calls} calls arrived in {received} datagrams and were answered in {replied}: \
             the server batched nothing"
        );
        server.shutdown().await;
    });
}

/// One call at a time is never held back to wait for company.
#[test]
fn a_lone_call_goes_out_in_a_datagram_of_its_own() {
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        for i in 0..20u64 {
            let sum: u64 = client.call(&ADD, &(1u64, i)).await.expect("call");
            assert_eq!(sum, add_result(1, i));
        }
        let stats = client.stats();
        assert_eq!(stats.datagrams, stats.transmissions);
        server.shutdown().await;
    });
}
