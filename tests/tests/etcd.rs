//! Several matchmakers sharing one etcd (rendezvous-daemon's `etcd`
//! feature), end to end: real etcd processes ([`Etcd`]), real daemons
//! started with `--etcd URLS` and a key prefix of each test's own, and
//! servers and clients of rendezvous-core given several matchmakers.
//!
//! ```sh
//! cargo test -p rendezvous-tests --features etcd --test etcd
//! ```
//!
//! (`etcd` must be on PATH, and protoc, to build the daemon's etcd client;
//! `.ci/run` installs both.) The servers here run in the test process, so
//! each counts what it executed: "ran once" means what really ran.
//!
//! Every wait is bounded and generous; the tests assert outcomes and
//! counts, never how long something took.

#![cfg(feature = "etcd")]

use rendezvous_core::matchmaker::protocol::{Lease, ProcedureSpec};
use rendezvous_core::rt::{self, Instant};
use rendezvous_core::server::Procedure;
use rendezvous_core::wire::Incarnation;
use rendezvous_core::{Client, Error, Fingerprint, MatchmakerClient, RemoteProcedure, Server};
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::sync::lock;
use rendezvous_tests::{Daemon, eventually};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The procedure the servers here serve: returns its argument, and counts
/// each execution.
const COUNT: RemoteProcedure = RemoteProcedure {
    name: "etcd.count",
    signature: Fingerprint::of("etcd.count(u64)->u64"),
    idempotent: false,
};

/// A signature for registrations made by hand (nobody serves them).
const HAND: Fingerprint = Fingerprint::of("etcd.by_hand()->()");

/// A lease for a test that lets it lapse: renewed twenty times a TTL
/// until then, and above etcd's own minimum (3 s with the harness's
/// election timeout), which etcd would round it up to.
const EXPIRING_TTL: Duration = Duration::from_secs(5);

/// A lease no test outlives unless it is renewed.
const LONG_TTL: Duration = Duration::from_secs(120);

/// The servers' lease: renewed every third of it, and long enough that a
/// renewal which must first find another daemon, or wait out an etcd
/// election, still comes in time on a loaded machine.
const SERVER_TTL: Duration = Duration::from_secs(6);

/// A deadline no healthy call comes near, even on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// The longest any `eventually` here waits: far beyond need.
const PATIENCE: Duration = Duration::from_secs(60);

/// How often a waiting test looks again.
const POLL: Duration = Duration::from_millis(20);

/// The most a test body may take: several [`PATIENCE`]s, so that a
/// failing wait reports itself instead of the overall limit.
const BODY_LIMIT: Duration = Duration::from_secs(300);

/// What a daemon logs when its store goes away, and when it is back: once
/// per change, however many requests it refuses meanwhile.
const OUTAGE_LOGGED: &str = "etcd is unreachable";
const RECOVERY_LOGGED: &str = "etcd is reachable again";

// ---------------------------------------------------------------- helpers

fn run<F: Future>(body: F) -> F::Output {
    rendezvous_tests::run_with_timeout(BODY_LIMIT, Box::pin(body))
}

