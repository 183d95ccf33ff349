//! Turning timed loops into figures: percentiles, rates, medians of rounds.

use rendezvous_core::rt::{self, Instant};
use std::future::Future;
use std::time::Duration;

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Latency percentiles of one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
}

impl Latency {
    /// Runs `round` (which returns its samples) `rounds` times; the median
    /// of each percentile over the rounds.
    pub async fn median<F, Fut>(
        rounds: usize,
        per_round: Duration,
        mut round: F,
    ) -> Result<Latency, BenchError>
    where
        F: FnMut(Instant) -> Fut,
        Fut: Future<Output = Result<Vec<Duration>, BenchError>>,
    {
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for _ in 0..rounds {
            let mut samples = round(Instant::now() + per_round).await?;
            if samples.is_empty() {
                return Err("a round finished no operation".into());
            }
            samples.sort();
            p50s.push(percentile(&samples, 0.50));
            p99s.push(percentile(&samples, 0.99));
        }
        Ok(Latency {
            p50: median(&mut p50s),
            p99: median(&mut p99s),
        })
    }
}

/// Completed operations per second of one measurement.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    pub per_second: f64,
}

impl Throughput {
    /// Runs `workers` copies of `worker` (each counting its operations until
    /// the deadline it is given) as separate tasks, `rounds` times; the
    /// median rate over the rounds.
    pub async fn median<F, Fut>(
        rounds: usize,
        per_round: Duration,
        workers: usize,
        worker: F,
    ) -> Result<Throughput, BenchError>
    where
        F: Fn(Instant) -> Fut,
        Fut: Future<Output = Result<u64, BenchError>> + Send + 'static,
    {
        let mut rates = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let deadline = started + per_round;
            let tasks: Vec<_> = (0..workers).map(|_| rt::spawn(worker(deadline))).collect();
            let mut total = 0;
            for task in tasks {
                total += task.await?;
            }
            rates.push(total as f64 / started.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        Ok(Throughput {
            per_second: rates[rates.len() / 2],
        })
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}
