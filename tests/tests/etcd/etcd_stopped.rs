//! etcd stopped: lookups go on from the daemons' caches, registrations are
//! refused, and everything resumes when etcd is back.

use crate::load::{COUNT, Executions, assert_each_call_ran_once, start_server};
use crate::support::{
    Endpoints, LONG_TTL, OUTAGE_LOGGED, PATIENCE, POLL, RECOVERY_LOGGED, addresses, assert_lists,
    endpoints_of, listed, logged, register, run, start_daemons, unique_prefix,
};
use rendezvous_core::Error;
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::loopback;
use rendezvous_tests::{client_of, eventually};
use std::collections::BTreeMap;

/// The third scenario: etcd stops. Both daemons still answer
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
        let held_at = loopback(40_003);
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
                match register(probe, "etcd.outage", loopback(40_004), LONG_TTL).await {
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
                let registered = register(probe, "etcd.outage", loopback(40_004), LONG_TTL).await;
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
        let late = register(&probes[1], "etcd.late", loopback(40_005), LONG_TTL)
            .await
            .expect("register after etcd came back");
        assert_lists(
            &probes[0],
            "etcd.late",
            &Endpoints::from([(loopback(40_005), 1)]),
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
        let caller = client_of(&both);
        let mut results = BTreeMap::new();
        for id in 0..100 {
            results.insert(id, caller.call::<_, u64>(&COUNT, &(id,)).await);
        }
        assert_each_call_ran_once(&results, &[&first_runs, &second_runs]);
    });
}
