//! `netns-client`: a client process for tests run in network namespaces
//! (tests/offloopback.rs), where the test process itself cannot be.
//!
//! ```text
//! netns-client calls --matchmaker ADDR --calls N [--in-flight K] [--deadline 2s] [--pace 20ms]
//! netns-client lookup --matchmaker ADDR NAME
//! netns-client flood --matchmaker ADDR --datagrams N [--rate PER_SECOND]
//! ```
//!
//! `calls` calls `fault.count(id)` (see `rendezvous_tests::fault_server`)
//! with ids `0..N`, K at a time, each worker pausing `--pace` between its
//! calls, and prints one line per call as it ends: `ok ID` or
//! `failed ID VARIANT` (the `rendezvous_core::Error` variant), then `done`.
//! `lookup` prints `endpoint ADDR INCARNATION` per endpoint, or
//! `failed VARIANT MESSAGE`. `flood` sends N lookups of `fault.count` from
//! one socket, at most `--rate` a second (default 25 000: faster, and the
//! daemon's socket buffer drops most), each from a new random client id (an
//! attacker's flood: no authentication needed, nothing read back), printing
//! `sent K` every 10 000 and `done` at the end. Exits 2 on bad arguments.

use rendezvous_core::protocol::matchmaker::LookupRequest;
use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::wire::{self, Call, ClientId, Incarnation, Message, Xid};
use rendezvous_core::{Client, Error, MatchmakerClient};
use rendezvous_runtime as rt;
use rendezvous_tests::fault_server::procedures::count;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const USAGE: &str = "usage: netns-client calls --matchmaker ADDR --calls N [--in-flight K] \
[--deadline DURATION] [--pace DURATION] | netns-client lookup --matchmaker ADDR NAME \
| netns-client flood --matchmaker ADDR --datagrams N [--rate PER_SECOND]";

#[derive(Debug)]
enum Mode {
    Calls {
        calls: u64,
        in_flight: usize,
        deadline: Duration,
        pace: Duration,
    },
    Lookup {
        name: String,
    },
    Flood {
        datagrams: u64,
        rate: u64,
    },
}

fn parse() -> Result<(SocketAddr, Mode), String> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    let mut matchmaker = None;
    let (mut calls, mut in_flight, mut datagrams, mut rate) = (None, 1usize, None, 25_000u64);
    let (mut deadline, mut pace) = (Duration::from_secs(2), Duration::ZERO);
    let mut name = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--matchmaker" => matchmaker = Some(parse_value::<SocketAddr>(&value()?)?),
            "--calls" => calls = Some(parse_value::<u64>(&value()?)?),
            "--datagrams" => datagrams = Some(parse_value::<u64>(&value()?)?),
            "--rate" => rate = parse_value(&value()?)?,
            "--in-flight" => in_flight = parse_value(&value()?)?,
            "--deadline" => deadline = parse_duration(&value()?)?,
            "--pace" => pace = parse_duration(&value()?)?,
            other if !other.starts_with("--") && name.is_none() => name = Some(other.to_owned()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let matchmaker = matchmaker.ok_or_else(|| format!("--matchmaker is required; {USAGE}"))?;
    let mode = match mode.as_str() {
        "calls" => Mode::Calls {
            calls: calls.ok_or_else(|| format!("--calls is required; {USAGE}"))?,
            in_flight: in_flight.max(1),
            deadline,
            pace,
        },
        "lookup" => Mode::Lookup {
            name: name.ok_or_else(|| format!("lookup needs a NAME; {USAGE}"))?,
        },
        "flood" => Mode::Flood {
            datagrams: datagrams.ok_or_else(|| format!("--datagrams is required; {USAGE}"))?,
            rate: rate.max(1),
        },
        other => return Err(format!("unknown mode {other:?}; {USAGE}")),
    };
    Ok((matchmaker, mode))
}

fn parse_value<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error| format!("{text:?} is not valid here: {error}"))
}

/// `2s` or `500ms`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration (e.g. 2s, 500ms)");
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(value * unit).map_err(|_| invalid())
}

