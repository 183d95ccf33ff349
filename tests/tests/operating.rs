//! Operating rendezvous from the shell, with the real binaries: the
//! daemon's `call` (JSON in, JSON out) and `describe` against a real
//! `math-server`.

use rendezvous_tests::daemon::cli;
use rendezvous_tests::{CliOutput, Daemon, MathServer};

/// `rendezvous-daemon ARGS --matchmaker` the daemon's address.
fn ask(daemon: &Daemon, args: &[&str]) -> CliOutput {
    let address = daemon.address().to_string();
    let mut full = args.to_vec();
    full.extend(["--matchmaker", address.as_str()]);
    cli(&full, &[])
}

/// The one line a successful command printed.
fn answer(output: &CliOutput) -> &str {
    assert!(output.status.success(), "{output:?}");
    output.stdout.trim_end()
}

#[test]
fn call_sends_json_arguments_and_prints_the_result_as_json() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let cases: [(&[&str], &str); 6] = [
        (&["call", "math.add", "2", "3"], "5"),
        (&["call", "math.add", "-7", "2"], "-5"),
        (&["call", "math.div", "7", "2"], r#"{"Ok":3}"#),
        (
            &["call", "math.div", "7", "0"],
            r#"{"Err":"DivisionByZero"}"#,
        ),
        (
            &[
                "call",
                "math.checksum",
                r#"{"name": "x", "body": [104, 105]}"#,
            ],
            r#"{"name":"x","length":2,"adler32":20644050,"reversed":[105,104]}"#,
        ),
        (
            &["call", "math.slow_square", "12", "50", "--deadline", "20s"],
            "144",
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(answer(&ask(&daemon, args)), expected, "{args:?}");
    }
}

#[test]
fn call_raw_prints_cbor_diagnostic_notation() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let output = ask(
        &daemon,
        &[
            "call",
            "math.checksum",
            r#"{"name":"x","body":[104,105]}"#,
            "--raw",
        ],
    );
    assert_eq!(
        answer(&output),
        r#"{"name": "x", "length": 2, "adler32": 20644050, "reversed": h'6968'}"#
    );
}

#[test]
fn a_failed_call_prints_its_outcome_and_exits_nonzero() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let cases: [(&[&str], &[&str]); 5] = [
        // The server decodes the arguments as its types: refused, not run.
        (
            &["call", "math.add", "2", "two"],
            &["refused", "arguments rejected", "expected integer"],
        ),
        (
            &["call", "math.add", "2"],
            &["refused", "arguments rejected"],
        ),
        (
            &["call", "math.nothing", "1"],
            &["no server has registered `math.nothing`"],
        ),
        (
            &["call", "math.add", "1", "{\"a\":"],
            &["argument 2", "not valid JSON"],
        ),
        (
            &["call", "math.add", "1", "2", "--idempotent"],
            &["registered as not idempotent", "drop --idempotent"],
        ),
    ];
    for (args, words) in cases {
        let output = ask(&daemon, args);
        assert!(!output.status.success(), "{args:?}: {output:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
        for word in words {
            assert!(
                output.stderr.contains(word),
                "{args:?}: `{word}` missing from {output:?}"
            );
        }
    }
}

#[test]
fn call_with_another_signature_is_refused_as_a_mismatch() {
    let daemon = Daemon::start(&[]);
    let _server = MathServer::start(daemon.address());
    let stale = rendezvous_core::Fingerprint::of("math.add(u64, u64) -> u64").to_string();
    let output = ask(
        &daemon,
        &["call", "math.add", "1", "2", "--signature", &stale],
    );
    assert!(!output.status.success(), "{output:?}");
    assert!(
        output.stderr.contains("math.add(i64, i64) -> i64"),
        "{output:?}"
    );
    assert!(output.stderr.contains(&stale), "{output:?}");
}

