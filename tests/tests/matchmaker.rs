//! The matchmaker end to end: the real `rendezvous-daemon` binary on an
//! ephemeral loopback port, spoken to by `MatchmakerClient`, raw sockets,
//! a lossy relay and the binary's own query subcommands.
//!
//! The registered endpoints are addresses nobody listens on: the matchmaker
//! only stores them. Only a signed registration may name an endpoint other
//! than its source (SECURITY.md), so the daemons here have a secret and the
//! clients sign ([`Daemon::start_signed`]). Every wait is bounded and generous; the tests assert
//! outcomes and counts, never how long something took.

use rendezvous_core::matchmaker::ENV_VAR;
use rendezvous_core::protocol::matchmaker::{
    EndpointInfo, Lease, LeaseToken, LookupRequest, ProcedureSpec, Registration,
    operation::{self, Operation},
};
use rendezvous_core::protocol::wire::{self, Call, ClientId, Incarnation, Message, Outcome, Xid};
use rendezvous_core::{Error, Fingerprint, MatchmakerClient, RetryPolicy};
use rendezvous_daemon::LIST_PAGE_BYTES;
use rendezvous_runtime::{self as rt, Instant, UdpSocket};
use rendezvous_tests::daemon::cli;
use rendezvous_tests::{Daemon, Relay, RelayConfig, eventually, loopback, run};
use std::net::SocketAddr;
use std::time::Duration;

const ADD_V1: Fingerprint = Fingerprint::of("math.add(i64,i64)->i64");
const ADD_V2: Fingerprint = Fingerprint::of("math.add(i64,i64,i64)->i64");
const ADD_V3: Fingerprint = Fingerprint::of("math.add(f64,f64)->f64");

/// A TTL no test outlives.
const LONG_TTL: Duration = Duration::from_secs(60);

/// The shortest TTL the daemon grants by default (and with `--min-ttl 1s`).
const SHORT_TTL: Duration = Duration::from_secs(1);

fn spec(name: &str, signature: Fingerprint) -> ProcedureSpec {
    ProcedureSpec {
        signature_text: None,
        name: name.to_owned(),
        signature,
    }
}

fn addresses(endpoints: &[EndpointInfo]) -> Vec<SocketAddr> {
    endpoints.iter().map(|e| e.address).collect()
}

/// Registers `name` with `signature` at `at` under a lease of its own.
async fn register(
    client: &MatchmakerClient,
    name: &str,
    signature: Fingerprint,
    at: SocketAddr,
    incarnation: u64,
    ttl: Duration,
) -> Lease {
    client
        .register(
            vec![spec(name, signature)],
            at,
            Incarnation(incarnation),
            ttl,
        )
        .await
        .unwrap_or_else(|error| panic!("registering {name} at {at} failed: {error}"))
}

// ---------------------------------------------------------------- lookups

#[test]
fn register_then_lookup_returns_the_endpoint_its_incarnation_and_a_ttl_within_the_grant() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        let lease = register(&client, "math.add", ADD_V1, at, 7, Duration::from_secs(30)).await;
        assert_eq!(
            lease.ttl_ms, 30_000,
            "a TTL within the bounds is granted as asked"
        );

        for signature in [Some(ADD_V1), None] {
            let found = client.lookup("math.add", signature).await.unwrap();
            assert_eq!(found.len(), 1, "{found:?}");
            let info = &found[0];
            assert_eq!(info.address, at);
            assert_eq!(info.signature, ADD_V1);
            assert_eq!(info.incarnation, 7);
            assert!(
                info.ttl_ms > 0 && info.ttl_ms <= lease.ttl_ms,
                "{info:?} vs {lease:?}"
            );
        }
    });
}

#[test]
fn lookup_with_another_signature_is_a_mismatch_listing_the_registered_signatures() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await;
        match client.lookup("math.add", Some(ADD_V3)).await {
            Err(Error::SignatureMismatch {
                name,
                expected,
                available,
                ..
            }) => {
                assert_eq!(name, "math.add");
                assert_eq!(expected, ADD_V3);
                assert_eq!(available, vec![ADD_V1]);
            }
            other => panic!("expected a signature mismatch, got {other:?}"),
        }

        register(&client, "math.add", ADD_V2, loopback(40_002), 2, LONG_TTL).await;
        match client.lookup("math.add", Some(ADD_V3)).await {
            Err(Error::SignatureMismatch { mut available, .. }) => {
                available.sort();
                let mut registered = vec![ADD_V1, ADD_V2];
                registered.sort();
                assert_eq!(available, registered);
            }
            other => panic!("expected a signature mismatch, got {other:?}"),
        }
    });
}

