//! Servers that die and come back, met by fresh clients (issue 13, items
//! 1(b), 1(c), 1(d) and 6), with real `fault-server` processes, `kill -9`,
//! and no relay: the kernel answers for a port nothing listens on.
//!
//! * A listed endpoint where nothing listens refuses the first copy of a
//!   call (port unreachable); the call, known not to have run there, moves
//!   to another endpoint at once, and runs once. No client unlists the dead
//!   one: only its lease, or a new incarnation at its address, does.
//! * A server restarted on the same port replaces the old incarnation in
//!   the matchmaker at once (the matchmaker asks the endpoint who holds
//!   it); a registration at an endpoint held by another incarnation
//!   replaces nothing.
//! * Fresh clients spread over a name's endpoints.
//!
//! Counts are asserted, never durations: a call that waited out its timers
//! at a dead endpoint would have retransmitted there.

use rendezvous_core::Client;
use rendezvous_tests::fault_server::procedures::count;
use rendezvous_tests::fault_server::{ExecutionLog, FaultServer, FaultServerConfig, ScratchDir};
use rendezvous_tests::{Daemon, eventually};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longer than the test: a dead server stays listed until replaced.
const LEASE_TTL: Duration = Duration::from_secs(60);

const CLIENTS: u64 = 20;

/// Copies in a row an attempt leaves unanswered before it gives up on an
/// endpoint (the client's `MAX_UNANSWERED`): a call that met a silent
/// endpoint retransmitted there this many times less one.
const MAX_UNANSWERED: u64 = 4;

fn config(matchmaker: SocketAddr, bind: SocketAddr, log: PathBuf) -> FaultServerConfig {
    FaultServerConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_fault-server")),
        matchmaker,
        bind,
        advertise: None,
        lease_ttl: LEASE_TTL,
        log,
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn fresh_client(matchmaker: SocketAddr) -> Client {
    Client::builder()
        .matchmaker(matchmaker)
        .deadline(Duration::from_secs(30))
        .build()
        .expect("build a client")
}

async fn listed(client: &Client) -> Vec<(SocketAddr, u64)> {
    client
        .matchmaker()
        .lookup(count::PROCEDURE.name, None)
        .await
        .expect("look up fault.count")
        .iter()
        .map(|e| (e.address, e.incarnation))
        .collect()
}

#[test]
fn fresh_clients_spread_over_the_endpoints_of_a_name() {
    let scratch = ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "spread");
    let daemon = Daemon::start(&[]);
    let logs = [scratch.join("a.log"), scratch.join("b.log")];
    let _servers: Vec<FaultServer> = logs
        .iter()
        .map(|log| FaultServer::start(&config(daemon.address(), any_port(), log.clone())))
        .collect();
    rendezvous_tests::run(async {
        for id in 0..CLIENTS {
            let client = fresh_client(daemon.address());
            assert_eq!(count::remote_with(&client, id).await.ok(), Some(id));
        }
    });
    let runs: Vec<u64> = logs
        .iter()
        .map(|log| ExecutionLog::read(log).total("count", "run"))
        .collect();
    assert_eq!(runs.iter().sum::<u64>(), CLIENTS, "{runs:?}");
    assert!(
        runs.iter().all(|&n| n > 0),
        "{CLIENTS} fresh clients all called one server: {runs:?}"
    );
}