/// A key prefix of this test's own: daemons with the same prefix share a
/// table, and nothing else may.
fn unique_prefix(label: &str) -> String {
    format!(
        "/rendezvous-test/{label}-{}-{:016x}/",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// `count` daemons sharing `etcd` under `prefix`.
fn start_daemons(count: usize, etcd: &Etcd, prefix: &str) -> Vec<Daemon> {
    let urls = etcd.urls();
    (0..count)
        .map(|_| Daemon::start(&["--etcd", &urls, "--etcd-prefix", prefix]))
        .collect()
}

/// A matchmaker client of each daemon, in order.
async fn probes(daemons: &[Daemon]) -> Vec<MatchmakerClient> {
    let mut probes = Vec::with_capacity(daemons.len());
    for daemon in daemons {
        probes.push(daemon.client().await);
    }
    probes
}

/// Registers `name` through the first daemon and waits until the second
/// finds it: the two share a table.
async fn assert_shared(daemons: &[Daemon], name: &str, port: u16) {
    let probes = probes(daemons).await;
    let at = endpoint(port);
    register(&probes[0], name, at, LONG_TTL)
        .await
        .expect("register through the first daemon");
    let found = eventually(PATIENCE, POLL, || async {
        probes[1]
            .lookup(name, None)
            .await
            .ok()
            .filter(|found| !found.is_empty())
    })
    .await
    .expect("the second daemon finds the registration");
    assert_eq!(found[0].address, at);
}

fn addresses(daemons: &[Daemon]) -> Vec<SocketAddr> {
    daemons.iter().map(Daemon::address).collect()
}

/// A loopback endpoint to register by hand; nothing needs to listen there.
fn endpoint(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn spec(name: &str) -> Vec<ProcedureSpec> {
    vec![ProcedureSpec {
        name: name.to_owned(),
        signature: HAND,
    }]
}

/// Registers `name` at `at` by hand, through `matchmaker`.
async fn register(
    matchmaker: &MatchmakerClient,
    name: &str,
    at: SocketAddr,
    ttl: Duration,
) -> Result<Lease, Error> {
    matchmaker
        .register(spec(name), at, Incarnation(1), ttl)
        .await
}

/// Each execution of [`COUNT`] at one server, by id.
#[derive(Clone, Debug, Default)]
struct Executions(Arc<Mutex<BTreeMap<u64, u64>>>);

impl Executions {
    fn record(&self, id: u64) {
        *lock(&self.0).entry(id).or_insert(0) += 1;
    }

    fn by_id(&self) -> BTreeMap<u64, u64> {
        lock(&self.0).clone()
    }

    fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }
}

/// A server of [`COUNT`] in this process, registering and renewing through
/// `matchmakers`; it counts what it runs in `executions`.
async fn start_server(matchmakers: &[SocketAddr], executions: &Executions) -> Server {
    let executions = executions.clone();
    let count = Procedure::typed(COUNT.name, COUNT.signature, move |(id,): (u64,), _| {
        executions.record(id);
        async move { id }
    });
    Server::builder()
        .matchmakers(matchmakers.iter().copied())
        .linked_procedures(false)
        .procedure(count)
        .lease_ttl(SERVER_TTL)
        .start()
        .await
        .expect("start a server")
}

fn client(matchmakers: &[SocketAddr]) -> Client {
    Client::builder()
        .matchmakers(matchmakers.iter().copied())
        .deadline(DEADLINE)
        .build()
        .expect("build a client")
}

/// Endpoints as (address, incarnation).
type Endpoints = BTreeSet<(SocketAddr, u64)>;

fn endpoints_of(servers: &[&Server]) -> Endpoints {
    servers
        .iter()
        .map(|server| (server.local_addr(), server.incarnation().0))
        .collect()
}

/// What one daemon lists for `name` (empty for `NotFound`).
async fn listed(matchmaker: &MatchmakerClient, name: &str) -> Result<Endpoints, Error> {
    match matchmaker.lookup(name, None).await {
        Ok(found) => Ok(found.iter().map(|e| (e.address, e.incarnation)).collect()),
        Err(Error::NotFound { .. }) => Ok(Endpoints::new()),
        Err(error) => Err(error),
    }
}

/// Waits until `matchmaker` lists exactly `expected` for `name`; panics,
/// saying what it listed, if it does not within [`PATIENCE`].
async fn assert_lists(matchmaker: &MatchmakerClient, name: &str, expected: &Endpoints, when: &str) {
    let seen = eventually(PATIENCE, POLL, || async {
        (listed(matchmaker, name).await.ok().as_ref() == Some(expected)).then_some(())
    })
    .await;
    if seen.is_none() {
        panic!(
            "{when}: the daemon at {} lists {:?} for {name}, not {expected:?}",
            matchmaker.address(),
            listed(matchmaker, name).await
        );
    }
}

/// Looks `name` up at `matchmaker` every [`POLL`] for `window`, and returns
/// every answer that was not exactly `expected`.
async fn gaps_in_listing(
    matchmaker: &MatchmakerClient,
    name: &str,
    expected: &Endpoints,
    window: Duration,
) -> (u64, Vec<String>) {
    let end = Instant::now() + window;
    let (mut looks, mut gaps) = (0, Vec::new());
    while Instant::now() < end {
        let seen = listed(matchmaker, name).await;
        looks += 1;
        if seen.as_ref().ok() != Some(expected) {
            gaps.push(format!("{seen:?}"));
        }
        rt::sleep(POLL).await;
    }
    (looks, gaps)
}

/// How many lines of `daemon`'s log contain `text`.
fn logged(daemon: &Daemon, text: &str) -> usize {
    daemon
        .stderr()
        .lines()
        .filter(|line| line.contains(text))
        .count()
}

/// How one call of a [`Load`] ended: its id, and what it returned.
type Outcome = (u64, Result<u64, Error>);

/// Clients calling [`COUNT`] in a loop, `workers` calls in flight, each
/// with an id of its own, until stopped.
struct Load {
    client: Client,
    stop: Arc<AtomicBool>,
    completed: Arc<AtomicU64>,
    workers: Vec<rt::JoinHandle<Vec<Outcome>>>,
}

impl Load {
    fn start(client: Client, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let completed = Arc::new(AtomicU64::new(0));
        let workers = (0..workers)
            .map(|_| {
                let (client, stop, next, completed) = (
                    client.clone(),
                    stop.clone(),
                    next.clone(),
                    completed.clone(),
                );
                rt::spawn(async move {
                    let mut results = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        let result = client.call::<_, u64>(&COUNT, &(id,)).await;
                        results.push((id, result));
                        completed.fetch_add(1, Ordering::SeqCst);
                    }
                    results
                })
            })
            .collect();
        Load {
            client,
            stop,
            completed,
            workers,
        }
    }

    fn completed(&self) -> u64 {
        self.completed.load(Ordering::SeqCst)
    }

    /// Waits until `n` calls have completed in all.
    async fn reach(&self, n: u64) -> bool {
        eventually(PATIENCE, Duration::from_millis(1), || async {
            (self.completed() >= n).then_some(())
        })
        .await
        .is_some()
    }

    /// Stops the loops; how each call ended, by id.
    async fn stop(self) -> BTreeMap<u64, Result<u64, Error>> {
        self.stop.store(true, Ordering::SeqCst);
        let mut results = BTreeMap::new();
        for worker in self.workers {
            results.extend(worker.await);
        }
        results
    }
}

/// Asserts that every call returned its own id, and that the servers
/// together ran each call exactly once and nothing else.
fn assert_each_call_ran_once(results: &BTreeMap<u64, Result<u64, Error>>, servers: &[&Executions]) {
    let failed: Vec<String> = results
        .iter()
        .filter(|(id, result)| !matches!(result, Ok(echo) if echo == *id))
        .map(|(id, result)| format!("count({id}) -> {result:?}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:#?}",
        failed.len(),
        results.len()
    );
    let mut runs: BTreeMap<u64, u64> = BTreeMap::new();
    for server in servers {
        for (id, n) in server.by_id() {
            *runs.entry(id).or_insert(0) += n;
        }
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls ran more than once: {twice:?}");
    let called: BTreeSet<u64> = results.keys().copied().collect();
    let ran: BTreeSet<u64> = runs.keys().copied().collect();
    assert_eq!(
        ran, called,
        "the calls that ran are not the calls that completed"
    );
    let executions: u64 = servers.iter().map(|server| server.total()).sum();
    assert_eq!(
        executions,
        results.len() as u64,
        "executions != calls completed"
    );
}

// ------------------------------------------------- one table, three daemons

/// The issue's first scenario: three daemons over one etcd. A registration
/// through A, renewed through A, is found through B and C (and listed
/// there, not stale); once renewals stop, its lease lapses and all three
/// forget it; renewing it then, anywhere, is `UnknownLease`.
#[test]
fn registration_through_one_daemon_is_found_through_every_other_and_expires_from_all() {
    const NAME: &str = "etcd.three";
    let etcd = Etcd::start();
    let daemons = start_daemons(3, &etcd, &unique_prefix("three"));
    run(async {
        let probes = probes(&daemons).await;
        let at = endpoint(40_001);
        let lease = register(&probes[0], NAME, at, EXPIRING_TTL)
            .await
            .expect("register through A");
        // Renewed through A, as a server would, while the others are asked.
        let renewer = {
            let through_a = probes[0].clone();
            rt::spawn(async move {
                loop {
                    rt::sleep(EXPIRING_TTL / 20).await;
                    let _ = through_a.renew(lease.token).await;
                }
            })
        };
        let expected = Endpoints::from([(at, 1)]);
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let when = format!("registered through A, at {label}");
            assert_lists(probe, NAME, &expected, &when).await;
        }
        let page = probes[2].list_page(None).await.expect("list through C");
        assert!(!page.stale, "C's list says stale while etcd is up");
        assert!(
            page.registrations
                .iter()
                .any(|r| r.name == NAME && r.endpoint == at),
            "C does not list what A registered: {page:?}"
        );

        // No more renewals: the lease lapses in etcd, and every cache
        // follows.
        renewer.cancel().await;
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let when = format!("expired, at {label}");
            assert_lists(probe, NAME, &Endpoints::new(), &when).await;
        }
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let renewed = probe.renew(lease.token).await;
            assert!(
                matches!(renewed, Err(Error::UnknownLease)),
                "renewing the lapsed lease through {label}: {renewed:?}, not UnknownLease"
            );
        }
    });
}

