//! The HTTP endpoint: `/metrics` and `/`, on a `tiny_http` server and a
//! thread of its own that also samples the page's counters.

use super::rates::{History, SAMPLE_INTERVAL};
use prometheus_client::registry::Registry;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;
use tiny_http::{Header, Response, Server};

/// What `/` shows.
pub trait StatusPage: Send + 'static {
    /// The counters whose rates over the last minute the page shows,
    /// read now, always in the same order.
    fn counters(&self) -> Vec<u64>;
    /// The page (a whole HTML document), given those counters' rates per
    /// minute, in the same order.
    fn render(&self, per_minute: &[f64]) -> String;
}

/// A running metrics endpoint; stops when dropped.
pub struct MetricsHttp {
    server: Arc<Server>,
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsHttp {
    /// Serves `registry` at `/metrics` and `page` at `/` on `address`.
    /// An address off loopback is refused unless `allow_remote`: the
    /// metrics name every procedure and endpoint, for whoever asks.
    pub fn start(
        address: SocketAddr,
        allow_remote: bool,
        registry: Registry,
        page: Box<dyn StatusPage>,
    ) -> io::Result<MetricsHttp> {
        if !address.ip().is_loopback() && !allow_remote {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "metrics address {address} is not loopback: metrics and the status page name every procedure and endpoint to whoever connects; use 127.0.0.1:PORT, or allow it explicitly"
                ),
            ));
        }
        let server = Server::http(address).map_err(io::Error::other)?;
        let address = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the metrics server is not on an IP address"))?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("rendezvous-metrics".into())
            .spawn({
                let (server, stop) = (server.clone(), stop.clone());
                move || serve(&server, &stop, &registry, &*page)
            })?;
        Ok(MetricsHttp {
            server,
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address, with the port the OS chose if bound to port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }
}

impl std::fmt::Debug for MetricsHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHttp")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers requests until stopped, sampling the page's counters between
/// them.
fn serve(server: &Server, stop: &AtomicBool, registry: &Registry, page: &dyn StatusPage) {
    let mut history = History::default();
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if history.due(now) {
            history.record(now, page.counters());
        }
        let request = match server.recv_timeout(SAMPLE_INTERVAL) {
            Ok(Some(request)) => request,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "the metrics endpoint stopped");
                return;
            }
        };
        let path = request.url().split('?').next().unwrap_or_default();
        let response = match path {
            "/metrics" => metrics(registry),
            "/" => {
                let rates = history.per_minute(Instant::now(), &page.counters());
                text(200, "text/html; charset=utf-8", page.render(&rates))
            }
            _ => text(
                404,
                "text/plain; charset=utf-8",
                "not found: try /metrics or /\n".into(),
            ),
        };
        // A client that went away is its own business.
        let _ = request.respond(response);
    }
}

fn metrics(registry: &Registry) -> Response<io::Cursor<Vec<u8>>> {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => text(
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body,
        ),
        Err(_) => text(
            500,
            "text/plain; charset=utf-8",
            "the metrics could not be written\n".into(),
        ),
    }
}

fn text(status: u16, content_type: &str, body: String) -> Response<io::Cursor<Vec<u8>>> {
    let response = Response::from_string(body).with_status_code(status);
    match Header::from_bytes("Content-Type", content_type) {
        Ok(header) => response.with_header(header),
        Err(()) => response,
    }
}
