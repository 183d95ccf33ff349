//! The one-command demo: `cargo run --release -p quickstart`.
//!
//! Starts a matchmaker, a server on an OS-chosen port and a client, all in
//! this process but talking over real UDP sockets on loopback, and prints
//! each exchange as a sequence chart with its timing. Then it kills the
//! server, starts another on a new port, and shows the client finding it.
//! On the way, a procedure keeps a counter in the server's shared state.

use async_io::Timer;
use futures_lite::future::block_on;
use rendezvous_core::{CallContext, Client, Server, State, procedure};
use rendezvous_daemon::Matchmaker;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;

/// Adds two numbers; running it twice is harmless, so the client may move
/// it to another server when its first one goes silent.
#[procedure(name = "quickstart.add", idempotent)]
pub async fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Doubles `x`, slowly: long enough for the server to acknowledge first.
#[procedure(name = "quickstart.slow_double")]
pub async fn slow_double(x: i64) -> i64 {
    Timer::after(Duration::from_millis(300)).await;
    x * 2
}

/// The server's shared state: given once to the server's builder
/// (`.state(Visits::default())`), shared by every call.
#[derive(Debug, Default)]
pub struct Visits(AtomicU64);

/// Counts this caller's visit in the server's state. `visits` and `ctx`
/// are supplied by the server; the caller sends nothing
/// (`visit::remote()`).
#[procedure(name = "quickstart.visit")]
pub async fn visit(visits: State<Visits>, ctx: CallContext) -> (u64, String) {
    let count = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
    (count, ctx.peer.to_string())
}

fn main() {
    // Log lines to stderr, filtered by RUST_LOG (default `warn`, so that
    // the chart on stdout is all there is to read).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(error) = block_on(demo()) {
        eprintln!("quickstart: {error}");
        std::process::exit(1);
    }
}

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let loopback: SocketAddr = "127.0.0.1:0".parse()?;
    println!("rendezvous quickstart: a matchmaker, a server and a client, on real UDP sockets\n");

    let matchmaker = Matchmaker::bind(loopback).await?;
    let mm = matchmaker.local_addr();
    println!("  matchmaker  listening on {mm}  (the one well-known address)");
    let server = Server::builder()
        .matchmaker(mm)
        .state(Visits::default())
        .start()
        .await?;
    let names: Vec<&str> = server.procedures().iter().map(|p| p.name()).collect();
    println!(
        "  server      bound {}  (port chosen by the OS)",
        server.local_addr()
    );
    println!(
        "              registered {} under one lease",
        names.join(", ")
    );
    let client = Client::builder().matchmaker(mm).build()?;

    let chart = Chart::new(mm, server.local_addr());

    // 1. Ask the matchmaker where `add` lives.
    let started = Instant::now();
    let endpoints = client
        .matchmaker()
        .lookup(add::NAME, Some(add::SIGNATURE))
        .await?;
    let took = started.elapsed();
    let found = endpoints
        .first()
        .ok_or("the matchmaker knows no endpoint")?;
    chart.send(
        CLIENT,
        MATCHMAKER,
        &format!("where is {}?", add::NAME),
        None,
    );
    let answer = format!("at {} (ttl {} s)", found.address, found.ttl_ms / 1000);
    chart.send(MATCHMAKER, CLIENT, &answer, Some(took));

    // 2. Call it: the client looks the name up itself and caches the
    //    answer, then calls the server directly; the reply is the ACK.
    let started = Instant::now();
    let sum = add::remote_with(&client, 2, 3).await?;
    let took = started.elapsed();
    chart.note("add::remote(2, 3): the client resolves the name (and caches it), then calls");
    chart.send(CLIENT, SERVER, "add(2, 3)", None);
    chart.send(
        SERVER,
        CLIENT,
        &format!("{sum}  (the reply is the ACK)"),
        Some(took),
    );

    // 3. Again: the endpoint is cached, no matchmaker traffic.
    let lookups = client.stats().lookups;
    let started = Instant::now();
    let sum = add::remote_with(&client, 40, 2).await?;
    let took = started.elapsed();
    if client.stats().lookups == lookups {
        chart.note("add::remote(40, 2): endpoint cached, no matchmaker traffic");
    }
    chart.send(CLIENT, SERVER, "add(40, 2)", None);
    chart.send(SERVER, CLIENT, &sum.to_string(), Some(took));

    // 4. State on the server: a counter every call shares.
    chart.note("visit::remote(), twice: a counter in the server's State<Visits>");
    for _ in 0..2 {
        let started = Instant::now();
        let (count, caller) = visit::remote_with(&client).await?;
        let took = started.elapsed();
        chart.send(CLIENT, SERVER, "visit()", None);
        let answer = format!("visit {count}, from {caller} (server state)");
        chart.send(SERVER, CLIENT, &answer, Some(took));
    }

    // 5. A slow procedure: the server acknowledges, and the client stops
    //    retransmitting at full rate and only probes.
    let acks = server.stats().acks;
    let started = Instant::now();
    let doubled = slow_double::remote_with(&client, 21).await?;
    let took = started.elapsed();
    chart.note("slow_double::remote(21): runs 300 ms");
    chart.send(CLIENT, SERVER, "slow_double(21)", None);
    if server.stats().acks > acks {
        chart.send(SERVER, CLIENT, "ACK: running, probe slowly", None);
    }
    chart.send(SERVER, CLIENT, &doubled.to_string(), Some(took));

    // 6. Kill the server (no unregister, as a crash) and start another on a
    //    new port; the client's cached endpoint goes silent, it looks again.
    let old = server.local_addr();
    server.abort().await;
    let server = Server::builder()
        .matchmaker(mm)
        .state(Visits::default())
        .start()
        .await?;
    println!();
    println!(
        "  The server at {old} is killed; a new one binds {}.",
        server.local_addr()
    );
    let chart = Chart::new(mm, server.local_addr());
    let before = client.stats();
    let started = Instant::now();
    let sum = add::remote_with(&client, 2, 3).await?;
    let took = started.elapsed();
    let after = client.stats();
    let silent = after.transmissions - before.transmissions - 2;
    chart.note("add::remote(2, 3) with the cached, now dead, endpoint");
    chart.lost(
        CLIENT,
        SERVER,
        &format!("add(2, 3) to :{}  x{silent}", old.port()),
    );
    chart.send(
        CLIENT,
        MATCHMAKER,
        &format!("where is {}?", add::NAME),
        None,
    );
    chart.send(
        MATCHMAKER,
        CLIENT,
        &format!("at {}", server.local_addr()),
        None,
    );
    chart.send(CLIENT, SERVER, "add(2, 3)", None);
    chart.send(SERVER, CLIENT, &format!("{sum}  (found again)"), Some(took));

    let stats = client.stats();
    println!(
        "\n  client: {} lookups, {} datagrams sent ({} retransmissions)",
        stats.lookups, stats.transmissions, stats.retransmissions
    );
    server.shutdown().await;
    matchmaker.shutdown().await;
    Ok(())
}

