//! Rates over the last minute, for the status page: counters sampled
//! every few seconds, a rate being the growth since the oldest sample
//! within the window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window the page's rates are over.
pub(super) const WINDOW: Duration = Duration::from_secs(60);

/// How often the counters are sampled.
pub(super) const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Samples of some counters, in a fixed order, oldest first.
#[derive(Debug, Default)]
pub(super) struct History {
    samples: VecDeque<(Instant, Vec<u64>)>,
}

impl History {
    /// Whether a sample is due at `now`.
    pub(super) fn due(&self, now: Instant) -> bool {
        self.samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= SAMPLE_INTERVAL)
    }

    /// Keeps `values` as read at `now`, and drops samples no rate needs:
    /// all but the newest one at least [`WINDOW`] old.
    pub(super) fn record(&mut self, now: Instant, values: Vec<u64>) {
        self.samples.push_back((now, values));
        while self
            .samples
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Per minute, how fast each of `current` (read at `now`) grew since
    /// the oldest sample within the window (or since the first sample, if
    /// younger); zeros before there is a sample a second old.
    pub(super) fn per_minute(&self, now: Instant, current: &[u64]) -> Vec<f64> {
        let oldest = self
            .samples
            .iter()
            .find(|(at, _)| now.duration_since(*at) <= WINDOW)
            .or(self.samples.front());
        let Some((at, then)) = oldest else {
            return vec![0.0; current.len()];
        };
        let elapsed = now.duration_since(*at).as_secs_f64();
        if elapsed < 1.0 {
            return vec![0.0; current.len()];
        }
        current
            .iter()
            .enumerate()
            .map(|(i, now)| {
                let grown = now.saturating_sub(then.get(i).copied().unwrap_or(0));
                grown as f64 * 60.0 / elapsed
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_the_growth_over_the_window_per_minute() {
        let start = Instant::now();
        let mut history = History::default();
        assert!(history.due(start));
        history.record(start, vec![0, 10]);
        assert!(!history.due(start + Duration::from_secs(1)));
        assert_eq!(history.per_minute(start, &[5, 10]), [0.0, 0.0]);
        let later = start + Duration::from_secs(30);
        assert_eq!(history.per_minute(later, &[30, 10]), [60.0, 0.0]);
    }

    #[test]
    fn samples_older_than_the_window_stop_counting() {
        let start = Instant::now();
        let mut history = History::default();
        for step in 0..30u64 {
            history.record(start + SAMPLE_INTERVAL * step as u32, vec![step * 100]);
        }
        assert!(
            history.samples.len() <= (WINDOW.as_secs() / SAMPLE_INTERVAL.as_secs()) as usize + 2
        );
        let now = start + SAMPLE_INTERVAL * 29;
        // 100 per sample interval of 5 s: 1,200 a minute.
        let rate = history.per_minute(now, &[2_900])[0];
        assert!((rate - 1_200.0).abs() < 1e-9, "{rate}");
    }
}
