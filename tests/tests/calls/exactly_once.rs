//! Every call runs exactly once and returns its own result, through a link
//! that drops, duplicates and reorders datagrams.

use crate::procedures::{ADD, add, add_result};
use crate::support::{serve_behind, signed_matchmaker};
use rendezvous_core::Client;
use rendezvous_runtime as rt;
use rendezvous_tests::run;
use rendezvous_tests::{Relay, RelayConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// 2,000 calls (50 tasks of 40 calls, one client) through a relay that
/// drops 30 % of the datagrams both ways, duplicates 10 % and reorders 10 %:
/// every call returns its own result, and the server runs each exactly once.
#[test]
fn lossy_network_runs_every_call_exactly_once() {
    const TASKS: u64 = 50;
    const CALLS_PER_TASK: u64 = 40;
    run(async {
        let matchmaker = signed_matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let lossy = RelayConfig {
            seed: 0x1055_1e55,
            drop: 0.3,
            duplicate: 0.1,
            reorder: 0.1,
            max_delay: Duration::from_millis(10),
        };
        let (server, relay) = serve_behind(
            matchmaker.local_addr(),
            &[add(&executions)],
            |target| Relay::start(target, lossy.clone()).expect("start a lossy relay"),
            Relay::local_addr,
        )
        .await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(60))
            .build()
            .expect("build a client");

        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let client = client.clone();
                rt::spawn(async move {
                    let mut failures = Vec::new();
                    for call in 0..CALLS_PER_TASK {
                        match client.call::<_, u64>(&ADD, &(task, call)).await {
                            Ok(sum) if sum == add_result(task, call) => {}
                            other => failures.push(format!("add({task}, {call}) -> {other:?}")),
                        }
                    }
                    failures
                })
            })
            .collect();
        let mut failures = Vec::new();
        for task in tasks {
            failures.extend(task.await);
        }
        // Late copies still in the relay must not run anything again.
        rt::sleep(Duration::from_millis(100)).await;

        let total = TASKS * CALLS_PER_TASK;
        assert!(
            failures.is_empty(),
            "{} of {total} calls failed; the first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(executions.load(Ordering::SeqCst), total);
        assert_eq!(server.stats().executed, total);
        let faults = relay.stats();
        assert!(
            faults.dropped > 0 && faults.duplicated > 0 && faults.reordered > 0,
            "the relay did not apply every fault: {faults:?}"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
