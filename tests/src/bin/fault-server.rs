//! `fault-server`: a server process for fault tests, meant to be killed.
//!
//! ```text
//! fault-server --matchmaker ADDR [--bind ADDR] [--advertise ADDR] [--lease-ttl 2s] --log FILE
//! ```
//!
//! Serves the procedures declared in `rendezvous_tests::fault_server::procedures`
//! and appends one line per execution to `--log` (see that module for the
//! format), each with a single unbuffered `write`, so SIGKILL loses none.
//! Prints `fault-server listening on ADDR` and `incarnation N` first, then
//! serves until killed or until its stdin closes (its parent is gone).

use rendezvous_core::{Server, procedure};
use rendezvous_runtime as rt;
use rendezvous_tests::fault_server::{INCARNATION, LISTENING};
use rendezvous_tests::sync::lock;
use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The execution log.
static LOG: OnceLock<Mutex<File>> = OnceLock::new();

/// The running server, for `fault.stats`.
static SERVER: OnceLock<Server> = OnceLock::new();

/// Appends one line to the execution log in one `write`, before the
/// procedure goes on: what is logged has run.
fn log(line: String) {
    let Some(file) = LOG.get() else {
        return;
    };
    let mut file = lock(file);
    if let Err(error) = file.write_all(line.as_bytes()) {
        eprintln!("fault-server: could not write the execution log: {error}");
        std::process::exit(3);
    }
}

#[procedure(name = "fault.count")]
pub async fn count(id: u64) -> u64 {
    log(format!("count {id} run\n"));
    id
}

#[procedure(name = "fault.slow")]
pub async fn slow(id: u64, ms: u64) -> u64 {
    log(format!("slow {id} start\n"));
    rt::sleep(Duration::from_millis(ms)).await;
    log(format!("slow {id} done\n"));
    id
}

#[procedure(name = "fault.slow_idempotent", idempotent)]
pub async fn slow_idempotent(id: u64, ms: u64) -> u64 {
    log(format!("slow_idempotent {id} start\n"));
    rt::sleep(Duration::from_millis(ms)).await;
    log(format!("slow_idempotent {id} done\n"));
    id
}

#[procedure(name = "fault.stats")]
pub async fn stats() -> (u64, u64, u64) {
    match SERVER.get() {
        Some(server) => {
            let stats = server.stats();
            (stats.executed, stats.replayed, stats.acks)
        }
        None => (0, 0, 0),
    }
}

#[derive(Debug)]
struct Options {
    matchmaker: SocketAddr,
    bind: SocketAddr,
    advertise: Option<SocketAddr>,
    lease_ttl: Duration,
    log: PathBuf,
}

const USAGE: &str = "usage: fault-server --matchmaker ADDR [--bind ADDR] [--advertise ADDR] \
[--lease-ttl DURATION] --log FILE";

fn parse_options() -> Result<Options, String> {
    let mut matchmaker = None;
    let mut bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut advertise = None;
    let mut lease_ttl = Duration::from_secs(30);
    let mut log = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--matchmaker" => {
                matchmaker = Some(parse_address(&value()?)?);
            }
            "--bind" => bind = parse_address(&value()?)?,
            "--advertise" => advertise = Some(parse_address(&value()?)?),
            "--lease-ttl" => lease_ttl = parse_duration(&value()?)?,
            "--log" => log = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(Options {
        matchmaker: matchmaker.ok_or_else(|| format!("--matchmaker is required; {USAGE}"))?,
        bind,
        advertise,
        lease_ttl,
        log: log.ok_or_else(|| format!("--log is required; {USAGE}"))?,
    })
}

fn parse_address(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|error| format!("{text:?} is not an address: {error}"))
}

/// `2s`, `500ms`, or plain seconds (`2`, `0.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration (e.g. 2s, 500ms)");
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 1e-3),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(value * unit).map_err(|_| invalid())
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("fault-server: {message}");
            return ExitCode::from(2);
        }
    };
    let file = match File::options().create(true).append(true).open(&options.log) {
        Ok(file) => file,
        Err(error) => {
            eprintln!(
                "fault-server: could not open {}: {error}",
                options.log.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let _ = LOG.set(Mutex::new(file));

    // The parent holds our stdin; when it goes away, so do we.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while let Ok(1..) = stdin.read(&mut sink) {}
        std::process::exit(0);
    });

    rt::block_on(async {
        let mut builder = Server::builder()
            .matchmaker(options.matchmaker)
            .bind(options.bind)
            .lease_ttl(options.lease_ttl);
        if let Some(address) = options.advertise {
            builder = builder.advertise(address);
        }
        let server = builder.start().await;
        let server = match server {
            Ok(server) => server,
            Err(error) => {
                eprintln!("fault-server: {error}");
                return ExitCode::FAILURE;
            }
        };
        println!("{LISTENING}{}", server.local_addr());
        println!("{INCARNATION}{}", server.incarnation().0);
        if !server.is_registered() {
            eprintln!(
                "fault-server: not registered yet with {}; retrying in the background",
                server.matchmaker_addr()
            );
        }
        let _ = SERVER.set(server);
        futures_lite::future::pending::<ExitCode>().await
    })
}
