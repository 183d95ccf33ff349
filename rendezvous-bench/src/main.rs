//! `rendezvous-bench`: what rendezvous's convenience costs over a raw socket.
//!
//! In one run and one process layout (server and client tasks on the same
//! async-std executor), it measures a raw async-std UDP ping-pong and the
//! equivalent rendezvous call, and prints each rendezvous figure beside its
//! baseline as a ratio. Machines are noisy: every figure is the median of
//! several rounds, baseline and rendezvous interleaved, and only the ratios
//! are meant to be compared across runs. Pin to one CPU for stable figures:
//!
//! ```text
//! taskset -c 0 cargo run --release -p rendezvous-bench
//! ```

mod baseline;
mod bulk;
#[cfg(feature = "etcd")]
mod etcd;
mod measure;
mod report;
mod subject;

use clap::Parser;
use measure::{Latency, Throughput, alternating};
use rendezvous_runtime as rt;
use report::{Report, Row};
use std::time::Duration;
use subject::Kind;

/// Measures rendezvous against raw UDP sockets; prints ratios.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Options {
    /// Time per measurement, split over the rounds (e.g. 2s).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    duration: f64,
    /// Rounds per measurement; figures are medians over rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The small payload, in bytes (arguments of the first call kind).
    #[arg(long, value_name = "BYTES", default_value_t = 32)]
    small: usize,
    /// The large payload, in bytes (a byte buffer).
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    large: usize,
    /// Calls in flight for the throughput figures.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Calls made between the two memory readings.
    #[arg(long, default_value_t = 1_000_000)]
    memory_calls: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Instead of the report, only run one kind of operation for --duration
    /// (for perf, strace or callgrind): raw round trips, small calls, or
    /// lookups, one in flight.
    #[arg(long, value_name = "WHAT")]
    profile: Option<Profile>,
    /// The etcd to measure the etcd store against (default: start one, with
    /// `etcd` from PATH). Only with `--features etcd`.
    #[cfg(feature = "etcd")]
    #[arg(long, value_name = "URL")]
    etcd: Option<String>,
}

/// What `--profile` runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Profile {
    Raw,
    Call,
    Lookup,
}

fn main() {
    let options = Options::parse();
    if let Err(error) = rt::block_on(run(&options)) {
        eprintln!("rendezvous-bench: {error}");
        std::process::exit(1);
    }
}

