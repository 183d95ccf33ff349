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

/// How each call of a load ended, by id.
type Results = Vec<(u64, Result<u64, Error>)>;

/// One client calling `count` with ids `0..calls`, `in_flight` at a time.
#[derive(Debug)]
pub struct Load {
    completed: Arc<AtomicU64>,
    workers: Vec<rt::JoinHandle<Results>>,
}

impl Load {
    pub fn start(client: &Client, calls: u64, in_flight: usize) -> Load {
        let next = Arc::new(AtomicU64::new(0));
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
                        let result = count::remote_with(&client, id).await;
                        completed.fetch_add(1, Ordering::SeqCst);
                        results.push((id, result));
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
        let mut results = BTreeMap::new();
        for worker in self.workers {
            results.extend(worker.await);
        }
        results
    }
}
