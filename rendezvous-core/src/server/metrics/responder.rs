//! What every responder exports: read from its counters at each scrape.

use crate::server::ResponderWatch;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// More kinds of refusal for `rendezvous_refusals_total`, read at each
/// scrape (the matchmaker's: `limits`, `unauthenticated`).
pub type ExtraRefusals = Box<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// The responder's metrics (names and meanings in README, *Operating*).
pub struct ResponderMetrics {
    watch: ResponderWatch,
    extra_refusals: Option<ExtraRefusals>,
}

impl std::fmt::Debug for ResponderMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderMetrics")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl ResponderMetrics {
    pub fn new(watch: ResponderWatch) -> ResponderMetrics {
        ResponderMetrics {
            watch,
            extra_refusals: None,
        }
    }

    /// Adds kinds of refusal counted outside the responder.
    pub fn with_refusals(mut self, extra: ExtraRefusals) -> ResponderMetrics {
        self.extra_refusals = Some(extra);
        self
    }
}

/// Writes one metric family: `name` with `help`, one sample per set of
/// labels ([`counter`] and [`gauge`] write one without labels).
pub fn family(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    samples: &[(&[(&str, &str)], u64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in samples {
        let labels: Vec<(&str, &str)> = labels.to_vec();
        sample(kind, *value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn sample(kind: MetricType, value: u64, encoder: MetricEncoder<'_>) -> std::fmt::Result {
    match kind {
        MetricType::Counter => ConstCounter::new(value).encode(encoder),
        _ => ConstGauge::new(value).encode(encoder),
    }
}

/// A family of one counter without labels.
pub fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    sample(MetricType::Counter, value, metric)
}

/// A family of one gauge without labels.
pub fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    sample(MetricType::Gauge, value, metric)
}

impl Collector for ResponderMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let stats = self.watch.stats();
        let calls = self.watch.calls();
        let mut by_outcome = Vec::new();
        for (name, counts) in &calls {
            for (outcome, count) in counts.by_outcome() {
                by_outcome.push(([("procedure", name.as_str()), ("outcome", outcome)], count));
            }
        }
        let samples: Vec<(&[(&str, &str)], u64)> = by_outcome
            .iter()
            .map(|(labels, count)| (&labels[..], *count))
            .collect();
        family(
            &mut encoder,
            "rendezvous_calls",
            "Calls run, by procedure and how they ended.",
            MetricType::Counter,
            &samples,
        )?;
        let mut refusals = vec![
            ("overloaded", stats.overloaded),
            ("amplification", stats.amplification_refused),
        ];
        if let Some(extra) = &self.extra_refusals {
            refusals.extend(extra());
        }
        let labels: Vec<[(&str, &str); 1]> =
            refusals.iter().map(|(kind, _)| [("kind", *kind)]).collect();
        let samples: Vec<(&[(&str, &str)], u64)> = labels
            .iter()
            .zip(&refusals)
            .map(|(labels, (_, count))| (&labels[..], *count))
            .collect();
        family(
            &mut encoder,
            "rendezvous_refusals",
            "Requests refused before running, by kind: overloaded (no room to run or record it), amplification (the answer would exceed 3x the request), and the matchmaker's limits and unauthenticated.",
            MetricType::Counter,
            &samples,
        )?;
        let counters = [
            (
                "rendezvous_duplicates_replayed",
                "Duplicates of finished calls answered from the reply cache, not run again.",
                stats.replayed,
            ),
            (
                "rendezvous_retransmissions_seen",
                "Copies of calls seen before (of calls running, finished, forgotten or evicted); none ran anything.",
                stats.duplicates,
            ),
            (
                "rendezvous_acks_sent",
                "Separate acknowledgments sent (calls running longer than the ACK delay, or duplicates of running calls).",
                stats.acks,
            ),
            (
                "rendezvous_reply_cache_evictions",
                "Replies evicted from the reply cache by its memory cap.",
                stats.evictions,
            ),
            (
                "rendezvous_malformed",
                "Datagrams that did not decode.",
                stats.malformed,
            ),
            (
                "rendezvous_cancelled",
                "Calls cancelled at their caller's deadline.",
                stats.cancelled,
            ),
            (
                "rendezvous_datagrams_received",
                "Datagrams received (one may carry several calls).",
                stats.datagrams_received,
            ),
            (
                "rendezvous_datagrams_sent",
                "Datagrams sent (one may carry several answers).",
                stats.datagrams_sent,
            ),
        ];
        for (name, help, value) in counters {
            counter(&mut encoder, name, help, value)?;
        }
        gauge(
            &mut encoder,
            "rendezvous_reply_cache_bytes",
            "Memory the reply cache holds now.",
            stats.reply_cache_bytes,
        )?;
        let uptime = self.watch.uptime().as_secs();
        gauge(
            &mut encoder,
            "rendezvous_uptime_seconds",
            "Seconds since this responder bound its socket.",
            uptime,
        )
    }
}