#[test]
fn during_a_rolling_upgrade_each_signature_finds_only_its_own_servers() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let (old, new) = (loopback(40_001), loopback(40_002));
        register(&client, "math.add", ADD_V1, old, 1, LONG_TTL).await;
        register(&client, "math.add", ADD_V2, new, 2, LONG_TTL).await;

        let v1 = client.lookup("math.add", Some(ADD_V1)).await.unwrap();
        assert_eq!(addresses(&v1), vec![old]);
        assert_eq!(v1[0].signature, ADD_V1);
        let v2 = client.lookup("math.add", Some(ADD_V2)).await.unwrap();
        assert_eq!(addresses(&v2), vec![new]);
        assert_eq!(v2[0].signature, ADD_V2);

        let mut any = addresses(&client.lookup("math.add", None).await.unwrap());
        any.sort();
        assert_eq!(any, vec![old, new], "without a signature, every server");
    });
}

/// Each name rotates on its own lookups: successive lookups of a name begin
/// with successive endpoints (address order, wrapping), whatever else is
/// looked up in between; a lookup cut to the reply's size keeps the first
/// ones of its rotation. (One counter for every name, and answers sorted
/// back into address order, let every lookup of a name begin with its
/// lowest address.)
#[test]
fn successive_lookups_of_a_name_begin_with_successive_endpoints() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let a: Vec<SocketAddr> = (1..=3).map(|i| loopback(41_000 + i)).collect();
        for (i, at) in a.iter().enumerate().rev() {
            register(&client, "rotate.a", ADD_V1, *at, i as u64 + 1, LONG_TTL).await;
        }
        for i in 1..=2 {
            register(
                &client,
                "rotate.b",
                ADD_V1,
                loopback(42_000 + i),
                9,
                LONG_TTL,
            )
            .await;
        }
        // More than a padded lookup's reply holds (18 IPv4 endpoints).
        let many: Vec<SocketAddr> = (1..=30).map(|i| loopback(43_000 + i)).collect();
        for at in &many {
            register(&client, "rotate.many", ADD_V1, *at, 7, LONG_TTL).await;
        }

        let mut firsts = Vec::new();
        for _ in 0..6 {
            let found = addresses(&client.lookup("rotate.a", None).await.unwrap());
            // Some rotation of the address order.
            let start = a
                .iter()
                .position(|at| *at == found[0])
                .expect("a known endpoint");
            let mut rotated = a.clone();
            rotated.rotate_left(start);
            assert_eq!(found, rotated);
            firsts.push(start);
            // Lookups of other names in between do not move a's turn.
            client.lookup("rotate.b", None).await.unwrap();
            client.lookup("rotate.b", None).await.unwrap();
        }
        let step = |w: &[usize]| (w[1] + a.len() - w[0]) % a.len();
        assert!(
            firsts.windows(2).all(|w| step(w) == 1),
            "each lookup of rotate.a begins one endpoint further: {firsts:?}"
        );

        let mut cut_firsts = Vec::new();
        for _ in 0..4 {
            let answer = client.lookup_answer("rotate.many", None).await.unwrap();
            assert!(answer.truncated);
            let found = addresses(&answer.endpoints);
            let start = many.iter().position(|at| *at == found[0]).expect("known");
            let expected: Vec<SocketAddr> = (0..found.len())
                .map(|k| many[(start + k) % many.len()])
                .collect();
            assert_eq!(found, expected, "consecutive from where the turn is");
            cut_firsts.push(start);
            client.lookup("rotate.a", None).await.unwrap();
        }
        assert!(
            cut_firsts
                .windows(2)
                .all(|w| (w[1] + many.len() - w[0]) % many.len() == 1),
            "each cut lookup begins one endpoint further: {cut_firsts:?}"
        );
    });
}

#[test]
fn lookup_of_an_unknown_name_is_not_found() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await;
        for signature in [None, Some(ADD_V1)] {
            match client.lookup("math.subtract", signature).await {
                Err(Error::NotFound { name }) => assert_eq!(name, "math.subtract"),
                other => panic!("expected NotFound, got {other:?}"),
            }
        }
    });
}

// ----------------------------------------------------------------- leases

