//! A load of `fault.count` calls, many in flight, for fault tests.

use super::procedures::count;
use crate::eventually;
use rendezvous_core::{Client, Error};
use rendezvous_runtime as rt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long [`Load::reach`] waits at most: far beyond need.
const PATIENCE: Duration = Duration::from_secs(60);

/// How each call of a load ended, by id, and when it began.
type Results = Vec<(u64, rt::Instant, Result<u64, Error>)>;

/// One client calling `count` with ids `0..calls`, `in_flight` at a time.
#[derive(Debug)]
pub struct Load {
    completed: Arc<AtomicU64>,
    workers: Vec<rt::JoinHandle<Results>>,
}

impl Load {
    pub fn start(client: &Client, calls: u64, in_flight: usize) -> Load {
        Load::start_from(client, 0, calls, in_flight)
    }

    /// The same with ids `first..first + calls`.
    pub fn start_from(client: &Client, first: u64, calls: u64, in_flight: usize) -> Load {
        let calls = first + calls;
        let next = Arc::new(AtomicU64::new(first));
        let completed = Arc::new(AtomicU64::new(0));
        let workers = (0..in_flight)
            .map(|_| {
                let (client, next, completed) = (client.clone(), next.clone(), completed.clone());
                rt::spawn(async move {
                    let mut results = Vec::new();
                    loop {
                        let id = next.fetch_add(1, Ordering::SeqCst);
                        if id >= calls {
                            return results;
                        }
                        let began = rt::Instant::now();
                        let result = count::remote_with(&client, id).await;
                        completed.fetch_add(1, Ordering::SeqCst);
                        results.push((id, began, result));
                    }
                })
            })
            .collect();
        Load { completed, workers }
    }

    /// Calls completed so far.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::SeqCst)
    }

    /// Waits until `n` calls have completed; false if they never do.
    pub async fn reach(&self, n: u64) -> bool {
        eventually(PATIENCE, Duration::from_millis(1), || async {
            (self.completed() >= n).then_some(())
        })
        .await
        .is_some()
    }

    /// Waits for every call; how each ended, by id.
    pub async fn finish(self) -> BTreeMap<u64, Result<u64, Error>> {
        let timed = self.finish_timed().await;
        timed
            .into_iter()
            .map(|(id, (_, result))| (id, result))
            .collect()
    }

    /// Waits for every call; when each began and how it ended, by id.
    pub async fn finish_timed(self) -> BTreeMap<u64, (rt::Instant, Result<u64, Error>)> {
        let mut results = BTreeMap::new();
        for worker in self.workers {
            for (id, began, result) in worker.await {
                results.insert(id, (began, result));
            }
        }
        results
    }
}