/// A lane of the sequence chart: its column.
type Lane = usize;
const CLIENT: Lane = 4;
const MATCHMAKER: Lane = 36;
const SERVER: Lane = 68;
const WIDTH: usize = SERVER + 1;

/// Prints a three-lane sequence chart: client, matchmaker, server.
struct Chart;

impl Chart {
    fn new(matchmaker: SocketAddr, server: SocketAddr) -> Chart {
        let mut line = blank();
        write_at(&mut line, CLIENT - 3, "client");
        write_at(
            &mut line,
            MATCHMAKER - 8,
            &format!("matchmaker :{}", matchmaker.port()),
        );
        write_at(&mut line, SERVER - 6, &format!("server :{}", server.port()));
        println!("\n{}", line.iter().collect::<String>().trim_end());
        Chart
    }

    /// A message from one lane to another: its label, then the arrow.
    fn send(&self, from: Lane, to: Lane, label: &str, took: Option<Duration>) {
        let (left, right) = (from.min(to), from.max(to));
        let mut text = lanes();
        write_at(&mut text, left + 2, label);
        print_line(&text, None);
        let mut arrow = lanes();
        for cell in &mut arrow[left + 1..right] {
            *cell = '─';
        }
        if to > from {
            arrow[right - 1] = '▶';
        } else {
            arrow[left + 1] = '◀';
        }
        print_line(&arrow, took);
    }

    /// A message that got no answer.
    fn lost(&self, from: Lane, to: Lane, label: &str) {
        let mut text = lanes();
        write_at(&mut text, from + 2, label);
        print_line(&text, None);
        let mut arrow = lanes();
        for cell in &mut arrow[from + 1..to - 8] {
            *cell = '─';
        }
        arrow[to - 8] = '✗';
        print_line(&arrow, None);
    }

    fn note(&self, text: &str) {
        println!();
        println!("  {text}");
    }
}

fn blank() -> Vec<char> {
    vec![' '; WIDTH]
}

fn lanes() -> Vec<char> {
    let mut line = blank();
    for lane in [CLIENT, MATCHMAKER, SERVER] {
        line[lane] = '│';
    }
    line
}

fn write_at(line: &mut Vec<char>, at: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        if at + i < line.len() {
            line[at + i] = c;
        } else {
            line.push(c);
        }
    }
}

fn print_line(line: &[char], took: Option<Duration>) {
    let text: String = line.iter().collect();
    match took {
        Some(took) => println!("{text}  {:>8.3} ms", took.as_secs_f64() * 1e3),
        None => println!("{}", text.trim_end()),
    }
}