/// How one attempt at a timing-dependent scenario ended.
enum Attempt {
    /// The outcome was checked.
    Conclusive,
    /// This machine stalled longer than a TTL, so a lease may rightly have
    /// expired: nothing can be concluded; try again.
    Stalled(String),
}

/// Runs `scenario` up to 3 times while it reports a stall.
async fn without_stalls<F, Fut>(mut scenario: F)
where
    F: FnMut(u16) -> Fut,
    Fut: std::future::Future<Output = Attempt>,
{
    let mut stalls = Vec::new();
    for attempt in 0..3 {
        match scenario(attempt).await {
            Attempt::Conclusive => return,
            Attempt::Stalled(why) => {
                eprintln!("attempt {attempt} inconclusive: {why}");
                stalls.push(why);
            }
        }
    }
    panic!("this machine stalled for longer than a lease TTL in every attempt: {stalls:?}");
}

#[test]
fn renewing_a_lease_keeps_it_registered_past_its_ttl() {
    let daemon = Daemon::start_signed(&["--min-ttl", "1s"]);
    run(async {
        let client = &daemon.client().await;
        without_stalls(|attempt| async move {
            let name = format!("renewed.attempt_{attempt}");
            let at = loopback(40_100 + attempt);
            // The lease lives at least until `extended + TTL`: the daemon
            // starts each TTL when it handles a request, after it was sent.
            let mut extended = Instant::now();
            let lease = register(client, &name, ADD_V1, at, 1, SHORT_TTL).await;
            assert_eq!(lease.ttl_ms, 1_000);
            let registered = Instant::now();
            let mut renewals = 0;
            while registered.elapsed() < Duration::from_millis(2_500) {
                rt::sleep(Duration::from_millis(300)).await;
                let sent = Instant::now();
                match client.renew(lease.token).await {
                    Ok(ttl) => {
                        assert_eq!(ttl, SHORT_TTL);
                        extended = sent;
                        renewals += 1;
                    }
                    Err(Error::UnknownLease) if Instant::now() >= extended + SHORT_TTL => {
                        return Attempt::Stalled(format!("renewal {renewals} came too late"));
                    }
                    Err(error) => panic!("renewal {renewals} of a live lease failed: {error}"),
                }
            }
            assert!(renewals >= 2, "only {renewals} renewals");
            match client.lookup(&name, Some(ADD_V1)).await {
                Ok(found) => {
                    assert_eq!(addresses(&found), vec![at]);
                    Attempt::Conclusive
                }
                Err(Error::NotFound { .. }) if Instant::now() >= extended + SHORT_TTL => {
                    Attempt::Stalled("the lookup came too late".into())
                }
                Err(error) => panic!("a renewed lease is gone: {error}"),
            }
        })
        .await;
    });
}

#[test]
fn renewing_an_unknown_token_is_an_unknown_lease() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await;
        let stranger = LeaseToken::generate().unwrap();
        match client.renew(stranger).await {
            Err(Error::UnknownLease) => {}
            other => panic!("expected UnknownLease, got {other:?}"),
        }
    });
}

#[test]
fn a_lease_not_renewed_expires_after_its_ttl() {
    let daemon = Daemon::start_signed(&["--min-ttl", "1s"]);
    run(async {
        let client = &daemon.client().await;
        without_stalls(|attempt| async move {
            let name = format!("expiring.attempt_{attempt}");
            let at = loopback(40_200 + attempt);
            let sent = Instant::now();
            let lease = register(client, &name, ADD_V1, at, 1, SHORT_TTL).await;
            assert_eq!(lease.ttl_ms, 1_000);
            match client.lookup(&name, None).await {
                Ok(found) => {
                    assert_eq!(addresses(&found), vec![at]);
                    assert!(found[0].ttl_ms <= 1_000, "{found:?}");
                }
                Err(Error::NotFound { .. }) if Instant::now() >= sent + SHORT_TTL => {
                    return Attempt::Stalled("the first lookup came after the TTL".into());
                }
                Err(error) => panic!("just registered, yet: {error}"),
            }

            let name = name.as_str();
            let gone = eventually(
                Duration::from_secs(10),
                Duration::from_millis(50),
                move || async move {
                    match client.lookup(name, None).await {
                        Ok(_) => None,
                        Err(Error::NotFound { .. }) => Some(()),
                        Err(error) => panic!("lookup failed: {error}"),
                    }
                },
            )
            .await;
            assert!(
                gone.is_some(),
                "{name} is still registered 10 s after its 1 s TTL"
            );
            match client.renew(lease.token).await {
                Err(Error::UnknownLease) => Attempt::Conclusive,
                other => panic!("renewing an expired lease: expected UnknownLease, got {other:?}"),
            }
        })
        .await;
    });
}

