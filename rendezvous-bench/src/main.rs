//! `rendezvous-bench`: what rendezvous's convenience costs over a raw socket.
//!
//! In one run it measures a raw async-std UDP ping-pong, tarpc's `add(i32,
//! i32)` over TCP (the `rendezvous-bench-tarpc` crate) and the equivalent
//! rendezvous call (server and client tasks on the same async-std
//! executor), and prints each rendezvous figure beside its baseline as a
//! ratio. Machines are noisy: every figure is the median of several rounds,
//! baseline and rendezvous interleaved, and only the ratios are meant to be
//! compared across runs.
//!
//! It does so in each process layout asked for (`--layouts`, default both):
//! pinned, every thread on one CPU, and unpinned, on all the CPUs the
//! process was started with; the process sets its own threads' CPUs
//! (`layout`), and each layout's rows have their own baselines. Thread
//! pools are sized by the CPUs the process starts with, before either
//! layout is set, so both layouts run the same threads.
//!
//! ```text
//! cargo run --release -p rendezvous-bench              # both layouts
//! cargo run --release -p rendezvous-bench -- --cpus 1  # pinned only
//! ```

mod baseline;
mod bulk;
#[cfg(feature = "etcd")]
mod etcd;
mod layout;
mod measure;
mod report;
mod steal;
mod subject;

use clap::Parser;
use layout::{Cpus, Layout};
use measure::{Latency, Throughput, alternating};
use rendezvous_runtime as rt;
use report::{Report, Row};
use std::net::SocketAddr;
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
    /// The process layouts to measure, in order, each with its own
    /// baselines: pinned (every thread on one CPU), unpinned (every thread
    /// on every CPU the process was started with).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "pinned,unpinned"
    )]
    layouts: Vec<Layout>,
    /// One layout only: `1` for pinned, `all` for unpinned (overrides
    /// --layouts). With --profile, the layout profiled (default all).
    #[arg(long, value_name = "1|all", value_parser = parse_cpus)]
    cpus: Option<Layout>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Instead of the report, only run one kind of operation for --duration
    /// (for perf, strace or callgrind): raw round trips, small calls,
    /// large calls (--large bytes), raw TCP echoes of --large bytes,
    /// lookups or tarpc calls.
    #[arg(long, value_name = "WHAT")]
    profile: Option<Profile>,
    /// With --profile: operations in flight at once, each loop a task.
    #[arg(long, value_name = "N", default_value_t = 1)]
    profile_in_flight: usize,
    /// How long rendezvous's client, server and matchmaker poll for the
    /// next datagram before sleeping, in microseconds (0: never; default:
    /// the library's, `rendezvous_core::DEFAULT_SPIN` for the client and
    /// `DEFAULT_SERVER_SPIN` for the server and the matchmaker).
    #[arg(long, value_name = "MICROSECONDS")]
    spin_micros: Option<u64>,
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
    Large,
    RawTcp,
    Lookup,
    Tarpc,
}

fn parse_cpus(cpus: &str) -> Result<Layout, String> {
    match cpus {
        "1" => Ok(Layout::Pinned),
        "all" => Ok(Layout::Unpinned),
        other => Err(format!(
            "{other:?} is not a CPU count this bench knows: give 1 (pinned) or all (unpinned)"
        )),
    }
}

fn main() {
    let options = Options::parse();
    // Before any thread starts: the CPUs the process was started with.
    let cpus = match Cpus::at_start() {
        Ok(cpus) => cpus,
        Err(error) => {
            eprintln!("rendezvous-bench: could not read this process's CPUs: {error}");
            std::process::exit(1);
        }
    };
    if let Err(error) = rt::block_on(run(&options, &cpus)) {
        eprintln!("rendezvous-bench: {error}");
        std::process::exit(1);
    }
}

