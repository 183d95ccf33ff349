//! Calls keep working while the matchmaker restarts, and a server started
//! before its matchmaker registers when it appears.

use crate::procedures::{ADD, add, add_result};
use rendezvous_core::Server;
use rendezvous_daemon::Matchmaker;
use rendezvous_tests::{Daemon, eventually};
use rendezvous_tests::{client, free_address, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[test]
fn matchmaker_restart_keeps_calls_working() {
    let mut daemon = Daemon::start(&[]);
    let address = daemon.address();
    run(async {
        let executions = Arc::new(AtomicU64::new(0));
        // A 6 s lease: renewed every 2 s, so the server notices a restarted
        // matchmaker soon; clients cache its endpoint for 4 s or more.
        let server = Server::builder()
            .matchmaker(address)
            .procedure(add(&executions))
            .lease_ttl(Duration::from_secs(6))
            .start()
            .await
            .expect("start a server");
        assert!(server.is_registered());
        let client = client(address);
        assert_eq!(client.call::<_, u64>(&ADD, &(1, 2)).await.unwrap(), 1_002);
        let lookups = client.stats().lookups;

        daemon.kill();
        for n in 0..20 {
            let sum = client
                .call::<_, u64>(&ADD, &(2, n))
                .await
                .expect("a call to the cached endpoint while the matchmaker is down");
            assert_eq!(sum, add_result(2, n));
        }
        assert_eq!(
            client.stats().lookups,
            lookups,
            "the calls needed the matchmaker"
        );

        let _restarted = Daemon::start_on(address);
        let newcomer = self::client(address);
        let found = eventually(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async { newcomer.call::<_, u64>(&ADD, &(3, 4)).await.ok() },
        )
        .await;
        assert_eq!(
            found,
            Some(3_004),
            "a new client never found the server at the restarted matchmaker"
        );
        assert!(server.is_registered());
        assert_eq!(executions.load(Ordering::SeqCst), 22);
        server.shutdown().await;
    });
}

#[test]
fn server_starts_without_a_matchmaker_and_registers_when_it_appears() {
    run(async {
        let matchmaker_address = free_address();
        let server = Server::builder()
            .matchmaker(matchmaker_address)
            .procedure(add(&Arc::default()))
            .start()
            .await
            .expect("a server starts although no matchmaker answers");
        assert!(!server.is_registered());
        let client = client(matchmaker_address);
        let direct: u64 = client
            .call_at(server.local_addr(), &ADD, &(1, 2))
            .await
            .expect("a call to the server's address");
        assert_eq!(direct, 1_002);

        let matchmaker = Matchmaker::bind(matchmaker_address)
            .await
            .expect("bind the matchmaker where the server looks for it");
        let registered = eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async { server.is_registered().then_some(()) },
        )
        .await;
        assert!(registered.is_some(), "the server never registered");
        assert_eq!(client.call::<_, u64>(&ADD, &(3, 4)).await.unwrap(), 3_004);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
