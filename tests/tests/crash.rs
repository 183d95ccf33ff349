//! A server crash under a lossy network, restarted on the same address: no
//! call runs twice (issue 13, item 0).
//!
//! One `fault-server` behind a relay that drops 30 % of datagrams,
//! duplicates 10 % and reorders some; a client with 32 calls of the
//! non-idempotent `fault.count` in flight; the server killed with SIGKILL
//! mid-load and started again on the same port (so the relay, and the
//! address the matchmaker lists, stay the same) as a new incarnation.
//!
//! The killed incarnation ran some calls whose replies the relay then lost.
//! Such a call must never run again at the new incarnation, whatever its
//! later attempts meet: a pause, a re-lookup that still lists only the dead
//! incarnation, or a `WrongIncarnation` from the new one on its first
//! transmission. Once a call may have reached an incarnation, it stays "may
//! have run" for the rest of its life, and ends `Ok` there or
//! `OutcomeUnknown`.
//!
//! The lease outlives the test, so the dead incarnation stays listed: a
//! lease that runs out is the subject of the crash issue's other items.
//! Every wait is bounded; the test asserts counts, never durations.

use rendezvous_core::{Client, Error};
use rendezvous_runtime as rt;
use rendezvous_tests::fault_server::{
    ExecutionLog, FaultServer, FaultServerConfig, Load, ScratchDir,
};
use rendezvous_tests::{Daemon, Relay, RelayConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longer than the test: the dead incarnation is listed until the end.
const LEASE_TTL: Duration = Duration::from_secs(60);

/// A deadline no call comes near, even on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

const CALLS: u64 = 2_000;
const IN_FLIGHT: usize = 32;

/// Calls completed before the kill.
const KILL_AFTER: u64 = 400;

/// Rounds, each with its own relay seed and restart gap (the time between
/// the kill and the new incarnation's start).
const GAPS: [Duration; 3] = [
    Duration::from_millis(1_400),
    Duration::from_millis(700),
    Duration::from_millis(2_100),
];

fn lossy(seed: u64) -> RelayConfig {
    RelayConfig {
        seed,
        drop: 0.3,
        duplicate: 0.1,
        reorder: 0.1,
        max_delay: Duration::from_millis(20),
    }
}

fn server_config(
    matchmaker: SocketAddr,
    bind: SocketAddr,
    front: SocketAddr,
    log: PathBuf,
) -> FaultServerConfig {
    FaultServerConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_fault-server")),
        matchmaker,
        bind,
        advertise: Some(front),
        lease_ttl: LEASE_TTL,
        log,
    }
}

/// A free loopback port, and a relay in front of it.
fn relay_to_free_port(config: RelayConfig) -> (SocketAddr, Relay) {
    let port = std::net::UdpSocket::bind(("127.0.0.1", 0))
        .and_then(|socket| socket.local_addr())
        .expect("find a free loopback port");
    (port, Relay::start(port, config).expect("start a relay"))
}

/// Starts `fault-server` on exactly `config.bind`, retrying while the port
/// is briefly unavailable (another process may hold it for a moment). It
/// signs with `secret` (the daemon's): it registers the relay's address.
fn start_on(config: &FaultServerConfig, secret: &Path) -> FaultServer {
    for _ in 0..10 {
        if let Ok(server) = std::panic::catch_unwind(|| FaultServer::start_signed(config, secret)) {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "could not start a fault-server on {} in 10 tries",
        config.bind
    );
}

/// How each call ended, by id.
type Results = BTreeMap<u64, Result<u64, Error>>;

/// One round: returns the calls' results and both incarnations' logs.
fn crash_round(
    scratch: &ScratchDir,
    round: usize,
    gap: Duration,
) -> (Results, ExecutionLog, ExecutionLog) {
    let daemon = Daemon::start_signed(&[]);
    let secret = daemon.secret_file().expect("a daemon with a secret");
    let matchmaker = daemon.address();
    let (port, relay) = relay_to_free_port(lossy(round as u64 + 1));
    let old_log = scratch.join(format!("round-{round}-old.log"));
    let new_log = scratch.join(format!("round-{round}-new.log"));
    let mut old = start_on(
        &server_config(matchmaker, port, relay.local_addr(), old_log.clone()),
        secret.path(),
    );
    let client = Client::builder()
        .matchmaker(matchmaker)
        .deadline(DEADLINE)
        .build()
        .expect("build a client");
    let results = rendezvous_tests::run(async {
        let load = Load::start(&client, CALLS, IN_FLIGHT);
        assert!(
            load.reach(KILL_AFTER).await,
            "round {round}: the load made no progress"
        );
        old.kill();
        rt::sleep(gap).await;
        let new = start_on(
            &server_config(matchmaker, port, relay.local_addr(), new_log.clone()),
            secret.path(),
        );
        assert_ne!(
            new.incarnation(),
            old.incarnation(),
            "round {round}: the restart kept its incarnation"
        );
        let results = load.finish().await;
        drop(new);
        results
    });
    (
        results,
        ExecutionLog::read(&old_log),
        ExecutionLog::read(&new_log),
    )
}

#[test]
fn a_call_that_may_have_run_before_a_crash_never_runs_again_after_the_restart() {
    let scratch = ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "crash-restart");
    let mut twice = Vec::new();
    for (round, gap) in GAPS.into_iter().enumerate() {
        let (results, old, new) = crash_round(&scratch, round, gap);
        let (at_old, at_new) = (old.counts("count", "run"), new.counts("count", "run"));
        let (mut ok, mut unknown, mut other, mut lost) = (0, 0, Vec::new(), Vec::new());
        for (&id, result) in &results {
            let runs = (
                at_old.get(&id).copied().unwrap_or(0),
                at_new.get(&id).copied().unwrap_or(0),
            );
            if runs.0 + runs.1 > 1 {
                twice.push(format!("round {round}: count({id}) ran {}x before the crash and {}x after, and returned {result:?}", runs.0, runs.1));
            }
            match result {
                Ok(echo) if *echo == id => {
                    ok += 1;
                    if runs.0 + runs.1 == 0 {
                        lost.push(id);
                    }
                }
                Err(Error::OutcomeUnknown { .. }) => unknown += 1,
                other_end => other.push(format!("count({id}) -> {other_end:?}")),
            }
        }
        eprintln!(
            "round {round} (restart after {gap:?}): {ok} Ok, {unknown} OutcomeUnknown; {} ran before the crash, {} after",
            at_old.len(),
            at_new.len()
        );
        assert_eq!(
            results.len() as u64,
            CALLS,
            "round {round}: not every call ended"
        );
        assert!(
            other.is_empty(),
            "round {round}: calls ended other than Ok or OutcomeUnknown: {other:#?}"
        );
        let strangers: Vec<_> = at_old
            .keys()
            .chain(at_new.keys())
            .filter(|id| !results.contains_key(id))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: calls returned Ok without running: {lost:?}"
        );
        assert!(
            strangers.is_empty(),
            "round {round}: runs of calls never made: {strangers:?}"
        );
        assert!(
            !at_new.is_empty(),
            "round {round}: nothing ran after the restart: the crash did not land mid-load"
        );
    }
    assert!(
        twice.is_empty(),
        "calls ran twice across a crash: {twice:#?}"
    );
}