async fn run(options: &Options, cpus: &Cpus) -> Result<(), measure::BenchError> {
    let per_round = Duration::from_secs_f64(options.duration / options.rounds.max(1) as f64);
    let layouts = match (options.cpus, options.profile) {
        (Some(layout), _) => vec![layout],
        (None, Some(_)) => vec![Layout::Unpinned],
        (None, None) => options.layouts.clone(),
    };
    // Every thread pool is started (and sized) before any layout is set:
    // the layouts differ only in the CPUs the same threads may use.
    let subject = subject::Subject::start(options.spin_micros.map(Duration::from_micros)).await?;
    let raw = baseline::Echo::start().await?;
    let tarpc = rendezvous_bench_tarpc::Tarpc::start()?;
    if let Some(what) = options.profile {
        let tcp = bulk::TcpEcho::start().await?;
        cpus.apply(layouts[0])?;
        let started = steal::CpuTime::now();
        let end = rendezvous_runtime::Instant::now() + Duration::from_secs_f64(options.duration);
        let in_flight = options.profile_in_flight.max(1);
        let (small, large) = (options.small, options.large);
        let one_loop = || {
            let (client, server, caller) = (subject.client(), raw.address(), tarpc.caller());
            let tcp = tcp.address();
            async move {
                match what {
                    Profile::Raw => baseline::count(server, small, end).await,
                    Profile::Call => subject::count(client, Kind::Small, end).await,
                    Profile::Large => subject::count(client, Kind::Large(large), end).await,
                    Profile::RawTcp => Ok(bulk::sample(tcp, large, end).await?.len() as u64),
                    Profile::Lookup => Ok(subject::lookups(client, end).await?.len() as u64),
                    Profile::Tarpc => caller.count(end).await,
                }
            }
        };
        // One loop runs where the report's latency rounds run (this
        // thread's `block_on`); more run as tasks, as its throughput rounds.
        let done = if in_flight == 1 {
            one_loop().await?
        } else {
            let loops: Vec<_> = (0..in_flight).map(|_| rt::spawn(one_loop())).collect();
            let mut done = 0;
            for one in loops {
                done += one.await?;
            }
            done
        };
        println!("{done} operations ({what:?}, {in_flight} in flight)");
        println!("{}", subject.traffic());
        if let Some(stolen) = started.and_then(|t| t.stolen_percent_since()) {
            println!("{stolen:.0}% of the machine's CPU time stolen by its hypervisor meanwhile");
        }
        return Ok(());
    }
    let mut report = Report::new();
    for &layout in &layouts {
        report.layout(layout.name(), cpus.apply(layout)?);
        let contestants = Contestants {
            subject: &subject,
            raw: raw.address(),
            tarpc: &tarpc,
        };
        measure_layout(&mut report, layout.name(), options, &contestants, per_round).await?;
        report.layout_done();
    }

    let memory = subject
        .memory_over(options.memory_calls, options.in_flight)
        .await?;
    report.memory = Some(memory);
    report.matchmaker_datagrams_per_call = Some(subject.matchmaker_datagrams_per_call());
    // Large payloads over the stream transport, in the last layout; after
    // the memory row, whose small calls would otherwise find the pages
    // these buffers freed and read as the process shrinking.
    let bulk_rates = measure_bulk(
        &mut report,
        layouts[layouts.len() - 1].name(),
        &subject,
        options.rounds.max(1),
        per_round,
    )
    .await?;

    #[cfg(feature = "etcd")]
    etcd::measure(
        &mut report,
        layouts[layouts.len() - 1].name(),
        options.etcd.as_deref(),
        options.rounds.max(1),
        per_round,
    )
    .await?;

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
    tarpc.stop();
    subject.stop().await;
    raw.stop().await;
    Ok(())
}

/// Large payloads over the stream transport, against a raw TCP echo of
/// the same bytes: one in flight, p50 (its ratio is the inverse of the
/// throughput ratio); returns MB/s both ways from the p50s, by size.
async fn measure_bulk(
    report: &mut Report,
    layout: &'static str,
    subject: &subject::Subject,
    rounds: usize,
    per_round: Duration,
) -> Result<Vec<(usize, f64, f64)>, measure::BenchError> {
    let tcp = bulk::TcpEcho::start().await?;
    let mut bulk_rates = Vec::new();
    for size in [64 << 10, 1 << 20, (16 << 20) - 1024] {
        let kind = Kind::Large(size);
        let (raw, ours) = alternating(
            rounds,
            || Latency::median(1, per_round, |end| bulk::sample(tcp.address(), size, end)),
            || {
                Latency::median(1, per_round, |end| {
                    subject::sample(subject.client(), kind, end)
                })
            },
        )
        .await?;
        let (raw, ours) = (Latency::median_of(&raw), Latency::median_of(&ours));
        report.push(Row::latency(
            layout,
            &format!("call, {size} B byte buffer (stream), 1 in flight"),
            "raw TCP echo",
            &raw,
            &ours,
        ));
        let rate = |p50: Duration| 2.0 * size as f64 / p50.as_secs_f64().max(1e-9) / 1e6;
        bulk_rates.push((size, rate(raw.p50), rate(ours.p50)));
    }
    tcp.stop().await;
    Ok(bulk_rates)
}