#[test]
fn unregister_removes_at_once_and_a_second_unregister_is_an_unknown_lease() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        let lease = client
            .register(
                vec![spec("math.add", ADD_V1), spec("math.mul", ADD_V2)],
                at,
                Incarnation(1),
                LONG_TTL,
            )
            .await
            .unwrap();
        assert_eq!(
            addresses(&client.lookup("math.mul", None).await.unwrap()),
            vec![at]
        );

        client.unregister(lease.token).await.unwrap();
        for name in ["math.add", "math.mul"] {
            match client.lookup(name, None).await {
                Err(Error::NotFound { .. }) => {}
                other => panic!("{name} after unregister: expected NotFound, got {other:?}"),
            }
        }
        match client.unregister(lease.token).await {
            Err(Error::UnknownLease) => {}
            other => panic!("second unregister: expected UnknownLease, got {other:?}"),
        }
        match client.renew(lease.token).await {
            Err(Error::UnknownLease) => {}
            other => panic!("renew after unregister: expected UnknownLease, got {other:?}"),
        }
    });
}

#[test]
fn registering_the_same_name_and_endpoint_again_adds_a_registration_beside_the_first() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        let first = register(&client, "math.add", ADD_V1, at, 1, LONG_TTL).await;
        // A new incarnation, a new lease, beside the old one: nothing
        // answers at that endpoint, so the matchmaker cannot find that the
        // new one holds it, and replaces nothing (a server restarted on its
        // port does answer: tests/tests/dead_endpoints.rs).
        register(&client, "math.add", ADD_V1, at, 2, LONG_TTL).await;

        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(addresses(&found), vec![at, at], "two bindings: {found:?}");
        let incarnations: Vec<u64> = found.iter().map(|e| e.incarnation).collect();
        assert_eq!(incarnations, vec![1, 2], "the older lease first");
        let listed: Vec<Registration> = client.list().await.unwrap();
        assert_eq!(listed.len(), 2, "{listed:?}");

        // The old lease leaves by its own unregister, taking only its binding.
        client.unregister(first.token).await.unwrap();
        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].incarnation, 2);
    });
}

/// Item 0's residual: a lookup names the endpoints that unregistered, so a
/// client can tell a graceful exit from a lease that merely expired.
#[test]
fn a_lookup_names_the_endpoints_that_unregistered_and_only_those() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let (gone, expiring, staying) = (loopback(40_001), loopback(40_002), loopback(40_003));
        let lease = register(&client, "math.add", ADD_V1, gone, 1, LONG_TTL).await;
        register(
            &client,
            "math.add",
            ADD_V1,
            expiring,
            2,
            Duration::from_secs(1),
        )
        .await;
        register(&client, "math.add", ADD_V1, staying, 3, LONG_TTL).await;
        client.unregister(lease.token).await.unwrap();
        rt::sleep(Duration::from_millis(1_500)).await;
        let found = client.lookup_answer("math.add", None).await.unwrap();
        assert_eq!(addresses(&found.endpoints), vec![staying]);
        let unregistered: Vec<(SocketAddr, u64)> = found
            .unregistered
            .iter()
            .map(|d| (d.address, d.incarnation))
            .collect();
        assert_eq!(unregistered, vec![(gone, 1)]);
    });
}

#[test]
fn a_restarted_daemon_starts_empty_and_refuses_old_leases() {
    let mut daemon = Daemon::start_signed(&[]);
    let address = daemon.address();
    let lease = run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await
    });
    let secret = daemon.secret_file().expect("a signed daemon");
    daemon.kill();
    let daemon = Daemon::start_on_signed(address, secret);
    assert_eq!(daemon.address(), address);
    run(async {
        let client = daemon.client().await;
        match client.renew(lease.token).await {
            Err(Error::UnknownLease) => {}
            other => panic!("renew after a restart: expected UnknownLease, got {other:?}"),
        }
        match client.lookup("math.add", None).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("lookup after a restart: expected NotFound, got {other:?}"),
        }
        register(&client, "math.add", ADD_V1, loopback(40_001), 2, LONG_TTL).await;
        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(found[0].incarnation, 2);
    });
}

// ------------------------------------------------------------------ lists

