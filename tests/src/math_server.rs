//! The `math-server` example binary as a child process, for tests that
//! drive the real binaries (the README's three terminals, `call`,
//! metrics): started against a matchmaker, its address and procedures read
//! from its stdout, its log from stderr, killed on drop.

use crate::daemon::workspace_binary;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a process may take to start or answer; far beyond need.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running `math-server`, killed on drop.
#[derive(Debug)]
pub struct MathServer {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// The lines naming its procedures, as it printed them.
    pub procedures: Vec<String>,
    /// Where it serves `/metrics`, if started with `--metrics`.
    pub metrics: Option<SocketAddr>,
    /// Its stderr, line by line (its log), read as it comes so that the
    /// pipe never fills.
    log: mpsc::Receiver<String>,
}

/// Lines of `from`, sent as they come, until it closes.
fn lines_of(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    received
}

impl MathServer {
    pub fn start(matchmaker: SocketAddr) -> MathServer {
        MathServer::start_with(&matchmaker.to_string())
    }

    /// Started with `--matchmaker MATCHMAKERS` (one address or a list).
    pub fn start_with(matchmakers: &str) -> MathServer {
        MathServer::start_logging(matchmakers, None)
    }

    /// Started with `RUST_LOG` set to `filter`, or unset for `None`.
    pub fn start_logging(matchmakers: &str, filter: Option<&str>) -> MathServer {
        MathServer::spawn(matchmakers, filter, false)
    }

    /// Started with `--metrics 127.0.0.1:0`: [`MathServer::metrics`] is
    /// where it serves them.
    pub fn start_with_metrics(matchmaker: SocketAddr) -> MathServer {
        MathServer::spawn(&matchmaker.to_string(), None, true)
    }

    fn spawn(matchmakers: &str, filter: Option<&str>, metrics: bool) -> MathServer {
        let mut command = Command::new(workspace_binary("math-service", "math-server"));
        if metrics {
            command.args(["--metrics", "127.0.0.1:0"]);
        }
        command
            .args(["--matchmaker", matchmakers])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(filter) = filter {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn().expect("math-server starts");
        let received = lines_of(child.stdout.take().expect("stdout is piped"));
        let log = lines_of(child.stderr.take().expect("stderr is piped"));
        let first = received
            .recv_timeout(PATIENCE)
            .expect("math-server prints its address");
        let address = first
            .strip_prefix("math-server listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"));
        let procedures = (0..4)
            .map(|_| {
                received
                    .recv_timeout(PATIENCE)
                    .expect("math-server lists its procedures")
            })
            .collect();
        let metrics = metrics.then(|| {
            let line = received
                .recv_timeout(PATIENCE)
                .expect("math-server names its metrics address");
            line.trim()
                .strip_prefix("metrics on http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .and_then(|address| address.parse().ok())
                .unwrap_or_else(|| panic!("unexpected metrics line: {line:?}"))
        });
        MathServer {
            child,
            address,
            procedures,
            metrics,
            log,
        }
    }

    /// Waits (bounded) for a log line containing every one of `words`;
    /// returns the lines read, the last one matching if any did.
    pub fn await_log(&self, words: &[&str]) -> (bool, Vec<String>) {
        let mut seen = Vec::new();
        while let Ok(line) = self.log.recv_timeout(PATIENCE) {
            let found = words.iter().all(|word| line.contains(word));
            seen.push(line);
            if found {
                return (true, seen);
            }
        }
        (false, seen)
    }
}

impl Drop for MathServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