#[test]
fn describe_prints_each_endpoint_with_its_lease_transport_and_types() {
    let daemon = Daemon::start(&[]);
    let first = MathServer::start(daemon.address());
    let second = MathServer::start(daemon.address());
    let output = ask(&daemon, &["describe", "math.div"]);
    let printed = answer(&output);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines[0], "math.div", "{printed}");
    assert!(lines[1].starts_with("ENDPOINT"), "{printed}");
    assert_eq!(lines.len(), 4, "two endpoints:\n{printed}");
    for server in [&first, &second] {
        let endpoint = server.address.to_string();
        let row = lines
            .iter()
            .find(|line| line.starts_with(&endpoint))
            .unwrap_or_else(|| panic!("{endpoint} missing from:\n{printed}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1].len(), 16, "an incarnation in hex: {row}");
        assert!(cells[2].ends_with('s'), "lease time left: {row}");
        assert_eq!(cells[3], "udp,tcp", "{row}");
        assert!(
            row.ends_with("math.div(i64, i64) -> Result<i64, MathError> #idempotent"),
            "{row}"
        );
    }
    // Other names are not described.
    assert!(!printed.contains("math.add"), "{printed}");

    let output = ask(&daemon, &["describe", "math.nothing"]);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        output
            .stderr
            .contains("no server has registered `math.nothing`"),
        "{output:?}"
    );
}

#[test]
fn ping_says_who_answers_at_a_matchmaker_and_at_a_server() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start(daemon.address());
    for address in [daemon.address(), server.address] {
        let output = cli(&["ping", &address.to_string()], &[]);
        let line = answer(&output);
        assert!(
            line.starts_with(&format!("{address} answered in ")),
            "{line}"
        );
        assert!(line.contains(" ms: incarnation "), "{line}");
        assert!(line.contains(", up "), "{line}");
        assert!(!line.contains("not said"), "an uptime: {line}");
    }
    // The incarnation ping reads is the one the server registered.
    let described = ask(&daemon, &["describe", "math.add"]);
    let incarnation = answer(&described)
        .lines()
        .find(|line| line.starts_with(&server.address.to_string()))
        .and_then(|row| row.split_whitespace().nth(1))
        .expect("a row for the server")
        .to_owned();
    let pinged = cli(&["ping", &server.address.to_string()], &[]);
    assert!(
        answer(&pinged).contains(&format!("incarnation {incarnation}")),
        "{pinged:?}"
    );
}

#[test]
fn ping_of_an_address_nobody_holds_fails_naming_it() {
    // Bound, then closed: nothing listens there now.
    let address = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.local_addr())
        .expect("a free port");
    let output = cli(&["ping", &address.to_string(), "--deadline", "2s"], &[]);
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stderr.contains(&address.to_string()), "{output:?}");
}

#[test]
fn status_reports_the_store_what_it_holds_and_leases_expiring_soon() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start(daemon.address());
    let output = ask(&daemon, &["status"]);
    let printed = answer(&output);
    for line in [
        format!("matchmaker  {}", daemon.address()),
        "store       memory (reachable)".to_owned(),
        "leases      1".to_owned(),
        "registered  4".to_owned(),
        "expiring    none within 5s".to_owned(),
    ] {
        assert!(
            printed.lines().any(|l| l == line),
            "`{line}` missing from:\n{printed}"
        );
    }
    // math-server's lease is 30 s, renewed every 10 s: always under 31 s.
    let output = ask(&daemon, &["status", "--soon", "31s"]);
    let printed = answer(&output);
    assert!(printed.contains("expiring    1 within 31s:"), "{printed}");
    assert!(printed.contains(&server.address.to_string()), "{printed}");
}

#[test]
fn one_call_is_one_span_in_the_callers_log_and_the_servers() {
    let daemon = Daemon::start(&[]);
    let server = MathServer::start_logging(
        &daemon.address().to_string(),
        Some("info,rendezvous_core=debug"),
    );
    let address = daemon.address().to_string();
    let output = cli(
        &["call", "math.add", "2", "3", "--matchmaker", &address],
        &[("RUST_LOG", "rendezvous_core=debug")],
    );
    assert_eq!(answer(&output), "5");
    // `call{procedure=math.add client=<hex> xid=<n>}: ... call returned`
    let span = output
        .stderr
        .lines()
        .filter(|line| line.contains("call returned"))
        .find_map(|line| {
            let start = line.find("call{procedure=math.add ")?;
            let end = start + line[start..].find('}')? + 1;
            Some(line[start..end].to_owned())
        })
        .unwrap_or_else(|| {
            panic!(
                "no span of the call in the caller's log:\n{}",
                output.stderr
            )
        });
    assert!(
        span.contains(" client=") && span.contains(" xid="),
        "{span}"
    );
    let (found, seen) = server.await_log(&[&span, "call answered", "outcome=\"returned\""]);
    assert!(found, "`{span}` missing from the server's log:\n{seen:#?}");
}
