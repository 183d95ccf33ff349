//! Off loopback: the daemon, servers and clients on different hosts, each
//! a network namespace the test makes itself (see `rendezvous_tests::netns`:
//! a bridge, private addresses that exist only inside them, each host in
//! a /8 of its own, no route out). What loopback cannot show: the secret required off the host,
//! an advertised address other than the bound one, the kernel's
//! port-unreachable across a real link, and a real partition.
//!
//! Every test needs root and `ip` (iproute2); where namespaces cannot be
//! made it prints `SKIPPED` and passes, unless `RENDEZVOUS_NETNS=require`.
//! The test process stays in the root namespace and sees the hosts only
//! through the processes it starts there: the real `rendezvous-daemon`,
//! `fault-server` (its execution log says what ran) and `netns-client`
//! (one line per call). Waits are bounded and generous; the tests assert
//! outcomes and counts, never durations.

use rendezvous_tests::fault_server::{ExecutionLog, FaultServer, FaultServerConfig, ScratchDir};
use rendezvous_tests::netns::{Host, Lan};
use rendezvous_tests::{Daemon, SecretFile};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Far beyond what any step needs: reaching it means a hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// The port servers bind on their hosts: a fresh namespace has every
/// port free.
const SERVER_PORT: u16 = 7000;

fn scratch(label: &str) -> ScratchDir {
    ScratchDir::new(Path::new(env!("CARGO_TARGET_TMPDIR")), label)
}

/// The daemon on `host`, on an OS-chosen port of its LAN address.
fn daemon_on(host: &Host, args: &[&str]) -> Daemon {
    Daemon::start_in_namespace(host.name(), host.at(0), args)
}

fn server_config(matchmaker: SocketAddr, bind: SocketAddr, log: PathBuf) -> FaultServerConfig {
    FaultServerConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_fault-server")),
        matchmaker,
        bind,
        advertise: None,
        lease_ttl: Duration::from_secs(20),
        log,
    }
}

