//! `/metrics` and the status page with the real binaries: the daemon's
//! `--metrics` and `math-server --metrics` (ServerBuilder::metrics),
//! scraped over HTTP while calls go through `rendezvous-daemon call`.

use rendezvous_tests::daemon::cli;
use rendezvous_tests::http::{get, sample};
use rendezvous_tests::{Daemon, MathServer, eventually, run};
use std::time::Duration;

/// `rendezvous-daemon call ARGS` through `daemon`.
fn call(daemon: &Daemon, args: &[&str]) -> rendezvous_tests::CliOutput {
    let address = daemon.address().to_string();
    let mut full = vec!["call"];
    full.extend_from_slice(args);
    full.extend(["--matchmaker", address.as_str()]);
    cli(&full, &[])
}

/// The value of `series` in the metrics at `address`, which must have it.
fn scraped(body: &str, series: &str) -> f64 {
    sample(body, series).unwrap_or_else(|| panic!("no `{series}` in:\n{body}"))
}

#[test]
fn the_daemon_and_math_server_serve_what_they_did_as_prometheus_metrics() {
    let daemon = Daemon::start(&["--metrics", "127.0.0.1:0"]);
    let server = MathServer::start_with_metrics(daemon.address());
    for args in [
        &["math.add", "2", "3"][..],
        &["math.add", "4", "5"],
        &["math.div", "1", "0"],
    ] {
        assert!(call(&daemon, args).status.success(), "{args:?}");
    }
    assert!(!call(&daemon, &["math.add", "1", "one"]).status.success());

    let answer = get(server.metrics.expect("--metrics"), "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.headers.contains("text"), "{answer:?}");
    let body = &answer.body;
    let calls = |procedure: &str, outcome: &str| {
        scraped(
            body,
            &format!("rendezvous_calls_total{{procedure=\"{procedure}\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(calls("math.add", "returned"), 2.0);
    assert_eq!(calls("math.add", "bad_arguments"), 1.0);
    assert_eq!(
        calls("math.div", "returned"),
        1.0,
        "an Err returned is a return"
    );
    assert_eq!(calls("math.checksum", "returned"), 0.0);
    // Retransmissions happen on a loaded machine; whatever their number,
    // no duplicate ran anything (the counts above), and each is counted.
    let replayed = scraped(body, "rendezvous_duplicates_replayed_total");
    assert!(scraped(body, "rendezvous_retransmissions_seen_total") >= replayed);
    for series in [
        "rendezvous_acks_sent_total",
        "rendezvous_reply_cache_evictions_total",
        "rendezvous_refusals_total{kind=\"overloaded\"}",
    ] {
        assert_eq!(scraped(body, series), 0.0, "{series}");
    }
    assert!(
        scraped(body, "rendezvous_reply_cache_bytes") > 0.0,
        "three replies are held"
    );

    let answer = get(daemon.metrics_address(), "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = &answer.body;
    // Each `call` looked the name up once (a lookup is read-only, so a
    // retransmitted one is answered, and counted, again).
    assert!(scraped(body, "rendezvous_lookups_total") >= 4.0);
    assert_eq!(scraped(body, "rendezvous_registrations"), 4.0);
    assert_eq!(scraped(body, "rendezvous_leases"), 1.0);
    assert_eq!(scraped(body, "rendezvous_registrations_granted_total"), 1.0);
    assert_eq!(
        scraped(body, "rendezvous_store_reachable{store=\"memory\"}"),
        1.0
    );
    assert_eq!(
        scraped(
            body,
            "rendezvous_calls_total{procedure=\"rendezvous.register\",outcome=\"returned\"}"
        ),
        1.0
    );
    for kind in ["overloaded", "limits", "unauthenticated"] {
        assert_eq!(
            scraped(
                body,
                &format!("rendezvous_refusals_total{{kind=\"{kind}\"}}")
            ),
            0.0,
            "{kind}"
        );
    }
    assert!(
        sample(body, "rendezvous_etcd_round_trips_total").is_none(),
        "no etcd here"
    );
    assert_eq!(get(daemon.metrics_address(), "/nothing").status, 404);
}

#[test]
fn a_registration_refused_at_a_limit_is_counted_as_such() {
    let daemon = Daemon::start(&["--metrics", "127.0.0.1:0", "--max-registrations", "1"]);
    // math-server's four procedures do not fit: refused, retried.
    let _server = MathServer::start(daemon.address());
    let metrics = daemon.metrics_address();
    let limited = run(eventually(
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let body = get(metrics, "/metrics").body;
            sample(&body, "rendezvous_refusals_total{kind=\"limits\"}")
                .filter(|count| *count >= 1.0)
        },
    ));
    assert!(limited.is_some(), "no refusal at the limit counted");
    let body = get(metrics, "/metrics").body;
    assert_eq!(scraped(&body, "rendezvous_registrations"), 0.0);
}

#[test]
fn metrics_off_loopback_are_refused_unless_allowed() {
    let output = cli(&["--listen", "127.0.0.1:0", "--metrics", "0.0.0.0:0"], &[]);
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stderr.contains("is not loopback"), "{output:?}");
    assert!(
        output.stderr.contains("--metrics-allow-remote"),
        "{output:?}"
    );
}

#[test]
fn the_status_page_renders_in_a_real_browser_while_a_server_is_registered() {
    use rendezvous_tests::chromium::{Chromium, target_dir};
    let Some(chromium) = Chromium::or_skip("the_status_page_renders_in_a_real_browser") else {
        return;
    };
    let daemon = Daemon::start(&["--metrics", "127.0.0.1:0"]);
    let server = MathServer::start_with_metrics(daemon.address());
    assert!(call(&daemon, &["math.add", "2", "3"]).status.success());
    let page = format!("http://{}/", daemon.metrics_address());

    let dom = chromium.dump_dom(&page);
    let endpoint = server.address.to_string();
    for text in [
        "<title>rendezvous matchmaker</title>",
        "http-equiv=\"refresh\"",
        &format!("Matchmaker at <b>{}</b>", daemon.address()),
        "Store: <b>memory</b> <span class=\"ok\">reachable</span>",
        "Leases: 1. Registrations: 4.",
        "<th>lease left</th>",
        "<td>math.add</td>",
        "<td>math.add(i64, i64) -&gt; i64</td>",
        "<td>math.checksum(Document) -&gt; Digest</td>",
        &format!("<td>{endpoint}</td>"),
        "/min</td>",
    ] {
        assert!(
            dom.contains(text),
            "`{text}` missing from the rendered page:\n{dom}"
        );
    }
    assert_eq!(
        dom.matches(&format!("<td>{endpoint}</td>")).count(),
        4,
        "{dom}"
    );

    let server_page = chromium.dump_dom(&format!("http://{}/", server.metrics.expect("--metrics")));
    for text in [
        "<title>rendezvous server</title>",
        "<td>math.add</td>",
        "<td>math.slow_square</td>",
    ] {
        assert!(
            server_page.contains(text),
            "`{text}` missing from:\n{server_page}"
        );
    }

    let screenshot = target_dir().join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    chromium.screenshot(&page, &screenshot);
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        screenshot.display()
    );
    assert!(png.len() > 10_000, "an empty page? {} bytes", png.len());
}

#[test]
fn a_registration_without_the_secret_is_counted_as_unauthenticated() {
    use rendezvous_core::protocol::matchmaker::ProcedureSpec;
    use rendezvous_core::protocol::wire::Incarnation;
    use rendezvous_core::{Error, Fingerprint, MatchmakerClient};
    let daemon = Daemon::start_signed(&["--metrics", "127.0.0.1:0"]);
    let refused = run(async {
        // A client of its own, without the daemon's secret.
        let unsigned = MatchmakerClient::connect(daemon.address())
            .await
            .expect("a matchmaker client");
        let spec = ProcedureSpec {
            name: "metrics.unsigned".into(),
            signature: Fingerprint::of("metrics.unsigned()->()"),
            signature_text: None,
        };
        let endpoint = unsigned.address();
        unsigned
            .register(
                vec![spec],
                endpoint,
                Incarnation(1),
                Duration::from_secs(30),
            )
            .await
    });
    assert!(
        matches!(refused, Err(Error::Unauthenticated { .. })),
        "{refused:?}"
    );
    let body = get(daemon.metrics_address(), "/metrics").body;
    assert_eq!(
        scraped(&body, "rendezvous_refusals_total{kind=\"unauthenticated\"}"),
        1.0
    );
    assert_eq!(
        scraped(&body, "rendezvous_refusals_total{kind=\"limits\"}"),
        0.0
    );
}
