//! The etcd store beside the in-memory one (built with `--features etcd`):
//! lookup, register and renew through an etcd-backed matchmaker, each as a
//! ratio to the same operation on an in-memory matchmaker in the same run,
//! and how long a registration takes to reach a second matchmaker.
//!
//! It starts its own single-member etcd (`etcd` on PATH, Debian's
//! etcd-server) on loopback, or uses `--etcd URL`.

use crate::measure::{BenchError, Latency};
use crate::report::{Report, Row};
use rendezvous_core::matchmaker::Secret;
use rendezvous_core::protocol::matchmaker::ProcedureSpec;
use rendezvous_core::protocol::wire::Incarnation;
use rendezvous_core::{Fingerprint, MatchmakerClient};
use rendezvous_daemon::store::etcd::{EtcdConfig, EtcdStore};
use rendezvous_daemon::{Limits, Matchmaker, MatchmakerConfig, TtlBounds};
use rendezvous_runtime::{self as rt, Instant};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How long a started etcd may take to answer.
const ETCD_START: Duration = Duration::from_secs(30);

/// Leases that outlive the run.
const LONG_TTL: Duration = Duration::from_secs(60);

/// The matchmakers' secret: the bench registers an endpoint it does not
/// send from, which only a signed registration may (SECURITY.md).
fn bench_secret() -> Secret {
    Secret::new(*b"the rendezvous bench's shared secret").expect("a long enough secret")
}

fn signed_config() -> MatchmakerConfig {
    MatchmakerConfig {
        secret: Some(bench_secret()),
        ..MatchmakerConfig::default()
    }
}

/// Registrations timed for visibility at the second matchmaker.
const VISIBILITY_SAMPLES: usize = 50;

/// A single-member etcd on loopback, killed (and its data removed) on drop.
struct EtcdProcess {
    child: Child,
    data: PathBuf,
    url: String,
}

impl EtcdProcess {
    fn start() -> Result<EtcdProcess, BenchError> {
        let free_port = || -> Result<u16, BenchError> {
            Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
        };
        let (client, peer) = (free_port()?, free_port()?);
        let data =
            std::env::temp_dir().join(format!("rendezvous-bench-etcd-{}", std::process::id()));
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--name", "bench", "--data-dir"])
            .arg(&data)
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("bench={peer_url}")])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| {
                format!("could not start etcd ({error}); install it (apt-get install etcd-server) or pass --etcd URL")
            })?;
        Ok(EtcdProcess { child, data, url })
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// An etcd-backed matchmaker on an ephemeral loopback port.
async fn etcd_matchmaker(url: &str, prefix: &str) -> Result<Matchmaker, BenchError> {
    let mut config = EtcdConfig::new(vec![url.to_owned()]);
    config.prefix = prefix.to_owned();
    let deadline = Instant::now() + ETCD_START;
    let store = loop {
        match EtcdStore::connect(config.clone(), TtlBounds::default(), Limits::default()).await {
            Ok(store) => break store,
            Err(_) if Instant::now() < deadline => rt::sleep(Duration::from_millis(200)).await,
            Err(error) => return Err(error.into()),
        }
    };
    let address = "127.0.0.1:0".parse()?;
    Ok(Matchmaker::bind_with_store(address, signed_config(), Arc::new(store)).await?)
}

