//! A server's status page: what it serves, how its calls ended and how
//! fast they come, over the last minute.

use super::http::StatusPage;
use super::page::{self, escape};
use crate::server::ResponderWatch;
use std::net::SocketAddr;

/// The page of the server at `address`.
pub(crate) struct ServerPage {
    pub(crate) address: SocketAddr,
    pub(crate) watch: ResponderWatch,
}

impl StatusPage for ServerPage {
    /// Each procedure's calls (in name order), then refusals as
    /// overloaded, then duplicates seen.
    fn counters(&self) -> Vec<u64> {
        let stats = self.watch.stats();
        let mut counters: Vec<u64> = self
            .watch
            .calls()
            .iter()
            .map(|(_, counts)| counts.total())
            .collect();
        counters.extend([stats.overloaded, stats.duplicates]);
        counters
    }

    fn render(&self, per_minute: &[f64]) -> String {
        let stats = self.watch.stats();
        let calls = self.watch.calls();
        let rate = |i: usize| page::rate(per_minute.get(i).copied().unwrap_or(0.0));
        let rows: Vec<Vec<String>> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, counts))| {
                vec![
                    name.clone(),
                    rate(i),
                    counts.returned.to_string(),
                    (counts.total() - counts.returned).to_string(),
                ]
            })
            .collect();
        let mut body = format!(
            "<p>Server at <b>{}</b>, up {} s. Reply cache: {} bytes.</p>",
            escape(&self.address.to_string()),
            self.watch.uptime().as_secs(),
            stats.reply_cache_bytes,
        );
        body.push_str("<h2>Procedures</h2>");
        body.push_str(&page::table(
            &["procedure", "calls", "returned", "failed"],
            &rows,
        ));
        body.push_str("<h2>Last minute</h2>");
        body.push_str(&page::table(
            &["refused as overloaded", "duplicates seen"],
            &[vec![rate(calls.len()), rate(calls.len() + 1)]],
        ));
        page::document("rendezvous server", &body)
    }
}
