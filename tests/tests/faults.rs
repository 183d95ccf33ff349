//! Process deaths, end to end: the real `rendezvous-daemon` binary and
//! `fault-server` processes (`src/bin/fault-server.rs`), killed with SIGKILL
//! (or stopped with SIGSTOP) at awkward moments while clients keep calling.
//!
//! Executions are counted from the servers' execution logs: one line per
//! execution, written before the procedure returns, so a killed server's
//! log is complete. "Ran once" here means what really ran, in any process.
//!
//! Every wait is bounded and generous; the tests assert outcomes and
//! counts, never how long something took. The durations they measure are
//! printed (`-- --nocapture` shows them).

use rendezvous_core::{Client, Error, MatchmakerClient};
use rendezvous_runtime::{self as rt, Instant};
use rendezvous_tests::fault_server::Load;
use rendezvous_tests::fault_server::procedures::{count, slow, slow_idempotent, stats};
use rendezvous_tests::fault_server::{
    Execution, ExecutionLog, FaultServer, FaultServerConfig, PROCEDURE_NAMES, ScratchDir,
};
use rendezvous_tests::sync::lock;
use rendezvous_tests::{Daemon, Relay, RelayConfig, client, eventually, free_address, run};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A short lease: heartbeats every ~0.67 s, and a dead server's
/// registration lapses within 2 s.
const LEASE_TTL: Duration = Duration::from_secs(2);

/// The servers' heartbeat: they renew at a third of the lease TTL.
const HEARTBEAT: Duration = Duration::from_millis(667);

/// The longest any `eventually` here waits: far beyond need.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- helpers

fn scratch(label: &str) -> ScratchDir {
    ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), label)
}

fn server_config(matchmaker: SocketAddr, log: PathBuf) -> FaultServerConfig {
    FaultServerConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_fault-server")),
        matchmaker,
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        advertise: None,
        lease_ttl: LEASE_TTL,
        log,
    }
}

fn start_server(matchmaker: SocketAddr, log: PathBuf) -> FaultServer {
    FaultServer::start(&server_config(matchmaker, log))
}

/// A `fault-server` behind a relay: the relay forwards to the server's
/// port, and the server registers the relay's address, so every call and
/// reply crosses the relay. The daemon must have a secret
/// ([`Daemon::start_signed`]): the server signs.
fn start_server_behind(daemon: &Daemon, log: PathBuf, relay: RelayConfig) -> (FaultServer, Relay) {
    let matchmaker = daemon.address();
    // It registers the relay's address, not its own: only signed.
    let secret = daemon.secret_file().expect("a daemon with a secret");
    for _ in 0..10 {
        let port = free_address();
        let front = Relay::start(port, relay.clone()).expect("start a relay");
        // The port could be taken between learning and binding it; then
        // the server does not start, and it is tried again.
        let config = FaultServerConfig {
            bind: port,
            advertise: Some(front.local_addr()),
            ..server_config(matchmaker, log.clone())
        };
        let started =
            std::panic::catch_unwind(|| FaultServer::start_signed(&config, secret.path()));
        if let Ok(server) = started {
            return (server, front);
        }
    }
    panic!("could not start a fault-server behind a relay in 10 tries");
}

async fn matchmaker_client(address: SocketAddr) -> MatchmakerClient {
    MatchmakerClient::connect(address)
        .await
        .expect("bind a matchmaker client")
}

/// Endpoints as (address, incarnation).
type Endpoints = BTreeSet<(SocketAddr, u64)>;

fn endpoints_of(servers: &[&FaultServer]) -> Endpoints {
    servers
        .iter()
        .map(|s| (s.address(), s.incarnation()))
        .collect()
}

