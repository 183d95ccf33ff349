//! Arguments and results too large for a datagram: carried by the stream
//! transport up to the message limits; over the client's limit, refused
//! before sending; a server without the stream keeps to a datagram and
//! says a result is too large.

use crate::procedures::{BLOB, LENGTH, blob, length};
use crate::support::{matchmaker, secret, serve};
use rendezvous_core::protocol::wire::MAX_DATAGRAM_BYTES;
use rendezvous_core::{Client, Error, Server};
use rendezvous_tests::{CALL_DEADLINE, client, run};

#[test]
fn arguments_over_the_clients_limit_are_refused_before_sending() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[length()]).await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(CALL_DEADLINE)
            .max_message_bytes(100_000)
            .build()
            .expect("a client");
        let short: u64 = client
            .call(&LENGTH, &("short",))
            .await
            .expect("a warm-up call");
        assert_eq!(short, 5);
        let before = client.stats();
        let result = client
            .call::<_, u64>(&LENGTH, &("x".repeat(150_000),))
            .await;
        match result {
            Err(Error::PayloadTooLarge { what, limit, size }) => {
                assert_eq!((what, limit), ("arguments", 100_000));
                assert!(size > 150_000, "{size}");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        assert_eq!(client.stats(), before, "something was sent");
        assert_eq!(server.stats().executed, 1, "only the warm-up call ran");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn arguments_and_results_beyond_a_datagram_travel_over_the_stream() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[length(), blob()]).await;
        let client = client(matchmaker.local_addr());
        // 65,480 fits a payload but not a datagram; 70,000 neither.
        for size in [65_480usize, 70_000] {
            let length: u64 = client
                .call(&LENGTH, &("x".repeat(size),))
                .await
                .expect("a large argument");
            assert_eq!(length, size as u64);
            let text: String = client
                .call(&BLOB, &(size as u64,))
                .await
                .expect("a large result");
            assert_eq!(text.len(), size);
        }
        assert_eq!(server.stats().executed, 4, "each ran once");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_server_without_the_stream_reports_a_result_too_large_for_a_datagram() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .secret(secret())
            .procedure(blob())
            .stream(None)
            .start()
            .await
            .expect("a server");
        let client = client(matchmaker.local_addr());
        for size in [70_000u64, 65_480] {
            match client.call::<_, String>(&BLOB, &(size,)).await {
                Err(Error::PayloadTooLarge { what, size, limit }) => {
                    assert_eq!((what, limit), ("result", MAX_DATAGRAM_BYTES));
                    assert!(size > limit, "{size} bytes");
                }
                other => panic!("expected PayloadTooLarge, got {other:?}"),
            }
        }
        let small: String = client.call(&BLOB, &(3u64,)).await.expect("a small result");
        assert_eq!(small, "xxx");
        assert_eq!(server.stats().executed, 3);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