/// A lease is the store's, not the daemon's that granted it: renewed
/// through B and C, and ended through C, which every daemon then forgets.
#[test]
fn lease_is_renewed_and_ended_through_any_daemon() {
    const NAME: &str = "etcd.shared-lease";
    let etcd = Etcd::start();
    let daemons = start_daemons(3, &etcd, &unique_prefix("shared-lease"));
    run(async {
        let probes = probes(&daemons).await;
        let at = endpoint(40_002);
        let lease = register(&probes[0], NAME, at, LONG_TTL)
            .await
            .expect("register through A");
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let renewed = probe.renew(lease.token).await;
            assert!(
                renewed.is_ok(),
                "renewing A's lease through {label}: {renewed:?}"
            );
        }
        probes[2]
            .unregister(lease.token)
            .await
            .expect("unregister A's lease through C");
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            assert_lists(
                probe,
                NAME,
                &Endpoints::new(),
                &format!("ended through C, at {label}"),
            )
            .await;
        }
        let renewed = probes[1].renew(lease.token).await;
        assert!(
            matches!(renewed, Err(Error::UnknownLease)),
            "renewing the ended lease through B: {renewed:?}, not UnknownLease"
        );
    });
}

// ------------------------------------------------------ a daemon killed

/// The issue's second scenario: daemon A is killed with SIGKILL while a
/// client calls in a loop (four calls in flight) and a server renews
/// through A. Every call succeeds; the server's renewals move to B and its
/// registration never leaves B's table; the client's lookups move to B, as
/// do a new client's; and the server ran each call exactly once.
#[test]
fn daemon_killed_under_load_loses_no_call_and_no_registration() {
    const CALLS_BEFORE: u64 = 200;
    const CALLS_AFTER: u64 = 200;
    const IN_FLIGHT: usize = 4;
    let etcd = Etcd::start();
    let mut daemons = start_daemons(2, &etcd, &unique_prefix("kill-daemon"));
    let both = addresses(&daemons);
    let (a, b) = (both[0], both[1]);
    let executions = Executions::default();
    run(async {
        let server = start_server(&both, &executions).await;
        assert!(server.is_registered(), "the server did not register");
        assert_eq!(
            server.matchmaker_addr(),
            a,
            "the server registered elsewhere than A"
        );
        let expected = endpoints_of(&[&server]);
        let probe_b = daemons[1].client().await;
        assert_lists(&probe_b, COUNT.name, &expected, "before the kill, at B").await;

        let load = Load::start(client(&both), IN_FLIGHT);
        assert!(load.reach(CALLS_BEFORE).await, "the load made no progress");
        assert_eq!(
            load.client.matchmaker().address(),
            a,
            "the client looked up elsewhere than A"
        );
        let lookups_before = load.client.stats().lookups;

        daemons[0].kill();
        let killed_at = load.completed();

        // For two leases' time the server must renew through B (A is
        // gone), and B must list it at every look.
        let (looks, gaps) = gaps_in_listing(&probe_b, COUNT.name, &expected, 2 * SERVER_TTL).await;
        assert!(
            gaps.is_empty(),
            "B did not list the server at {} of {looks} looks after A died: {gaps:?}",
            gaps.len()
        );
        assert_eq!(
            server.matchmaker_addr(),
            b,
            "the server's renewals did not move to B"
        );
        assert!(
            load.reach(killed_at + CALLS_AFTER).await,
            "the load stopped after A died"
        );
        // The cached endpoint expired meanwhile (it lives a lease), so the
        // loop's client looked the server up again: at B.
        assert!(
            load.client.stats().lookups > lookups_before,
            "the loop never looked up again after A died"
        );
        assert_eq!(
            load.client.matchmaker().address(),
            b,
            "the loop's lookups did not move to B"
        );

        // A new client, nothing cached, finds the server through B.
        let newcomer = client(&both);
        let echo: u64 = newcomer
            .call(&COUNT, &(u64::MAX,))
            .await
            .expect("a new client's call after A died");
        assert_eq!(echo, u64::MAX);
        assert_eq!(
            newcomer.matchmaker().address(),
            b,
            "the new client did not look up at B"
        );

        let mut results = load.stop().await;
        results.insert(u64::MAX, Ok(echo));
        assert_each_call_ran_once(&results, &[&executions]);
        eprintln!(
            "kill daemon: {} calls, A killed after {killed_at}; B listed the server at all {looks} looks",
            results.len()
        );
    });
}