/// A process whose stdout the test reads line by line as it comes, killed
/// on drop. Its stdin is held open (a `fault-server` exits when it closes).
struct Lines {
    child: Child,
    _stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Lines {
    fn spawn(mut command: Command) -> Lines {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a process in a namespace");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        Lines {
            _stdin: child.stdin.take(),
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// The next line, or `None` at the end of its output or after `limit`.
    fn next(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Every line until the end of its output (bounded by [`PATIENCE`]).
    fn rest(&self) -> Vec<String> {
        let deadline = Instant::now() + PATIENCE;
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines
    }

    /// Waits for the process to exit (killing it after [`PATIENCE`]): did
    /// it succeed, and its stderr.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + PATIENCE;
        let success = loop {
            match self.child.try_wait().expect("wait for a child") {
                Some(status) => break status.success(),
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!("a process in a namespace did not exit within {PATIENCE:?}");
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let stderr = self.stderr.take().and_then(|thread| thread.join().ok());
        (success, stderr.unwrap_or_default())
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `netns-client ARGS` on `host`.
fn netns_client(host: &Host, args: &[&str]) -> Lines {
    let mut command = host.command(env!("CARGO_BIN_EXE_netns-client"));
    command.args(args);
    Lines::spawn(command)
}

/// `netns-client lookup` of `name` on `host`: its lines.
fn lookup_from(host: &Host, matchmaker: SocketAddr, name: &str) -> Vec<String> {
    let address = matchmaker.to_string();
    netns_client(host, &["lookup", "--matchmaker", &address, name]).rest()
}

/// How each call of a `netns-client calls` run ended, by id: `ok` or the
/// error variant's name.
type Outcomes = BTreeMap<u64, String>;

/// Parses one `ok ID` / `failed ID VARIANT` line into `outcomes`, asserting
/// that no call is reported twice.
fn record(outcomes: &mut Outcomes, line: &str) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (id, outcome) = match words.as_slice() {
        ["ok", id] => (id, "ok".to_owned()),
        ["failed", id, variant] => (id, (*variant).to_owned()),
        _ => panic!("netns-client printed {line:?}"),
    };
    let id: u64 = id.parse().expect("a call id");
    assert!(
        outcomes.insert(id, outcome).is_none(),
        "call {id} reported twice"
    );
}

/// Ids whose `fault.count` ran more than once in `log`.
/// How each call of a `netns-client` run ended, read to its `done`.
fn outcomes_of(run: &Lines) -> Outcomes {
    let mut outcomes = Outcomes::new();
    for line in run.rest() {
        if line != "done" {
            record(&mut outcomes, &line);
        }
    }
    outcomes
}

/// Asserts that all `calls` ended, and every one `ok` (else panics with
/// `what` and the others).
fn assert_all_ok(outcomes: &Outcomes, calls: u64, what: &str) {
    let failed: Vec<_> = outcomes.iter().filter(|(_, o)| *o != "ok").collect();
    assert_eq!(outcomes.len() as u64, calls, "every call ended");
    assert!(failed.is_empty(), "{what}: {failed:?}");
}

fn ran_twice(log: &ExecutionLog) -> Vec<u64> {
    let counts = log.counts("count", "run");
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id)
        .collect()
}

// ------------------------------------------------------------ the secret

#[test]
fn off_loopback_a_daemon_without_a_secret_refuses_a_real_server_naming_its_address() {
    let Some(lan) = Lan::or_skip(3, "off_loopback_a_daemon_without_a_secret_refuses") else {
        return;
    };
    let daemon = daemon_on(lan.host(0), &[]);
    let logs = scratch("netns-no-secret");
    let bind = lan.host(1).at(SERVER_PORT);
    let config = server_config(daemon.address(), bind, logs.join("server.log"));
    let mut command = lan.host(1).command(&config.binary);
    command.args([
        "--matchmaker",
        &daemon.address().to_string(),
        "--bind",
        &bind.to_string(),
        "--log",
        logs.join("server.log").to_str().expect("a UTF-8 path"),
    ]);
    let (started, stderr) = Lines::spawn(command).finish();
    assert!(
        !started,
        "a server off the host registered without a secret"
    );
    assert!(
        stderr.contains("unauthenticated") && stderr.contains("--secret-file"),
        "the server's error does not say what to do: {stderr}"
    );
    assert!(
        stderr.contains(&bind.to_string()),
        "the server's error does not name its address {bind}: {stderr}"
    );
    // Lookups are open to every host: the name is simply not there.
    let lines = lookup_from(lan.host(2), daemon.address(), "fault.count");
    assert!(
        matches!(lines.as_slice(), [line] if line.starts_with("failed NotFound")),
        "{lines:?}"
    );
    let log = daemon.stderr();
    assert!(
        log.contains("from off this host, and this matchmaker has no secret"),
        "the daemon did not log the refusal:\n{log}"
    );
}

// --------------------------------------------------- advertised addresses

#[test]
fn off_loopback_a_signed_server_bound_to_the_wildcard_is_found_at_its_advertised_address_and_called()
 {
    const CALLS: u64 = 200;
    let Some(lan) = Lan::or_skip(3, "off_loopback_a_signed_server_bound_to_the_wildcard") else {
        return;
    };
    let secret = SecretFile::test_secret();
    let daemon = daemon_on(lan.host(0), &["--secret-file", secret.arg()]);
    let logs = scratch("netns-advertised");
    let advertised = lan.host(1).at(SERVER_PORT);
    let config = FaultServerConfig {
        advertise: Some(advertised),
        ..server_config(
            daemon.address(),
            SocketAddr::from(([0, 0, 0, 0], SERVER_PORT)),
            logs.join("server.log"),
        )
    };
    let server = FaultServer::start_in_namespace(lan.host(1).name(), &config, Some(secret.path()));
    let lines = lookup_from(lan.host(2), daemon.address(), "fault.count");
    assert_eq!(
        lines,
        [format!("endpoint {advertised} {}", server.incarnation())],
        "a lookup from a third host"
    );
    let address = daemon.address().to_string();
    let calls = CALLS.to_string();
    let run = netns_client(
        lan.host(2),
        &[
            "calls",
            "--matchmaker",
            &address,
            "--calls",
            &calls,
            "--in-flight",
            "4",
            "--deadline",
            "20s",
        ],
    );
    let outcomes = outcomes_of(&run);
    assert_all_ok(&outcomes, CALLS, "calls failed");
    let log = server.executions();
    assert_eq!(log.total("count", "run"), CALLS, "each call ran once");
    assert!(ran_twice(&log).is_empty());
}

#[test]
fn off_loopback_over_ipv6_a_signed_server_registers_and_a_client_on_another_host_calls_it() {
    const CALLS: u64 = 50;
    let Some(lan) = Lan::or_skip(3, "off_loopback_over_ipv6") else {
        return;
    };
    let secret = SecretFile::test_secret();
    let daemon = Daemon::start_in_namespace(
        lan.host(0).name(),
        lan.host(0).at6(0),
        &["--secret-file", secret.arg()],
    );
    let logs = scratch("netns-ipv6");
    let bind = lan.host(1).at6(SERVER_PORT);
    let config = server_config(daemon.address(), bind, logs.join("server.log"));
    let server = FaultServer::start_in_namespace(lan.host(1).name(), &config, Some(secret.path()));
    let lines = lookup_from(lan.host(2), daemon.address(), "fault.count");
    assert_eq!(lines, [format!("endpoint {bind} {}", server.incarnation())]);
    let address = daemon.address().to_string();
    let calls = CALLS.to_string();
    let run = netns_client(
        lan.host(2),
        &[
            "calls",
            "--matchmaker",
            &address,
            "--calls",
            &calls,
            "--deadline",
            "20s",
        ],
    );
    let outcomes = outcomes_of(&run);
    assert_all_ok(&outcomes, CALLS, "calls failed");
    assert_eq!(server.executions().total("count", "run"), CALLS);
}

// ------------------------------------------------------ port unreachable

#[test]
fn off_loopback_a_listed_endpoint_where_nothing_listens_is_passed_over_and_runs_nothing() {
    const CALLS: u64 = 30;
    let Some(lan) = Lan::or_skip(3, "off_loopback_a_listed_endpoint_where_nothing_listens") else {
        return;
    };
    let secret = SecretFile::test_secret();
    let daemon = daemon_on(lan.host(0), &["--secret-file", secret.arg()]);
    let logs = scratch("netns-unreachable");
    let host = lan.host(1);
    // The dead server: killed, its lease still running, so it stays
    // listed; its host's kernel answers each call port-unreachable.
    let dead_config = server_config(
        daemon.address(),
        host.at(SERVER_PORT),
        logs.join("dead.log"),
    );
    let mut dead = FaultServer::start_in_namespace(host.name(), &dead_config, Some(secret.path()));
    dead.kill();
    let address = daemon.address().to_string();
    let calls = CALLS.to_string();
    let args = [
        "calls",
        "--matchmaker",
        &address,
        "--calls",
        &calls,
        "--deadline",
        "20s",
    ];

    // Alone, it runs nothing and every call fails.
    let mut alone = Outcomes::new();
    for line in netns_client(lan.host(2), &args[..]).rest() {
        if line != "done" {
            record(&mut alone, &line);
        }
    }
    assert_eq!(alone.len() as u64, CALLS, "every call ended: {alone:?}");
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for outcome in alone.values() {
        *kinds.entry(outcome.as_str()).or_default() += 1;
    }
    eprintln!("calls to the dead endpoint alone: {kinds:?}");
    assert!(
        alone.values().all(|outcome| outcome != "ok"),
        "a call to nobody succeeded: {alone:?}"
    );

    // Beside a live server on the same host, every call runs there, once.
    let live_config = server_config(
        daemon.address(),
        host.at(SERVER_PORT + 1),
        logs.join("live.log"),
    );
    let live = FaultServer::start_in_namespace(host.name(), &live_config, Some(secret.path()));
    let mut beside = Outcomes::new();
    for line in netns_client(lan.host(2), &args[..]).rest() {
        if line != "done" {
            record(&mut beside, &line);
        }
    }
    let failed: Vec<_> = beside.iter().filter(|(_, o)| *o != "ok").collect();
    assert_eq!(beside.len() as u64, CALLS, "every call ended");
    assert!(
        failed.is_empty(),
        "calls failed beside a live server: {failed:?}"
    );
    let log = live.executions();
    assert_eq!(
        log.total("count", "run"),
        CALLS,
        "each ran once, at the live server"
    );
    assert!(ran_twice(&log).is_empty());
    assert_eq!(
        dead.executions().total("count", "run"),
        0,
        "the dead server ran nothing"
    );
}

// ------------------------------------------------------------ partition

/// A load of calls from one host to a server on another; the server's
/// link is taken down mid-load (a real partition: datagrams vanish, no
/// error anywhere) and brought back. During it calls fail with
/// `DeadlineExceeded` or `OutcomeUnknown` as documented, none runs twice;
/// after it, calls succeed again.
#[test]
fn a_partition_mid_load_fails_calls_cleanly_and_calls_succeed_once_it_heals() {
    const CALLS: u64 = 1_200;
    /// Calls completed before the link goes down.
    const BEFORE: usize = 100;
    /// Failures seen before the link comes back.
    const FAILURES: usize = 8;
    /// The last calls (by id), all started after the link came back.
    const AFTER: u64 = 100;
    let Some(lan) = Lan::or_skip(3, "a_partition_mid_load_fails_calls_cleanly") else {
        return;
    };
    let secret = SecretFile::test_secret();
    let daemon = daemon_on(lan.host(0), &["--secret-file", secret.arg()]);
    let logs = scratch("netns-partition");
    let config = server_config(
        daemon.address(),
        lan.host(1).at(SERVER_PORT),
        logs.join("server.log"),
    );
    let server = FaultServer::start_in_namespace(lan.host(1).name(), &config, Some(secret.path()));
    let address = daemon.address().to_string();
    let calls = CALLS.to_string();
    let run = netns_client(
        lan.host(2),
        &[
            "calls",
            "--matchmaker",
            &address,
            "--calls",
            &calls,
            "--in-flight",
            "8",
            "--deadline",
            "1500ms",
            "--pace",
            "20ms",
        ],
    );
    let mut outcomes = Outcomes::new();
    let read = |outcomes: &mut Outcomes| -> bool {
        match run.next(PATIENCE) {
            Some(line) if line == "done" => false,
            Some(line) => {
                record(outcomes, &line);
                true
            }
            None => panic!("netns-client went quiet"),
        }
    };
    while outcomes.len() < BEFORE {
        assert!(read(&mut outcomes), "the load ended before the partition");
    }
    lan.host(1).partition();
    let failures = |outcomes: &Outcomes| outcomes.values().filter(|o| *o != "ok").count();
    let before_partition = failures(&outcomes);
    while failures(&outcomes) < before_partition + FAILURES {
        if !read(&mut outcomes) {
            panic!("the load ended during the partition: {outcomes:?}");
        }
    }
    lan.host(1).heal();
    while read(&mut outcomes) {}

    assert_eq!(outcomes.len() as u64, CALLS, "every call ended once");
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for outcome in outcomes.values() {
        *kinds.entry(outcome.as_str()).or_default() += 1;
    }
    eprintln!("outcomes: {kinds:?}");
    for kind in kinds.keys() {
        assert!(
            ["ok", "DeadlineExceeded", "OutcomeUnknown"].contains(kind),
            "a call failed as {kind}: {kinds:?}"
        );
    }
    let log = server.executions();
    assert!(
        ran_twice(&log).is_empty(),
        "calls ran twice: {:?}",
        ran_twice(&log)
    );
    let runs_by_id = log.counts("count", "run");
    for (id, outcome) in &outcomes {
        let runs = runs_by_id.get(id).copied().unwrap_or(0);
        if outcome == "ok" {
            assert_eq!(runs, 1, "call {id} returned ok having run {runs} times");
        }
    }
    let late: Vec<_> = outcomes
        .range(CALLS - AFTER..)
        .filter(|(_, o)| *o != "ok")
        .collect();
    assert!(
        late.is_empty(),
        "calls after the partition healed failed: {late:?}"
    );
}

// ---------------------------------------------------------------- flood

/// One host floods the daemon with lookups from random client ids (what
/// anyone who can send it UDP can do); once it has sent 200 000, and while
/// it goes on, a server on a second host registers and a client on a third
/// looks it up and calls it. None of them may be refused. (Seen before
/// lookups kept no record and records were shared by source: the lookup
/// was refused `Overloaded` and the server could not register.)
#[test]
fn a_flood_from_one_host_refuses_nothing_to_a_server_and_a_client_on_others() {
    /// At the flood's default 25 000 a second: 12 s.
    const FLOOD: u64 = 300_000;
    /// Sent before the others start: enough to fill an 8 MiB reply cache
    /// with client records, as on main.
    const FLOODED: &str = "sent 200000";
    const CALLS: u64 = 100;
    let Some(lan) = Lan::or_skip(4, "a_flood_from_one_host_refuses_nothing") else {
        return;
    };
    let secret = SecretFile::test_secret();
    let daemon = daemon_on(lan.host(0), &["--secret-file", secret.arg()]);
    let address = daemon.address().to_string();
    let flood = netns_client(
        lan.host(1),
        &[
            "flood",
            "--matchmaker",
            &address,
            "--datagrams",
            &FLOOD.to_string(),
        ],
    );
    let mut flooded = false;
    while let Some(line) = flood.next(PATIENCE) {
        if line == FLOODED || line == "done" {
            flooded = true;
            break;
        }
    }
    assert!(flooded, "the flood did not start");

    let logs = scratch("netns-flood");
    let config = server_config(
        daemon.address(),
        lan.host(2).at(SERVER_PORT),
        logs.join("server.log"),
    );
    let server = FaultServer::start_in_namespace(lan.host(2).name(), &config, Some(secret.path()));
    let lines = lookup_from(lan.host(3), daemon.address(), "fault.count");
    assert_eq!(
        lines,
        [format!(
            "endpoint {} {}",
            lan.host(2).at(SERVER_PORT),
            server.incarnation()
        )],
        "a lookup from a third host during the flood; the server's stderr:\n{}",
        server.stderr()
    );
    let run = netns_client(
        lan.host(3),
        &[
            "calls",
            "--matchmaker",
            &address,
            "--calls",
            &CALLS.to_string(),
            "--deadline",
            "10s",
        ],
    );
    let outcomes = outcomes_of(&run);
    assert_all_ok(&outcomes, CALLS, "calls refused during the flood");
    assert_eq!(server.executions().total("count", "run"), CALLS);
    let _ = flood.rest();
}
