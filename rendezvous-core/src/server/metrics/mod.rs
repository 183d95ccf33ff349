//! `/metrics` in the Prometheus text format, and a status page, over HTTP
//! (the `metrics` feature): [`MetricsHttp`] serves them from a
//! [`Registry`] and a [`StatusPage`]; [`ResponderMetrics`] is what every
//! responder exports (a server's calls by procedure and outcome,
//! duplicates, ACKs, the reply cache, refusals); [`page`] has the HTML
//! pieces both the servers' page and the matchmaker's are made of.
//!
//! Metrics are read when scraped, from the counters the responder keeps
//! anyway ([`ResponderStats`](super::ResponderStats), each procedure's
//! [`CallCounts`](super::CallCounts)): nothing is added to a call's path
//! for them. The text format is `prometheus-client`'s (OpenMetrics text,
//! which Prometheus reads), never written by hand here.
//!
//! The HTTP server is `tiny_http`, blocking, on a thread of its own: the
//! runtime is async-std, an exporter answers a scrape every few seconds,
//! and a thread keeps it off the executor that answers calls.

mod http;
pub mod page;
mod rates;
mod responder;
mod server_page;

pub use http::{MetricsHttp, StatusPage};
pub use prometheus_client;
pub use prometheus_client::registry::Registry;
pub use responder::{ExtraRefusals, ResponderMetrics, counter, family, gauge};
pub(crate) use server_page::ServerPage;
