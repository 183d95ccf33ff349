//! A daemon killed under load: no call and no registration is lost.

use crate::load::{COUNT, Executions, Load, assert_each_call_ran_once, start_server};
use crate::support::{
    SERVER_TTL, addresses, assert_lists, endpoints_of, gaps_in_listing, run, start_daemons,
    unique_prefix,
};
use rendezvous_tests::client_of;
use rendezvous_tests::etcd::Etcd;

/// The second scenario: daemon A is killed with SIGKILL while a
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

        let load = Load::start(client_of(&both), IN_FLIGHT);
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
        let newcomer = client_of(&both);
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