// ------------------------------------------------------- etcd stopped

/// The issue's third scenario: etcd stops. Both daemons still answer
/// lookups from their caches and say their lists may be stale;
/// registrations and renewals, through either, are refused as
/// `StoreUnavailable`; each daemon logs the outage once; a server started
/// meanwhile serves unregistered. etcd restarts (same ports and data):
/// with no daemon or server restarted, both servers are registered,
/// renewals succeed again, lists are current, and calls reach both
/// servers, each call run once.
#[test]
fn etcd_stopped_keeps_lookups_refuses_registrations_and_all_resumes_when_it_is_back() {
    const HELD: &str = "etcd.held";
    const REFUSALS: usize = 2;
    let mut etcd = Etcd::start();
    let daemons = start_daemons(2, &etcd, &unique_prefix("etcd-outage"));
    let both = addresses(&daemons);
    let first_runs = Executions::default();
    let second_runs = Executions::default();
    run(async {
        let probes = [daemons[0].client().await, daemons[1].client().await];
        let first = start_server(&both, &first_runs).await;
        let held_at = endpoint(40_003);
        let held = register(&probes[0], HELD, held_at, LONG_TTL)
            .await
            .expect("register by hand");
        let held_listed = Endpoints::from([(held_at, 1)]);
        for probe in &probes {
            assert_lists(
                probe,
                COUNT.name,
                &endpoints_of(&[&first]),
                "before the outage",
            )
            .await;
            assert_lists(probe, HELD, &held_listed, "before the outage").await;
        }

        etcd.stop(0);

        // Lookups answer from the caches: the lease held by hand is far
        // from its end.
        for probe in &probes {
            let found = listed(probe, HELD).await;
            assert_eq!(
                found.as_ref().ok(),
                Some(&held_listed),
                "a lookup at {} while etcd is down: {found:?}",
                probe.address()
            );
        }

        // Writes are refused, saying why; first, each daemon notices.
        for probe in &probes {
            let refused = eventually(PATIENCE, POLL, || async {
                match register(probe, "etcd.outage", endpoint(40_004), LONG_TTL).await {
                    Err(Error::StoreUnavailable { reason }) => Some(Ok(reason)),
                    Ok(lease) => Some(Err(format!("it registered {lease:?}"))),
                    Err(_) => None,
                }
            })
            .await;
            match refused {
                Some(Ok(reason)) => assert!(!reason.is_empty(), "StoreUnavailable says no reason"),
                Some(Err(wrong)) => panic!("with etcd down, {}: {wrong}", probe.address()),
                None => panic!(
                    "with etcd down, {} never refused a register as StoreUnavailable",
                    probe.address()
                ),
            }
        }
        for probe in &probes {
            for _ in 0..REFUSALS {
                let registered = register(probe, "etcd.outage", endpoint(40_004), LONG_TTL).await;
                assert!(
                    matches!(registered, Err(Error::StoreUnavailable { .. })),
                    "a register at {} with etcd down: {registered:?}",
                    probe.address()
                );
                let renewed = probe.renew(held.token).await;
                assert!(
                    matches!(renewed, Err(Error::StoreUnavailable { .. })),
                    "a renew at {} with etcd down: {renewed:?}",
                    probe.address()
                );
            }
            let page = probe
                .list_page(None)
                .await
                .expect("list while etcd is down");
            assert!(
                page.stale,
                "{}'s list does not say stale with etcd down",
                probe.address()
            );
            assert!(
                page.registrations.iter().any(|r| r.name == HELD),
                "{}'s list lost the held lease: {page:?}",
                probe.address()
            );
        }
        // A server starting now serves, and registers in the background.
        let second = start_server(&[both[1], both[0]], &second_runs).await;
        assert!(
            !second.is_registered(),
            "a server registered with etcd down"
        );
        for daemon in &daemons {
            assert_eq!(
                logged(daemon, OUTAGE_LOGGED),
                1,
                "the daemon at {} did not log the outage exactly once; its log:\n{}",
                daemon.address(),
                daemon.stderr()
            );
        }

        etcd.restart(0);

        // Everything resumes by itself.
        let expected = endpoints_of(&[&first, &second]);
        for probe in &probes {
            assert_lists(probe, COUNT.name, &expected, "after etcd came back").await;
            let renewed = eventually(PATIENCE, POLL, || async {
                probe.renew(held.token).await.ok()
            })
            .await;
            assert!(
                renewed.is_some(),
                "renewing through {} after etcd came back: {:?}",
                probe.address(),
                probe.renew(held.token).await
            );
            let current = eventually(PATIENCE, POLL, || async {
                let page = probe.list_page(None).await.ok()?;
                (!page.stale).then_some(())
            })
            .await;
            assert!(current.is_some(), "{}'s list stays stale", probe.address());
        }
        let registered = eventually(PATIENCE, POLL, || async {
            second.is_registered().then_some(())
        });
        assert!(
            registered.await.is_some(),
            "the second server is listed but thinks it is not registered"
        );
        let late = register(&probes[1], "etcd.late", endpoint(40_005), LONG_TTL)
            .await
            .expect("register after etcd came back");
        assert_lists(
            &probes[0],
            "etcd.late",
            &Endpoints::from([(endpoint(40_005), 1)]),
            "after etcd came back",
        )
        .await;
        probes[1].unregister(late.token).await.expect("unregister");
        // Each outage logged has its end logged (the line may still be on
        // its way through the pipe). etcd coming back is normally one
        // change; a watch that broke again just after would be another
        // pair, and still once per change.
        for daemon in &daemons {
            let paired = eventually(PATIENCE, POLL, || async {
                let recoveries = logged(daemon, RECOVERY_LOGGED);
                (recoveries > 0 && recoveries == logged(daemon, OUTAGE_LOGGED)).then_some(())
            })
            .await;
            assert!(
                paired.is_some(),
                "the daemon at {} did not log the outage and its end once each; its log:\n{}",
                daemon.address(),
                daemon.stderr()
            );
        }

        // Calls reach both servers, each run once.
        let caller = client(&both);
        let mut results = BTreeMap::new();
        for id in 0..100 {
            results.insert(id, caller.call::<_, u64>(&COUNT, &(id,)).await);
        }
        assert_each_call_ran_once(&results, &[&first_runs, &second_runs]);
    });
}

