//! When to retransmit and when to give up: the one retry policy.
//!
//! Every request in rendezvous — a matchmaker lookup, a registration, a user
//! call — is retransmitted under a [`RetryPolicy`] until its reply arrives or
//! its deadline passes. The first timeout adapts to the measured round-trip
//! time (Jacobson/Karels, sampled per Karn: only from calls answered on their
//! first transmission), then backs off exponentially with jitter up to a cap.
//! Once the server acknowledges a call, the client only probes, at
//! [`RetryPolicy::acked_probe`], so a slow procedure is not re-sent at full rate.
//!
//! Every wait that grows with repetition uses the one formula,
//! [`RetryPolicy::backoff`]: retransmission timeouts, the pauses before a
//! call goes back to an overloaded server or an endpoint it already tried,
//! and the lease keeper's retries. Each is jittered, so that clients that
//! failed together do not retry together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a call waits by default before giving up.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Retransmission timers and the overall deadline.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// First timeout while no round trip has been measured yet.
    pub initial_timeout: Duration,
    /// Floor of the adaptive timeout.
    pub min_timeout: Duration,
    /// Cap of the timeout after backoff.
    pub max_timeout: Duration,
    /// Each repetition multiplies the wait by this factor (see
    /// [`RetryPolicy::backoff`]).
    pub multiplier: u32,
    /// Each timeout is scaled by a random factor in `1 ± jitter`.
    pub jitter: f64,
    /// After an acknowledgment, probe at this interval (backing off to the cap).
    pub acked_probe: Duration,
    /// Overall time a request may take, from its first transmission.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_timeout: Duration::from_millis(100),
            min_timeout: Duration::from_millis(20),
            max_timeout: Duration::from_secs(2),
            multiplier: 2,
            jitter: 0.2,
            acked_probe: Duration::from_millis(500),
            deadline: DEFAULT_DEADLINE,
        }
    }
}

impl RetryPolicy {
    /// The same policy with another deadline.
    pub fn with_deadline(&self, deadline: Duration) -> RetryPolicy {
        RetryPolicy {
            deadline,
            ..self.clone()
        }
    }

    /// The timeout before retransmission number `retry` (0 = first send).
    pub(crate) fn timeout(&self, rtt: &RttEstimator, retry: u32, acked: bool) -> Duration {
        let first = if acked {
            self.acked_probe
        } else {
            rtt.timeout().unwrap_or(self.initial_timeout)
        }
        .clamp(self.min_timeout, self.max_timeout);
        self.backoff(first, retry, self.max_timeout)
    }

    /// The one backoff formula: the wait before repetition number `step`
    /// (0 = the first) is `first` times [`RetryPolicy::multiplier`] to the
    /// power `step`, at most `cap`, scaled by a random factor in
    /// `1 ± jitter`.
    pub fn backoff(&self, first: Duration, step: u32, cap: Duration) -> Duration {
        let factor = self.multiplier.max(1).saturating_pow(step.min(16));
        let backed_off = first.saturating_mul(factor).min(cap);
        let jitter = self.jitter.clamp(0.0, 1.0);
        backed_off.mul_f64(1.0 + jitter * (2.0 * fastrand::f64() - 1.0))
    }
}

/// Smoothed round-trip time and its variance, shared by all calls of one
/// client. Updates race benignly: it is an estimate.
#[derive(Debug, Default)]
pub(crate) struct RttEstimator {
    srtt_nanos: AtomicU64,
    rttvar_nanos: AtomicU64,
}

impl RttEstimator {
    pub(crate) fn observe(&self, sample: Duration) {
        let sample = sample.as_nanos().min(u64::MAX as u128) as u64;
        let srtt = self.srtt_nanos.load(Ordering::Relaxed);
        if srtt == 0 {
            self.srtt_nanos.store(sample.max(1), Ordering::Relaxed);
            self.rttvar_nanos.store(sample / 2, Ordering::Relaxed);
            return;
        }
        let rttvar = self.rttvar_nanos.load(Ordering::Relaxed);
        let error = srtt.abs_diff(sample);
        self.rttvar_nanos
            .store(rttvar - rttvar / 4 + error / 4, Ordering::Relaxed);
        self.srtt_nanos
            .store((srtt - srtt / 8 + sample / 8).max(1), Ordering::Relaxed);
    }

    /// srtt + 4 * rttvar, once a sample exists.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        let srtt = self.srtt_nanos.load(Ordering::Relaxed);
        let rttvar = self.rttvar_nanos.load(Ordering::Relaxed);
        (srtt != 0).then(|| Duration::from_nanos(srtt.saturating_add(rttvar.saturating_mul(4))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_jitter() -> RetryPolicy {
        RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn first_timeout_is_the_initial_one_until_a_round_trip_is_measured() {
        let rtt = RttEstimator::default();
        assert_eq!(
            no_jitter().timeout(&rtt, 0, false),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn timeouts_back_off_exponentially_up_to_the_cap() {
        let rtt = RttEstimator::default();
        let policy = no_jitter();
        let timeouts: Vec<_> = (0..8).map(|n| policy.timeout(&rtt, n, false)).collect();
        assert_eq!(timeouts[1], Duration::from_millis(200));
        assert_eq!(timeouts[2], Duration::from_millis(400));
        assert_eq!(timeouts[7], policy.max_timeout);
    }

    #[test]
    fn measured_round_trips_set_the_timeout_above_the_floor() {
        let rtt = RttEstimator::default();
        for _ in 0..20 {
            rtt.observe(Duration::from_millis(30));
        }
        let timeout = no_jitter().timeout(&rtt, 0, false);
        assert!(timeout >= Duration::from_millis(30), "{timeout:?}");
        assert!(timeout < Duration::from_millis(100), "{timeout:?}");
        rtt.observe(Duration::from_micros(10));
        assert!(no_jitter().timeout(&rtt, 0, false) >= no_jitter().min_timeout);
    }

    #[test]
    fn acknowledged_calls_are_probed_slowly() {
        let rtt = RttEstimator::default();
        rtt.observe(Duration::from_millis(1));
        let policy = no_jitter();
        assert_eq!(policy.timeout(&rtt, 0, true), policy.acked_probe);
        assert!(policy.timeout(&rtt, 0, true) > policy.timeout(&rtt, 0, false));
    }

    #[test]
    fn backoff_multiplies_per_step_up_to_its_cap() {
        let policy = no_jitter();
        let first = Duration::from_millis(30);
        let cap = Duration::from_millis(200);
        let waits: Vec<_> = (0..5).map(|n| policy.backoff(first, n, cap)).collect();
        assert_eq!(waits[0], first);
        assert_eq!(waits[1], Duration::from_millis(60));
        assert_eq!(waits[2], Duration::from_millis(120));
        assert_eq!(waits[3], cap);
        assert_eq!(policy.backoff(first, u32::MAX, cap), cap, "no overflow");
    }

    #[test]
    fn backoff_is_jittered_around_its_value() {
        let policy = RetryPolicy::default();
        let (first, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<_> = (0..200).map(|_| policy.backoff(first, 0, cap)).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_millis(80) && *w <= Duration::from_millis(120))
        );
        assert!(
            waits.iter().any(|w| *w != waits[0]),
            "jitter varies the waits"
        );
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        let rtt = RttEstimator::default();
        let policy = RetryPolicy::default();
        for _ in 0..1000 {
            let t = policy.timeout(&rtt, 0, false);
            assert!(
                t >= Duration::from_millis(80) && t <= Duration::from_millis(120),
                "{t:?}"
            );
        }
    }
}