/// What one layout's rows measure.
struct Contestants<'a> {
    subject: &'a subject::Subject,
    /// The raw echo server.
    raw: SocketAddr,
    tarpc: &'a rendezvous_bench_tarpc::Tarpc,
}

/// The rows of one layout: each rendezvous figure against the raw socket
/// of the same rounds, and the small call against tarpc too.
async fn measure_layout(
    report: &mut Report,
    layout: &'static str,
    options: &Options,
    with: &Contestants<'_>,
    per_round: Duration,
) -> Result<(), measure::BenchError> {
    let rounds = options.rounds.max(1);
    let (subject, server) = (with.subject, with.raw);
    let in_flight = options.in_flight;
    for (kind, size) in [
        (Kind::Small, options.small),
        (Kind::Large(options.large), options.large),
    ] {
        let what = match kind {
            Kind::Small => format!("call, {size} B of integers"),
            Kind::Large(_) => format!("call, {size} B byte buffer"),
        };
        let small = matches!(kind, Kind::Small);
        // Each round: raw, then (for the small call) tarpc, then rendezvous.
        let (raw, theirs_and_ours) = alternating(
            rounds,
            || Latency::median(1, per_round, |end| baseline::sample(server, size, end)),
            || async {
                let tarpc = match small {
                    true => Some(
                        Latency::median(1, per_round, |end| with.tarpc.caller().sample(end))
                            .await?,
                    ),
                    false => None,
                };
                let ours = Latency::median(1, per_round, |end| {
                    subject::sample(subject.client(), kind, end)
                })
                .await?;
                Ok((tarpc, ours))
            },
        )
        .await?;
        let (tarpc, ours): (Vec<_>, Vec<_>) = theirs_and_ours.into_iter().unzip();
        let ours = Latency::median_of(&ours);
        let name = format!("{what}, 1 in flight");
        report.push(Row::latency(
            layout,
            &name,
            "raw",
            &Latency::median_of(&raw),
            &ours,
        ));
        if let Some(tarpc) = tarpc.into_iter().collect::<Option<Vec<_>>>() {
            report.push(Row::latency(
                layout,
                &name,
                "tarpc",
                &Latency::median_of(&tarpc),
                &ours,
            ));
        }

        let before = subject.sent();
        let (raw, theirs_and_ours) = alternating(
            rounds,
            || {
                Throughput::median(1, per_round, in_flight, |end| {
                    baseline::count(server, size, end)
                })
            },
            || async {
                let tarpc = match small {
                    true => Some(
                        Throughput::median(1, per_round, in_flight, |end| {
                            with.tarpc.caller().count(end)
                        })
                        .await?,
                    ),
                    false => None,
                };
                let ours = Throughput::median(1, per_round, in_flight, |end| {
                    subject::count(subject.client(), kind, end)
                })
                .await?;
                Ok((tarpc, ours))
            },
        )
        .await?;
        let sent = subject.sent().since(before);
        let (tarpc, ours): (Vec<_>, Vec<_>) = theirs_and_ours.into_iter().unzip();
        let ours = Throughput::median_of(&ours);
        let name = format!("calls/s, {what}, {in_flight} in flight");
        report.push(
            Row::throughput(layout, &name, "raw", &Throughput::median_of(&raw), &ours).sent(sent),
        );
        if let Some(tarpc) = tarpc.into_iter().collect::<Option<Vec<_>>>() {
            report.push(Row::throughput(
                layout,
                &name,
                "tarpc",
                &Throughput::median_of(&tarpc),
                &ours,
            ));
        }
    }

    let (raw, ours) = alternating(
        rounds,
        || Latency::median(1, per_round, |end| baseline::sample(server, 32, end)),
        || Latency::median(1, per_round, |end| subject::lookups(subject.client(), end)),
    )
    .await?;
    report.push(Row::latency(
        layout,
        "matchmaker lookup (no cache), 32 B raw",
        "raw",
        &Latency::median_of(&raw),
        &Latency::median_of(&ours),
    ));
    let before = subject.sent();
    let (raw, ours) = alternating(
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
    .await?;
    let sent = subject.sent().since(before);
    report.push(
        Row::throughput(
            layout,
            &format!("lookups/s, {in_flight} in flight"),
            "raw",
            &Throughput::median_of(&raw),
            &Throughput::median_of(&ours),
        )
        .sent(sent),
    );
    Ok(())
}
