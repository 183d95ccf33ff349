//! Turning timed loops into figures: percentiles, rates, medians of rounds.

use rendezvous_runtime::{self as rt, Instant};
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
        let mut each = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            each.push(Latency::of(round(Instant::now() + per_round).await?)?);
        }
        Ok(Latency::median_of(&each))
    }

    /// The percentiles of one round's samples.
    pub fn of(mut samples: Vec<Duration>) -> Result<Latency, BenchError> {
        if samples.is_empty() {
            return Err("a round finished no operation".into());
        }
        samples.sort();
        Ok(Latency {
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
        })
    }

    /// The median of each percentile over rounds.
    pub fn median_of(rounds: &[Latency]) -> Latency {
        let mut p50s: Vec<Duration> = rounds.iter().map(|l| l.p50).collect();
        let mut p99s: Vec<Duration> = rounds.iter().map(|l| l.p99).collect();
        Latency {
            p50: median(&mut p50s),
            p99: median(&mut p99s),
        }
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

impl Throughput {
    /// The median rate over rounds.
    pub fn median_of(rounds: &[Throughput]) -> Throughput {
        let mut rates: Vec<f64> = rounds.iter().map(|t| t.per_second).collect();
        rates.sort_by(f64::total_cmp);
        Throughput {
            per_second: rates[rates.len() / 2],
        }
    }
}

/// Runs `baseline` and `subject` (one round each) `rounds` times in turn,
/// so that load drifting over the run weighs on both alike; every round's
/// figure of each.
pub async fn alternating<T, U, B, S, BF, SF>(
    rounds: usize,
    mut baseline: B,
    mut subject: S,
) -> Result<(Vec<T>, Vec<U>), BenchError>
where
    B: FnMut() -> BF,
    S: FnMut() -> SF,
    BF: Future<Output = Result<T, BenchError>>,
    SF: Future<Output = Result<U, BenchError>>,
{
    let (mut baselines, mut subjects) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        baselines.push(baseline().await?);
        subjects.push(subject().await?);
    }
    Ok((baselines, subjects))
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}
