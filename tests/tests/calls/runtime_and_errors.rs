//! Calls outside async-std, a panicking procedure, shutdown with calls in
//! flight, and the errors a caller gets for an unknown procedure or another
//! signature.

use crate::procedures::{ADD, CHECK, SLEEP, add, check, sleep};
use crate::support::{matchmaker, serve, within};
use rendezvous_core::{Error, Fingerprint, RemoteProcedure};
use rendezvous_runtime as rt;
use rendezvous_tests::eventually;
use rendezvous_tests::{client, run};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn calls_work_from_a_plain_block_on_outside_async_std() {
    let (matchmaker, server) = run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        (matchmaker, server)
    });
    let address = matchmaker.local_addr();
    let outcome = std::thread::spawn(move || {
        futures_lite::future::block_on(async move {
            rt::timeout(Duration::from_secs(60), async {
                let client = client(address);
                let first: u64 = client.call(&ADD, &(1, 2)).await?;
                let second: u64 = client.call(&ADD, &(3, 4)).await?;
                Ok::<_, Error>((first, second))
            })
            .await
        })
    })
    .join()
    .expect("the calling thread panicked");
    let sums = outcome
        .expect("calls under a plain block_on hung")
        .expect("calls under a plain block_on failed");
    assert_eq!(sums, (1_002, 3_004));
    run(async {
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn panicking_procedure_is_reported_and_the_server_keeps_serving() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[check()]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&CHECK, &(3u64,)).await {
            Err(Error::ProcedurePanicked {
                procedure,
                endpoint,
                message,
            }) => {
                assert_eq!(procedure, CHECK.name);
                assert_eq!(endpoint, server.local_addr());
                assert!(
                    message.contains("check refuses odd number 3"),
                    "{message:?}"
                );
            }
            other => panic!("expected ProcedurePanicked, got {other:?}"),
        }
        assert_eq!(client.call::<_, u64>(&CHECK, &(4u64,)).await.unwrap(), 4);
        assert_eq!(server.stats().executed, 2);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn shutdown_unregisters_and_finishes_calls_in_flight() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[sleep()]).await;
        let client = client(matchmaker.local_addr());
        let in_flight = rt::spawn({
            let client = client.clone();
            async move { client.call::<_, u64>(&SLEEP, &(1_000u64,)).await }
        });
        let running = eventually(
            Duration::from_secs(30),
            Duration::from_millis(5),
            || async { (server.stats().executed >= 1).then_some(()) },
        )
        .await;
        assert!(running.is_some(), "the call never reached the server");

        server.shutdown().await;
        let result = within(Duration::from_secs(60), "the call in flight", in_flight).await;
        assert_eq!(result.expect("the call in flight completes"), 1_000);
        match client
            .matchmaker()
            .lookup(SLEEP.name, Some(SLEEP.signature))
            .await
        {
            Err(Error::NotFound { name }) => assert_eq!(name, SLEEP.name),
            other => panic!("expected NotFound after shutdown, got {other:?}"),
        }
        matchmaker.shutdown().await;
    });
}

#[test]
fn unknown_procedure_is_not_found() {
    const NOBODY: RemoteProcedure = RemoteProcedure {
        name: "calls.nobody",
        signature: Fingerprint::of("calls.nobody()->u64"),
        idempotent: false,
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&NOBODY, &()).await {
            Err(Error::NotFound { name }) => assert_eq!(name, NOBODY.name),
            other => panic!("expected NotFound, got {other:?}"),
        }
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn caller_with_another_signature_gets_signature_mismatch() {
    const ADD_V2: RemoteProcedure = RemoteProcedure {
        signature: Fingerprint::of("calls.add(u64,u64,u64)->u64"),
        ..ADD
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        match client.call::<_, u64>(&ADD_V2, &(1u64, 2u64, 3u64)).await {
            Err(Error::SignatureMismatch {
                name,
                expected,
                available,
                ..
            }) => {
                assert_eq!(name, ADD.name);
                assert_eq!(expected, ADD_V2.signature);
                assert_eq!(available, vec![ADD.signature]);
            }
            other => panic!("expected SignatureMismatch, got {other:?}"),
        }
        assert_eq!(server.stats().executed, 0);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn caller_with_another_signature_at_a_known_address_is_refused_by_the_server() {
    const ADD_V2: RemoteProcedure = RemoteProcedure {
        signature: Fingerprint::of("calls.add(u64,u64,u64)->u64"),
        ..ADD
    };
    run(async {
        let matchmaker = matchmaker().await;
        let server = serve(matchmaker.local_addr(), &[add(&Arc::default())]).await;
        let client = client(matchmaker.local_addr());
        let result = client
            .call_at::<_, u64>(server.local_addr(), &ADD_V2, &(1u64, 2u64, 3u64))
            .await;
        match result {
            Err(Error::Remote {
                procedure,
                endpoint,
                refusal,
            }) => {
                let reason = refusal.to_string();
                assert_eq!(procedure, ADD.name);
                assert_eq!(endpoint, server.local_addr());
                assert!(reason.contains(&ADD.signature.to_string()), "{reason:?}");
            }
            other => panic!("expected the server to refuse the call, got {other:?}"),
        }
        assert_eq!(server.stats().executed, 0);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
