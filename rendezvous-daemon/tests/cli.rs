//! The `rendezvous-daemon` command line, run as a process.
//!
//! Also makes `cargo test` build the binary, which the end-to-end tests in
//! the `rendezvous-tests` crate run.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_rendezvous-daemon");

/// Far beyond the matchmaker client's 3 s deadline: reaching it means a hang.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// Runs the binary with `args` (and no `RENDEZVOUS_MATCHMAKER`), panicking
/// if it has not exited within [`HANG_LIMIT`].
fn daemon(args: &[&str]) -> Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_remove("RENDEZVOUS_MATCHMAKER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rendezvous-daemon");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let deadline = Instant::now() + HANG_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for rendezvous-daemon") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`rendezvous-daemon {}` did not exit within {HANG_LIMIT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn help(args: &[&str]) -> String {
    let output = daemon(args);
    assert!(output.status.success(), "{args:?} failed: {output:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

#[test]
fn help_documents_every_serve_flag() {
    let text = help(&["--help"]);
    for flag in [
        "--listen",
        "--default-ttl",
        "--min-ttl",
        "--max-ttl",
        "--secret-file",
        "RENDEZVOUS_SECRET_FILE",
        "--auth-window",
        "--max-nonces",
        "--max-registrations",
        "--max-registrations-per-source",
        "--reply-cache-bytes",
        "--etcd",
        "RENDEZVOUS_ETCD",
        "--etcd-prefix",
        "--etcd-user",
        "--etcd-password-file",
        "--etcd-ca-file",
        "--etcd-cert-file",
        "--etcd-key-file",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
    for subcommand in ["list", "lookup"] {
        assert!(
            text.contains(subcommand),
            "--help does not mention `{subcommand}`:\n{text}"
        );
    }
}

#[test]
fn help_of_each_subcommand_documents_its_flags() {
    let list = help(&["list", "--help"]);
    assert!(list.contains("--matchmaker"), "list --help:\n{list}");
    assert!(
        list.contains("RENDEZVOUS_MATCHMAKER"),
        "list --help:\n{list}"
    );
    let lookup = help(&["lookup", "--help"]);
    for flag in ["--matchmaker", "--signature"] {
        assert!(
            lookup.contains(flag),
            "lookup --help does not mention {flag}:\n{lookup}"
        );
    }
}

#[test]
fn list_against_an_unreachable_matchmaker_fails_with_one_line_naming_it() {
    // A bound socket nobody reads: nothing answers there, and no other
    // process can take the port while the test runs.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a silent socket");
    let address = silent.local_addr().expect("its address").to_string();
    let output = daemon(&["list", "--matchmaker", &address]);
    assert!(
        !output.status.success(),
        "list succeeded against nothing: {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got:\n{stderr}");
    assert!(
        lines[0].contains(&address),
        "the error does not name {address}: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn a_secret_file_too_short_is_refused_naming_the_flag() {
    let path = std::env::temp_dir().join(format!("rendezvous-cli-secret-{}", std::process::id()));
    std::fs::write(&path, b"short\n").expect("write a secret file");
    let output = daemon(&[
        "--listen",
        "127.0.0.1:0",
        "--secret-file",
        path.to_str().expect("a UTF-8 temp path"),
    ]);
    let _ = std::fs::remove_file(&path);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--secret-file"), "{stderr}");
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn invalid_flag_values_are_refused_naming_the_flag() {
    let output = daemon(&["--listen", "127.0.0.1:0", "--min-ttl", "3 fortnights"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--min-ttl"), "{stderr}");

    let output = daemon(&[
        "lookup",
        "math.add",
        "--signature",
        "not-hex",
        "--matchmaker",
        "127.0.0.1:9",
    ]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--signature"), "{stderr}");
}

#[test]
#[cfg(not(feature = "etcd"))]
fn etcd_on_a_daemon_built_without_it_says_how_to_build_it() {
    let output = daemon(&["--listen", "127.0.0.1:0", "--etcd", "http://127.0.0.1:2379"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("built without etcd support") && stderr.contains("--features etcd"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "it must not say it is listening");
}

#[test]
#[cfg(feature = "etcd")]
fn etcd_that_does_not_answer_stops_the_daemon_with_one_line_naming_it() {
    // A loopback port nothing listens on (bound by the OS, then freed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let output = daemon(&["--listen", "127.0.0.1:0", "--etcd", &url]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("could not use etcd") && stderr.contains(&url),
        "{stderr}"
    );
}
