//! The README's three terminals as a test: the real `rendezvous-daemon`,
//! `math-server` and `math-client` binaries, as separate processes.

use rendezvous_tests::Daemon;
use rendezvous_tests::daemon::{cli, workspace_binary};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a process may take to start or answer; far beyond need.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running `math-server`, killed on drop.
struct MathServer {
    child: Child,
    address: SocketAddr,
    procedures: Vec<String>,
}

impl MathServer {
    fn start(matchmaker: SocketAddr) -> MathServer {
        MathServer::start_with(&matchmaker.to_string())
    }

    /// Started with `--matchmaker MATCHMAKERS` (one address or a list).
    fn start_with(matchmakers: &str) -> MathServer {
        let mut child = Command::new(workspace_binary("math-service", "math-server"))
            .args(["--matchmaker", matchmakers])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("math-server starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
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
        MathServer {
            child,
            address,
            procedures,
        }
    }
}

impl Drop for MathServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn math_client(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(workspace_binary("math-client", "math-client"));
    command
        .args(args)
        .env_remove("RENDEZVOUS_MATCHMAKER")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("math-client runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn math_client_calls_math_server_found_through_the_daemon() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start(daemon.address());
    assert!(server.address.ip().is_loopback());
    let listed: Vec<&str> = server
        .procedures
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        ["math.add", "math.checksum", "math.div", "math.slow_square"]
    );

    let mm = daemon.address().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["add", "2", "3"], "5"),
        (&["add", "-7", "2"], "-5"),
        (&["div", "7", "2"], "3"),
        (&["div", "7", "0"], "error: division by zero"),
        (&["checksum", "hello"], "5 bytes, adler32 062c0215"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["--matchmaker", mm.as_str()];
        full.extend_from_slice(args);
        let output = math_client(&full, &[]);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_eq!(stdout(&output), expected, "{args:?}");
    }
}

#[test]
fn math_client_finds_the_matchmaker_through_the_environment() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let mm = daemon.address().to_string();
    let output = math_client(
        &["square", "12", "--delay-ms", "100"],
        &[("RENDEZVOUS_MATCHMAKER", &mm)],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "144");
}

#[test]
fn math_server_and_math_client_take_a_list_of_matchmakers() {
    // Bound and never read: a matchmaker that does not answer.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap().to_string();
    let daemon = Daemon::start(&[]);
    let list = format!("{silent}, {}", daemon.address());
    let server = MathServer::start_with(&list);
    let output = cli(
        &["list", "--matchmaker", &daemon.address().to_string()],
        &[],
    );
    assert!(
        output.stdout.contains(&server.address.to_string()),
        "math-server registered through the second matchmaker:\n{}",
        output.stdout
    );

    let output = math_client(&["--matchmaker", &list, "add", "2", "3"], &[]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "5");
    let output = math_client(&["add", "4", "5"], &[("RENDEZVOUS_MATCHMAKER", &list)]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout(&output), "9");
}

#[test]
fn math_client_names_an_empty_item_in_its_list_of_matchmakers() {
    let flag = math_client(
        &[
            "--matchmaker",
            "127.0.0.1:5000,,127.0.0.1:5001",
            "add",
            "1",
            "2",
        ],
        &[],
    );
    let environment = math_client(
        &["add", "1", "2"],
        &[("RENDEZVOUS_MATCHMAKER", "127.0.0.1:5000,")],
    );
    for (output, item) in [(flag, "item 2 of 3"), (environment, "item 2 of 2")] {
        assert!(!output.status.success(), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(item), "{stderr}");
        assert!(stderr.contains("is empty"), "{stderr}");
    }
}

#[test]
fn the_daemon_lists_what_math_server_registered() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start(daemon.address());
    let output = cli(
        &["list", "--matchmaker", &daemon.address().to_string()],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    let endpoint = server.address.to_string();
    for name in ["math.add", "math.checksum", "math.div", "math.slow_square"] {
        assert!(
            output
                .stdout
                .lines()
                .any(|line| line.starts_with(name) && line.contains(&endpoint)),
            "{name} at {endpoint} missing from:\n{}",
            output.stdout
        );
    }
}

#[test]
fn math_client_without_a_server_says_the_procedure_is_not_found() {
    let daemon = Daemon::start(&[]);
    let output = math_client(
        &[
            "--matchmaker",
            &daemon.address().to_string(),
            "add",
            "1",
            "2",
        ],
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("math.add"), "{stderr}");
    assert!(stderr.contains("no server has registered"), "{stderr}");
}

#[test]
fn the_quickstart_demo_runs_to_the_end() {
    let output = Command::new(workspace_binary("quickstart", "quickstart"))
        .env_remove("RENDEZVOUS_MATCHMAKER")
        .stdin(Stdio::null())
        .output()
        .expect("quickstart runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for step in [
        "where is quickstart.add?",
        "(the reply is the ACK)",
        "endpoint cached, no matchmaker traffic",
        "visit 1, from 127.0.0.1:",
        "visit 2, from 127.0.0.1:",
        "ACK: running, probe slowly",
        "(found again)",
    ] {
        assert!(printed.contains(step), "`{step}` missing from:\n{printed}");
    }
}
