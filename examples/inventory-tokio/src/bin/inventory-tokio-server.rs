//! Serves the inventory and the warehouse check (`inventory.check`, which
//! uses tokio's timer) on an OS-chosen port, from inside `#[tokio::main]`,
//! until Ctrl-C. The server captures this runtime and runs its handlers
//! inside it (rendezvous-core's `tokio` feature). The matchmaker is
//! `RENDEZVOUS_MATCHMAKER` (default `127.0.0.1:5000`).
//!
//!   cargo run -p inventory-tokio --features tokio --bin inventory-tokio-server

use rendezvous_core::Server;
use std::process::ExitCode;
use std::time::Duration;

/// How long the simulated warehouse takes to answer, and how long a check
/// waits for it at most.
const WAREHOUSE_DELAY: Duration = Duration::from_millis(50);
const WAREHOUSE_PATIENCE: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> ExitCode {
    // What the server does goes to stderr, filtered by RUST_LOG (default
    // `info`), as math-server's; without a subscriber it prints nothing.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Ctrl-C as inventory-server takes it (ctrlc is already a dependency;
    // tokio's `signal` feature would add one more).
    let (stop, stopped) = async_channel::bounded::<()>(1);
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    }) {
        eprintln!("inventory-tokio-server: could not install the signal handler: {error}");
        return ExitCode::FAILURE;
    }
    let started = Server::builder()
        .state(inventory_service::sample())
        .state(inventory_tokio::sample(WAREHOUSE_DELAY, WAREHOUSE_PATIENCE))
        .require(inventory_service::SERVICE)
        .require(inventory_tokio::SERVICE)
        .start()
        .await;
    let server = match started {
        Ok(server) => server,
        Err(error) => {
            eprintln!("inventory-tokio-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "inventory-tokio-server listening on {}",
        server.local_addr()
    );
    for procedure in server.procedures() {
        println!("  {}  {}", procedure.name(), procedure.signature());
    }
    let _ = stopped.recv().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}