/// The error's variant name, as `{:?}` begins with it.
fn variant(error: &Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One line to stdout, flushed at once: the test reads them as they come.
fn say(line: String) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

async fn calls(client: Client, calls: u64, in_flight: usize, pace: Duration) {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            rt::spawn(async move {
                loop {
                    let id = next.fetch_add(1, Ordering::SeqCst);
                    if id >= calls {
                        return;
                    }
                    match count::remote_with(&client, id).await {
                        Ok(returned) if returned == id => say(format!("ok {id}")),
                        Ok(returned) => say(format!("failed {id} WrongResult{returned}")),
                        Err(error) => say(format!("failed {id} {}", variant(&error))),
                    }
                    if !pace.is_zero() {
                        rt::sleep(pace).await;
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await;
    }
    say("done".into());
}

async fn lookup(matchmaker: SocketAddr, name: &str) -> ExitCode {
    let client = match MatchmakerClient::connect(matchmaker).await {
        Ok(client) => client,
        Err(error) => {
            say(format!("failed {} {error}", variant(&error)));
            return ExitCode::FAILURE;
        }
    };
    match client.lookup(name, None).await {
        Ok(endpoints) => {
            for endpoint in endpoints {
                say(format!(
                    "endpoint {} {}",
                    endpoint.address, endpoint.incarnation
                ));
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            say(format!("failed {} {error}", variant(&error)));
            ExitCode::FAILURE
        }
    }
}

/// Sends `datagrams` lookups to `matchmaker`, each from a new client id.
fn flood(matchmaker: SocketAddr, datagrams: u64, rate: u64) -> ExitCode {
    let started = std::time::Instant::now();
    let bind = SocketAddr::new(
        match matchmaker {
            SocketAddr::V4(_) => std::net::Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
        },
        0,
    );
    let socket = match std::net::UdpSocket::bind(bind) {
        Ok(socket) => socket,
        Err(error) => {
            eprintln!("netns-client: could not bind {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let request = LookupRequest {
        name: "fault.count".into(),
        signature: None,
        padding: None,
    };
    let Ok(args) = wire::encode_payload(&(request,)) else {
        eprintln!("netns-client: could not encode a lookup");
        return ExitCode::FAILURE;
    };
    for sent in 0..datagrams {
        let call = Message::Call(Call {
            client: ClientId(fastrand::u64(..)),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: operation::Lookup::NAME.to_owned(),
            signature: operation::Lookup::SIGNATURE,
            deadline: Duration::from_secs(3),
            done_below: Xid(1),
            args: args.clone().into(),
            elsewhere: Default::default(),
        });
        let Ok(datagram) = call.encode() else {
            eprintln!("netns-client: could not encode a call");
            return ExitCode::FAILURE;
        };
        // A full socket buffer drops the datagram, as a flood would.
        let _ = socket.send_to(&datagram, matchmaker);
        if (sent + 1) % 10_000 == 0 {
            say(format!("sent {}", sent + 1));
        }
        if sent % 250 == 0 {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
    }
    say("done".into());
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let (matchmaker, mode) = match parse() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("netns-client: {message}");
            return ExitCode::from(2);
        }
    };
    if let Mode::Flood { datagrams, rate } = mode {
        return flood(matchmaker, datagrams, rate);
    }
    rt::block_on(async {
        match mode {
            Mode::Calls {
                calls: n,
                in_flight,
                deadline,
                pace,
            } => {
                let client = match Client::builder()
                    .matchmaker(matchmaker)
                    .deadline(deadline)
                    .build()
                {
                    Ok(client) => client,
                    Err(error) => {
                        eprintln!("netns-client: could not build the client: {error}");
                        return ExitCode::FAILURE;
                    }
                };
                calls(client, n, in_flight, pace).await;
                ExitCode::SUCCESS
            }
            Mode::Lookup { name } => lookup(matchmaker, &name).await,
            Mode::Flood { .. } => ExitCode::from(2),
        }
    })
}
