//! `soak`: many calls through a lossy network, checking that each ran
//! exactly once. Not part of the test suite; run it by hand:
//!
//! ```text
//! cargo run --release -p rendezvous-tests --bin soak                 # 100,000 calls
//! cargo run --release -p rendezvous-tests --bin soak -- --calls 10000 --loss 0.3
//! ```
//!
//! The real `rendezvous-daemon` binary is the matchmaker (a child process,
//! built first if needed). In this process: a server whose one procedure
//! counts its executions per call, a [`Relay`] in front of it (the server
//! advertises the relay's address, so every call and reply crosses it) that
//! drops, duplicates and reorders datagrams both ways, and one client making
//! the calls, many in flight. At the end it reports calls completed,
//! executions, duplicates the server suppressed (replies replayed from its
//! cache, plus acknowledgments of copies that arrived while the call ran),
//! the client's retransmissions, what the relay did, and resident memory at
//! start and end. It exits 0 only if completed == executions == calls and no
//! call ran twice; 1 otherwise; 2 if it ran out of time.

use rendezvous_core::matchmaker::Secret;
use rendezvous_core::{
    Client, Error, Fingerprint, Procedure, RemoteProcedure, RetryPolicy, Server,
};
use rendezvous_runtime::{self as rt, Instant};
use rendezvous_tests::{Daemon, Relay, RelayConfig};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

const ECHO: RemoteProcedure = RemoteProcedure {
    name: "soak.echo",
    signature: Fingerprint::of("soak.echo(u64)->u64"),
    idempotent: false,
};

#[derive(Debug)]
struct Options {
    calls: u64,
    in_flight: usize,
    loss: f64,
    duplicate: f64,
    reorder: f64,
    max_delay: Duration,
    seed: u64,
    deadline: Duration,
    time_limit: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            calls: 100_000,
            in_flight: 64,
            loss: 0.2,
            duplicate: 0.1,
            reorder: 0.1,
            max_delay: Duration::from_millis(10),
            seed: 0x50a4_5eed,
            deadline: Duration::from_secs(120),
            time_limit: Duration::from_secs(900),
        }
    }
}

const USAGE: &str = "usage: soak [--calls N] [--in-flight N] [--loss P] [--duplicate P] \
[--reorder P] [--max-delay-ms MS] [--seed N] [--deadline-s S] [--time-limit-s S]";

fn parse_options() -> Result<Options, String> {
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let bad = |_: std::num::ParseIntError| format!("{flag}: {value:?} is not valid; {USAGE}");
        let bad_float =
            |_: std::num::ParseFloatError| format!("{flag}: {value:?} is not valid; {USAGE}");
        match flag.as_str() {
            "--calls" => options.calls = value.parse().map_err(bad)?,
            "--in-flight" => options.in_flight = value.parse().map_err(bad)?,
            "--loss" => options.loss = value.parse().map_err(bad_float)?,
            "--duplicate" => options.duplicate = value.parse().map_err(bad_float)?,
            "--reorder" => options.reorder = value.parse().map_err(bad_float)?,
            "--max-delay-ms" => {
                options.max_delay = Duration::from_millis(value.parse().map_err(bad)?)
            }
            "--seed" => options.seed = value.parse().map_err(bad)?,
            "--deadline-s" => options.deadline = Duration::from_secs(value.parse().map_err(bad)?),
            "--time-limit-s" => {
                options.time_limit = Duration::from_secs(value.parse().map_err(bad)?)
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    if options.calls == 0 || options.in_flight == 0 {
        return Err(format!("--calls and --in-flight must be positive; {USAGE}"));
    }
    Ok(options)
}

/// This process's resident memory (VmRSS) and its peak (VmHWM), in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Executions of each call, by id.
struct Ledger {
    runs: Vec<AtomicU8>,
    total: AtomicU64,
}

impl Ledger {
    fn new(calls: u64) -> Ledger {
        Ledger {
            runs: (0..calls).map(|_| AtomicU8::new(0)).collect(),
            total: AtomicU64::new(0),
        }
    }

    fn record(&self, id: u64) {
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Some(runs) = self.runs.get(id as usize) {
            let _ = runs.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(1))
            });
        }
    }

    /// (ids that never ran, ids that ran more than once).
    fn anomalies(&self) -> (u64, u64) {
        let (mut never, mut twice) = (0, 0);
        for runs in &self.runs {
            match runs.load(Ordering::Relaxed) {
                0 => never += 1,
                1 => {}
                _ => twice += 1,
            }
        }
        (never, twice)
    }
}