// ------------------------------------------- a three-member etcd cluster

/// The issue's fourth scenario: a three-member etcd cluster, and its leader
/// killed with SIGKILL while a client calls in a loop. Calls keep
/// succeeding; the server stays listed at both daemons; a server started
/// after the kill registers and is found through both; lists are current;
/// every call ran once.
#[test]
fn etcd_cluster_with_its_leader_killed_keeps_everything_working() {
    const CALLS_BEFORE: u64 = 100;
    const IN_FLIGHT: usize = 2;
    let mut etcd = Etcd::start_cluster(3);
    let daemons = start_daemons(2, &etcd, &unique_prefix("etcd-cluster"));
    let both = addresses(&daemons);
    let first_runs = Executions::default();
    let second_runs = Executions::default();
    run(async {
        let probes = [daemons[0].client().await, daemons[1].client().await];
        let first = start_server(&both, &first_runs).await;
        let listed_first = endpoints_of(&[&first]);
        for probe in &probes {
            assert_lists(probe, COUNT.name, &listed_first, "before the kill").await;
        }
        let load = Load::start(client(&both), IN_FLIGHT);
        assert!(load.reach(CALLS_BEFORE).await, "the load made no progress");

        let leader = etcd.leader().expect("the cluster has a leader");
        etcd.kill(leader);
        let killed_at = load.completed();

        // The server renews through the election, and stays listed.
        for probe in &probes {
            let (looks, gaps) = gaps_in_listing(probe, COUNT.name, &listed_first, SERVER_TTL).await;
            assert!(
                gaps.is_empty(),
                "{} did not list the server at {} of {looks} looks after etcd's leader died: {gaps:?}",
                probe.address(),
                gaps.len()
            );
        }
        // A new server registers, and both daemons find it.
        let second = start_server(&[both[1], both[0]], &second_runs).await;
        let listed_both = endpoints_of(&[&first, &second]);
        for probe in &probes {
            assert_lists(
                probe,
                COUNT.name,
                &listed_both,
                "a server started after the kill",
            )
            .await;
            let current = eventually(PATIENCE, POLL, || async {
                let page = probe.list_page(None).await.ok()?;
                (!page.stale).then_some(())
            })
            .await;
            assert!(
                current.is_some(),
                "{}'s list stays stale with two of three members up",
                probe.address()
            );
        }
        assert!(
            load.reach(killed_at + CALLS_BEFORE).await,
            "the load stopped after etcd's leader died"
        );
        let results = load.stop().await;
        assert_each_call_ran_once(&results, &[&first_runs, &second_runs]);
        // A daemon whose watch ran through the killed member loses it and
        // reads again: it may log a short outage, and the end of it.
        let outages: Vec<usize> = daemons.iter().map(|d| logged(d, OUTAGE_LOGGED)).collect();
        eprintln!(
            "etcd cluster: killed member {leader} (the leader) after {killed_at} calls; {} calls \
             in all; outages logged per daemon: {outages:?}",
            results.len()
        );
    });
}

