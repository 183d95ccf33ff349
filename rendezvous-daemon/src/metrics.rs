//! The matchmaker's `/metrics` and status page ([`Matchmaker::serve_metrics`],
//! `rendezvous-daemon --metrics ADDR`): its responder's metrics, plus
//! lookups, registrations and leases, refusals at the limits and the
//! gatekeeper, and its store's health (etcd round trips and outages); a
//! page with every name, its endpoints and leases, the rates of requests
//! and refusals over the last minute, and the store's health.
//!
//! [`Matchmaker::serve_metrics`]: crate::Matchmaker::serve_metrics

use crate::service::Shared;
use crate::store::LIST_PAGE_BYTES;
use rendezvous_core::protocol::matchmaker::Registration;
use rendezvous_core::server::ResponderWatch;
use rendezvous_core::server::metrics::page::{self, escape};
use rendezvous_core::server::metrics::prometheus_client::collector::Collector;
use rendezvous_core::server::metrics::prometheus_client::encoding::DescriptorEncoder;
use rendezvous_core::server::metrics::prometheus_client::metrics::MetricType;
use rendezvous_core::server::metrics::{
    Registry, ResponderMetrics, StatusPage, counter, family, gauge,
};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// The registry `/metrics` writes: the responder's families and the
/// matchmaker's own.
pub(crate) fn registry(watch: ResponderWatch, state: Shared) -> Registry {
    let mut registry = Registry::default();
    let counted = state.clone();
    let refusals = ResponderMetrics::new(watch).with_refusals(Box::new(move || {
        vec![
            ("limits", counted.counts.limits.load(Ordering::Relaxed)),
            (
                "unauthenticated",
                counted.counts.unauthenticated.load(Ordering::Relaxed),
            ),
        ]
    }));
    registry.register_collector(Box::new(refusals));
    registry.register_collector(Box::new(MatchmakerMetrics { state }));
    registry
}

#[derive(Debug)]
struct MatchmakerMetrics {
    state: Shared,
}

impl Collector for MatchmakerMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let counts = &self.state.counts;
        let store = self.state.store.counts();
        let health = self.state.store.health();
        let e = &mut encoder;
        counter(
            e,
            "rendezvous_lookups",
            "Lookups answered, found or not.",
            counts.lookups.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "rendezvous_registrations_granted",
            "Registrations granted (one lease each).",
            counts.registered.load(Ordering::Relaxed),
        )?;
        gauge(
            e,
            "rendezvous_registrations",
            "Registrations held now (rows of list).",
            store.registrations as u64,
        )?;
        gauge(
            e,
            "rendezvous_leases",
            "Live leases now (servers registered).",
            store.leases as u64,
        )?;
        let labels: &[(&str, &str)] = &[("store", health.kind)];
        family(
            e,
            "rendezvous_store_reachable",
            "1 while the store answers (always for memory), 0 while etcd is unreachable.",
            MetricType::Gauge,
            &[(labels, u64::from(health.reachable))],
        )?;
        if health.kind == "etcd" {
            counter(
                e,
                "rendezvous_etcd_round_trips",
                "Requests sent to etcd, retries included.",
                health.round_trips,
            )?;
            counter(
                e,
                "rendezvous_etcd_outages",
                "Times etcd became unreachable.",
                health.outages,
            )?;
        }
        Ok(())
    }
}

/// The status page at `/`.
pub(crate) struct Page {
    pub(crate) address: SocketAddr,
    pub(crate) watch: ResponderWatch,
    pub(crate) state: Shared,
}

impl Page {
    /// Every registration, page after page, straight from the store.
    fn registrations(&self) -> Vec<Registration> {
        let (mut all, mut after) = (Vec::new(), None);
        while let Ok(page) = self.state.store.list(after, LIST_PAGE_BYTES) {
            all.extend(page.registrations);
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        all
    }
}

impl StatusPage for Page {
    /// Requests, lookups, registrations granted, refusals.
    fn counters(&self) -> Vec<u64> {
        let stats = self.watch.stats();
        let counts = &self.state.counts;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        vec![
            stats.executed,
            get(&counts.lookups),
            get(&counts.registered),
            stats.overloaded
                + stats.amplification_refused
                + get(&counts.limits)
                + get(&counts.unauthenticated),
        ]
    }

    fn render(&self, per_minute: &[f64]) -> String {
        let health = self.state.store.health();
        let counts = self.state.store.counts();
        let rate = |i: usize| page::rate(per_minute.get(i).copied().unwrap_or(0.0));
        let (class, word) = if health.reachable {
            ("ok", "reachable")
        } else {
            (
                "bad",
                "UNREACHABLE: lookups answer from the cache, registrations are refused",
            )
        };
        let mut body = format!(
            "<p>Matchmaker at <b>{}</b>, up {} s. Store: <b>{}</b> <span class=\"{class}\">{word}</span>. \
             Leases: {}. Registrations: {}.</p>",
            escape(&self.address.to_string()),
            self.watch.uptime().as_secs(),
            escape(health.kind),
            counts.leases,
            counts.registrations,
        );
        body.push_str("<h2>Last minute</h2>");
        body.push_str(&page::table(
            &["requests", "lookups", "registrations granted", "refusals"],
            &[vec![rate(0), rate(1), rate(2), rate(3)]],
        ));
        body.push_str("<h2>Registrations</h2>");
        let rows: Vec<Vec<String>> = self
            .registrations()
            .into_iter()
            .map(|r| {
                vec![
                    r.name,
                    r.endpoint.to_string(),
                    format!("{:016x}", r.incarnation),
                    format!("{:.1} s", r.ttl_ms as f64 / 1000.0),
                    r.signature_text.unwrap_or_else(|| r.signature.to_string()),
                ]
            })
            .collect();
        if rows.is_empty() {
            body.push_str("<p>No server is registered.</p>");
        } else {
            body.push_str(&page::table(
                &["name", "endpoint", "incarnation", "lease left", "signature"],
                &rows,
            ));
        }
        page::document("rendezvous matchmaker", &body)
    }
}
