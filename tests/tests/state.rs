//! Server-supplied arguments end to end (`State<T>`, `CallContext`), the
//! required procedures of `ServerBuilder::require`, and idempotency as
//! part of what a lookup checks: real matchmaker, real server, real
//! client, on loopback.

use rendezvous_core::server::Elsewhere;
use rendezvous_core::{
    CallContext, Client, Error, MatchmakerClient, Server, ServerBuilder, State, procedure,
};
use rendezvous_daemon::Matchmaker;
use rendezvous_runtime as rt;
use rendezvous_tests::run;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A shop's shared state: what it sold, and how many sales; whether it
/// is closing (its stocking never finishes), and what each stocking call
/// was told of attempts at other shops.
#[derive(Debug, Default)]
pub struct Shop {
    sold: Mutex<Vec<String>>,
    sales: AtomicU64,
    closing: bool,
    told: Arc<Mutex<Vec<Elsewhere>>>,
}

/// Sells `count` of `item`; returns the number of sales so far.
#[procedure(name = "shop.sell")]
pub async fn sell(shop: State<Shop>, item: String, count: u32) -> u64 {
    shop.sold
        .lock()
        .expect("no sale panicked")
        .push(format!("{count} {item}"));
    shop.sales.fetch_add(1, Ordering::Relaxed) + 1
}

/// How many sales so far: no argument travels.
#[procedure(name = "shop.sales", idempotent)]
pub async fn sales(shop: State<Shop>) -> u64 {
    shop.sales.load(Ordering::Relaxed)
}

/// Stocks `item`, an idempotent write; at a closing shop it never
/// finishes. Records what the call was told of other servers.
#[procedure(name = "shop.stock", idempotent)]
pub async fn stock(shop: State<Shop>, item: String, ctx: CallContext) -> String {
    shop.told
        .lock()
        .expect("no stocking panicked")
        .push(ctx.elsewhere);
    if shop.closing {
        std::future::pending::<()>().await;
    }
    item
}

/// What the server knew of this call: peer, client id, xid, time left (ms).
#[procedure(name = "shop.whoami")]
pub async fn whoami(tag: u8, ctx: CallContext) -> (String, u64, u64, u64, u8) {
    (
        ctx.peer.to_string(),
        ctx.client.0,
        ctx.xid.0,
        ctx.remaining().as_millis() as u64,
        tag,
    )
}

/// What a client crate declares: the wire arguments only.
mod interface {
    use rendezvous_core::procedure;

    #[procedure(name = "shop.sell")]
    pub async fn sell(item: String, count: u32) -> u64;

    #[procedure(name = "shop.sales", idempotent)]
    pub async fn sales() -> u64;

    /// Forgot `idempotent`: it must not call the implementation.
    pub mod forgetful {
        use rendezvous_core::procedure;

        #[procedure(name = "shop.sales")]
        pub async fn sales() -> u64;
    }

    /// A procedure no crate of this binary implements.
    #[procedure(name = "shop.restock")]
    pub async fn restock(item: String) -> u64;
}

async fn matchmaker() -> Matchmaker {
    Matchmaker::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("matchmaker binds")
}

/// A server of this binary's procedures, with an empty `Shop` as state.
async fn shop_server(matchmaker: &Matchmaker) -> Server {
    shop_server_with(matchmaker, Shop::default()).await
}

async fn shop_server_with(matchmaker: &Matchmaker, shop: Shop) -> Server {
    shop_builder(matchmaker, shop)
        .start()
        .await
        .expect("server starts")
}

fn shop_builder(matchmaker: &Matchmaker, shop: Shop) -> ServerBuilder {
    Server::builder()
        .matchmaker(matchmaker.local_addr())
        .state(shop)
}