/// What the matchmaker lists for every procedure `fault-server` serves,
/// if it lists the same endpoints for each.
async fn registered(matchmaker: &MatchmakerClient) -> Option<Endpoints> {
    let mut all = None;
    for name in PROCEDURE_NAMES {
        let found: Endpoints = matchmaker
            .lookup(name, None)
            .await
            .ok()?
            .iter()
            .map(|e| (e.address, e.incarnation))
            .collect();
        match &all {
            None => all = Some(found),
            Some(first) if *first == found => {}
            Some(_) => return None,
        }
    }
    all
}

/// Waits until the matchmaker lists exactly `expected` for every procedure.
async fn wait_registered(matchmaker: &MatchmakerClient, expected: &Endpoints) -> bool {
    eventually(PATIENCE, Duration::from_millis(10), || async {
        (registered(matchmaker).await.as_ref() == Some(expected)).then_some(())
    })
    .await
    .is_some()
}

/// The (executed, replayed, acks) counters of the server at `address`.
async fn server_stats(client: &Client, address: SocketAddr) -> (u64, u64, u64) {
    client
        .call_at(address, &stats::PROCEDURE, &())
        .await
        .unwrap_or_else(|error| panic!("fault.stats at {address}: {error}"))
}

fn execution(procedure: &str, id: u64, phase: &str) -> Execution {
    Execution {
        procedure: procedure.into(),
        id,
        phase: phase.into(),
    }
}

/// One client calling `count` in a loop, one call at a time, with
/// consecutive ids, until stopped.
struct CallingLoop {
    client: Client,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    task: rt::JoinHandle<u64>,
}

impl CallingLoop {
    fn start(client: Client) -> CallingLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let task = rt::spawn({
            let (client, stop, done, failures) =
                (client.clone(), stop.clone(), done.clone(), failures.clone());
            async move {
                let mut id = 0;
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    match count::remote_with(&client, id).await {
                        Ok(echo) if echo == id => {}
                        other => lock(&failures).push(format!(
                            "count({id}) -> {other:?} after {:?}",
                            started.elapsed()
                        )),
                    }
                    id += 1;
                    done.store(id, Ordering::SeqCst);
                }
                id
            }
        });
        CallingLoop {
            client,
            stop,
            done,
            failures,
            task,
        }
    }

    fn calls(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits until the loop has made `n` calls in all.
    async fn reach(&self, n: u64) -> bool {
        eventually(PATIENCE, Duration::from_millis(1), || async {
            (self.calls() >= n).then_some(())
        })
        .await
        .is_some()
    }

    fn failures(&self) -> Vec<String> {
        lock(&self.failures).clone()
    }

    /// Stops the loop; returns how many calls it made and which failed.
    async fn stop(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let calls = self.task.await;
        let failures = lock(&self.failures).clone();
        (calls, failures)
    }
}