// ------------------------------------------------------- an etcd with users

/// A production etcd requires a user: a daemon given the user and a file
/// holding its password reads and writes the table; one given a wrong
/// password stops at start with one line naming etcd, instead of serving
/// an empty table.
#[test]
fn etcd_with_authentication_takes_a_user_and_its_password_file() {
    const NAME: &str = "etcd.authenticated";
    const PASSWORD: &str = "correct horse battery staple";
    let etcd = Etcd::start();
    let url = etcd.client_url(0);
    let etcdctl = |args: &[&str]| {
        let output = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url])
            .args(args)
            .output()
            .expect("run etcdctl (Debian's etcd-client)");
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    etcdctl(&["user", "add", "root", "--new-user-password", PASSWORD]);
    etcdctl(&["auth", "enable"]);

    let password = etcd.root().join("root-password");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("write the password file");
    let wrong = etcd.root().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").expect("write the wrong password file");
    let (password, wrong) = (
        password.to_string_lossy().into_owned(),
        wrong.to_string_lossy().into_owned(),
    );
    let prefix = unique_prefix("auth");
    let with = |file: &str| -> Vec<String> {
        [
            "--etcd",
            &url,
            "--etcd-prefix",
            &prefix,
            "--etcd-user",
            "root",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .chain(["--etcd-password-file".to_owned(), file.to_owned()])
        .collect()
    };

    let refused_args = [
        vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()],
        with(&wrong),
    ]
    .concat();
    let refused_args: Vec<&str> = refused_args.iter().map(String::as_str).collect();
    let refused = rendezvous_tests::daemon::cli(&refused_args, &[]);
    assert!(
        !refused.status.success(),
        "a wrong password was accepted: {refused:?}"
    );
    assert!(
        refused.stderr.contains("could not use etcd") && !refused.stdout.contains("listening"),
        "{refused:?}"
    );

    let args = with(&password);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemons = [Daemon::start(&args), Daemon::start(&args)];
    run(assert_shared(&daemons, NAME, 40_003));
}

