//! The `fault-server` test binary as a child process, and the interface of
//! the procedures it serves.
//!
//! `fault-server` (`src/bin/fault-server.rs`) is a real server process for
//! fault tests: it can be killed with SIGKILL at any moment, and it leaves
//! behind an **execution log** that says exactly what ran. Each procedure
//! appends one line per execution to the file given by `--log`, with one
//! unbuffered `write` per line, so a line is in the file (the kernel's page
//! cache) before the procedure returns, and SIGKILL loses none:
//!
//! ```text
//! count 17 run                      fault.count(17)
//! slow 3 start                      fault.slow(3, ms) began ...
//! slow 3 done                       ... and finished
//! slow_idempotent 4 start
//! slow_idempotent 4 done
//! ```
//!
//! [`FaultServer::start`] runs it, learns its address and incarnation from
//! its first two stdout lines, and kills it when dropped. The server also
//! exits by itself when its stdin closes, so not even a test process killed
//! before its destructors ran leaves one behind.
//!
//! The procedures are declared here without bodies (interface
//! declarations): the library links no `#[procedure]`, so servers started by
//! other tests do not serve these, and the fingerprints match the binary's.

use crate::pipe::collect;
use crate::sync::lock;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long a starting server may take to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What `fault-server` prints before its address.
pub const LISTENING: &str = "fault-server listening on ";

/// What `fault-server` prints before its incarnation.
pub const INCARNATION: &str = "incarnation ";

mod load;

pub use load::Load;

/// The procedures `fault-server` serves, as its callers see them.
pub mod procedures {
    use rendezvous_core::procedure;

    /// Logs `count ID run` and returns `id`. Not idempotent.
    #[procedure(name = "fault.count")]
    pub async fn count(id: u64) -> u64;

    /// Logs `slow ID start`, sleeps `ms` milliseconds, logs `slow ID done`
    /// and returns `id`. Not idempotent.
    #[procedure(name = "fault.slow")]
    pub async fn slow(id: u64, ms: u64) -> u64;

    /// Like `slow`, logged as `slow_idempotent`; declared idempotent.
    #[procedure(name = "fault.slow_idempotent", idempotent)]
    pub async fn slow_idempotent(id: u64, ms: u64) -> u64;

    /// The server's own counters: (calls executed, duplicates answered
    /// from the reply cache, acknowledgments sent).
    #[procedure(name = "fault.stats")]
    pub async fn stats() -> (u64, u64, u64);
}

/// Every procedure name `fault-server` registers.
pub const PROCEDURE_NAMES: [&str; 4] = [
    "fault.count",
    "fault.slow",
    "fault.slow_idempotent",
    "fault.stats",
];

/// The path of the `fault-server` binary of this workspace, built first if
/// it is missing or stale. Integration tests of this package can use
/// `env!("CARGO_BIN_EXE_fault-server")` instead.
pub fn binary() -> PathBuf {
    crate::daemon::workspace_binary("rendezvous-tests", "fault-server")
}

/// How to start a [`FaultServer`].
#[derive(Clone, Debug)]
pub struct FaultServerConfig {
    /// The `fault-server` binary.
    pub binary: PathBuf,
    /// The matchmaker to register with.
    pub matchmaker: SocketAddr,
    /// Where to listen (`127.0.0.1:0` for an OS-chosen port).
    pub bind: SocketAddr,
    /// The address to register instead of the bound one (a relay's, say).
    pub advertise: Option<SocketAddr>,
    /// The lease TTL to ask for; renewed every third of it.
    pub lease_ttl: Duration,
    /// The execution log to append to.
    pub log: PathBuf,
}

/// A running `fault-server`, killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct FaultServer {
    child: Child,
    /// Held open: the server exits when it closes.
    _stdin: Option<ChildStdin>,
    address: SocketAddr,
    incarnation: u64,
    log: PathBuf,
    stderr: Arc<Mutex<String>>,
    exited: bool,
}

impl FaultServer {
    /// Starts a server; panics, with its stderr, if it does not print its
    /// address and incarnation within [`START_TIMEOUT`].
    pub fn start(config: &FaultServerConfig) -> FaultServer {
        FaultServer::start_with(Command::new(&config.binary), config)
    }

    /// Like [`FaultServer::start`], signing its registrations with the
    /// secret in `secret` (`RENDEZVOUS_SECRET_FILE`), as a server behind a
    /// relay must (it registers an address it does not send from).
    pub fn start_signed(config: &FaultServerConfig, secret: &Path) -> FaultServer {
        let mut command = Command::new(&config.binary);
        command.env(rendezvous_core::matchmaker::SECRET_FILE_ENV_VAR, secret);
        FaultServer::start_with(command, config)
    }

    /// Like [`FaultServer::start`], inside network namespace `namespace`
    /// (see [`crate::netns`]), signing with `secret` if given.
    pub fn start_in_namespace(
        namespace: &str,
        config: &FaultServerConfig,
        secret: Option<&Path>,
    ) -> FaultServer {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", namespace])
            .arg(&config.binary);
        if let Some(secret) = secret {
            command.env(rendezvous_core::matchmaker::SECRET_FILE_ENV_VAR, secret);
        }
        FaultServer::start_with(command, config)
    }