async fn run(options: &Options) -> Result<(), measure::BenchError> {
    let per_round = Duration::from_secs_f64(options.duration / options.rounds.max(1) as f64);
    let rounds = options.rounds.max(1);
    let subject = subject::Subject::start().await?;
    let raw = baseline::Echo::start().await?;
    if let Some(what) = options.profile {
        let end = rendezvous_runtime::Instant::now() + Duration::from_secs_f64(options.duration);
        let done = match what {
            Profile::Raw => baseline::count(raw.address(), options.small, end).await?,
            Profile::Call => subject::count(subject.client(), Kind::Small, end).await?,
            Profile::Lookup => subject::lookups(subject.client(), end).await?.len() as u64,
        };
        println!("{done} operations ({what:?}, one in flight)");
        return Ok(());
    }
    let mut report = Report::new(std::thread::available_parallelism().map_or(0, |n| n.get()));

    let server = raw.address();
    let latencies = |(raw, ours): (Vec<Latency>, Vec<Latency>)| {
        (Latency::median_of(&raw), Latency::median_of(&ours))
    };
    let rates = |(raw, ours): (Vec<Throughput>, Vec<Throughput>)| {
        (Throughput::median_of(&raw), Throughput::median_of(&ours))
    };
    let in_flight = options.in_flight;
    for (kind, size) in [
        (Kind::Small, options.small),
        (Kind::Large(options.large), options.large),
    ] {
        let (raw_latency, call_latency) = latencies(
            alternating(
                rounds,
                || Latency::median(1, per_round, |end| baseline::sample(server, size, end)),
                || {
                    Latency::median(1, per_round, |end| {
                        subject::sample(subject.client(), kind, end)
                    })
                },
            )
            .await?,
        );
        let what = match kind {
            Kind::Small => format!("call, {size} B of integers"),
            Kind::Large(_) => format!("call, {size} B byte buffer"),
        };
        report.push(Row::latency(
            &format!("{what}, 1 in flight"),
            &raw_latency,
            &call_latency,
        ));
        let (raw_rate, call_rate) = rates(
            alternating(
                rounds,
                || {
                    Throughput::median(1, per_round, in_flight, |end| {
                        baseline::count(server, size, end)
                    })
                },
                || {
                    Throughput::median(1, per_round, in_flight, |end| {
                        subject::count(subject.client(), kind, end)
                    })
                },
            )
            .await?,
        );
        report.push(Row::throughput(
            &format!("calls/s, {what}, {in_flight} in flight"),
            &raw_rate,
            &call_rate,
        ));
    }

    // Large payloads over the stream transport, against a raw TCP echo of
    // the same bytes: one in flight, p50 (its ratio is the inverse of the
    // throughput ratio), and MB/s both ways from the p50s.
    let tcp = bulk::TcpEcho::start().await?;
    let mut bulk_rates = Vec::new();
    for size in [64 << 10, 1 << 20, (16 << 20) - 1024] {
        let kind = Kind::Large(size);
        let (raw_latency, call_latency) = latencies(
            alternating(
                rounds,
                || Latency::median(1, per_round, |end| bulk::sample(tcp.address(), size, end)),
                || {
                    Latency::median(1, per_round, |end| {
                        subject::sample(subject.client(), kind, end)
                    })
                },
            )
            .await?,
        );
        report.push(Row::latency(
            &format!("call, {size} B byte buffer (stream) vs raw TCP echo"),
            &raw_latency,
            &call_latency,
        ));
        let rate = |p50: Duration| 2.0 * size as f64 / p50.as_secs_f64().max(1e-9) / 1e6;
        bulk_rates.push((size, rate(raw_latency.p50), rate(call_latency.p50)));
    }
    tcp.stop().await;

    let (raw_latency, lookup_latency) = latencies(
        alternating(
            rounds,
            || Latency::median(1, per_round, |end| baseline::sample(server, 32, end)),
            || Latency::median(1, per_round, |end| subject::lookups(subject.client(), end)),
        )
        .await?,
    );
    report.push(Row::latency(
        "matchmaker lookup (no cache), 32 B raw",
        &raw_latency,
        &lookup_latency,
    ));
    let (raw_rate, lookup_rate) = rates(
        alternating(
            rounds,
            || {
                Throughput::median(1, per_round, in_flight, |end| {
                    baseline::count(server, 32, end)
                })
            },
            || {
                Throughput::median(1, per_round, in_flight, |end| {
                    let client = subject.client();
                    async move { Ok(subject::lookups(client, end).await?.len() as u64) }
                })
            },
        )
        .await?,
    );
    report.push(Row::throughput(
        &format!("lookups/s, {in_flight} in flight"),
        &raw_rate,
        &lookup_rate,
    ));

    let memory = subject
        .memory_over(options.memory_calls, options.in_flight)
        .await?;
    report.memory = Some(memory);
    report.matchmaker_datagrams_per_call = Some(subject.matchmaker_datagrams_per_call());

    #[cfg(feature = "etcd")]
    etcd::measure(&mut report, options.etcd.as_deref(), rounds, per_round).await?;

    if options.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
        for (size, raw, ours) in bulk_rates {
            println!(
                "{size} B both ways: raw TCP {raw:.0} MB/s, rendezvous {ours:.0} MB/s ({:.2}x)",
                ours / raw
            );
        }
    }
    subject.stop().await;
    raw.stop().await;
    Ok(())
}
