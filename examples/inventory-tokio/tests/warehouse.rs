//! The warehouse check end to end, needing tokio (this example's `tokio`
//! feature, `required-features` in Cargo.toml):
//!   cargo test -p inventory-tokio --features tokio
//!
//! A real matchmaker and server on loopback, the server started inside a
//! tokio runtime (here by `#[tokio::test]`, and by `inventory-tokio-server`'s
//! `#[tokio::main]`, run as its own process), called through the proxies.
//! `check` waits on tokio's timer, which panics outside a tokio runtime, so
//! a right answer shows the handler ran inside it. Every wait is bounded.

use inventory_service::{InventoryError, get, take};
use inventory_tokio::{Availability, CheckError, check};
use rendezvous_core::{Client, Server};
use rendezvous_daemon::Matchmaker;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a test, a process start or a call may take before it counts
/// as hung; far beyond need.
const LIMIT: Duration = Duration::from_secs(60);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

fn client(matchmaker: SocketAddr) -> Client {
    Client::builder()
        .bind(loopback())
        .matchmaker(matchmaker)
        .deadline(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// A matchmaker, and a server started from the calling tokio runtime with
/// a warehouse answering after `delay` and waited for `patience` at most.
async fn serve(delay: Duration, patience: Duration) -> (Matchmaker, Server) {
    let matchmaker = Matchmaker::bind(loopback()).await.expect("a matchmaker");
    let server = Server::builder()
        .bind(loopback())
        .matchmaker(matchmaker.local_addr())
        .state(inventory_service::sample())
        .state(inventory_tokio::sample(delay, patience))
        .require(inventory_service::SERVICE)
        .require(inventory_tokio::SERVICE)
        .start()
        .await
        .expect("the server starts");
    (matchmaker, server)
}

fn availability(sku: &str, on_shelf: u32, in_warehouse: u32) -> Availability {
    Availability {
        sku: sku.into(),
        on_shelf,
        in_warehouse,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_waits_on_tokio_for_the_warehouse_and_counts_both() {
    tokio::time::timeout(LIMIT, async {
        let (matchmaker, server) = serve(Duration::from_millis(20), LIMIT).await;
        let client = client(matchmaker.local_addr());
        let pen = check::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(pen, Ok(availability("pen", 40, 500)));

        // The shelf is the shared state: a take shows in the next check.
        let receipt = take::remote_with(&client, "ink".into(), 4).await.unwrap();
        assert_eq!(receipt.map(|r| r.remaining), Ok(2));
        let ink = check::remote_with(&client, "ink".into()).await.unwrap();
        assert_eq!(ink, Ok(availability("ink", 2, 80)));
        let pad = check::remote_with(&client, "pad".into()).await.unwrap();
        assert_eq!(pad, Ok(availability("pad", 12, 0)));

        let unknown = check::remote_with(&client, "cap".into()).await.unwrap();
        assert_eq!(
            unknown,
            Err(CheckError::Inventory(InventoryError::UnknownSku(
                "cap".into()
            )))
        );
        let stats = server.stats();
        assert_eq!(stats.executed, 5, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    })
    .await
    .expect("the test hangs");
}

#[tokio::test(flavor = "current_thread")]
async fn a_warehouse_slower_than_its_patience_is_reported_not_waited_for() {
    tokio::time::timeout(LIMIT, async {
        // The warehouse would answer long after the test's limit; a check
        // waits 200 ms for it, then says so.
        let (matchmaker, server) = serve(LIMIT * 10, Duration::from_millis(200)).await;
        let client = client(matchmaker.local_addr());
        let slow = check::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(
            slow,
            Err(CheckError::WarehouseSlow {
                sku: "pen".into(),
                waited_ms: 200
            })
        );
        // The server is not held up by it.
        let pen = get::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(pen.map(|item| item.quantity), Ok(40));
        server.shutdown().await;
        matchmaker.shutdown().await;
    })
    .await
    .expect("the test hangs");
}

/// `inventory-tokio-server`, killed on drop.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_tokio_server_serves_the_check_from_its_tokio_main() {
    tokio::time::timeout(LIMIT, async {
        let matchmaker = Matchmaker::bind(loopback()).await.expect("a matchmaker");
        let mut child = Command::new(env!("CARGO_BIN_EXE_inventory-tokio-server"))
            .env("RENDEZVOUS_MATCHMAKER", matchmaker.local_addr().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("inventory-tokio-server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let process = ServerProcess(child);
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let first = tokio::task::spawn_blocking(move || {
            let first = received.recv_timeout(LIMIT);
            (first, received)
        });
        let (first, received) = first.await.expect("the reader");
        let first = first.expect("inventory-tokio-server prints its address");
        assert!(
            first.starts_with("inventory-tokio-server listening on "),
            "{first:?}"
        );
        // It lists what it serves: the inventory's five and the check.
        let listed = tokio::task::spawn_blocking(move || {
            (0..6)
                .map(|_| received.recv_timeout(LIMIT).expect("a procedure line"))
                .collect::<Vec<String>>()
        })
        .await
        .expect("the reader");
        assert!(
            listed.iter().any(|line| line.contains("inventory.check")),
            "{listed:?}"
        );

        // Registered before it printed its address, so the client finds it.
        let client = client(matchmaker.local_addr());
        let pen = check::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(pen, Ok(availability("pen", 40, 500)));
        let taken = take::remote_with(&client, "pen".into(), 10).await.unwrap();
        assert_eq!(taken.map(|r| r.remaining), Ok(30));
        let pen = check::remote_with(&client, "pen".into()).await.unwrap();
        assert_eq!(pen, Ok(availability("pen", 30, 500)));
        drop(process);
        matchmaker.shutdown().await;
    })
    .await
    .expect("the test hangs");
}