/// Adds the etcd rows to `report`.
pub async fn measure(
    report: &mut Report,
    layout: &'static str,
    etcd: Option<&str>,
    rounds: usize,
    per_round: Duration,
) -> Result<(), BenchError> {
    let started = match etcd {
        Some(_) => None,
        None => Some(EtcdProcess::start()?),
    };
    let url = etcd.map_or_else(
        || started.as_ref().map(|p| p.url.clone()),
        |u| Some(u.to_owned()),
    );
    let url = url.ok_or("no etcd URL")?;
    let prefix = format!("/rendezvous-bench-{}/", std::process::id());

    let in_memory = Matchmaker::bind_with("127.0.0.1:0".parse()?, signed_config()).await?;
    let etcd_backed = etcd_matchmaker(&url, &prefix).await?;
    let other = etcd_matchmaker(&url, &prefix).await?;
    let at_memory = MatchmakerClient::connect(in_memory.local_addr())
        .await?
        .with_secret(Some(bench_secret()));
    let at_shared = MatchmakerClient::connect(etcd_backed.local_addr())
        .await?
        .with_secret(Some(bench_secret()));
    let at_other = MatchmakerClient::connect(other.local_addr())
        .await?
        .with_secret(Some(bench_secret()));

    // One registration to look up at each.
    let endpoint: SocketAddr = "127.0.0.1:9".parse()?;
    for client in [&at_memory, &at_shared] {
        client
            .register(specs("bench.lookup"), endpoint, Incarnation(1), LONG_TTL)
            .await?;
    }

    // Rounds alternate between the stores, so drifting load hits both alike.
    let (mut memory, mut shared) = (Figures::default(), Figures::default());
    for _ in 0..rounds {
        for (client, figures) in [(&at_memory, &mut memory), (&at_shared, &mut shared)] {
            figures
                .lookup
                .push(lookups(client, Instant::now() + per_round / 2).await?);
            let (register, renew) =
                registrations(client, endpoint, Instant::now() + per_round / 2).await?;
            figures.register.push(register);
            figures.renew.push(renew);
        }
    }
    for (what, memory, shared) in [
        ("lookup, etcd store", &memory.lookup, &shared.lookup),
        ("register, etcd store", &memory.register, &shared.register),
        ("renew, etcd store", &memory.renew, &shared.renew),
    ] {
        report.push(Row::latency(
            layout,
            what,
            "in-memory store",
            &Latency::median_of(memory),
            &Latency::median_of(shared),
        ));
    }

    report.visibility = Some(visibility(&at_shared, &at_other, endpoint).await?);

    etcd_backed.shutdown().await;
    other.shutdown().await;
    in_memory.shutdown().await;
    Ok(())
}

/// One store's latencies, a [`Latency`] per round.
#[derive(Default)]
struct Figures {
    lookup: Vec<Latency>,
    register: Vec<Latency>,
    renew: Vec<Latency>,
}

/// Lookups (which the matchmaker answers from memory or its cache) until
/// `end`.
async fn lookups(client: &MatchmakerClient, end: Instant) -> Result<Latency, BenchError> {
    let mut samples = Vec::new();
    while Instant::now() < end {
        let started = Instant::now();
        client.lookup("bench.lookup", None).await?;
        samples.push(started.elapsed());
    }
    Latency::of(samples)
}

/// Register, renew and unregister until `end`; the register and renew
/// latencies.
async fn registrations(
    client: &MatchmakerClient,
    endpoint: SocketAddr,
    end: Instant,
) -> Result<(Latency, Latency), BenchError> {
    let (mut register, mut renew) = (Vec::new(), Vec::new());
    while Instant::now() < end {
        let started = Instant::now();
        let lease = client
            .register(specs("bench.register"), endpoint, Incarnation(2), LONG_TTL)
            .await?;
        register.push(started.elapsed());
        let started = Instant::now();
        client.renew(lease.token).await?;
        renew.push(started.elapsed());
        client.unregister(lease.token).await?;
    }
    Ok((Latency::of(register)?, Latency::of(renew)?))
}

/// Median time from a register at one matchmaker returning to the
/// registration being found at the other (polled by lookups).
async fn visibility(
    at: &MatchmakerClient,
    elsewhere: &MatchmakerClient,
    endpoint: SocketAddr,
) -> Result<Duration, BenchError> {
    let mut samples = Vec::with_capacity(VISIBILITY_SAMPLES);
    for i in 0..VISIBILITY_SAMPLES {
        let name = format!("bench.visible_{i}");
        let lease = at
            .register(specs(&name), endpoint, Incarnation(3), LONG_TTL)
            .await?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        loop {
            if elsewhere.lookup(&name, None).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{name} did not reach the second matchmaker in 10 s").into());
            }
        }
        samples.push(started.elapsed());
        at.unregister(lease.token).await?;
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn specs(name: &str) -> Vec<ProcedureSpec> {
    vec![ProcedureSpec {
        signature_text: None,
        name: name.to_owned(),
        signature: Fingerprint(1),
    }]
}
