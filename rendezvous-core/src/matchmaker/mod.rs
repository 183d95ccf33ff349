//! The matchmaker as clients and servers see it: where it is, what it
//! answers, and a typed client. The daemon itself is `rendezvous-daemon`.

pub mod auth;
mod client;
pub mod protocol;

pub use auth::{SECRET_FILE_ENV_VAR, Secret};
pub use client::{MATCHMAKER_DEADLINE, MatchmakerClient, PADDED_REQUEST_BYTES};

use crate::error::Error;
use std::net::{SocketAddr, ToSocketAddrs};

/// The matchmaker's well-known port.
pub const DEFAULT_PORT: u16 = 5000;

/// The matchmaker's address when nothing else is said.
pub const DEFAULT_ADDRESS: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    DEFAULT_PORT,
);

/// The environment variable that points clients and servers at the matchmaker.
pub const ENV_VAR: &str = "RENDEZVOUS_MATCHMAKER";

/// The matchmaker address from `RENDEZVOUS_MATCHMAKER`, else the default.
pub fn address_from_env() -> Result<SocketAddr, Error> {
    match std::env::var(ENV_VAR) {
        Ok(value) if !value.trim().is_empty() => {
            parse_address(value.trim()).map_err(|reason| Error::InvalidRequest {
                reason: format!("{ENV_VAR}={value:?} is not an address: {reason}"),
            })
        }
        _ => Ok(DEFAULT_ADDRESS),
    }
}

/// Parses `host:port` (an IP literal or a resolvable host name).
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let mut resolved = text.to_socket_addrs().map_err(|error| {
        format!("expected HOST:PORT such as 127.0.0.1:{DEFAULT_PORT} ({error})")
    })?;
    resolved
        .next()
        .ok_or_else(|| format!("{text} resolved to no address"))
}
