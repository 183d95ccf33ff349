//! Calls in flight together share datagrams; a lone call is never held back.

use crate::procedures::{ADD, add, add_result};
use crate::support::{matchmaker, serve, within};
use rendezvous_core::Error;
use rendezvous_runtime as rt;
use rendezvous_tests::{CALL_DEADLINE, client, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Calls in flight together share datagrams both ways, and still each run
/// exactly once with its own result.
#[test]
fn calls_in_flight_together_are_batched_and_each_runs_once() {
    const TASKS: u64 = 64;
    const CALLS_PER_TASK: u64 = 50;
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        // Resolve once, so the burst below is calls only.
        let warm: u64 = client
            .call(&ADD, &(0u64, 0u64))
            .await
            .expect("warm-up call");
        assert_eq!(warm, 0);
        let before = client.stats();
        let server_before = server.stats();

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let client = client.clone();
                rt::spawn(async move {
                    for i in 0..CALLS_PER_TASK {
                        let sum: u64 = client.call(&ADD, &(task, i)).await?;
                        assert_eq!(sum, add_result(task, i), "call ({task}, {i})");
                    }
                    Ok::<(), Error>(())
                })
            })
            .collect();
        for task in tasks {
            within(CALL_DEADLINE * 2, "a task of calls", task)
                .await
                .expect("every call succeeds");
        }

        let calls = TASKS * CALLS_PER_TASK;
        let sent = client.stats();
        let transmissions = sent.transmissions - before.transmissions;
        let datagrams = sent.datagrams - before.datagrams;
        assert!(
            transmissions >= calls,
            "{transmissions} transmissions for {calls} calls"
        );
        assert!(
            datagrams < transmissions,
            "{transmissions} transmissions went out in {datagrams} datagrams: none were batched"
        );
        let served = server.stats();
        let executed = served.executed - server_before.executed;
        assert_eq!(executed, calls, "every call ran exactly once");
        assert_eq!(executions.load(Ordering::SeqCst), calls + 1);
        let received = served.datagrams_received - server_before.datagrams_received;
        let replied = served.datagrams_sent - server_before.datagrams_sent;
        assert!(
            received < calls && replied < calls,
            "{calls} calls arrived in {received} datagrams and were answered in {replied}: \
             the server batched nothing"
        );
        server.shutdown().await;
    });
}

/// One call at a time is never held back to wait for company.
#[test]
fn a_lone_call_goes_out_in_a_datagram_of_its_own() {
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        for i in 0..20u64 {
            let sum: u64 = client.call(&ADD, &(1u64, i)).await.expect("call");
            assert_eq!(sum, add_result(1, i));
        }
        let stats = client.stats();
        assert_eq!(stats.datagrams, stats.transmissions);
        server.shutdown().await;
    });
}