fn client_of(matchmaker: &Matchmaker) -> Client {
    Client::builder()
        .matchmaker(matchmaker.local_addr())
        .bind("127.0.0.1:0".parse().expect("address"))
        .deadline(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

fn configuration_error(result: Result<Server, Error>) -> String {
    match result {
        Err(Error::Configuration { reason }) => reason,
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(server) => panic!("the server started at {}", server.local_addr()),
    }
}

#[test]
fn state_is_shared_by_every_call_and_the_caller_sends_only_the_wire_arguments() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = shop_server(&matchmaker).await;
        let client = client_of(&matchmaker);
        for n in 1..=5u64 {
            let sales = interface::sell::remote_with(&client, "pen".into(), 2).await;
            assert_eq!(sales.unwrap(), n);
        }
        assert_eq!(
            sell::remote_with(&client, "ink".into(), 1).await.unwrap(),
            6
        );
        assert_eq!(interface::sales::remote_with(&client).await.unwrap(), 6);
        assert_eq!(sales::remote_with(&client).await.unwrap(), 6);
        server.shutdown().await;
    });
}

#[test]
fn concurrent_calls_share_one_state() {
    const CALLERS: u64 = 8;
    const CALLS_EACH: u64 = 25;
    run(async {
        let matchmaker = matchmaker().await;
        let server = shop_server(&matchmaker).await;
        let client = client_of(&matchmaker);
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let client = client.clone();
                rt::spawn(async move {
                    for _ in 0..CALLS_EACH {
                        interface::sell::remote_with(&client, "pen".into(), 1)
                            .await
                            .expect("a sale");
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await;
        }
        let sales = interface::sales::remote_with(&client).await.unwrap();
        assert_eq!(sales, CALLERS * CALLS_EACH, "every sale counted once");
        server.shutdown().await;
    });
}

#[test]
fn the_context_says_who_called_which_call_and_how_long_they_wait() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = shop_server(&matchmaker).await;
        let client = client_of(&matchmaker);
        let local = client.local_addr().unwrap();
        let (peer, client_id, first_xid, remaining, tag) =
            whoami::remote_with(&client, 7).await.unwrap();
        assert_eq!(peer, local.to_string(), "the peer is the client's socket");
        assert_eq!(tag, 7);
        assert!(remaining > 0, "the deadline is ahead");
        assert!(
            remaining <= 30_000,
            "at most the client's 30 s: {remaining}"
        );
        let (_, same_client, second_xid, _, _) = whoami::remote_with(&client, 8).await.unwrap();
        assert_eq!(same_client, client_id, "one client, one id");
        assert!(second_xid > first_xid, "{second_xid} after {first_xid}");
        // Another client is another id.
        let other = client_of(&matchmaker);
        let (_, other_id, _, _, _) = whoami::remote_with(&other, 9).await.unwrap();
        assert_ne!(other_id, client_id);
        // The time left is the caller's own deadline's.
        let hurried = client.with_deadline(Duration::from_secs(2));
        let (_, _, _, remaining, _) = whoami::remote_with(&hurried, 10).await.unwrap();
        assert!(remaining > 0, "the deadline is ahead");
        assert!(remaining <= 2_000, "at most the caller's 2 s: {remaining}");
        server.shutdown().await;
    });
}

