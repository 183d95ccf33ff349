//! A real etcd as child processes: one member ([`Etcd::start`]) or a cluster
//! of several ([`Etcd::start_cluster`]), on loopback, for the tests of the
//! daemon's etcd store (`tests/etcd.rs`, cargo feature `etcd`).
//!
//! Each [`Etcd`] has its own temporary directory (under
//! [`std::env::temp_dir`]) holding every member's data directory, its own
//! cluster token, and its own ports. A member can be killed with SIGKILL
//! ([`Etcd::kill`]), stopped cleanly ([`Etcd::stop`]), and started again on
//! the same ports with the same data ([`Etcd::restart`]). Dropping the
//! [`Etcd`] kills every member and removes the directory.
//!
//! **Ports.** Free ports are found by binding them and letting them go, then
//! handed to etcd, so another process can take one in between; a start that
//! fails for that reason is tried again on fresh ports. The ports are drawn
//! below the kernel's ephemeral range (`ip_local_port_range`), never from
//! it: outgoing connections take their local ports from that range, and a
//! client reconnecting in a loop to a stopped member's port in it can even
//! connect to itself (TCP simultaneous open), holding the very port the
//! member must get back on [`Etcd::restart`].
//!
//! **Readiness.** A member is healthy when `GET /health` on its client URL
//! answers `{"health":"true"}` (it has a leader and can serve a quorum
//! read), asked over plain HTTP/1.0 with [`std::net`]; every wait is a
//! bounded loop with a generous deadline.
//!
//! **Leaks.** Each member runs beside a tiny `sh` sidecar holding a pipe from
//! the test process: if the test process dies without running destructors
//! (Ctrl-C, SIGKILL), the pipe closes and the sidecar kills that member and
//! removes its data directory (etcd preallocates 64 MB of WAL per member).
//!
//! ```no_run
//! use rendezvous_tests::{Daemon, etcd::Etcd};
//!
//! let etcd = Etcd::start();
//! let daemon = Daemon::start(&["--etcd", &etcd.urls(), "--etcd-prefix", "/test-a/"]);
//! ```

use crate::daemon::wait_with_limit;
use crate::pipe::collect_into;
use crate::sync::lock;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable naming the etcd binary (default: `etcd` on
/// `PATH`; Debian's `etcd-server` installs `/usr/bin/etcd`).
pub const BINARY_ENV_VAR: &str = "RENDEZVOUS_ETCD_BIN";

/// How long members may take to become healthy, at a start or a restart:
/// far beyond need, so reaching it means a broken start, not a slow machine.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a member may take to exit after SIGTERM (a leader hands its
/// leadership over first).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a start is tried on fresh ports when a port was taken
/// between finding it free and etcd binding it.
const START_ATTEMPTS: usize = 5;

/// Raft's heartbeat (etcd's default): how often a leader tells followers it
/// lives.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// How long followers wait without a heartbeat before electing a new
/// leader: above etcd's default 1 s so a loaded 2-core machine does not
/// churn leaders, short enough that a killed leader is replaced at once.
/// etcd's shortest lease follows from it (1.5 times it, rounded up to whole
/// seconds): 3 s, so shorter leases are granted 3 s.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(1500);

/// How often a waiting harness asks the members whether they are healthy.
const HEALTH_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long one `/health` request may take (connect, and then the answer).
const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The number of SIGTERM (the same on every Unix).
const SIGTERM: i32 = 15;

/// The lowest port handed out; the highest is just below the ephemeral range.
const LOWEST_PORT: u16 = 10_000;

/// The ephemeral range assumed when `/proc` does not say (Linux's default).
const DEFAULT_EPHEMERAL_PORTS: (u16, u16) = (32_768, 60_999);

/// One etcd cluster of one or more members on loopback, killed and removed
/// on drop.
#[derive(Debug)]
pub struct Etcd {
    /// Holds every member's data directory.
    root: PathBuf,
    members: Vec<Member>,
}

/// One member: its fixed ports, data directory and command line, and the
/// process running it, if any.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    data_dir: PathBuf,
    args: Vec<String>,
    process: Option<Process>,
    /// Its stderr (etcd's log, errors only), across restarts; the tail.
    stderr: Arc<Mutex<String>>,
}

