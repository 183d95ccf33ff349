//! The README's three terminals as a test: the real `rendezvous-daemon`,
//! `math-server` and `math-client` binaries, as separate processes.

use rendezvous_tests::daemon::{cli, workspace_binary};
use rendezvous_tests::{Daemon, MathServer};
use std::process::{Command, Output, Stdio};

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

/// A file beyond a datagram goes whole to `math-server` and back (its
/// reversed copy) over the stream transport, between real processes.
#[test]
fn math_client_checksums_a_large_file() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let path = std::env::temp_dir().join(format!("rendezvous-checksum-{}", std::process::id()));
    let body: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&path, &body).expect("write a 1 MiB file");
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &body {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    let mm = daemon.address().to_string();
    let file = path.to_str().expect("a UTF-8 path");
    let output = math_client(&["--matchmaker", &mm, "checksum-file", file], &[]);
    let _ = std::fs::remove_file(&path);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        stdout(&output),
        format!(
            "1048576 bytes, adler32 {:08x}, came back intact",
            (b << 16) | a
        )
    );
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
    // Types where the signature belongs, not a hash.
    for text in [
        "math.add(i64, i64) -> i64",
        "math.div(i64, i64) -> Result<i64, MathError>",
        "math.slow_square(i64, u64) -> i64",
        "math.checksum(Document) -> Digest",
    ] {
        assert!(
            output
                .stdout
                .lines()
                .any(|line| line.contains(text) && line.contains(&endpoint)),
            "`{text}` at {endpoint} missing from:\n{}",
            output.stdout
        );
    }
}

#[test]
fn math_server_logs_its_registration_by_default() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start_logging(&daemon.address().to_string(), None);
    let (found, seen) = server.await_log(&["INFO", "registered with the matchmaker"]);
    assert!(
        found,
        "no registration line in math-server's log:\n{seen:#?}"
    );
}

#[test]
fn math_server_logs_a_refused_call_under_rust_log_debug() {
    use rendezvous_core::{Client, Error, Fingerprint, RemoteProcedure};
    let daemon = Daemon::start(&[]);
    let server = MathServer::start_logging(&daemon.address().to_string(), Some("debug"));
    // `math.add` as a caller built against other types would call it.
    const STALE_ADD: RemoteProcedure = RemoteProcedure {
        name: "math.add",
        signature: Fingerprint::of("math.add(u64, u64) -> u64"),
        idempotent: false,
    };
    let client = Client::builder()
        .matchmaker(daemon.address())
        .build()
        .expect("a client");
    let refused =
        rendezvous_tests::run(client.call_at::<_, u64>(server.address, &STALE_ADD, &(1u64, 2u64)));
    assert!(matches!(refused, Err(Error::Remote { .. })), "{refused:?}");
    let (found, seen) = server.await_log(&[
        "refused a call: signature mismatch",
        "math.add(i64, i64) -> i64",
    ]);
    assert!(found, "no refusal line in math-server's log:\n{seen:#?}");
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
