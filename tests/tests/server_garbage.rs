//! A user server fed garbage, truncated, oversized and replayed datagrams
//! keeps serving valid clients, runs nothing twice, and stays within its
//! memory bounds.

use rendezvous_core::protocol::wire::{Call, ClientId, Incarnation, MAX_DATAGRAM_BYTES, Xid};
use rendezvous_core::{Client, Fingerprint, Procedure, RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use rendezvous_runtime::UdpSocket;
use rendezvous_tests::run;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ECHO: RemoteProcedure = RemoteProcedure {
    name: "garbage.echo",
    signature: Fingerprint::of("garbage.echo(u64)->u64"),
    idempotent: false,
};

const REPLY_CACHE_BYTES: usize = 256 * 1024;

#[test]
fn garbage_truncated_oversized_and_replayed_datagrams_do_not_disturb_a_server() {
    run(async {
        let matchmaker = Matchmaker::bind("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("matchmaker binds");
        // Runs of the raw call (client 0xfeed, xid 1): its argument is 7,
        // or a bit flip of it; the valid client sends multiples of 40 and 99.
        let raw_runs = Arc::new(AtomicU64::new(0));
        let counter = raw_runs.clone();
        let echo = Procedure::typed(ECHO.name, ECHO.signature, move |(n,): (u64,), _| {
            if n % 40 != 0 && n != 99 {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            async move { n }
        });
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .procedure(echo)
            .linked_procedures(false)
            .reply_cache_bytes(REPLY_CACHE_BYTES)
            .start()
            .await
            .expect("server starts");
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(30))
            .build()
            .expect("client builds");

        // One valid call, sent raw, that will be replayed many times.
        let valid = Call {
            client: ClientId(0xfeed),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: ECHO.name.into(),
            signature: ECHO.signature,
            deadline: Duration::from_secs(60),
            done_below: Xid(1),
            args: rendezvous_core::protocol::wire::encode_payload(&(7u64,))
                .expect("args encode")
                .into(),
            elsewhere: Default::default(),
        }
        .encode()
        .expect("call encodes");
        let attacker = UdpSocket::bind("127.0.0.1:0").await.expect("socket binds");
        let target = server.local_addr();
        let mut rng = fastrand::Rng::with_seed(5);
        let mut valid_calls = 0u64;
        for i in 0..4_000u64 {
            let datagram = match i % 4 {
                0 => (0..rng.usize(..1500)).map(|_| rng.u8(..)).collect(),
                1 => valid[..rng.usize(..valid.len())].to_vec(),
                2 => {
                    // A flip inside the arguments: the same call (client,
                    // xid) with other bytes, which must not run it again.
                    let mut flipped = valid.clone();
                    let at = flipped.len() - 1 - rng.usize(..2);
                    flipped[at] ^= 1 << rng.u8(..8);
                    flipped
                }
                _ => valid.clone(),
            };
            let _ = attacker.send_to(&datagram, target).await;
            if i % 40 == 0 {
                let oversized = vec![0x8a; MAX_DATAGRAM_BYTES];
                let _ = attacker.send_to(&oversized, target).await;
                let n: u64 = client
                    .call(&ECHO, &(i,))
                    .await
                    .expect("a valid call succeeds");
                assert_eq!(n, i);
                valid_calls += 1;
            }
        }
        let last: u64 = client
            .call(&ECHO, &(99,))
            .await
            .expect("the server still answers");
        assert_eq!(last, 99);
        valid_calls += 1;

        let stats = server.stats();
        assert!(
            stats.malformed > 100,
            "the garbage reached the server: {stats:?}"
        );
        assert!(
            stats.reply_cache_bytes <= REPLY_CACHE_BYTES as u64,
            "{stats:?}"
        );
        // The raw call ran at most once, however often and however altered
        // it came; its duplicates were answered from the reply cache.
        assert!(raw_runs.load(Ordering::SeqCst) <= 1);
        assert!(stats.replayed > 0, "{stats:?}");
        assert!(
            stats.executed <= valid_calls + 1,
            "{stats:?}: {valid_calls} valid calls"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