/// Issue 14, item 1: "whether this call was acknowledged before". An
/// idempotent call acknowledged by a server that then dies moves to
/// another, and tells it so (the note after the call, PROTOCOL.md
/// "Notes"); the first server was told nothing, and neither is a fresh
/// call at the second.
#[test]
fn a_call_that_moves_after_an_ack_tells_its_new_server() {
    run(async {
        let matchmaker = matchmaker().await;
        let closing = Shop {
            closing: true,
            ..Shop::default()
        };
        let first_told = closing.told.clone();
        // A short lease, so that the fresh call below finds it gone.
        let first = shop_builder(&matchmaker, closing)
            .lease_ttl(Duration::from_secs(1))
            .start()
            .await
            .expect("server starts");
        let client = client_of(&matchmaker);
        let moving = rt::spawn({
            let client = client.clone();
            async move { stock::remote_with(&client, "lamp".into()).await }
        });
        // Two acks sent on loopback: the client has heard one.
        let acked = rendezvous_tests::eventually(
            Duration::from_secs(20),
            Duration::from_millis(5),
            || async { (first.stats().acks >= 2).then_some(()) },
        )
        .await;
        assert!(
            acked.is_some(),
            "the first server never acknowledged the call"
        );
        let open = Shop::default();
        let second_told = open.told.clone();
        let second = shop_server_with(&matchmaker, open).await;
        let second_address = second.advertised_addr();
        first.abort().await;

        assert_eq!(
            moving
                .await
                .expect("the call completes at the second server"),
            "lamp"
        );
        assert_eq!(*first_told.lock().unwrap(), [Elsewhere::Nowhere]);
        assert_eq!(*second_told.lock().unwrap(), [Elsewhere::Acknowledged]);

        // Once the dead server's lease is gone, a fresh client meets only
        // the second server, and is told of nothing.
        let lookups = MatchmakerClient::connect(matchmaker.local_addr())
            .await
            .expect("a matchmaker client");
        let only_second = rendezvous_tests::eventually(
            Duration::from_secs(30),
            Duration::from_millis(50),
            || async {
                let found = lookups.lookup("shop.stock", None).await.ok()?;
                let addresses: Vec<_> = found.iter().map(|e| e.address).collect();
                (addresses == [second_address]).then_some(())
            },
        )
        .await;
        assert!(
            only_second.is_some(),
            "the aborted server's lease never expired"
        );
        let fresh = client_of(&matchmaker);
        assert_eq!(
            stock::remote_with(&fresh, "desk".into()).await.unwrap(),
            "desk"
        );
        assert_eq!(
            *second_told.lock().unwrap(),
            [Elsewhere::Acknowledged, Elsewhere::Nowhere],
            "a fresh call was told of nothing"
        );
        second.shutdown().await;
    });
}

#[test]
fn a_server_without_the_state_a_procedure_takes_refuses_to_start_naming_both() {
    let reason = run(async {
        let matchmaker = matchmaker().await;
        configuration_error(
            Server::builder()
                .matchmaker(matchmaker.local_addr())
                .start()
                .await,
        )
    });
    // The first procedure by name that takes it.
    assert!(reason.contains("`shop.sales`"), "{reason}");
    assert!(reason.contains("State<state::Shop>"), "{reason}");
    assert!(reason.contains(".state("), "{reason}");
    assert!(reason.contains("tests/state.rs:"), "{reason}");
    assert!(reason.contains("(it was given none)"), "{reason}");
}

#[test]
fn a_required_procedure_missing_fails_the_start_naming_it_and_how_to_link_it() {
    let reason = run(async {
        let matchmaker = matchmaker().await;
        configuration_error(
            Server::builder()
                .matchmaker(matchmaker.local_addr())
                .state(Shop::default())
                .require([sell::PROCEDURE, interface::restock::PROCEDURE])
                .start()
                .await,
        )
    });
    assert!(reason.contains("`shop.restock`"), "{reason}");
    assert!(reason.contains("as _;"), "{reason}");
}

#[test]
fn required_procedures_present_start_the_server() {
    run(async {
        let matchmaker = matchmaker().await;
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .state(Shop::default())
            .require([interface::sell::PROCEDURE, interface::sales::PROCEDURE])
            .start()
            .await
            .expect("every required procedure is served");
        server.shutdown().await;
    });
}

#[test]
fn a_declaration_that_forgets_idempotent_is_refused_at_lookup_and_by_require() {
    assert_ne!(interface::forgetful::sales::SIGNATURE, sales::SIGNATURE);
    assert_eq!(interface::sales::SIGNATURE, sales::SIGNATURE);
    run(async {
        let matchmaker = matchmaker().await;
        let reason = configuration_error(
            Server::builder()
                .matchmaker(matchmaker.local_addr())
                .state(Shop::default())
                .require([interface::forgetful::sales::PROCEDURE])
                .start()
                .await,
        );
        assert!(reason.contains("`shop.sales`"), "{reason}");
        assert!(reason.contains("idempotent"), "{reason}");

        let server = shop_server(&matchmaker).await;
        let client = client_of(&matchmaker);
        match interface::forgetful::sales::remote_with(&client).await {
            Err(Error::SignatureMismatch { name, .. }) => assert_eq!(name, "shop.sales"),
            other => panic!("expected a signature mismatch, got {other:?}"),
        }
        assert_eq!(interface::sales::remote_with(&client).await.unwrap(), 0);
        server.shutdown().await;
    });
}