#[test]
fn a_dead_listed_server_refuses_fresh_calls_at_once_and_they_run_elsewhere() {
    let scratch = ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "dead-endpoint");
    let daemon = Daemon::start(&[]);
    let (dead_log, live_log) = (scratch.join("dead.log"), scratch.join("live.log"));
    let mut dead = FaultServer::start(&config(daemon.address(), any_port(), dead_log.clone()));
    let _live = FaultServer::start(&config(daemon.address(), any_port(), live_log.clone()));
    let (dead_at, dead_incarnation) = (dead.address(), dead.incarnation());
    dead.kill();
    let results = rendezvous_tests::run(async {
        let mut results = Vec::new();
        for client_number in 0..CLIENTS {
            let client = fresh_client(daemon.address());
            // Two calls each: the second must not pay for the dead one either.
            for call in 0..2 {
                let id = client_number * 2 + call;
                let result = count::remote_with(&client, id).await;
                results.push((id, result, client.stats().retransmissions));
            }
        }
        // Nobody but its lease (or a successor) unlists the dead server.
        let observer = fresh_client(daemon.address());
        assert!(
            listed(&observer)
                .await
                .contains(&(dead_at, dead_incarnation)),
            "a client's failure unlisted another server"
        );
        results
    });
    let (dead_runs, live_runs) = (
        ExecutionLog::read(&dead_log).counts("count", "run"),
        ExecutionLog::read(&live_log).counts("count", "run"),
    );
    assert!(dead_runs.is_empty(), "{dead_runs:?}");
    for (id, result, retransmissions) in &results {
        assert_eq!(result.as_ref().ok(), Some(id), "count({id}) -> {result:?}");
        assert_eq!(
            live_runs.get(id),
            Some(&1),
            "count({id}) ran {:?}x",
            live_runs.get(id)
        );
        assert!(
            *retransmissions < MAX_UNANSWERED - 1,
            "count({id}) waited out its timers somewhere: its client retransmitted {retransmissions} times"
        );
    }
}

#[test]
fn a_server_restarted_on_its_port_replaces_the_dead_one_at_once() {
    let scratch = ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "replaced");
    let daemon = Daemon::start(&[]);
    let mut old = FaultServer::start(&config(
        daemon.address(),
        any_port(),
        scratch.join("old.log"),
    ));
    let at = old.address();
    let old_incarnation = old.incarnation();
    old.kill();
    let mut new = None;
    for _ in 0..20 {
        if let Ok(server) = std::panic::catch_unwind(|| {
            FaultServer::start(&config(daemon.address(), at, scratch.join("new.log")))
        }) {
            new = Some(server);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let new = new.expect("restart the server on its port");
    assert_ne!(new.incarnation(), old_incarnation);
    rendezvous_tests::run(async {
        let client = fresh_client(daemon.address());
        // The matchmaker asks the endpoint who holds it, and ends the dead
        // incarnation's lease when the new one answers: within a round
        // trip, long before the lease would end.
        let expected = vec![(at, new.incarnation())];
        let replaced = eventually(
            Duration::from_secs(20),
            Duration::from_millis(10),
            || async { (listed(&client).await == expected).then_some(()) },
        )
        .await;
        assert!(
            replaced.is_some(),
            "still listed: {:?}",
            listed(&client).await
        );
        assert_eq!(count::remote_with(&client, 7).await.ok(), Some(7));
    });
}

#[test]
fn a_registration_at_a_live_servers_endpoint_replaces_nothing() {
    let scratch = ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), "impostor");
    // Signed: without a secret, no process may register at an endpoint it
    // does not send from at all; with one, a holder of the secret can, and
    // the matchmaker's check must still replace nothing.
    let daemon = Daemon::start_signed(&[]);
    let secret = daemon.secret_file().expect("a signed daemon");
    let server = FaultServer::start_signed(
        &config(daemon.address(), any_port(), scratch.join("s.log")),
        secret.path(),
    );
    let at = server.address();
    rendezvous_tests::run(async {
        let client = fresh_client(daemon.address());
        let impostor_matchmaker = daemon.client().await;
        let spec = rendezvous_core::protocol::matchmaker::ProcedureSpec {
            signature_text: None,
            name: count::NAME.into(),
            signature: count::SIGNATURE,
        };
        let impostor = rendezvous_core::protocol::wire::Incarnation(server.incarnation() ^ 1);
        impostor_matchmaker
            .register(vec![spec], at, impostor, LEASE_TTL)
            .await
            .expect("register at the live server's endpoint");
        // Give the matchmaker's check time to happen (and to do nothing).
        let mut seen = Vec::new();
        for _ in 0..20 {
            seen = listed(&client).await;
            rendezvous_runtime::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            seen.contains(&(at, server.incarnation())),
            "the live server was unlisted by another's registration: {seen:?}"
        );
    });
}