// ---------------------------------------------------------- an etcd on TLS

/// An etcd process of this test's own, killed (and its directory removed)
/// on drop.
struct Process(std::process::Child, std::path::PathBuf);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Runs `program args` in `dir`; panics with its stderr if it fails.
fn must(dir: &std::path::Path, program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("could not run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A production etcd speaks TLS and asks clients for certificates: a daemon
/// given the CA, a certificate and its key serves; one without a
/// certificate is refused at start, naming etcd.
#[test]
fn etcd_over_tls_takes_a_ca_a_certificate_and_a_key() {
    const NAME: &str = "etcd.tls";
    let dir = std::env::temp_dir().join(format!(
        "rendezvous-etcd-tls-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    // A CA, and one certificate for 127.0.0.1 that etcd and the daemons
    // both present.
    must(
        &dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rendezvous-test-ca",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write the certificate's extensions");
    must(
        &dir,
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    must(
        &dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "node.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
    };
    let (client_port, peer_port) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let etcd = Process(
        std::process::Command::new("etcd")
            .args(["--name", "tls", "--data-dir", &file("data")])
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("tls={peer}")])
            .args([
                "--cert-file",
                &file("node.crt"),
                "--key-file",
                &file("node.key"),
            ])
            .args(["--trusted-ca-file", &file("ca.crt"), "--client-cert-auth"])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start etcd"),
        dir.clone(),
    );
    let healthy = (0..600).any(|_| {
        let ok = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url, "--cacert", &file("ca.crt")])
            .args(["--cert", &file("node.crt"), "--key", &file("node.key")])
            .args(["endpoint", "health"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(healthy, "etcd on TLS did not become healthy");

    let prefix = unique_prefix("tls");
    let no_certificate = rendezvous_tests::daemon::cli(
        &[
            "--listen",
            "127.0.0.1:0",
            "--etcd",
            &url,
            "--etcd-prefix",
            &prefix,
            "--etcd-ca-file",
            &file("ca.crt"),
        ],
        &[],
    );
    assert!(
        !no_certificate.status.success() && no_certificate.stderr.contains("could not use etcd"),
        "a daemon without a client certificate: {no_certificate:?}"
    );

    let (ca, certificate, key) = (file("ca.crt"), file("node.crt"), file("node.key"));
    let args = [
        "--etcd",
        &url,
        "--etcd-prefix",
        &prefix,
        "--etcd-ca-file",
        &ca,
        "--etcd-cert-file",
        &certificate,
        "--etcd-key-file",
        &key,
    ];
    let daemons = [Daemon::start(&args), Daemon::start(&args)];
    run(assert_shared(&daemons, NAME, 40_004));
    drop(daemons);
    drop(etcd);
}
