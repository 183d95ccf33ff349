//! Handlers that use tokio (rendezvous-core's `tokio` feature): a server
//! started inside a tokio runtime runs its handlers inside that runtime,
//! so tokio's timers, sockets and `spawn` work in them; a server started
//! outside any tokio runtime runs them as without the feature.
//!
//! Needs the feature (`required-features` in Cargo.toml):
//!   cargo test -p rendezvous-tests --features tokio --test tokio_handlers
//!
//! A real server and matchmaker on loopback, called by a real client; the
//! handler's own sockets are on 127.0.0.1 too. Every wait is bounded.

use rendezvous_core::{Client, Error, Fingerprint, Procedure, RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use rendezvous_tests::{loopback, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const ROUNDTRIP: RemoteProcedure = RemoteProcedure {
    name: "tokio.roundtrip",
    signature: Fingerprint::of("tokio.roundtrip(u64)->u64"),
    idempotent: false,
};

const INSIDE: RemoteProcedure = RemoteProcedure {
    name: "tokio.inside",
    signature: Fingerprint::of("tokio.inside()->bool"),
    idempotent: false,
};

const HOLD: RemoteProcedure = RemoteProcedure {
    name: "tokio.hold",
    signature: Fingerprint::of("tokio.hold()->()"),
    idempotent: false,
};

/// How long a test may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(60);

/// `tokio.roundtrip(n)`: sleeps on tokio's timer, sends `n` from one tokio
/// UDP socket to another on loopback, and returns what arrived plus one,
/// computed in a task spawned on tokio. Each of these panics outside a
/// tokio runtime ("there is no reactor running").
fn roundtrip() -> Procedure {
    Procedure::typed(
        ROUNDTRIP.name,
        ROUNDTRIP.signature,
        |(n,): (u64,), _| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let from = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind a tokio socket");
            let to = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind a tokio socket");
            let to_address = to.local_addr().expect("its address");
            from.send_to(&n.to_be_bytes(), to_address)
                .await
                .expect("send on a tokio socket");
            let mut buffer = [0u8; 8];
            let (length, sender) = tokio::time::timeout(LIMIT, to.recv_from(&mut buffer))
                .await
                .expect("the datagram arrives")
                .expect("receive on a tokio socket");
            assert_eq!(length, 8);
            assert_eq!(sender, from.local_addr().expect("its address"));
            tokio::spawn(async move { u64::from_be_bytes(buffer) + 1 })
                .await
                .expect("the spawned task")
        },
    )
}

/// `tokio.inside()`: whether the handler runs inside a tokio runtime. It
/// never waits, so it finishes in the receive loop's first poll.
fn inside() -> Procedure {
    Procedure::typed(INSIDE.name, INSIDE.signature, |(): (), _| async {
        tokio::runtime::Handle::try_current().is_ok()
    })
}

/// What a pooled connection does when dropped: gives itself back to its
/// pool in a task spawned on tokio (as pools built on tokio do).
struct Pooled {
    returned: Arc<AtomicBool>,
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let returned = self.returned.clone();
        tokio::spawn(async move { returned.store(true, Ordering::SeqCst) });
    }
}

/// `tokio.hold()`: holds a [`Pooled`] and sleeps on tokio far past any
/// deadline of its caller, so it ends cancelled, dropped.
fn hold(returned: Arc<AtomicBool>) -> Procedure {
    Procedure::typed(HOLD.name, HOLD.signature, move |(): (), _| {
        let returned = returned.clone();
        async move {
            let _connection = Pooled { returned };
            tokio::time::sleep(LIMIT * 10).await;
        }
    })
}

async fn serve(matchmaker: &Matchmaker) -> Server {
    Server::builder()
        .matchmaker(matchmaker.local_addr())
        .linked_procedures(false)
        .procedure(roundtrip())
        .procedure(inside())
        .start()
        .await
        .expect("start a server")
}

fn client(matchmaker: &Matchmaker) -> Client {
    Client::builder()
        .matchmaker(matchmaker.local_addr())
        .deadline(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// Starts a matchmaker and a server from the runtime this runs in, and
/// calls both procedures.
async fn serve_and_call_from_tokio() {
    let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
    let server = serve(&matchmaker).await;
    let client = client(&matchmaker);
    let inside: bool = client.call(&INSIDE, &()).await.expect("tokio.inside");
    assert!(
        inside,
        "the handler did not run inside the server's runtime"
    );
    for n in 0..20u64 {
        let answer: Result<u64, Error> = client.call(&ROUNDTRIP, &(n,)).await;
        assert_eq!(answer.expect("tokio.roundtrip returns"), n + 1);
    }
    let stats = server.stats();
    assert_eq!(stats.executed, 21, "{stats:?}");
    server.shutdown().await;
    matchmaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_use_tokio_when_the_server_starts_in_a_multi_thread_runtime() {
    tokio::time::timeout(LIMIT, serve_and_call_from_tokio())
        .await
        .expect("the test hangs");
}

#[tokio::test(flavor = "current_thread")]
async fn handlers_use_tokio_when_the_server_starts_in_a_current_thread_runtime() {
    tokio::time::timeout(LIMIT, serve_and_call_from_tokio())
        .await
        .expect("the test hangs");
}

#[test]
fn a_server_started_outside_tokio_runs_its_handlers_outside_it_as_before() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let server = serve(&matchmaker).await;
        let client = client(&matchmaker);
        let inside: bool = client.call(&INSIDE, &()).await.expect("tokio.inside");
        assert!(!inside, "a tokio runtime came from nowhere");
        // So a tokio call in a handler panics, as it did before the feature.
        match client.call::<_, u64>(&ROUNDTRIP, &(1u64,)).await {
            Err(Error::ProcedurePanicked { message, .. }) => {
                assert!(message.contains("reactor"), "{message}");
            }
            other => panic!("expected ProcedurePanicked, got {other:?}"),
        }
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cancelled_at_its_deadline_is_dropped_inside_the_runtime() {
    tokio::time::timeout(LIMIT, async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let returned = Arc::new(AtomicBool::new(false));
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(hold(returned.clone()))
            .start()
            .await
            .expect("start a server");
        let client = client(&matchmaker).with_deadline(Duration::from_secs(1));
        let result = client.call::<_, ()>(&HOLD, &()).await;
        assert!(
            matches!(result, Err(Error::OutcomeUnknown { .. })),
            "{result:?}"
        );
        // Its drop, at the deadline, spawned on tokio: the connection is
        // back in its pool.
        for _ in 0..1_000 {
            if server.stats().cancelled == 1 && returned.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(server.stats().cancelled, 1, "{:?}", server.stats());
        assert!(
            returned.load(Ordering::SeqCst),
            "dropping the cancelled handler could not use tokio"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    })
    .await
    .expect("the test hangs");
}
