//! `rendezvous-daemon status` against an etcd-backed daemon: it names the
//! store, and says when etcd is unreachable and when it is back.

use crate::support::{PATIENCE, POLL, run, start_daemons, unique_prefix};
use rendezvous_tests::daemon::cli;
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::{Daemon, eventually};

/// The `store` line `status` prints for `daemon`.
fn store_line(daemon: &Daemon) -> String {
    let output = cli(
        &["status", "--matchmaker", &daemon.address().to_string()],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    output
        .stdout
        .lines()
        .find(|line| line.starts_with("store "))
        .unwrap_or_else(|| panic!("no store line in:\n{}", output.stdout))
        .to_owned()
}

/// Polls until the daemon's store line contains `wanted`.
async fn await_store_line(daemon: &Daemon, wanted: &str) -> String {
    eventually(PATIENCE, POLL, || async {
        let line = store_line(daemon);
        line.contains(wanted).then_some(line)
    })
    .await
    .unwrap_or_else(|| panic!("`status` never said `{wanted}`: {}", store_line(daemon)))
}

#[test]
fn status_says_whether_etcd_is_reachable() {
    let mut etcd = Etcd::start();
    let daemons = start_daemons(1, &etcd, &unique_prefix("etcd-status"));
    run(async {
        let line = store_line(&daemons[0]);
        assert_eq!(
            line.split_whitespace().collect::<Vec<_>>(),
            ["store", "etcd", "(reachable)"]
        );
        etcd.stop(0);
        let line = await_store_line(&daemons[0], "UNREACHABLE").await;
        assert!(line.contains("etcd"), "{line}");
        etcd.restart(0);
        await_store_line(&daemons[0], "(reachable)").await;
    });
}

#[test]
fn metrics_count_etcd_round_trips_and_outages() {
    use crate::support::{LONG_TTL, register};
    use rendezvous_tests::http::{get, sample};
    use rendezvous_tests::loopback;
    let mut etcd = Etcd::start();
    let urls = etcd.urls();
    let prefix = unique_prefix("etcd-metrics");
    let daemon = Daemon::start_signed(&[
        "--etcd",
        &urls,
        "--etcd-prefix",
        &prefix,
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = daemon.metrics_address();
    let scrape = |series: &str| {
        let body = get(metrics, "/metrics").body;
        sample(&body, series).unwrap_or_else(|| panic!("no `{series}` in:\n{body}"))
    };
    run(async {
        let probe = daemon.client().await;
        register(&probe, "etcd.metrics", loopback(40_005), LONG_TTL)
            .await
            .expect("a registration through etcd");
        assert!(scrape("rendezvous_etcd_round_trips_total") >= 1.0);
        assert_eq!(scrape("rendezvous_etcd_outages_total"), 0.0);
        assert_eq!(scrape("rendezvous_store_reachable{store=\"etcd\"}"), 1.0);

        etcd.stop(0);
        await_store_line(&daemon, "UNREACHABLE").await;
        assert_eq!(scrape("rendezvous_etcd_outages_total"), 1.0);
        assert_eq!(scrape("rendezvous_store_reachable{store=\"etcd\"}"), 0.0);

        etcd.restart(0);
        await_store_line(&daemon, "(reachable)").await;
        assert_eq!(scrape("rendezvous_store_reachable{store=\"etcd\"}"), 1.0);
        assert_eq!(scrape("rendezvous_etcd_outages_total"), 1.0);
    });
}
