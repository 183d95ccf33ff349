//! Calls under load: servers of [`COUNT`] in this process that count each
//! execution, clients calling it in a loop with ids of their own, and the
//! check that every call ran exactly once.

use crate::support::{PATIENCE, SERVER_TTL};
use rendezvous_core::matchmaker::Secret;
use rendezvous_core::server::Procedure;
use rendezvous_core::{Client, Error, Fingerprint, RemoteProcedure, Server};
use rendezvous_runtime as rt;
use rendezvous_tests::eventually;
use rendezvous_tests::secret::TEST_SECRET;
use rendezvous_tests::sync::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The procedure the servers here serve: returns its argument, and counts
/// each execution.
pub(crate) const COUNT: RemoteProcedure = RemoteProcedure {
    name: "etcd.count",
    signature: Fingerprint::of("etcd.count(u64)->u64"),
    idempotent: false,
};

/// Each execution of [`COUNT`] at one server, by id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Executions(Arc<Mutex<BTreeMap<u64, u64>>>);

impl Executions {
    fn record(&self, id: u64) {
        *lock(&self.0).entry(id).or_insert(0) += 1;
    }

    fn by_id(&self) -> BTreeMap<u64, u64> {
        lock(&self.0).clone()
    }

    fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }
}

/// A server of [`COUNT`] in this process, registering and renewing through
/// `matchmakers`; it counts what it runs in `executions`.
pub(crate) async fn start_server(matchmakers: &[SocketAddr], executions: &Executions) -> Server {
    let executions = executions.clone();
    let count = Procedure::typed(COUNT.name, COUNT.signature, move |(id,): (u64,), _| {
        executions.record(id);
        async move { id }
    });
    Server::builder()
        .matchmakers(matchmakers.iter().copied())
        .linked_procedures(false)
        .procedure(count)
        .lease_ttl(SERVER_TTL)
        .secret(Secret::new(TEST_SECRET).expect("a long enough secret"))
        .start()
        .await
        .expect("start a server")
}

/// How one call of a [`Load`] ended: its id, and what it returned.
pub(crate) type Outcome = (u64, Result<u64, Error>);

/// Clients calling [`COUNT`] in a loop, `workers` calls in flight, each
/// with an id of its own, until stopped.
pub(crate) struct Load {
    pub(crate) client: Client,
    stop: Arc<AtomicBool>,
    completed: Arc<AtomicU64>,
    workers: Vec<rt::JoinHandle<Vec<Outcome>>>,
}

impl Load {
    pub(crate) fn start(client: Client, workers: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicU64::new(0));
        let completed = Arc::new(AtomicU64::new(0));
        let workers = (0..workers)
            .map(|_| {
                let (client, stop, next, completed) = (
                    client.clone(),
                    stop.clone(),
                    next.clone(),
                    completed.clone(),
                );
                rt::spawn(async move {
                    let mut results = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        let result = client.call::<_, u64>(&COUNT, &(id,)).await;
                        results.push((id, result));
                        completed.fetch_add(1, Ordering::SeqCst);
                    }
                    results
                })
            })
            .collect();
        Load {
            client,
            stop,
            completed,
            workers,
        }
    }

    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::SeqCst)
    }

    /// Waits until `n` calls have completed in all.
    pub(crate) async fn reach(&self, n: u64) -> bool {
        eventually(PATIENCE, Duration::from_millis(1), || async {
            (self.completed() >= n).then_some(())
        })
        .await
        .is_some()
    }

    /// Stops the loops; how each call ended, by id.
    pub(crate) async fn stop(self) -> BTreeMap<u64, Result<u64, Error>> {
        self.stop.store(true, Ordering::SeqCst);
        let mut results = BTreeMap::new();
        for worker in self.workers {
            results.extend(worker.await);
        }
        results
    }
}

/// Asserts that every call returned its own id, and that the servers
/// together ran each call exactly once and nothing else.
pub(crate) fn assert_each_call_ran_once(
    results: &BTreeMap<u64, Result<u64, Error>>,
    servers: &[&Executions],
) {
    let failed: Vec<String> = results
        .iter()
        .filter(|(id, result)| !matches!(result, Ok(echo) if echo == *id))
        .map(|(id, result)| format!("count({id}) -> {result:?}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:#?}",
        failed.len(),
        results.len()
    );
    let mut runs: BTreeMap<u64, u64> = BTreeMap::new();
    for server in servers {
        for (id, n) in server.by_id() {
            *runs.entry(id).or_insert(0) += n;
        }
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "calls ran more than once: {twice:?}");
    let called: BTreeSet<u64> = results.keys().copied().collect();
    let ran: BTreeSet<u64> = runs.keys().copied().collect();
    assert_eq!(
        ran, called,
        "the calls that ran are not the calls that completed"
    );
    let executions: u64 = servers.iter().map(|server| server.total()).sum();
    assert_eq!(
        executions,
        results.len() as u64,
        "executions != calls completed"
    );
}