/// Starts the server behind a relay: the server binds a free port, the relay
/// forwards to it, and the server advertises the relay's address.
async fn serve_behind_relay(
    matchmaker: SocketAddr,
    secret: Option<Secret>,
    procedure: Procedure,
    config: &RelayConfig,
) -> Result<(Server, Relay), String> {
    for _ in 0..10 {
        let port = std::net::UdpSocket::bind(("127.0.0.1", 0))
            .and_then(|socket| socket.local_addr())
            .map_err(|error| format!("could not find a free port: {error}"))?;
        let relay = Relay::start(port, config.clone())
            .map_err(|error| format!("could not start the relay: {error}"))?;
        let started = Server::builder()
            .matchmaker(matchmaker)
            .bind(port)
            .advertise(relay.local_addr())
            .secret(secret.clone().ok_or("the daemon has no secret")?)
            .linked_procedures(false)
            .procedure(procedure.clone())
            .start()
            .await;
        match started {
            Ok(server) => return Ok((server, relay)),
            // The port was taken between learning and binding it.
            Err(Error::Io { .. }) => continue,
            Err(error) => return Err(format!("could not start the server: {error}")),
        }
    }
    Err("could not bind the server on a free port in 10 tries".into())
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("soak: {message}");
            return ExitCode::from(2);
        }
    };
    // Signed: the server registers the relay's address, not its own.
    let daemon = Daemon::start_signed(&[]);
    let outcome = rt::block_on(async {
        match rt::timeout(options.time_limit, soak(&options, &daemon)).await {
            Some(outcome) => outcome,
            None => {
                eprintln!(
                    "soak: did not finish within the {:?} time limit",
                    options.time_limit
                );
                Err(ExitCode::from(2))
            }
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(code) => code,
    }
}

/// Runs the soak; `Ok(passed)`, or `Err(exit code)` if it could not run.
async fn soak(options: &Options, daemon: &Daemon) -> Result<bool, ExitCode> {
    let fail = |message: String| {
        eprintln!("soak: {message}");
        ExitCode::from(2)
    };
    let ledger = Arc::new(Ledger::new(options.calls));
    let echo = {
        let ledger = ledger.clone();
        Procedure::typed(ECHO.name, ECHO.signature, move |(id,): (u64,), _| {
            ledger.record(id);
            async move { id }
        })
    };
    let relay_config = RelayConfig {
        seed: options.seed,
        drop: options.loss,
        duplicate: options.duplicate,
        reorder: options.reorder,
        max_delay: options.max_delay,
    };
    let (server, relay) =
        serve_behind_relay(daemon.address(), daemon.secret(), echo, &relay_config)
            .await
            .map_err(fail)?;
    let client = Client::builder()
        .matchmaker(daemon.address())
        .retry_policy(RetryPolicy {
            deadline: options.deadline,
            ..RetryPolicy::default()
        })
        .build()
        .map_err(|error| fail(format!("could not build the client: {error}")))?;

    println!(
        "soak: {} calls, {} in flight, through a relay dropping {:.0}%, duplicating {:.0}% and \
         reordering {:.0}% of datagrams both ways (max delay {:?}, seed {:#x}); deadline {:?} per call",
        options.calls,
        options.in_flight,
        options.loss * 100.0,
        options.duplicate * 100.0,
        options.reorder * 100.0,
        options.max_delay,
        options.seed,
        options.deadline,
    );
    let (rss_start, _) = memory_kib();
    let daemon_rss_start = daemon.rss_bytes().unwrap_or(0) / 1024;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..options.in_flight)
        .map(|_| {
            let (client, next, completed) = (client.clone(), next.clone(), completed.clone());
            let calls = options.calls;
            rt::spawn(async move {
                let mut failures = Vec::new();
                loop {
                    let id = next.fetch_add(1, Ordering::Relaxed);
                    if id >= calls {
                        return failures;
                    }
                    match client.call::<_, u64>(&ECHO, &(id,)).await {
                        Ok(echo) if echo == id => {
                            let done = completed.fetch_add(1, Ordering::Relaxed) + 1;
                            if done % 10_000 == 0 {
                                eprintln!("soak: {done} calls completed");
                            }
                        }
                        other => failures.push(format!("echo({id}) -> {other:?}")),
                    }
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for worker in workers {
        failures.extend(worker.await);
    }
    let elapsed = started.elapsed();
    // Copies still held or delayed in the relay must not run anything again.
    rt::sleep(options.max_delay * 4 + Duration::from_millis(500)).await;

    let completed = completed.load(Ordering::Relaxed);
    let executions = ledger.total.load(Ordering::Relaxed);
    let (never, twice) = ledger.anomalies();
    let server_stats = server.stats();
    let client_stats = client.stats();
    let faults = relay.stats();
    let (rss_end, rss_peak) = memory_kib();
    let daemon_rss_end = daemon.rss_bytes().unwrap_or(0) / 1024;
    let passed = completed == options.calls
        && executions == options.calls
        && server_stats.executed == options.calls
        && twice == 0
        && failures.is_empty();

    println!(
        "calls completed        {completed} of {} in {:.1} s ({:.0} calls/s)",
        options.calls,
        elapsed.as_secs_f64(),
        completed as f64 / elapsed.as_secs_f64()
    );
    println!(
        "calls failed           {}{}",
        failures.len(),
        failures
            .first()
            .map(|f| format!(" (first: {f})"))
            .unwrap_or_default()
    );
    println!(
        "executions             {executions} (server: {} started); never ran: {never}; ran more than once: {twice}",
        server_stats.executed
    );
    println!(
        "duplicates suppressed  {} ({} replies replayed from the reply cache + {} acks to copies of running calls)",
        server_stats.replayed + server_stats.acks,
        server_stats.replayed,
        server_stats.acks
    );
    println!(
        "client                 {} transmissions, {} retransmissions ({:.1}% of transmissions), {} lookups",
        client_stats.transmissions,
        client_stats.retransmissions,
        100.0 * client_stats.retransmissions as f64 / client_stats.transmissions.max(1) as f64,
        client_stats.lookups
    );
    println!(
        "relay                  {} forwarded, {} dropped, {} duplicated, {} reordered",
        faults.forwarded, faults.dropped, faults.duplicated, faults.reordered
    );
    println!(
        "reply cache            {} bytes held at the end, {} evictions; {} undecodable datagrams",
        server_stats.reply_cache_bytes, server_stats.evictions, server_stats.malformed
    );
    println!(
        "memory (VmRSS)         this process (client, server, relay): {rss_start} KiB at start, {rss_end} KiB at end (peak {rss_peak} KiB); daemon: {daemon_rss_start} KiB -> {daemon_rss_end} KiB"
    );
    println!(
        "completed == executions == {}: {}",
        options.calls,
        if passed { "yes" } else { "NO" }
    );
    server.shutdown().await;
    drop(relay);
    Ok(passed)
}
