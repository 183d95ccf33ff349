//! A three-member etcd cluster whose leader is killed: everything keeps
//! working.

use crate::load::{COUNT, Executions, Load, assert_each_call_ran_once, start_server};
use crate::support::{
    OUTAGE_LOGGED, PATIENCE, POLL, SERVER_TTL, addresses, assert_lists, endpoints_of,
    gaps_in_listing, logged, run, start_daemons, unique_prefix,
};
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::{client_of, eventually};

/// The fourth scenario: a three-member etcd cluster, and its leader
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
        let load = Load::start(client_of(&both), IN_FLIGHT);
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
