//! A plain HTTP/1.0 GET over a loopback TCP socket, for the tests of
//! `/metrics` and the status page: the request is one line, the answer
//! read to its end (the server closes), bounded in time and size.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take; far beyond need.
const PATIENCE: Duration = Duration::from_secs(30);

/// The most of an answer read.
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// An HTTP answer: its status code, headers and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// `GET path` from `address`; panics, naming both, if it fails.
pub fn get(address: SocketAddr, path: &str) -> Answer {
    let fail = |what: &str, error: std::io::Error| -> ! {
        panic!("GET http://{address}{path}: {what}: {error}")
    };
    let mut stream =
        TcpStream::connect_timeout(&address, PATIENCE).unwrap_or_else(|e| fail("connect", e));
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let _ = stream.set_write_timeout(Some(PATIENCE));
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap_or_else(|e| fail("send", e));
    let mut raw = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| fail("read", e));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET http://{address}{path}: no status line in {head:?}"));
    Answer {
        status,
        headers: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The value of the sample `series` (name and labels as written, e.g.
/// `rendezvous_leases` or `rendezvous_calls_total{procedure="a",outcome="returned"}`)
/// in a Prometheus text `body`, if present.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
}