#[test]
fn list_returns_every_registration_across_pages() {
    let daemon = Daemon::start_signed(&[]);
    let names: Vec<String> = (0..60)
        .map(|i| format!("inventory.warehouse.item_{i:03}"))
        .collect();
    let endpoints: Vec<SocketAddr> = (0..3).map(|i| loopback(41_000 + i)).collect();
    // More than one page's worth, by far.
    assert!(names.len() * endpoints.len() * names[0].len() > 2 * LIST_PAGE_BYTES);
    run(async {
        let client = daemon.client().await;
        for (i, at) in endpoints.iter().enumerate() {
            let procedures = names.iter().map(|n| spec(n, ADD_V1)).collect();
            client
                .register(procedures, *at, Incarnation(i as u64 + 1), LONG_TTL)
                .await
                .unwrap();
        }

        let first = client.list_page(None).await.unwrap();
        assert!(
            first.next.is_some(),
            "the first of several pages has a cursor"
        );
        assert!(!first.registrations.is_empty());
        assert!(first.registrations.len() < names.len() * endpoints.len());

        let all = client.list().await.unwrap();
        let keys: Vec<(String, SocketAddr)> =
            all.iter().map(|r| (r.name.clone(), r.endpoint)).collect();
        let mut expected: Vec<(String, SocketAddr)> = names
            .iter()
            .flat_map(|n| endpoints.iter().map(move |e| (n.clone(), *e)))
            .collect();
        expected.sort();
        assert_eq!(
            keys, expected,
            "every registration once, sorted by (name, endpoint)"
        );
        for registration in &all {
            let index = endpoints
                .iter()
                .position(|e| *e == registration.endpoint)
                .unwrap();
            assert_eq!(registration.incarnation, index as u64 + 1);
            assert_eq!(registration.signature, ADD_V1);
            assert!(registration.ttl_ms > 0 && registration.ttl_ms <= 60_000);
        }
    });
}

// -------------------------------------------------------------------- CLI

/// A daemon holding `math.add` (v1 and v2) and `text.upper`.
fn daemon_with_registrations() -> (Daemon, Vec<(&'static str, SocketAddr, Fingerprint, u64)>) {
    let daemon = Daemon::start_signed(&[]);
    let registrations = vec![
        ("math.add", loopback(40_001), ADD_V1, 0x1111),
        ("math.add", loopback(40_002), ADD_V2, 0x2222),
        (
            "text.upper",
            loopback(40_003),
            Fingerprint::of("text.upper(String)->String"),
            0x3333,
        ),
    ];
    run(async {
        let client = daemon.client().await;
        for (name, at, signature, incarnation) in &registrations {
            register(&client, name, *signature, *at, *incarnation, LONG_TTL).await;
        }
    });
    (daemon, registrations)
}

#[test]
fn cli_list_prints_a_table_with_one_row_per_registration() {
    let (daemon, registrations) = daemon_with_registrations();
    let address = daemon.address().to_string();
    let output = cli(&["list", "--matchmaker", &address], &[]);
    assert!(output.status.success(), "{output:?}");

    let mut lines = output.stdout.lines().filter(|line| !line.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "ENDPOINT", "SIGNATURE", "INCARNATION", "TTL"],
        "{}",
        output.stdout
    );
    let rows: Vec<Vec<&str>> = lines
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| cells.len() == 5)
        .collect();
    assert_eq!(rows.len(), registrations.len(), "{}", output.stdout);
    for (name, at, signature, incarnation) in &registrations {
        let at = at.to_string();
        let row = rows
            .iter()
            .find(|row| row[0] == *name && row[1] == at)
            .unwrap_or_else(|| panic!("no row for {name} at {at}:\n{}", output.stdout));
        assert_eq!(row[2], signature.to_string());
        assert_eq!(
            u64::from_str_radix(row[3], 16).ok(),
            Some(*incarnation),
            "{row:?}"
        );
    }
}

#[test]
fn cli_lookup_prints_the_endpoints_of_a_name() {
    let (daemon, _) = daemon_with_registrations();
    let address = daemon.address().to_string();
    let output = cli(&["lookup", "text.upper", "--matchmaker", &address], &[]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.contains(&loopback(40_003).to_string()),
        "{}",
        output.stdout
    );

    let signature = ADD_V2.to_string();
    let output = cli(
        &[
            "lookup",
            "math.add",
            "--signature",
            &signature,
            "--matchmaker",
            &address,
        ],
        &[],
    );
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.contains(&loopback(40_002).to_string()),
        "{}",
        output.stdout
    );
    assert!(
        !output.stdout.contains(&loopback(40_001).to_string()),
        "--signature keeps only the matching server:\n{}",
        output.stdout
    );
}

