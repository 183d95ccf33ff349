//! A slow call is acknowledged, then only probed, not retransmitted at full
//! rate.

use crate::procedures::{SLEEP, sleep};
use crate::support::{matchmaker, serve};
use rendezvous_tests::{client, run};

#[test]
fn slow_call_is_acknowledged_and_not_retransmitted_at_full_rate() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[sleep()]).await;
        let client = client(matchmaker.local_addr());
        // Looks the name up and measures a round trip, so the call below
        // runs on the short, measured timeout and costs no lookup.
        let quick: u64 = client.call(&SLEEP, &(0u64,)).await.expect("a quick call");
        assert_eq!(quick, 0);

        let before = client.stats();
        let acks_before = server.stats().acks;
        let slept: u64 = client.call(&SLEEP, &(500u64,)).await.expect("a slow call");
        let after = client.stats();

        assert_eq!(slept, 500);
        assert!(
            server.stats().acks > acks_before,
            "the server never acknowledged a call running 500 ms"
        );
        let sent = after.transmissions - before.transmissions;
        assert!(
            (1..=4).contains(&sent),
            "a 500 ms call took {sent} transmissions; once acknowledged it should only be probed"
        );
        assert_eq!(
            after.lookups, before.lookups,
            "the slow call was taken for a dead endpoint and looked up again"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
