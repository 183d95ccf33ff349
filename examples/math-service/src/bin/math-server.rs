//! Serves every procedure of `math_service` on an OS-chosen port and keeps
//! them registered with the matchmaker until Ctrl-C.

use clap::Parser;
use futures_lite::future::block_on;
use rendezvous_core::{Server, matchmaker};
use std::net::SocketAddr;
use std::process::ExitCode;

// Link the service crate, so its #[procedure]s register. Without a use of
// the crate, the linker drops it, even from the crate's own binaries.
use math_service as _;

/// Serves math_service's procedures.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Options {
    /// The matchmaker to register with, or several sharing a store, comma-separated
    /// (tried in turn) [default: $RENDEZVOUS_MATCHMAKER, else 127.0.0.1:5000].
    // `::std::vec::Vec`: one flag value parsed into a list, not a repeated flag.
    #[arg(long, value_name = "ADDR[,ADDR...]", value_parser = matchmaker::parse_addresses)]
    matchmaker: Option<::std::vec::Vec<SocketAddr>>,
    /// Where to listen; port 0 lets the OS choose.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Serve Prometheus metrics at http://ADDR/metrics and a status page
    /// at http://ADDR/ (loopback only; e.g. 127.0.0.1:9096). Off by default.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

fn main() -> ExitCode {
    let options = Options::parse();
    // What the server does (registrations, refusals, overload) goes to
    // stderr as log lines, filtered by RUST_LOG (default `info`); without a
    // subscriber a rendezvous server prints nothing.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    }) {
        eprintln!("math-server: could not install the signal handler: {error}");
        return ExitCode::FAILURE;
    }
    block_on(async {
        let mut builder = Server::builder().bind(options.bind);
        if let Some(addresses) = options.matchmaker {
            builder = builder.matchmakers(addresses);
        }
        if let Some(address) = options.metrics {
            builder = builder.metrics(address);
        }
        let server = match builder.start().await {
            Ok(server) => server,
            Err(error) => {
                eprintln!("math-server: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("math-server listening on {}", server.local_addr());
        for procedure in server.procedures() {
            println!("  {}  {}", procedure.name(), procedure.signature());
        }
        if let Some(address) = server.metrics_addr() {
            println!("  metrics on http://{address}/metrics");
        }
        if !server.is_registered() {
            let tried: Vec<String> = server
                .matchmaker_addrs()
                .iter()
                .map(ToString::to_string)
                .collect();
            let why = server
                .registration_error()
                .map_or_else(|| "no answer".to_owned(), |error| error.to_string());
            println!(
                "  (not registered yet at {}: {why}; retrying)",
                tried.join(", ")
            );
        }
        let _ = stopped.recv().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