#[test]
fn cli_lookup_of_an_unknown_name_fails_naming_it() {
    let (daemon, _) = daemon_with_registrations();
    let address = daemon.address().to_string();
    let output = cli(&["lookup", "math.divide", "--matchmaker", &address], &[]);
    assert!(!output.status.success(), "{output:?}");
    assert!(output.stderr.contains("math.divide"), "{}", output.stderr);
}

// ------------------------------------------------------ signature texts

const ADD_U64_TEXT: &str = "math.add(u64, u64) -> u64";

/// `math.add` at 40_001 with its signature text, an old-style `math.add`
/// (no text) at 40_002.
fn daemon_with_a_text_and_without() -> Daemon {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let with_text = ProcedureSpec {
            signature_text: Some(ADD_U64_TEXT.into()),
            ..spec("math.add", Fingerprint::of(ADD_U64_TEXT))
        };
        let at = loopback(40_001);
        client
            .register(vec![with_text], at, Incarnation(1), LONG_TTL)
            .await
            .expect("a registration with a text");
        register(&client, "math.add", ADD_V1, loopback(40_002), 2, LONG_TTL).await;
    });
    daemon
}

#[test]
fn cli_list_prints_the_signature_text_and_the_fingerprint_where_there_is_none() {
    let daemon = daemon_with_a_text_and_without();
    let address = daemon.address().to_string();
    let output = cli(&["list", "--matchmaker", &address], &[]);
    assert!(output.status.success(), "{output:?}");
    let row = |at: SocketAddr| {
        output
            .stdout
            .lines()
            .find(|line| line.contains(&format!(" {at} ")))
            .unwrap_or_else(|| panic!("no row for {at}:\n{}", output.stdout))
            .to_owned()
    };
    let with_text = row(loopback(40_001));
    assert!(with_text.contains(ADD_U64_TEXT), "{with_text}");
    let without = row(loopback(40_002));
    assert!(without.contains(&ADD_V1.to_string()), "{without}");
}

#[test]
fn a_lookup_with_another_signature_names_the_registered_texts() {
    let daemon = daemon_with_a_text_and_without();
    run(async {
        let client = daemon.client().await;
        let error = client
            .lookup("math.add", Some(ADD_V3))
            .await
            .expect_err("no math.add has ADD_V3");
        let Error::SignatureMismatch {
            ref available_texts,
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(
            available_texts,
            &[(Fingerprint::of(ADD_U64_TEXT), ADD_U64_TEXT.to_owned())]
        );
        let message = error.to_string();
        assert!(message.contains(&format!("`{ADD_U64_TEXT}`")), "{message}");
        assert!(message.contains(&ADD_V1.to_string()), "{message}");
    });
}

#[test]
fn a_signature_text_over_the_limit_is_refused_naming_the_limit() {
    use rendezvous_core::protocol::matchmaker::MAX_SIGNATURE_TEXT_BYTES;
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let long = format!("math.add({}) -> u64", "u".repeat(MAX_SIGNATURE_TEXT_BYTES));
        let spec = ProcedureSpec {
            signature_text: Some(long.clone()),
            ..spec("math.add", Fingerprint::of(&long))
        };
        let refused = client
            .register(vec![spec], loopback(40_001), Incarnation(1), LONG_TTL)
            .await;
        match refused {
            Err(Error::InvalidRequest { reason }) => {
                assert!(reason.contains("signature text"), "{reason}");
                assert!(
                    reason.contains(&MAX_SIGNATURE_TEXT_BYTES.to_string()),
                    "{reason}"
                );
            }
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
        assert!(matches!(
            client.lookup("math.add", None).await,
            Err(Error::NotFound { .. })
        ));
    });
}

#[test]
fn cli_uses_the_environment_variable_when_no_matchmaker_flag_is_given() {
    let (daemon, _) = daemon_with_registrations();
    let address = daemon.address().to_string();
    let output = cli(&["lookup", "text.upper"], &[(ENV_VAR, &address)]);
    assert!(output.status.success(), "{output:?}");
    assert!(
        output.stdout.contains(&loopback(40_003).to_string()),
        "{}",
        output.stdout
    );

    let output = cli(&["list"], &[(ENV_VAR, &address)]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.contains("text.upper"), "{}", output.stdout);
}