/// Asserts that the `count` calls with ids `expected` each ran exactly
/// once, counting the executions in all `logs`.
fn assert_each_ran_once(expected: &BTreeSet<u64>, logs: &[ExecutionLog]) {
    let mut runs: BTreeMap<u64, u64> = BTreeMap::new();
    for log in logs {
        for (id, n) in log.counts("count", "run") {
            *runs.entry(id).or_insert(0) += n;
        }
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls ran more than once: {twice:?}");
    let ran: BTreeSet<u64> = runs.keys().copied().collect();
    let lost: Vec<_> = expected.difference(&ran).collect();
    let strangers: Vec<_> = ran.difference(expected).collect();
    assert!(
        lost.is_empty() && strangers.is_empty(),
        "calls made but never run: {lost:?}; runs of calls never made: {strangers:?}"
    );
}

// ------------------------------------------------------ matchmaker restart

/// Issue 5, "Faults": the matchmaker is killed with SIGKILL and restarted,
/// empty, on the same address. Both servers register again by themselves
/// (the same processes: same addresses and incarnations); a client that
/// looked the name up just before the crash calls in a loop before, while
/// the matchmaker is down, and after it is back, and sees no failure; a new
/// client finds every procedure; and every call ran exactly once.
///
/// The loop's cached entry is fresh when the matchmaker dies, so it outlives
/// the restart (it lasts at least two heartbeats; the servers register again
/// within one). A client whose entry happens to expire during the restart
/// is the subject of the next test.
#[test]
fn matchmaker_killed_and_restarted_loses_nothing() {
    const CALLS_PER_PHASE: u64 = 20;
    const NEWCOMER_IDS: u64 = 1_000_000;
    let logs = scratch("matchmaker-restart");
    let mut daemon = Daemon::start(&[]);
    let address = daemon.address();
    let mut one = start_server(address, logs.join("one.log"));
    let mut two = start_server(address, logs.join("two.log"));
    let expected = endpoints_of(&[&one, &two]);

    let (reregistered_in, loop_calls, newcomer_calls) = run(async {
        let probe = matchmaker_client(address).await;
        assert!(
            wait_registered(&probe, &expected).await,
            "the servers never registered: {:?}",
            registered(&probe).await
        );
        let calling = CallingLoop::start(client(address));
        assert!(calling.reach(CALLS_PER_PHASE).await, "the loop is stuck");

        // The crash; the loop goes on calling the servers it has cached.
        daemon.kill();
        let killed_after = calling.calls();
        assert!(
            calling.reach(killed_after + CALLS_PER_PHASE).await,
            "the loop stopped when the matchmaker died: {:?}",
            calling.failures()
        );
        let lookups = calling.client.stats().lookups;

        // The restart, empty, where it was. The servers learn of it at
        // their next renewal and register again.
        daemon = Daemon::start_on(address);
        let restarted = Instant::now();
        let back = wait_registered(&probe, &expected).await;
        let reregistered_in = restarted.elapsed();
        assert!(
            back,
            "the servers did not register again: the matchmaker lists {:?}, not {expected:?}",
            registered(&probe).await
        );
        assert!(
            one.is_running() && two.is_running(),
            "a server process died"
        );

        // A new client finds everything.
        let newcomer = client(address);
        for id in NEWCOMER_IDS..NEWCOMER_IDS + CALLS_PER_PHASE {
            let echo = count::remote_with(&newcomer, id)
                .await
                .unwrap_or_else(|error| panic!("a new client's count({id}): {error}"));
            assert_eq!(echo, id);
        }
        let listed = newcomer.matchmaker().list().await.expect("list");
        for name in PROCEDURE_NAMES {
            let at: Endpoints = listed
                .iter()
                .filter(|r| r.name == name)
                .map(|r| (r.endpoint, r.incarnation))
                .collect();
            assert_eq!(at, expected, "where {name} is registered");
        }

        // The loop goes on after the restart too, still from its cache.
        let restarted_after = calling.calls();
        assert!(
            calling.reach(restarted_after + CALLS_PER_PHASE).await,
            "the loop stopped after the restart: {:?}",
            calling.failures()
        );
        let lookups_after = calling.client.stats().lookups;
        let (loop_calls, failures) = calling.stop().await;
        assert!(
            failures.is_empty(),
            "{} of {loop_calls} calls of the cached client failed (the matchmaker died after \
             call {killed_after} and was back before call {restarted_after}): {failures:#?}",
            failures.len()
        );
        eprintln!(
            "matchmaker restart: the loop looked up {} time(s) while the matchmaker was down or restarting",
            lookups_after - lookups
        );
        (reregistered_in, loop_calls, CALLS_PER_PHASE)
    });

    let ids = (0..loop_calls)
        .chain(NEWCOMER_IDS..NEWCOMER_IDS + newcomer_calls)
        .collect();
    assert_each_ran_once(&ids, &[one.executions(), two.executions()]);
    eprintln!(
        "matchmaker restart: both servers registered again {reregistered_in:?} after the \
         restart (heartbeat {HEARTBEAT:?}); {loop_calls} calls from the loop, {newcomer_calls} \
         from a new client, each ran once"
    );
}

/// Issue 5, "Faults", for a client in steady state: the matchmaker is
/// restarted during the heartbeat at whose end a looping client's cached
/// entry expires (a cached entry lives as long as the lease had left, so in
/// steady state it expires just as a server renews). The client looks the
/// name up at the restarted matchmaker a few milliseconds before the
/// server's renewal registers it again: the issue requires that "clients
/// with cached endpoints keep calling throughout": the client falls back on
/// its expired entry when the refresh finds nothing. (Before that fallback,
/// these calls failed with `NotFound` in about one restart in four.) Here
/// the restart is timed into that heartbeat, three times.
#[test]
fn matchmaker_restarted_as_a_cached_entry_expires_loses_nothing() {
    const RESTARTS: usize = 3;
    let logs = scratch("matchmaker-restart-steady");
    let mut daemon = Daemon::start(&[]);
    let address = daemon.address();
    let server = start_server(address, logs.join("server.log"));
    let expected = endpoints_of(&[&server]);

    let loop_calls = run(async {
        let probe = matchmaker_client(address).await;
        assert!(wait_registered(&probe, &expected).await);
        let calling = CallingLoop::start(client(address));
        let mut restarts = 0;
        for _ in 0..RESTARTS * 3 {
            if restarts == RESTARTS {
                break;
            }
            // Catch the loop refreshing its entry, and learn how long the
            // lease (hence the new entry) has left.
            let refreshes = calling.client.stats().lookups;
            let refreshed = eventually(PATIENCE, Duration::from_millis(1), || async {
                (calling.client.stats().lookups > refreshes).then_some(())
            })
            .await;
            assert!(refreshed.is_some(), "the loop never refreshed its entry");
            let Ok(found) = probe.lookup("fault.count", None).await else {
                continue;
            };
            let Some(ttl) = found.iter().map(|e| e.ttl_ms).min() else {
                continue;
            };
            let expires = Instant::now() + Duration::from_millis(ttl);
            // Restart half a heartbeat before the entry expires: after the
            // server's last renewal before then, before its next one.
            let Some(restart_at) = expires.checked_sub(HEARTBEAT / 2) else {
                continue;
            };
            if restart_at <= Instant::now() + HEARTBEAT / 4 {
                continue;
            }
            rt::sleep(restart_at - Instant::now()).await;
            daemon.kill();
            daemon = Daemon::start_on(address);
            restarts += 1;
            assert!(
                wait_registered(&probe, &expected).await,
                "the server did not register again"
            );
        }
        assert_eq!(restarts, RESTARTS, "could not time the restarts");
        // One more refresh after the last restart.
        let refreshes = calling.client.stats().lookups;
        eventually(PATIENCE, Duration::from_millis(1), || async {
            (calling.client.stats().lookups > refreshes).then_some(())
        })
        .await;
        let (calls, failures) = calling.stop().await;
        assert!(
            failures.is_empty(),
            "{} of {calls} calls of the looping client failed across {RESTARTS} matchmaker restarts: {failures:#?}",
            failures.len()
        );
        calls
    });
    assert_each_ran_once(&(0..loop_calls).collect(), &[server.executions()]);
}

// ------------------------------------------------------- server restart

/// Issue 5, "Faults": a server is killed with SIGKILL while a
/// non-idempotent and an idempotent slow call run on it (the first provably
/// acknowledged), and restarted on another port. The non-idempotent call
/// ends `OutcomeUnknown` and does not run again; the idempotent one
/// completes at the new server; a client with the old address cached
/// reaches the new server after one failed (`OutcomeUnknown`) attempt, and a
/// new client reaches it at once.
#[test]
fn server_killed_and_restarted_on_another_port_is_reached_again() {
    let logs = scratch("server-restart");
    let daemon = Daemon::start(&[]);
    let address = daemon.address();
    let mut old = start_server(address, logs.join("old.log"));
    let old_address = old.address();

    run(async {
        let probe = matchmaker_client(address).await;
        assert!(wait_registered(&probe, &endpoints_of(&[&old])).await);
        let cached = client(address);
        assert_eq!(count::remote_with(&cached, 1).await.expect("count(1)"), 1);
        let observer = client(address);
        let (_, _, acks_before) = server_stats(&observer, old_address).await;

        // The non-idempotent call, alone on the server, until the server
        // has acknowledged it: nothing else runs there to be acknowledged.
        let unsafe_call = rt::spawn({
            let cached = cached.clone();
            async move { slow::remote_with(&cached, 100, 60_000).await }
        });
        let acked = eventually(PATIENCE, Duration::from_millis(5), || async {
            let started = old.executions().contains("slow", 100, "start");
            let (_, _, acks) = server_stats(&observer, old_address).await;
            (started && acks > acks_before).then_some(())
        })
        .await;
        assert!(acked.is_some(), "the slow call was never acknowledged");

        // The idempotent call, until it runs.
        let retried_call = rt::spawn({
            let cached = cached.clone();
            async move { slow_idempotent::remote_with(&cached, 200, 2_000).await }
        });
        let running = eventually(PATIENCE, Duration::from_millis(5), || async {
            old.executions()
                .contains("slow_idempotent", 200, "start")
                .then_some(())
        })
        .await;
        assert!(running.is_some(), "the idempotent slow call never started");

        // The crash, and the restart on another port.
        old.kill();
        let mut new = None;
        for attempt in 0..5 {
            let server = start_server(address, logs.join(format!("new-{attempt}.log")));
            if server.address() != old_address {
                new = Some(server);
                break;
            }
        }
        let new = new.expect("the new server got the old port five times in a row");

        // Clients reach the new server: one with the old address cached,
        // and a new one. The dead, still-listed endpoint refuses their
        // copies (port unreachable: nothing listens there), so their calls
        // are known not to have run there and move on at once, even the
        // non-idempotent ones (issue 13, item 1(c)).
        let restarted = Instant::now();
        let moved = count::remote_with(&cached, 2).await;
        let reached_in = restarted.elapsed();
        assert_eq!(moved.expect("the cached client's count(2)"), 2);
        let newcomer = client(address);
        assert_eq!(count::remote_with(&newcomer, 3).await.expect("count(3)"), 3);

        match unsafe_call.await {
            Err(Error::OutcomeUnknown { procedure, .. }) => assert_eq!(procedure, "fault.slow"),
            other => {
                panic!("the non-idempotent call in flight: expected OutcomeUnknown, got {other:?}")
            }
        }
        assert_eq!(
            retried_call
                .await
                .expect("the idempotent call completes at the new server"),
            200
        );

        let mut at_old = old.executions().entries;
        at_old.sort();
        assert_eq!(
            at_old,
            [
                execution("count", 1, "run"),
                execution("slow", 100, "start"),
                execution("slow_idempotent", 200, "start"),
            ],
            "what ran at the old server"
        );
        let mut at_new = new.executions().entries;
        at_new.sort();
        assert_eq!(
            at_new,
            [
                execution("count", 2, "run"),
                execution("count", 3, "run"),
                execution("slow_idempotent", 200, "done"),
                execution("slow_idempotent", 200, "start"),
            ],
            "what ran at the new server (not the non-idempotent call)"
        );
        eprintln!(
            "server restart: a client with the old address cached reached the new server \
             {reached_in:?} after it started"
        );
    });
}

// ----------------------------------------------------- failover under load

/// Calls in flight per client in the load tests.
const IN_FLIGHT: usize = 16;

/// Calls per load test.
const LOAD_CALLS: u64 = 2_000;

/// A call that ran more than once.
#[derive(Clone, Debug)]
struct Repeat {
    id: u64,
    /// Whether the call returned Ok.
    ok: bool,
    /// Per server that ran it: (server, runs there, how far from the end
    /// of that server's log its first run is; 0 = the last thing it ran).
    runs: Vec<(&'static str, u64, usize)>,
}

impl Repeat {
    fn describe(&self) -> String {
        let places: Vec<String> = self
            .runs
            .iter()
            .map(|(server, n, from_end)| {
                format!("{n}x at {server} (#{from_end} from the end of its log)")
            })
            .collect();
        format!(
            "count({}) returned {} and ran {}",
            self.id,
            if self.ok { "Ok" } else { "an error" },
            places.join(", ")
        )
    }
}

fn describe(repeats: &[&Repeat]) -> Vec<String> {
    repeats.iter().map(|r| r.describe()).collect()
}

/// What a load did, call by call, against what the servers' logs say ran.
#[derive(Debug, Default)]
struct Tally {
    calls: u64,
    ok: u64,
    /// Calls that ended `OutcomeUnknown`, and of those, how many ran.
    unknown: Vec<u64>,
    unknown_that_ran: u64,
    /// Calls that ended any other way, or returned another call's result.
    wrong: Vec<String>,
    /// Calls that returned `Ok` but never ran.
    lost: Vec<u64>,
    /// Calls that ran more than once.
    twice: Vec<Repeat>,
    /// Ids that ran but were never called.
    strangers: Vec<u64>,
    /// Executions per server.
    executions: Vec<u64>,
}

impl Tally {
    /// Matches `results` against `logs` (one per server, named).
    fn of(
        results: &BTreeMap<u64, Result<u64, Error>>,
        logs: &[(&'static str, &ExecutionLog)],
    ) -> Tally {
        let counts: Vec<BTreeMap<u64, u64>> = logs
            .iter()
            .map(|(_, log)| log.counts("count", "run"))
            .collect();
        let from_end = |log: &ExecutionLog, id: u64| {
            log.entries
                .iter()
                .rev()
                .position(|e| e.procedure == "count" && e.id == id)
                .unwrap_or(usize::MAX)
        };
        let mut tally = Tally {
            calls: results.len() as u64,
            executions: counts.iter().map(|c| c.values().sum()).collect(),
            ..Tally::default()
        };
        for (&id, result) in results {
            let runs: Vec<u64> = counts
                .iter()
                .map(|c| c.get(&id).copied().unwrap_or(0))
                .collect();
            let total: u64 = runs.iter().sum();
            if total > 1 {
                tally.twice.push(Repeat {
                    id,
                    ok: result.is_ok(),
                    runs: logs
                        .iter()
                        .zip(&runs)
                        .filter(|(_, n)| **n > 0)
                        .map(|((name, log), n)| (*name, *n, from_end(log, id)))
                        .collect(),
                });
            }
            match result {
                Ok(echo) if *echo == id => {
                    tally.ok += 1;
                    if total == 0 {
                        tally.lost.push(id);
                    }
                }
                Err(Error::OutcomeUnknown { .. }) => {
                    tally.unknown.push(id);
                    tally.unknown_that_ran += u64::from(total > 0);
                }
                other => tally.wrong.push(format!("count({id}) -> {other:?}")),
            }
        }
        tally.strangers = counts
            .iter()
            .flat_map(|c| c.keys())
            .filter(|id| !results.contains_key(id))
            .copied()
            .collect();
        tally
    }

    fn executions(&self) -> u64 {
        self.executions.iter().sum()
    }

    /// Executions beyond the first of each call.
    fn extra_runs(&self) -> u64 {
        self.twice
            .iter()
            .map(|r| r.runs.iter().map(|(_, n, _)| n).sum::<u64>() - 1)
            .sum()
    }

    fn summary(&self) -> String {
        format!(
            "{} calls: {} Ok, {} OutcomeUnknown ({} of which ran), {} other; executions {} {:?}; \
             {} ran more than once",
            self.calls,
            self.ok,
            self.unknown.len(),
            self.unknown_that_ran,
            self.wrong.len(),
            self.executions(),
            self.executions,
            self.twice.len()
        )
    }

    /// Nothing lost: every call ended Ok with its own result, or
    /// `OutcomeUnknown` (which PROTOCOL.md allows where the client cannot
    /// know); every Ok call ran; only calls that were made ran.
    fn assert_none_lost(&self, calls: u64) {
        assert_eq!(self.calls, calls, "not every call ended");
        assert!(self.wrong.is_empty(), "calls failed: {:#?}", self.wrong);
        assert!(
            self.lost.is_empty(),
            "calls returned Ok without running: {:?}",
            self.lost
        );
        assert!(
            self.strangers.is_empty(),
            "runs of calls never made: {:?}",
            self.strangers
        );
        assert_eq!(
            self.executions(),
            self.ok + self.unknown_that_ran + self.extra_runs(),
            "{}",
            self.summary()
        );
    }

    /// And none ran twice: executions on all servers together equal the
    /// calls that returned Ok, plus those of unknown outcome that ran.
    fn assert_none_ran_twice(&self) {
        assert!(
            self.twice.is_empty(),
            "{}; calls ran more than once: {:#?}",
            self.summary(),
            describe(&self.twice.iter().collect::<Vec<_>>())
        );
        assert_eq!(
            self.executions(),
            self.ok + self.unknown_that_ran,
            "executions on both servers != calls that returned Ok (+ those of unknown outcome that ran)"
        );
    }
}

/// Two servers for one name, one client making [`LOAD_CALLS`] calls,
/// [`IN_FLIGHT`] at a time; one server killed with SIGKILL mid-load.
/// Returns the tally (servers: `killed`, `survivor`) and how many calls had
/// completed when it died.
fn kill_one_of_two_mid_load(label: &str) -> (Tally, u64) {
    const KILL_AFTER: u64 = 600;
    let logs = scratch(label);
    let daemon = Daemon::start(&[]);
    let address = daemon.address();
    let mut victim = start_server(address, logs.join("killed.log"));
    let survivor = start_server(address, logs.join("survivor.log"));
    let (results, completed_at_kill) = run(async {
        let probe = matchmaker_client(address).await;
        assert!(wait_registered(&probe, &endpoints_of(&[&victim, &survivor])).await);
        let load = Load::start(&client(address), LOAD_CALLS, IN_FLIGHT);
        assert!(load.reach(KILL_AFTER).await, "the load made no progress");
        victim.kill();
        let completed_at_kill = load.completed();
        (load.finish().await, completed_at_kill)
    });
    let (killed, survived) = (victim.executions(), survivor.executions());
    let tally = Tally::of(&results, &[("killed", &killed), ("survivor", &survived)]);
    eprintln!(
        "{label}: killed after {completed_at_kill} of {LOAD_CALLS} calls had completed; {}",
        tally.summary()
    );
    assert!(
        completed_at_kill < LOAD_CALLS && tally.executions.iter().all(|n| *n > 0),
        "the kill did not land mid-load on two busy servers: {}",
        tally.summary()
    );
    (tally, completed_at_kill)
}

/// Issue 5, "Faults", as it asks: one of two servers killed mid-load, and
/// no call lost or run twice; executions counted on both servers equal the
/// calls completed. A call that was acknowledged and then lost its server
/// may legitimately end `OutcomeUnknown` (PROTOCOL.md); it is counted, and
/// must have run at most once.
///
/// This once failed about one run in twenty: the killed server had just run
/// a call and died before its reply got out, and the client took the
/// silence for non-delivery. Silence from a still-listed server now counts
/// as possible delivery.
#[test]
fn two_servers_one_killed_mid_load_lose_and_duplicate_no_call() {
    let (tally, _) = kill_one_of_two_mid_load("failover-strict");
    tally.assert_none_lost(LOAD_CALLS);
    tally.assert_none_ran_twice();
}

/// A server that stalls instead of dying: SIGSTOP mid-load (its socket stays
/// open and calls queue in it), SIGCONT once the survivor has taken over.
/// When the stalled server wakes it runs every call queued in its socket
/// buffer, so the client must not have moved them: it reports them
/// `OutcomeUnknown` instead (before, 14-16 of 16 in flight ran twice).
#[test]
fn two_servers_one_stalled_mid_load_run_no_call_twice() {
    const PAUSE_AFTER: u64 = 600;
    // Calls enough that the pause lands mid-load even when the test thread
    // is slow to send it (it once came after the last of 2,000 calls).
    const CALLS: u64 = 3 * LOAD_CALLS;
    let logs = scratch("stall");
    let daemon = Daemon::start(&[]);
    let address = daemon.address();
    let stalled = start_server(address, logs.join("stalled.log"));
    let other = start_server(address, logs.join("other.log"));
    let results = run(async {
        let probe = matchmaker_client(address).await;
        assert!(wait_registered(&probe, &endpoints_of(&[&stalled, &other])).await);
        let load = Load::start(&client(address), CALLS, IN_FLIGHT);
        assert!(load.reach(PAUSE_AFTER).await, "the load made no progress");
        stalled.pause();
        // The other server carries the load for a while.
        let paused_at = load.completed();
        assert!(
            paused_at + 400 <= CALLS,
            "the pause came after {paused_at} of {CALLS} calls: too late to test a stall mid-load"
        );
        let carried = load.reach(paused_at + 400).await;
        stalled.resume();
        assert!(carried, "the load stopped while one server was stalled");
        let results = load.finish().await;
        // Let the resumed server drain its socket.
        let client = client(address);
        let drained = server_stats(&client, stalled.address()).await;
        assert!(drained.0 > 0);
        results
    });
    let (at_stalled, at_other) = (stalled.executions(), other.executions());
    let tally = Tally::of(&results, &[("stalled", &at_stalled), ("other", &at_other)]);
    eprintln!("stall: {}", tally.summary());
    tally.assert_none_lost(CALLS);
    tally.assert_none_ran_twice();
}

/// No process dies at all: two servers for one name, each behind a relay
/// that drops 20 % of the datagrams both ways. An attempt ends after 4
/// copies in a row go unanswered (about 1 call in 60 at this loss), and in
/// 9 of 10 such cases a copy did reach the server, which ran the call; the
/// replies were lost. The client must not move such a call to the other
/// server (it once did, and about 1.5 % of calls ran twice): it reports
/// `OutcomeUnknown`, and "a call that returns Ok ran exactly once" holds.
#[test]
fn two_servers_behind_lossy_links_run_no_call_twice() {
    let logs = scratch("lossy");
    let daemon = Daemon::start_signed(&[]);
    let address = daemon.address();
    let lossy = |seed| RelayConfig {
        seed,
        drop: 0.2,
        ..RelayConfig::default()
    };
    let (one, one_front) = start_server_behind(&daemon, logs.join("one.log"), lossy(1));
    let (two, two_front) = start_server_behind(&daemon, logs.join("two.log"), lossy(2));
    let results = run(async {
        let probe = matchmaker_client(address).await;
        let expected = [
            (one_front.local_addr(), one.incarnation()),
            (two_front.local_addr(), two.incarnation()),
        ]
        .into_iter()
        .collect();
        assert!(wait_registered(&probe, &expected).await);
        let load = Load::start(&client(address), LOAD_CALLS, IN_FLIGHT);
        let results = load.finish().await;
        // Copies still delayed in the relays must not run anything again.
        rt::sleep(Duration::from_millis(200)).await;
        results
    });
    let tally = Tally::of(
        &results,
        &[("one", &one.executions()), ("two", &two.executions())],
    );
    eprintln!(
        "lossy: {}; relays {:?} {:?}",
        tally.summary(),
        one_front.stats(),
        two_front.stats()
    );
    tally.assert_none_lost(LOAD_CALLS);
    tally.assert_none_ran_twice();
}