/// A running etcd and the sidecar that kills it should this process die.
#[derive(Debug)]
struct Process {
    etcd: Child,
    sidecar: Child,
    /// Held open: the sidecar acts when it closes.
    _sidecar_stdin: Option<ChildStdin>,
}

/// Why a start did not become healthy.
#[derive(Debug)]
enum StartFailure {
    /// A member's port was taken before it bound it: try other ports.
    PortTaken(String),
    /// Anything else: a member exited, or the deadline passed.
    Other(String),
}

impl Etcd {
    /// Starts a single-member etcd and waits until it is healthy. Panics,
    /// with its log, if it is not within [`START_TIMEOUT`].
    pub fn start() -> Etcd {
        Etcd::start_cluster(1)
    }

    /// Starts a cluster of `size` members and waits until every one of them
    /// is healthy. Panics, with their logs, if they are not within
    /// [`START_TIMEOUT`].
    pub fn start_cluster(size: usize) -> Etcd {
        assert!(size > 0, "an etcd cluster needs at least one member");
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let mut etcd = Etcd::plan(size);
            for member in 0..size {
                etcd.spawn(member);
            }
            match etcd.wait_until_healthy(START_TIMEOUT) {
                Ok(()) => return etcd,
                Err(StartFailure::PortTaken(why)) => failures.push(why),
                Err(StartFailure::Other(why)) => {
                    panic!("etcd ({size} member(s)) did not start: {why}")
                }
            }
        }
        panic!(
            "etcd ({size} member(s)) did not start in {START_ATTEMPTS} tries: a port was \
             taken every time: {failures:#?}"
        )
    }

    /// Chooses ports, directories and command lines; starts nothing.
    fn plan(size: usize) -> Etcd {
        let root = std::env::temp_dir().join(format!(
            "rendezvous-etcd-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&root)
            .unwrap_or_else(|error| panic!("could not create {}: {error}", root.display()));
        let token = root
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or("rendezvous-etcd")
            .to_owned();
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}={}", url(*peer)))
            .collect::<Vec<_>>()
            .join(",");
        let members = ports
            .iter()
            .enumerate()
            .map(|(i, &(client_port, peer_port))| {
                let name = format!("m{i}");
                let data_dir = root.join(&name);
                let args = [
                    ("--name", name.clone()),
                    ("--data-dir", data_dir.display().to_string()),
                    ("--listen-client-urls", url(client_port)),
                    ("--advertise-client-urls", url(client_port)),
                    ("--listen-peer-urls", url(peer_port)),
                    ("--initial-advertise-peer-urls", url(peer_port)),
                    ("--initial-cluster", initial_cluster.clone()),
                    ("--initial-cluster-state", "new".into()),
                    ("--initial-cluster-token", token.clone()),
                    (
                        "--heartbeat-interval",
                        HEARTBEAT_INTERVAL.as_millis().to_string(),
                    ),
                    (
                        "--election-timeout",
                        ELECTION_TIMEOUT.as_millis().to_string(),
                    ),
                    // Quiet: errors only, to stderr, which is kept for
                    // panic messages.
                    ("--logger", "zap".into()),
                    ("--log-level", "error".into()),
                    ("--log-outputs", "stderr".into()),
                ]
                .into_iter()
                .flat_map(|(flag, value)| [flag.to_owned(), value])
                .collect();
                Member {
                    name,
                    client_port,
                    data_dir,
                    args,
                    process: None,
                    stderr: Arc::default(),
                }
            })
            .collect();
        Etcd { root, members }
    }

    /// How many members the cluster has (running or not).
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// Every member's client URL, comma-separated: the value for the
    /// daemon's `--etcd`.
    pub fn urls(&self) -> String {
        self.client_urls().join(",")
    }

    /// Every member's client URL (`http://127.0.0.1:PORT`), in member order.
    pub fn client_urls(&self) -> Vec<String> {
        (0..self.size()).map(|i| self.client_url(i)).collect()
    }

    /// The client URL of `member` (0-based).
    pub fn client_url(&self, member: usize) -> String {
        format!("http://127.0.0.1:{}", self.member(member).client_port)
    }

    /// The directory holding every member's data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The process id of `member`, while it runs.
    pub fn pid(&self, member: usize) -> Option<u32> {
        self.member(member)
            .process
            .as_ref()
            .map(|process| process.etcd.id())
    }

    /// Whether `member`'s process is running (started, and not exited).
    pub fn is_running(&mut self, member: usize) -> bool {
        let member = self.member_mut(member);
        match &mut member.process {
            Some(process) => matches!(process.etcd.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether `member` answers `/health` with `{"health":"true"}` now (one
    /// request; see [`Etcd::wait_until_healthy`] to wait).
    pub fn is_healthy(&self, member: usize) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.member(member).client_port));
        health(address).unwrap_or(false)
    }

    /// The member that is the Raft leader now, as the running members see
    /// it; `None` while there is none (an election) or none answers. For
    /// tests that kill the leader, the most disruptive member to lose.
    pub fn leader(&self) -> Option<usize> {
        let address = |member: &Member| SocketAddr::from(([127, 0, 0, 1], member.client_port));
        let running = || self.members.iter().filter(|m| m.process.is_some());
        let leader = running()
            .filter_map(|m| status(address(m)))
            .map(|(_, leader)| leader)
            .find(|leader| leader != "0")?;
        self.members.iter().position(|m| {
            m.process.is_some() && status(address(m)).is_some_and(|(id, _)| id == leader)
        })
    }

    /// What `member` has written to stderr (etcd's errors), across its
    /// restarts; the last 64 KiB.
    pub fn stderr(&self, member: usize) -> String {
        lock(&self.member(member).stderr).clone()
    }

    /// Every member's stderr, labelled, for panic messages.
    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|member| format!("--- etcd {}:\n{}", member.name, lock(&member.stderr)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills `member` with SIGKILL (a crash) and reaps it. Nothing happens
    /// if it is not running.
    pub fn kill(&mut self, member: usize) {
        if let Some(process) = self.member_mut(member).process.take() {
            process.kill();
        }
    }

    /// Stops `member` cleanly (SIGTERM) and waits for it to exit. Panics,
    /// with its log, if it was not running, does not exit within
    /// [`STOP_TIMEOUT`] (it is killed then), or exits another way than
    /// cleanly. (etcd 3.4 ends a clean shutdown by raising SIGTERM again
    /// against itself, so its status is "killed by SIGTERM", not 0.)
    pub fn stop(&mut self, member: usize) {
        let name = self.member(member).name.clone();
        let Some(mut process) = self.member_mut(member).process.take() else {
            panic!("etcd {name} is not running; it cannot be stopped")
        };
        let pid = process.etcd.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("could not run `kill`");
        assert!(sent.success(), "`kill -TERM {pid}` (etcd {name}) failed");
        let status = wait_with_limit(&mut process.etcd, STOP_TIMEOUT);
        process.kill();
        match status {
            Some(status) if status.success() || status.signal() == Some(SIGTERM) => {}
            Some(status) => panic!(
                "etcd {name} exited with {status} after SIGTERM, not cleanly. Its stderr:\n{}",
                self.stderr(member)
            ),
            None => panic!(
                "etcd {name} did not exit within {STOP_TIMEOUT:?} of SIGTERM; it was killed. \
                 Its stderr:\n{}",
                self.stderr(member)
            ),
        }
    }

    /// Starts `member` again on its ports, with its data directory, after
    /// [`Etcd::kill`] or [`Etcd::stop`], and waits until every running
    /// member is healthy. While a port is still held (by an exiting
    /// process), it retries; panics, with the logs, if the cluster is not
    /// healthy within [`START_TIMEOUT`].
    pub fn restart(&mut self, member: usize) {
        assert!(
            !self.is_running(member),
            "etcd {} is still running; kill or stop it before restarting it",
            self.member(member).name
        );
        self.kill(member); // reaps a member that exited by itself
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.spawn(member);
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_until_healthy(left) {
                Ok(()) => return,
                Err(StartFailure::PortTaken(_)) if Instant::now() < deadline => {
                    self.kill(member);
                    std::thread::sleep(HEALTH_POLL_INTERVAL);
                }
                Err(StartFailure::PortTaken(why) | StartFailure::Other(why)) => {
                    panic!("etcd {} did not restart: {why}", self.member(member).name)
                }
            }
        }
    }

    /// Waits until every running member answers `/health` with
    /// `{"health":"true"}`; panics, with the logs, if they do not within
    /// `limit` or one exits. After a member is killed, this is how a test
    /// waits for the survivors to elect a leader.
    pub fn wait_healthy(&mut self, limit: Duration) {
        if let Err(StartFailure::PortTaken(why) | StartFailure::Other(why)) =
            self.wait_until_healthy(limit)
        {
            panic!("etcd is not healthy: {why}")
        }
    }

    fn wait_until_healthy(&mut self, limit: Duration) -> Result<(), StartFailure> {
        let deadline = Instant::now() + limit;
        loop {
            let mut all_healthy = true;
            for i in 0..self.size() {
                if self.member(i).process.is_none() {
                    continue;
                }
                if let Some(status) = self.exit_status(i) {
                    let (name, log) = (&self.member(i).name, self.stderr(i));
                    let why = format!("etcd {name} exited with {status}; its stderr:\n{log}");
                    return Err(if log.contains("address already in use") {
                        StartFailure::PortTaken(why)
                    } else {
                        StartFailure::Other(why)
                    });
                }
                all_healthy = all_healthy && self.is_healthy(i);
            }
            if all_healthy {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Other(format!(
                    "not every running member was healthy within {limit:?}; their logs:\n{}",
                    self.logs()
                )));
            }
            std::thread::sleep(HEALTH_POLL_INTERVAL);
        }
    }

    /// How `member` exited, if it was started and has exited.
    fn exit_status(&mut self, member: usize) -> Option<ExitStatus> {
        let process = self.member_mut(member).process.as_mut()?;
        process.etcd.try_wait().ok().flatten()
    }

    /// Starts `member`'s process and its sidecar.
    fn spawn(&mut self, member: usize) {
        let member = self.member_mut(member);
        assert!(member.process.is_none(), "etcd {} is running", member.name);
        let mut etcd = Command::new(binary())
            .args(&member.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "could not run {} ({error}); install etcd (Debian: `apt-get install \
                     etcd-server`) or set {BINARY_ENV_VAR}",
                    binary().display()
                )
            });
        collect_into(
            etcd.stderr.take().expect("stderr is piped"),
            member.stderr.clone(),
        );
        // Reads its stdin to the end, which comes only when this process
        // dies without killing it (Ctrl-C): then kills etcd, removes its
        // data, and the parent directory once it is empty. Killed itself,
        // with SIGKILL, whenever the harness stops etcd.
        let sidecar = Command::new("sh")
            .args([
                "-c",
                r#"while read -r _; do :; done; kill -KILL "$1"; rm -rf -- "$2"; rmdir -- "$3""#,
                "etcd-sidecar",
            ])
            .arg(etcd.id().to_string())
            .arg(&member.data_dir)
            .arg(member.data_dir.parent().unwrap_or(&member.data_dir))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut sidecar = match sidecar {
            Ok(sidecar) => sidecar,
            Err(error) => {
                let _ = etcd.kill();
                let _ = etcd.wait();
                panic!("could not run sh for etcd's sidecar: {error}");
            }
        };
        member.process = Some(Process {
            _sidecar_stdin: sidecar.stdin.take(),
            etcd,
            sidecar,
        });
    }

    fn member(&self, member: usize) -> &Member {
        self.members.get(member).unwrap_or_else(|| {
            panic!(
                "etcd has {} member(s), numbered from 0; there is no member {member}",
                self.members.len()
            )
        })
    }

    fn member_mut(&mut self, member: usize) -> &mut Member {
        let size = self.members.len();
        self.members.get_mut(member).unwrap_or_else(|| {
            panic!("etcd has {size} member(s), numbered from 0; there is no member {member}")
        })
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for member in 0..self.size() {
            self.kill(member);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Process {
    /// Kills the sidecar first (so it never acts on a reaped pid), then
    /// etcd; reaps both.
    fn kill(mut self) {
        let _ = self.sidecar.kill();
        let _ = self.sidecar.wait();
        let _ = self.etcd.kill();
        let _ = self.etcd.wait();
    }
}

/// The etcd binary: `$RENDEZVOUS_ETCD_BIN`, else `etcd` on `PATH`.
pub fn binary() -> PathBuf {
    std::env::var_os(BINARY_ENV_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("etcd"))
}

/// One `GET /health` to the etcd at `address`: `Some(true)` for a `200`
/// answer saying `{"health":"true"}`, `Some(false)` for another answer,
/// `None` when none came.
fn health(address: SocketAddr) -> Option<bool> {
    match http(address, "GET", "/health", "")? {
        Ok(body) => Some(body.contains(r#""health":"true""#)),
        Err(_) => Some(false),
    }
}

/// The member's own id and the id of the leader it knows (`"0"`: none),
/// from etcd's JSON gateway (`POST /v3/maintenance/status`, which 3.4
/// serves on the client URL); `None` if it did not answer.
fn status(address: SocketAddr) -> Option<(String, String)> {
    let body = http(address, "POST", "/v3/maintenance/status", "{}")?.ok()?;
    // The gateway writes 64-bit ids as JSON strings: "member_id":"123".
    let field = |name: &str| {
        let start = body.find(&format!("\"{name}\":\""))? + name.len() + 4;
        let end = start + body[start..].find('"')?;
        Some(body[start..end].to_owned())
    };
    Some((field("member_id")?, field("leader")?))
}

/// One HTTP/1.0 request to `address`: the body of a `200` answer, the
/// whole of another answer as the error, `None` when none came.
fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<Result<String, String>> {
    let mut stream = TcpStream::connect_timeout(&address, HEALTH_REQUEST_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(HEALTH_REQUEST_TIMEOUT)).ok()?;
    stream
        .set_write_timeout(Some(HEALTH_REQUEST_TIMEOUT))
        .ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    // HTTP/1.0: the server closes the connection after its answer.
    stream.take(64 * 1024).read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let ok = answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200");
    match answer.split_once("\r\n\r\n") {
        Some((_, body)) if ok => Some(Ok(body.to_owned())),
        _ => Some(Err(answer)),
    }
}

/// A loopback TCP port that was free a moment ago, below the ephemeral
/// range, and not handed out before by this process.
fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let (ephemeral_low, _) = ephemeral_ports().unwrap_or(DEFAULT_EPHEMERAL_PORTS);
    let highest = ephemeral_low.saturating_sub(1).max(LOWEST_PORT + 1_000);
    let mut handed_out = lock(HANDED_OUT.get_or_init(Mutex::default));
    for _ in 0..10_000 {
        let port = fastrand::u16(LOWEST_PORT..=highest);
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("found no free loopback TCP port in {LOWEST_PORT}..={highest}")
}

/// The kernel's ephemeral port range, from `/proc`.
fn ephemeral_ports() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut fields = text.split_whitespace().map(|field| field.parse().ok());
    Some((fields.next()??, fields.next()??))
}

#[cfg(all(test, feature = "etcd"))]
mod tests {
    use super::*;

    /// Far beyond what a healthy cluster needs to elect a new leader.
    const PATIENCE: Duration = Duration::from_secs(60);

    /// Runs `etcdctl ARGS` against `endpoints`; its stdout, or a panic with
    /// its stderr.
    fn etcdctl(endpoints: &str, args: &[&str]) -> String {
        let output = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", endpoints, "--command-timeout", "30s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run etcdctl (Debian: etcd-client)");
        assert!(
            output.status.success(),
            "etcdctl {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn put(endpoints: &str, key: &str, value: &str) {
        etcdctl(endpoints, &["put", key, value]);
    }

    fn get(endpoints: &str, key: &str) -> String {
        etcdctl(endpoints, &["get", "--print-value-only", key])
            .trim()
            .to_owned()
    }

    #[test]
    fn single_member_starts_healthy_and_serves_its_url() {
        let mut etcd = Etcd::start();
        assert_eq!(etcd.size(), 1);
        assert!(etcd.is_running(0) && etcd.is_healthy(0));
        assert_eq!(etcd.leader(), Some(0));
        assert_eq!(etcd.urls(), etcd.client_url(0));
        assert!(etcd.urls().starts_with("http://127.0.0.1:"));
        put(&etcd.urls(), "/harness/key", "value");
        assert_eq!(get(&etcd.urls(), "/harness/key"), "value");
    }

    #[test]
    fn stopped_member_is_unhealthy_and_restarts_with_its_data_on_its_port() {
        let mut etcd = Etcd::start();
        let url = etcd.urls();
        put(&url, "/harness/kept", "across a restart");
        etcd.stop(0);
        assert!(!etcd.is_running(0));
        assert!(!etcd.is_healthy(0), "a stopped member answered /health");
        etcd.restart(0);
        assert!(etcd.is_running(0) && etcd.is_healthy(0));
        assert_eq!(etcd.urls(), url, "the restarted member moved");
        assert_eq!(get(&url, "/harness/kept"), "across a restart");
    }

    #[test]
    fn killed_member_restarts_with_its_data() {
        let mut etcd = Etcd::start();
        let url = etcd.urls();
        put(&url, "/harness/kept", "across a crash");
        etcd.kill(0);
        assert!(!etcd.is_running(0) && !etcd.is_healthy(0));
        etcd.restart(0);
        assert_eq!(get(&url, "/harness/kept"), "across a crash");
    }

    #[test]
    fn cluster_of_three_stays_healthy_with_one_member_killed() {
        let mut etcd = Etcd::start_cluster(3);
        let urls = etcd.client_urls();
        assert_eq!(urls.len(), 3);
        assert_eq!(
            urls.iter().collect::<HashSet<_>>().len(),
            3,
            "members share a URL: {urls:?}"
        );
        assert!((0..3).all(|member| etcd.is_healthy(member)));
        put(&etcd.urls(), "/harness/before", "1");

        // Killing the leader leaves a quorum of two, which elects another.
        let leader = etcd.leader().expect("a healthy cluster has a leader");
        etcd.kill(leader);
        assert!(!etcd.is_running(leader));
        etcd.wait_healthy(PATIENCE);
        let new_leader = etcd.leader().expect("the survivors elected a leader");
        assert_ne!(new_leader, leader);
        let survivors: Vec<&str> = (0..3)
            .filter(|&member| member != leader)
            .map(|member| urls[member].as_str())
            .collect();
        put(&survivors.join(","), "/harness/after", "2");
        assert_eq!(get(survivors[0], "/harness/before"), "1");
        assert_eq!(get(survivors[1], "/harness/after"), "2");

        // The killed member rejoins and catches up.
        etcd.restart(leader);
        assert!((0..3).all(|member| etcd.is_healthy(member)));
        let caught_up = eventually_get(&urls[leader], "/harness/after", "2");
        assert!(caught_up, "the restarted member never saw the write");
    }

    /// Whether a serializable read at `url` sees `value` under `key` within
    /// [`PATIENCE`] (a restarted follower catches up asynchronously).
    fn eventually_get(url: &str, key: &str, value: &str) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            let seen = etcdctl(
                url,
                &["get", "--consistency", "s", "--print-value-only", key],
            );
            if seen.trim() == value {
                return true;
            }
            std::thread::sleep(HEALTH_POLL_INTERVAL);
        }
        false
    }

    /// What happens when the test process dies without destructors: the
    /// pipe to the sidecar closes (here, by hand), and the sidecar kills
    /// etcd and removes its data.
    #[test]
    fn sidecar_kills_member_and_removes_its_data_when_the_pipe_closes() {
        let mut etcd = Etcd::start();
        let data_dir = etcd.members[0].data_dir.clone();
        assert!(data_dir.is_dir());
        let process = etcd.members[0].process.as_mut().expect("running");
        process._sidecar_stdin = None;
        let gone = wait_with_limit(&mut process.etcd, PATIENCE);
        assert!(gone.is_some(), "the sidecar did not kill etcd");
        let removed = wait_with_limit(&mut process.sidecar, PATIENCE);
        assert!(removed.is_some(), "the sidecar did not finish");
        assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
    }

    #[test]
    fn drop_kills_every_member_and_removes_the_data() {
        let etcd = Etcd::start_cluster(3);
        let root = etcd.root().to_owned();
        let pids: Vec<u32> = (0..3).filter_map(|member| etcd.pid(member)).collect();
        assert_eq!(pids.len(), 3);
        assert!(root.is_dir());
        drop(etcd);
        assert!(!root.exists(), "{} was left behind", root.display());
        for pid in pids {
            // Reaped, so no process (not even a zombie) has that pid now,
            // unless the kernel reused it for another.
            let status = std::fs::read_to_string(format!("/proc/{pid}/cmdline"));
            let still_etcd = status.is_ok_and(|cmdline| cmdline.contains("rendezvous-etcd-"));
            assert!(!still_etcd, "etcd {pid} survived the drop");
        }
    }
}
