//! What the scenarios start from: daemons sharing an etcd under a prefix of
//! their own, registrations made by hand, what each daemon lists, and the
//! limits every wait keeps to.

use rendezvous_core::protocol::matchmaker::{Lease, ProcedureSpec};
use rendezvous_core::protocol::wire::Incarnation;
use rendezvous_core::{Error, Fingerprint, MatchmakerClient, Server};
use rendezvous_runtime::{self as rt, Instant};
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::loopback;
use rendezvous_tests::{Daemon, eventually};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

/// A signature for registrations made by hand (nobody serves them).
const HAND: Fingerprint = Fingerprint::of("etcd.by_hand()->()");

/// A lease for a test that lets it lapse: renewed twenty times a TTL
/// until then, and above etcd's own minimum (3 s with the harness's
/// election timeout), which etcd would round it up to.
pub(crate) const EXPIRING_TTL: Duration = Duration::from_secs(5);

/// A lease no test outlives unless it is renewed.
pub(crate) const LONG_TTL: Duration = Duration::from_secs(120);

/// The servers' lease: renewed every third of it, and long enough that a
/// renewal which must first find another daemon, or wait out an etcd
/// election, still comes in time on a loaded machine.
pub(crate) const SERVER_TTL: Duration = Duration::from_secs(6);

/// The longest any `eventually` here waits: far beyond need.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// How often a waiting test looks again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// The most a test body may take: several [`PATIENCE`]s, so that a
/// failing wait reports itself instead of the overall limit.
const BODY_LIMIT: Duration = Duration::from_secs(300);

/// What a daemon logs when its store goes away, and when it is back: once
/// per change, however many requests it refuses meanwhile.
pub(crate) const OUTAGE_LOGGED: &str = "etcd is unreachable";
pub(crate) const RECOVERY_LOGGED: &str = "etcd is reachable again";

/// [`rendezvous_tests::run`], with [`BODY_LIMIT`] for a limit.
pub(crate) fn run<F: Future>(body: F) -> F::Output {
    rendezvous_tests::run_with_timeout(BODY_LIMIT, body)
}

/// A key prefix of this test's own: daemons with the same prefix share a
/// table, and nothing else may.
pub(crate) fn unique_prefix(label: &str) -> String {
    format!(
        "/rendezvous-test/{label}-{}-{:016x}/",
        std::process::id(),
        fastrand::u64(..)
    )
}

/// `count` daemons sharing `etcd` under `prefix`, and the harness's secret:
/// the tests register endpoints nobody listens on, which only a signed
/// registration may (their servers sign too).
pub(crate) fn start_daemons(count: usize, etcd: &Etcd, prefix: &str) -> Vec<Daemon> {
    let urls = etcd.urls();
    (0..count)
        .map(|_| Daemon::start_signed(&["--etcd", &urls, "--etcd-prefix", prefix]))
        .collect()
}

/// A matchmaker client of each daemon, in order.
pub(crate) async fn probes(daemons: &[Daemon]) -> Vec<MatchmakerClient> {
    let mut probes = Vec::with_capacity(daemons.len());
    for daemon in daemons {
        probes.push(daemon.client().await);
    }
    probes
}

/// Registers `name` through the first daemon and waits until the second
/// finds it: the two share a table.
pub(crate) async fn assert_shared(daemons: &[Daemon], name: &str, port: u16) {
    let probes = probes(daemons).await;
    let at = loopback(port);
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

pub(crate) fn addresses(daemons: &[Daemon]) -> Vec<SocketAddr> {
    daemons.iter().map(Daemon::address).collect()
}

pub(crate) fn spec(name: &str) -> Vec<ProcedureSpec> {
    vec![ProcedureSpec {
        signature_text: None,
        name: name.to_owned(),
        signature: HAND,
    }]
}

/// Registers `name` at `at` by hand, through `matchmaker`.
pub(crate) async fn register(
    matchmaker: &MatchmakerClient,
    name: &str,
    at: SocketAddr,
    ttl: Duration,
) -> Result<Lease, Error> {
    matchmaker
        .register(spec(name), at, Incarnation(1), ttl)
        .await
}

/// Endpoints as (address, incarnation).
pub(crate) type Endpoints = BTreeSet<(SocketAddr, u64)>;

pub(crate) fn endpoints_of(servers: &[&Server]) -> Endpoints {
    servers
        .iter()
        .map(|server| (server.local_addr(), server.incarnation().0))
        .collect()
}

/// What one daemon lists for `name` (empty for `NotFound`).
pub(crate) async fn listed(matchmaker: &MatchmakerClient, name: &str) -> Result<Endpoints, Error> {
    match matchmaker.lookup(name, None).await {
        Ok(found) => Ok(found.iter().map(|e| (e.address, e.incarnation)).collect()),
        Err(Error::NotFound { .. }) => Ok(Endpoints::new()),
        Err(error) => Err(error),
    }
}

/// Waits until `matchmaker` lists exactly `expected` for `name`; panics,
/// saying what it listed, if it does not within [`PATIENCE`].
pub(crate) async fn assert_lists(
    matchmaker: &MatchmakerClient,
    name: &str,
    expected: &Endpoints,
    when: &str,
) {
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
pub(crate) async fn gaps_in_listing(
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
pub(crate) fn logged(daemon: &Daemon, text: &str) -> usize {
    daemon
        .stderr()
        .lines()
        .filter(|line| line.contains(text))
        .count()
}
