//! The subject: an embedded matchmaker, a server and a client, calling
//! through generated proxies with cached endpoints.

use crate::measure::BenchError;
use crate::report::Memory;
use rendezvous_core::{Client, Server, procedure};
use rendezvous_daemon::{Matchmaker, MatchmakerConfig};
use rendezvous_runtime::{self as rt, Instant};
use std::time::Duration;

/// Four integers: the small call (32 bytes of arguments).
#[procedure(name = "bench.add4")]
pub async fn add4(a: i64, b: i64, c: i64, d: i64) -> i64 {
    a.wrapping_add(b).wrapping_add(c).wrapping_add(d)
}

/// A byte buffer there and back: the large call. Written `Vec<u8>`, as a
/// user would, so it travels as a byte string through the macro's own
/// path (and is decoded into the buffer it arrived in).
#[procedure(name = "bench.echo")]
pub async fn echo(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

pub struct Subject {
    matchmaker: Matchmaker,
    server: Server,
    client: Client,
}

/// The client's calls and the datagrams they took: how a throughput row's
/// calls were batched, and whether any had to be sent again.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    pub transmissions: u64,
    pub retransmissions: u64,
    pub datagrams: u64,
}

impl Traffic {
    /// What was sent between `earlier` and `self`.
    pub fn since(self, earlier: Traffic) -> Traffic {
        Traffic {
            transmissions: self.transmissions - earlier.transmissions,
            retransmissions: self.retransmissions - earlier.retransmissions,
            datagrams: self.datagrams - earlier.datagrams,
        }
    }

    pub fn calls_per_datagram(&self) -> f64 {
        self.transmissions as f64 / self.datagrams.max(1) as f64
    }
}

/// Which call a measurement makes.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// `add4`: 32 bytes of integer arguments.
    Small,
    /// `echo` of a byte buffer of this many bytes.
    Large(usize),
}

impl Subject {
    /// All three in this process; `spin`: the spin before sleeping of all
    /// three, if not each one's default.
    pub async fn start(spin: Option<Duration>) -> Result<Subject, BenchError> {
        let mut config = MatchmakerConfig::default();
        let mut server = Server::builder();
        let mut client = Client::builder();
        if let Some(spin) = spin {
            config.responder.spin = spin;
            server = server.spin(spin);
            client = client.spin(spin);
        }
        let matchmaker = Matchmaker::bind_with("127.0.0.1:0".parse()?, config).await?;
        let server = server.matchmaker(matchmaker.local_addr()).start().await?;
        let client = client.matchmaker(matchmaker.local_addr()).build()?;
        // Warm the endpoint cache: the measured calls find it cached.
        add4::remote_with(&client, 1, 2, 3, 4).await?;
        echo::remote_with(&client, vec![0u8; 8]).await?;
        Ok(Subject {
            matchmaker,
            server,
            client,
        })
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Matchmaker lookups per call made so far (0 in steady state).
    pub fn matchmaker_datagrams_per_call(&self) -> f64 {
        let stats = self.client.stats();
        stats.lookups as f64 / stats.transmissions.max(1) as f64
    }

    /// What the client has sent so far.
    pub fn sent(&self) -> Traffic {
        let stats = self.client.stats();
        Traffic {
            transmissions: stats.transmissions,
            retransmissions: stats.retransmissions,
            datagrams: stats.datagrams,
        }
    }

    /// What the client and the server sent and received so far, for
    /// `--profile`: how calls were batched, and whether any was sent again.
    pub fn traffic(&self) -> String {
        let (client, server) = (self.client.stats(), self.server.stats());
        format!(
            "client: {} transmissions ({} retransmitted) in {} datagrams, {} read spinning; server: {} datagrams in, {} out, {} read spinning",
            client.transmissions,
            client.retransmissions,
            client.datagrams,
            client.datagrams_spun,
            server.datagrams_received,
            server.datagrams_sent,
            server.datagrams_spun
        )
    }

    /// Process memory (server, client and matchmaker: one process) before
    /// and after `calls` small calls.
    pub async fn memory_over(&self, calls: u64, in_flight: usize) -> Result<Memory, BenchError> {
        let before = rss_bytes();
        let per_worker = calls / in_flight as u64;
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = self.client();
                rt::spawn(async move {
                    for i in 0..per_worker as i64 {
                        add4::remote_with(&client, i, 1, 2, 3).await?;
                    }
                    Ok::<u64, BenchError>(per_worker)
                })
            })
            .collect();
        let mut made = 0;
        for task in tasks {
            made += task.await?;
        }
        Ok(Memory {
            calls: made,
            before_bytes: before,
            after_bytes: rss_bytes(),
            reply_cache_bytes: self.server.stats().reply_cache_bytes,
        })
    }

    pub async fn stop(self) {
        self.server.shutdown().await;
        self.matchmaker.shutdown().await;
    }
}

/// Calls of `kind` until `deadline`; returns each one's duration.
pub async fn sample(
    client: Client,
    kind: Kind,
    deadline: Instant,
) -> Result<Vec<Duration>, BenchError> {
    // The buffer echoed back is sent again: no copy per call, as the raw
    // echo reuses its buffer.
    let mut payload = match kind {
        Kind::Large(size) => vec![7u8; size],
        Kind::Small => Vec::new(),
    };
    let mut samples = Vec::new();
    let mut i = 0i64;
    while Instant::now() < deadline {
        let started = Instant::now();
        match kind {
            Kind::Small => {
                let sum = add4::remote_with(&client, i, 1, 2, 3).await?;
                if sum != i + 6 {
                    return Err(format!("add4 returned {sum}, not {}", i + 6).into());
                }
            }
            Kind::Large(size) => {
                payload = echo::remote_with(&client, std::mem::take(&mut payload)).await?;
                if payload.len() != size {
                    return Err(format!("echo returned {} bytes, not {size}", payload.len()).into());
                }
            }
        }
        samples.push(started.elapsed());
        i += 1;
    }
    Ok(samples)
}

/// Calls of `kind` until `deadline`; returns how many.
pub async fn count(client: Client, kind: Kind, deadline: Instant) -> Result<u64, BenchError> {
    Ok(sample(client, kind, deadline).await?.len() as u64)
}

/// Matchmaker lookups (bypassing the client's cache) until `deadline`.
pub async fn lookups(client: Client, deadline: Instant) -> Result<Vec<Duration>, BenchError> {
    let matchmaker = client.matchmaker();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let found = matchmaker.lookup(add4::NAME, Some(add4::SIGNATURE)).await?;
        if found.is_empty() {
            return Err("the lookup found no endpoint".into());
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Resident set size of this process, from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