#[test]
fn cli_against_an_unreachable_matchmaker_fails_with_one_line_naming_it() {
    // Bound and never read: nothing answers, and no one else can take the port.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    // `cli` panics if the command runs longer than its hang limit.
    for (args, env) in [
        (vec!["list", "--matchmaker", address.as_str()], vec![]),
        (
            vec!["lookup", "math.add"],
            vec![(ENV_VAR, address.as_str())],
        ),
    ] {
        let output = cli(&args, &env);
        assert!(!output.status.success(), "{args:?}: {output:?}");
        let lines: Vec<&str> = output
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{args:?}: expected a one-line error:\n{}",
            output.stderr
        );
        assert!(
            lines[0].contains(&address),
            "{args:?}: the error does not name {address}: {}",
            lines[0]
        );
    }
}

// -------------------------------------------------------------- lifecycle

#[test]
fn sigterm_shuts_the_daemon_down_cleanly() {
    let mut daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await;
    });
    let status = daemon.terminate();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_shuts_the_daemon_down_cleanly() {
    let mut daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        register(&client, "math.add", ADD_V1, loopback(40_001), 1, LONG_TTL).await;
    });
    let status = daemon.interrupt();
    assert_eq!(status.code(), Some(0));
}

// ------------------------------------------------------------- robustness

/// A valid `rendezvous.lookup` call datagram.
fn lookup_call(client: u64, xid: u64, name: &str) -> Vec<u8> {
    let request = LookupRequest {
        name: name.to_owned(),
        signature: None,
        padding: None,
    };
    let args = wire::encode_payload(&(request,)).expect("encode lookup arguments");
    Message::Call(Call {
        client: ClientId(client),
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: operation::Lookup::NAME.to_owned(),
        signature: operation::Lookup::SIGNATURE,
        deadline: Duration::from_secs(3),
        done_below: Xid(xid),
        args: args.into(),
        elsewhere: Default::default(),
    })
    .encode()
    .expect("encode a lookup call")
}

/// Random bytes, or a valid call bit-flipped, truncated, extended or spliced.
fn garbage(rng: &mut fastrand::Rng, name: &str) -> Vec<u8> {
    let mut datagram = lookup_call(rng.u64(..), rng.u64(1..1_000), name);
    match rng.u8(0..5) {
        0 => {
            datagram = vec![0; rng.usize(0..=1_500)];
            rng.fill(&mut datagram);
        }
        1 => {
            for _ in 0..rng.usize(1..=8) {
                let bit = rng.usize(0..datagram.len() * 8);
                datagram[bit / 8] ^= 1 << (bit % 8);
            }
        }
        2 => datagram.truncate(rng.usize(0..datagram.len())),
        3 => {
            let bit = rng.usize(0..datagram.len() * 8);
            datagram[bit / 8] ^= 1 << (bit % 8);
            datagram.truncate(rng.usize(1..=datagram.len()));
            let mut tail = vec![0; rng.usize(0..64)];
            rng.fill(&mut tail);
            datagram.extend(tail);
        }
        _ => {
            let at = rng.usize(0..datagram.len());
            let length = rng.usize(1..=(datagram.len() - at).min(16));
            for byte in &mut datagram[at..at + length] {
                *byte = rng.u8(..);
            }
        }
    }
    datagram
}