    /// Runs `command` (the binary, or what runs it) with the server's flags.
    fn start_with(mut command: Command, config: &FaultServerConfig) -> FaultServer {
        if let Some(advertise) = config.advertise {
            command.arg("--advertise").arg(advertise.to_string());
        }
        let mut child = command
            .arg("--matchmaker")
            .arg(config.matchmaker.to_string())
            .arg("--bind")
            .arg(config.bind.to_string())
            .arg("--lease-ttl")
            .arg(format!("{}ms", config.lease_ttl.as_millis()))
            .arg("--log")
            .arg(&config.log)
            .env_remove(rendezvous_core::matchmaker::ENV_VAR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("could not spawn {}: {error}", config.binary.display()));
        let stdin = child.stdin.take();
        let (stderr, _) = collect(child.stderr.take().expect("stderr is piped"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            for _ in 0..2 {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(1..) => {
                        if lines.send(line).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut server = FaultServer {
            child,
            _stdin: stdin,
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            incarnation: 0,
            log: config.log.clone(),
            stderr,
            exited: false,
        };
        let mut line = || match received.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                server.kill();
                panic!(
                    "fault-server did not print its address and incarnation within {START_TIMEOUT:?}; stderr:\n{}",
                    server.stderr()
                )
            }
        };
        let (first, second) = (line(), line());
        let address = first
            .trim()
            .strip_prefix(LISTENING)
            .and_then(|a| a.parse().ok());
        let incarnation = second
            .trim()
            .strip_prefix(INCARNATION)
            .and_then(|i| i.parse().ok());
        match (address, incarnation) {
            (Some(address), Some(incarnation)) => {
                server.address = address;
                server.incarnation = incarnation;
                server
            }
            _ => {
                server.kill();
                panic!(
                    "fault-server printed {first:?} and {second:?}, not its address and incarnation; stderr:\n{}",
                    server.stderr()
                )
            }
        }
    }

    /// The address the server listens on (and registered, unless it
    /// advertises another).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's incarnation, as it registered it.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The execution log this server appends to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What the server has written to stderr so far (the last 64 KiB).
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        !self.exited && matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the server with SIGKILL (a crash) and reaps it.
    pub fn kill(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = true;
        }
    }

    /// Stops the process with SIGSTOP: it holds its socket (datagrams queue
    /// in the kernel) but does nothing until [`FaultServer::resume`], like a
    /// server stalled by a long pause.
    pub fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// Continues a [paused](FaultServer::pause) process (SIGCONT).
    pub fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    /// Sends `signal` with one system call: starting a `kill` process
    /// took long enough on a loaded machine for a whole load to finish
    /// before the pause it was meant to interrupt.
    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.child.id() as i32);
        if let Err(error) = nix::sys::signal::kill(pid, signal) {
            panic!("could not send {signal} to fault-server {pid}: {error}");
        }
    }

    /// The executions this server's log records so far.
    pub fn executions(&self) -> ExecutionLog {
        ExecutionLog::read(&self.log)
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One line of an execution log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Execution {
    /// `count`, `slow` or `slow_idempotent`.
    pub procedure: String,
    /// The procedure's `id` argument.
    pub id: u64,
    /// `run` for `count`; `start` or `done` for the slow ones.
    pub phase: String,
}

/// An execution log as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecutionLog {
    pub entries: Vec<Execution>,
}

impl ExecutionLog {
    /// Reads the log at `path` (empty if the file does not exist). Panics
    /// on a line that is not `PROCEDURE ID PHASE`: a torn line would mean
    /// the log cannot be trusted.
    pub fn read(path: &Path) -> ExecutionLog {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(error) => panic!("could not read {}: {error}", path.display()),
        };
        let entries = text
            .lines()
            .map(|line| {
                let mut fields = line.split(' ');
                let parsed = match (fields.next(), fields.next(), fields.next(), fields.next()) {
                    (Some(procedure), Some(id), Some(phase), None) => {
                        id.parse().ok().map(|id| Execution {
                            procedure: procedure.to_owned(),
                            id,
                            phase: phase.to_owned(),
                        })
                    }
                    _ => None,
                };
                parsed.unwrap_or_else(|| {
                    panic!("{}: malformed execution line {line:?}", path.display())
                })
            })
            .collect();
        ExecutionLog { entries }
    }

    /// How many times each id of `procedure` logged `phase`.
    pub fn counts(&self, procedure: &str, phase: &str) -> BTreeMap<u64, u64> {
        let mut counts = BTreeMap::new();
        for entry in &self.entries {
            if entry.procedure == procedure && entry.phase == phase {
                *counts.entry(entry.id).or_insert(0) += 1;
            }
        }
        counts
    }

    /// How many lines of `procedure` with `phase` the log holds.
    pub fn total(&self, procedure: &str, phase: &str) -> u64 {
        self.counts(procedure, phase).values().sum()
    }

    /// Whether the log holds `procedure ID phase`.
    pub fn contains(&self, procedure: &str, id: u64, phase: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.procedure == procedure && e.id == id && e.phase == phase)
    }
}

/// A scratch directory for execution logs, removed when dropped.
#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Creates a fresh directory named after `label` under `parent`.
    pub fn new(parent: &Path, label: &str) -> ScratchDir {
        let path = parent.join(format!(
            "{label}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("could not create {}: {error}", path.display()));
        ScratchDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A path inside the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
