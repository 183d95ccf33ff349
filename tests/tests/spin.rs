//! The spin before parking (`ServerBuilder::spin`, `ClientBuilder::spin`,
//! `rendezvous-core/src/spin.rs`): what each builder sets is what its
//! side does, counted in `datagrams_spun`.
//!
//! A real matchmaker, server and client on loopback. The spinning case
//! uses a one-second budget, so that every datagram of a call in a row
//! arrives while its reader spins, however loaded the machine; it needs a
//! second CPU for the peer to run on meanwhile, so on a process held to
//! one CPU (where no spin ever runs, as the unit tests check) it checks
//! only that nothing spun.

use rendezvous_core::server::CallContext;
use rendezvous_core::{Client, Fingerprint, Procedure, RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use rendezvous_tests::{loopback, run};
use std::time::Duration;

const ECHO: RemoteProcedure = RemoteProcedure {
    name: "spin.echo",
    signature: Fingerprint::of("spin.echo(u64)->u64"),
    idempotent: false,
};

const CALLS: u64 = 20;

fn echo() -> Procedure {
    Procedure::typed(
        ECHO.name,
        ECHO.signature,
        |(n,): (u64,), _: CallContext| async move { n },
    )
}

/// `CALLS` calls one after another, with both sides spinning `budget`:
/// what the server's and the client's stats then count as spun.
fn spun_with(budget: Duration) -> (u64, u64) {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(echo())
            .spin(budget)
            .start()
            .await
            .expect("start a server");
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .spin(budget)
            .build()
            .expect("a client");
        for n in 0..CALLS {
            let answer: u64 = client.call(&ECHO, &(n,)).await.expect("a call");
            assert_eq!(answer, n);
        }
        let spun = (server.stats().datagrams_spun, client.stats().datagrams_spun);
        server.shutdown().await;
        spun
    })
}

/// Whether this process may use more than one CPU.
fn more_than_one_cpu() -> bool {
    std::thread::available_parallelism().is_ok_and(|cpus| cpus.get() > 1)
}

#[test]
fn a_zero_budget_spins_on_neither_side() {
    assert_eq!(spun_with(Duration::ZERO), (0, 0));
}

#[test]
fn each_side_reads_what_arrives_while_it_spins() {
    let (server, client) = spun_with(Duration::from_secs(1));
    if !more_than_one_cpu() {
        assert_eq!((server, client), (0, 0), "spun on one CPU");
        return;
    }
    // The server's first call of the run may find it parked (it spun
    // through its budget before); every reply comes within the client's.
    assert!(
        server >= CALLS / 2,
        "the server spun for {server} of {CALLS} calls"
    );
    assert!(
        client >= CALLS / 2,
        "the client spun for {client} of {CALLS} replies"
    );
}