#[test]
fn garbage_datagrams_neither_disturb_the_daemon_nor_grow_its_memory() {
    const DATAGRAMS: usize = 5_000;
    const MAX_GROWTH: u64 = 32 << 20;
    let mut daemon = Daemon::start_signed(&[]);
    let target = "garbage.target";
    let at = loopback(40_001);
    run(async {
        let client = daemon.client().await;
        register(&client, target, ADD_V1, at, 1, LONG_TTL).await;
        for _ in 0..20 {
            assert_eq!(
                addresses(&client.lookup(target, None).await.unwrap()),
                vec![at]
            );
        }

        // The raw call the garbage derives from is one the daemon answers.
        let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let valid = lookup_call(fastrand::u64(..), 1, target);
        let mut buffer = vec![0u8; 65_536];
        let mut answered = None;
        for _ in 0..20 {
            raw.send_to(&valid, daemon.address()).await.unwrap();
            if let Some(Ok((length, _))) =
                rt::timeout(Duration::from_millis(500), raw.recv_from(&mut buffer)).await
            {
                answered = Some(Message::decode(&buffer[..length]).unwrap());
                break;
            }
        }
        match answered {
            Some(Message::Reply(reply)) => {
                assert!(matches!(reply.outcome, Outcome::Return(_)), "{reply:?}")
            }
            other => panic!("the daemon did not answer a valid raw lookup: {other:?}"),
        }

        let before = daemon.rss_bytes().expect("the daemon's VmRSS");
        let mut rng = fastrand::Rng::with_seed(0x5eed_f00d);
        let mut lookups = 0;
        for i in 0..DATAGRAMS {
            let datagram = garbage(&mut rng, target);
            raw.send_to(&datagram, daemon.address()).await.unwrap();
            if i % 20 == 19 {
                // Pace the flood so the daemon sees it, rather than the kernel dropping it.
                rt::sleep(Duration::from_millis(1)).await;
            }
            if i % 250 == 0 {
                let found = client
                    .lookup(target, Some(ADD_V1))
                    .await
                    .unwrap_or_else(|error| {
                        panic!("lookup after {i} garbage datagrams failed: {error}")
                    });
                assert_eq!(addresses(&found), vec![at]);
                lookups += 1;
            }
        }
        assert_eq!(lookups, DATAGRAMS / 250);

        // The garbage reached the daemon: it answered the calls it could
        // make out (decodable headers) with error replies or results.
        let (mut refused, mut answers) = (0, 0);
        while let Some(Ok((length, _))) =
            rt::timeout(Duration::from_millis(200), raw.recv_from(&mut buffer)).await
        {
            answers += 1;
            // A refusal of another incarnation is two replies in one
            // datagram (`[4]`, then its uptime).
            for message in Message::decode_batch(&buffer[..length]) {
                match message {
                    Ok((Message::Reply(reply), _))
                        if !matches!(reply.outcome, Outcome::Return(_)) =>
                    {
                        refused += 1
                    }
                    Ok((Message::Reply(_) | Message::Ack(_), _)) => {}
                    other => panic!("the daemon sent neither a reply nor an ACK: {other:?}"),
                }
            }
        }
        assert!(
            refused > 0,
            "none of {answers} answers to the garbage was an error reply"
        );

        // Still answering, from a new client too.
        let fresh = daemon.client().await;
        assert_eq!(
            addresses(&fresh.lookup(target, None).await.unwrap()),
            vec![at]
        );
        let listed = fresh.list().await.unwrap();
        assert!(listed.iter().any(|r| r.name == target), "{listed:?}");

        let after = daemon.rss_bytes().expect("the daemon's VmRSS");
        assert!(
            after.saturating_sub(before) < MAX_GROWTH,
            "VmRSS grew from {before} to {after} bytes over {DATAGRAMS} garbage datagrams"
        );
    });
    assert!(daemon.is_running(), "the daemon died: {}", daemon.stderr());
}

#[test]
fn lookups_through_a_lossy_relay_all_succeed() {
    const LOOKUPS: usize = 50;
    let daemon = Daemon::start_signed(&[]);
    let at = loopback(40_001);
    run(async {
        let direct = daemon.client().await;
        register(&direct, "math.add", ADD_V1, at, 1, LONG_TTL).await;

        let relay = Relay::start(
            daemon.address(),
            RelayConfig {
                seed: 0x10551,
                drop: 0.3,
                duplicate: 0.1,
                reorder: 0.1,
                max_delay: Duration::from_millis(30),
            },
        )
        .unwrap();
        // At 30% loss each way a round trip fails about half the time, so
        // some lookups need many retransmissions: a generous deadline, and
        // a backoff cap low enough that they come often.
        let policy = RetryPolicy {
            max_timeout: Duration::from_millis(500),
            deadline: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let client = MatchmakerClient::connect(relay.local_addr())
            .await
            .unwrap()
            .with_policy(policy);
        for i in 0..LOOKUPS {
            let found = client
                .lookup("math.add", Some(ADD_V1))
                .await
                .unwrap_or_else(|error| {
                    panic!("lookup {i} failed: {error}; relay: {:?}", relay.stats())
                });
            assert_eq!(addresses(&found), vec![at], "lookup {i}");
            assert_eq!(found[0].incarnation, 1);
        }
        let stats = relay.stats();
        assert!(stats.dropped > 0, "{stats:?}");
        assert!(stats.duplicated > 0, "{stats:?}");
        assert!(stats.reordered > 0, "{stats:?}");
        assert!(stats.forwarded >= 2 * LOOKUPS as u64, "{stats:?}");
    });
}
