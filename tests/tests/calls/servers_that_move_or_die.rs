//! Servers that restart on a new port or the same one, crash, vanish, or
//! are unreachable for a while: calls find them again, fail with the right
//! error, or complete elsewhere when that is safe.

use crate::procedures::{ADD, SLEEP, add, sleep};
use crate::support::{
    faithful_relay, gate, matchmaker, quick_failover, serve, serve_behind, signed_matchmaker,
    within,
};
use rendezvous_core::client::MAX_UNANSWERED;
use rendezvous_core::{Client, Error, RemoteProcedure, Server};
use rendezvous_runtime as rt;
use rendezvous_tests::gate::Gate;
use rendezvous_tests::{CALL_DEADLINE, client, run};
use rendezvous_tests::{Relay, eventually};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

        // The first call meets the still-listed endpoint where nothing
        // listens any more: the kernel refuses its copy (port unreachable),
        // so it is known not to have run there, and even a non-idempotent
        // call moves to the replacement (issue 13, item 1(c)). A silent
        // endpoint that may have taken the call is `OutcomeUnknown`
        // instead (the failover state machine's tests, and crash.rs).
        assert_eq!(client.call::<_, u64>(&ADD, &(3, 4)).await.unwrap(), 3_004);
        assert_eq!(client.call::<_, u64>(&ADD, &(5, 6)).await.unwrap(), 5_006);
        assert!(client.stats().lookups > lookups);
        assert_eq!(old_runs.load(Ordering::SeqCst), 1);
        assert_eq!(new_runs.load(Ordering::SeqCst), 2);

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
        assert_eq!(new_runs.load(Ordering::SeqCst), 4);
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
        let matchmaker = signed_matchmaker().await;
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
    let matchmaker = signed_matchmaker().await;
    let (first, gate) =
        serve_behind(matchmaker.local_addr(), &[sleep()], gate, Gate::local_addr).await;
    // A non-idempotent call whose server died after acknowledging it may
    // be probed until its deadline (while the matchmaker lists that server
    // alone), so keep that short.
    let deadline = if procedure.idempotent {
        CALL_DEADLINE
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
        let matchmaker = signed_matchmaker().await;
        let (server, gate) =
            serve_behind(matchmaker.local_addr(), &[sleep()], gate, Gate::local_addr).await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .retry_policy(quick_failover(CALL_DEADLINE))
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
        let matchmaker = signed_matchmaker().await;
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
