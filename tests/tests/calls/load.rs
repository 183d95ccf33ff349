//! Many calls at once from one client, and calls spread over two servers.

use crate::procedures::{ADD, add, add_result};
use crate::support::{matchmaker, serve};
use rendezvous_runtime as rt;
use rendezvous_tests::{client, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn a_thousand_concurrent_calls_from_one_client_complete() {
    const CALLS: u64 = 1_000;
    run(async {
        let matchmaker = matchmaker().await;
        let executions = Arc::new(AtomicU64::new(0));
        let server = serve(matchmaker.local_addr(), &[add(&executions)]).await;
        let client = client(matchmaker.local_addr());
        let calls: Vec<_> = (0..CALLS)
            .map(|n| {
                let client = client.clone();
                rt::spawn(async move { (n, client.call::<_, u64>(&ADD, &(n, 7)).await) })
            })
            .collect();
        let mut failures = Vec::new();
        for call in calls {
            match call.await {
                (n, Ok(sum)) if sum == add_result(n, 7) => {}
                (n, other) => failures.push(format!("add({n}, 7) -> {other:?}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {CALLS} calls failed; the first: {:#?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_eq!(executions.load(Ordering::SeqCst), CALLS);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn calls_spread_across_two_servers() {
    const CALLS: u64 = 200;
    run(async {
        let matchmaker = matchmaker().await;
        let one = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let two = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        for n in 0..CALLS {
            assert_eq!(
                client.call::<_, u64>(&ADD, &(n, 1)).await.unwrap(),
                add_result(n, 1)
            );
        }
        let (at_one, at_two) = (one.stats().executed, two.stats().executed);
        assert_eq!(at_one + at_two, CALLS);
        assert!(
            at_one > 0 && at_two > 0,
            "all calls went to one server: {at_one} and {at_two}"
        );
        one.shutdown().await;
        two.shutdown().await;
        matchmaker.shutdown().await;
    });
}
