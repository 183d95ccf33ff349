//! Arguments and results too large for a datagram: refused before sending,
//! or reported as too large.

use crate::procedures::{BLOB, LENGTH, blob, length};
use crate::support::{matchmaker, serve};
use rendezvous_core::Error;
use rendezvous_core::protocol::wire::MAX_DATAGRAM_BYTES;
use rendezvous_tests::{client, run};

/// Calls `length` with a string of `size` bytes after a warm-up call, and
/// checks that it is refused as too large without a datagram being sent.
async fn call_with_oversized_argument(size: usize) {
    let matchmaker = matchmaker().await;
    let server = serve(matchmaker.local_addr(), &[length()]).await;
    let client = client(matchmaker.local_addr());
    let short: u64 = client
        .call(&LENGTH, &("short",))
        .await
        .expect("a warm-up call");
    assert_eq!(short, 5);

    let before = client.stats();
    let result = client.call::<_, u64>(&LENGTH, &("x".repeat(size),)).await;
    match result {
        Err(Error::PayloadTooLarge { what, limit, .. }) => {
            assert_eq!(what, "arguments");
            assert_eq!(limit, MAX_DATAGRAM_BYTES);
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(client.stats(), before, "something was sent");
    assert_eq!(server.stats().executed, 1, "only the warm-up call ran");
    server.shutdown().await;
    matchmaker.shutdown().await;
}

#[test]
fn oversized_arguments_are_refused_before_sending() {
    run(call_with_oversized_argument(70_000));
}

#[test]
fn arguments_that_fit_a_payload_but_not_a_datagram_are_refused_before_sending() {
    // The args payload (65,483 bytes) is under the limit; the call around
    // it is not.
    run(call_with_oversized_argument(65_480));
}

/// Calls `blob(size)` and expects PayloadTooLarge for its result; then a
/// small call works.
async fn call_with_oversized_result(size: u64) -> Error {
    let matchmaker = matchmaker().await;
    let server = serve(matchmaker.local_addr(), &[blob()]).await;
    let client = client(matchmaker.local_addr());
    let error = match client.call::<_, String>(&BLOB, &(size,)).await {
        Err(error @ Error::PayloadTooLarge { .. }) => error,
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    };
    let small: String = client.call(&BLOB, &(3u64,)).await.expect("a small result");
    assert_eq!(small, "xxx");
    assert_eq!(server.stats().executed, 2);
    server.shutdown().await;
    matchmaker.shutdown().await;
    error
}

#[test]
fn oversized_result_is_reported_as_payload_too_large() {
    run(async {
        match call_with_oversized_result(70_000).await {
            Error::PayloadTooLarge { what, size, limit } => {
                assert_eq!(what, "result");
                assert_eq!(limit, MAX_DATAGRAM_BYTES);
                assert!(size > limit, "{size} bytes");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    });
}

#[test]
fn result_that_fits_a_payload_but_not_a_reply_is_reported_as_payload_too_large() {
    run(async {
        match call_with_oversized_result(65_480).await {
            Error::PayloadTooLarge { what, limit, .. } => {
                assert_eq!(what, "result");
                assert_eq!(limit, MAX_DATAGRAM_BYTES);
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    });
}
