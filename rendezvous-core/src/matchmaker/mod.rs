//! The matchmaker as clients and servers see it: where it is, what it
//! answers, and a typed client. The daemon itself is `rendezvous-daemon`.
//!
//! Its messages, operations and MAC are `rendezvous-protocol`'s
//! ([`crate::protocol::matchmaker`]); this module adds what needs the
//! runtime.

mod client;

pub(crate) use rendezvous_protocol::matchmaker as protocol;
pub(crate) use rendezvous_protocol::matchmaker::auth;

pub use auth::{SECRET_FILE_ENV_VAR, Secret};
pub use client::{MATCHMAKER_DEADLINE, MatchmakerClient};

use crate::error::Error;
use std::net::{SocketAddr, ToSocketAddrs};

/// The matchmaker's well-known port.
pub const DEFAULT_PORT: u16 = 5000;

/// The matchmaker's address when nothing else is said.
pub const DEFAULT_ADDRESS: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    DEFAULT_PORT,
);

/// The environment variable that points clients and servers at the
/// matchmaker: one `HOST:PORT`, or several separated by commas
/// (`RENDEZVOUS_MATCHMAKER=10.0.0.1:5000,10.0.0.2:5000`) for matchmakers that
/// share one store; see [`MatchmakerClient`] for how they are used.
pub const ENV_VAR: &str = "RENDEZVOUS_MATCHMAKER";

/// The matchmaker addresses from `RENDEZVOUS_MATCHMAKER` (see
/// [`parse_addresses`]), else `[DEFAULT_ADDRESS]`. Never empty.
pub fn addresses_from_env() -> Result<Vec<SocketAddr>, Error> {
    match std::env::var(ENV_VAR) {
        Ok(value) if !value.trim().is_empty() => {
            parse_addresses(&value).map_err(|reason| Error::MatchmakerAddress {
                reason: format!("{ENV_VAR}={value:?}: {reason}"),
            })
        }
        _ => Ok(vec![DEFAULT_ADDRESS]),
    }
}

/// The first matchmaker address from `RENDEZVOUS_MATCHMAKER`, else the
/// default: for tools that talk to one matchmaker. Clients and servers use
/// [`addresses_from_env`], and so fail over to the others.
pub fn address_from_env() -> Result<SocketAddr, Error> {
    let addresses = addresses_from_env()?;
    Ok(addresses.first().copied().unwrap_or(DEFAULT_ADDRESS))
}

/// Parses `host:port` (an IP literal or a resolvable host name; a name
/// stands for the first address it resolves to).
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    if text.contains(',') {
        return Err(format!(
            "{text:?} is a list; this takes one HOST:PORT (lists are for clients and servers: --matchmaker A,B or {ENV_VAR}=A,B)"
        ));
    }
    let mut resolved = text.to_socket_addrs().map_err(|error| {
        format!("expected HOST:PORT such as 127.0.0.1:{DEFAULT_PORT} ({error})")
    })?;
    resolved
        .next()
        .ok_or_else(|| format!("{text} resolved to no address"))
}

/// Parses a comma-separated list of `host:port`s, in order of preference:
/// `10.0.0.1:5000, mm2.internal:5000`. Whitespace around items is ignored;
/// an empty item (`a,,b`, a trailing comma) is an error naming it, and so is
/// an item that is not an address. An address listed twice is kept once,
/// where it first appears. The result is never empty.
pub fn parse_addresses(text: &str) -> Result<Vec<SocketAddr>, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "no matchmaker address given; expected HOST:PORT, or several separated by commas, such as 127.0.0.1:{DEFAULT_PORT},127.0.0.1:{}",
            DEFAULT_PORT + 1
        ));
    }
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let count = items.len();
    let mut addresses = Vec::with_capacity(count);
    for (index, item) in items.into_iter().enumerate() {
        let position = index + 1;
        if item.is_empty() {
            return Err(format!(
                "item {position} of {count} in {text:?} is empty; separate addresses with single commas and no trailing comma, such as 127.0.0.1:{DEFAULT_PORT},127.0.0.1:{}",
                DEFAULT_PORT + 1
            ));
        }
        let address = parse_address(item)
            .map_err(|reason| format!("item {position} of {count}, {item:?}: {reason}"))?;
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    Ok(addresses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_address_parses_as_a_list_of_one() {
        assert_eq!(
            parse_addresses("127.0.0.1:5000"),
            Ok(vec![addr("127.0.0.1:5000")])
        );
    }

    #[test]
    fn a_list_keeps_its_order_and_ignores_whitespace() {
        assert_eq!(
            parse_addresses(" 127.0.0.1:5002 ,127.0.0.1:5000,\t[::1]:5001 "),
            Ok(vec![
                addr("127.0.0.1:5002"),
                addr("127.0.0.1:5000"),
                addr("[::1]:5001")
            ])
        );
    }

    #[test]
    fn host_names_are_resolved_in_a_list() {
        let parsed = parse_addresses("localhost:5000,127.0.0.1:5001").unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].ip().is_loopback() && parsed[0].port() == 5000);
        assert_eq!(parsed[1], addr("127.0.0.1:5001"));
    }

    #[test]
    fn an_address_listed_twice_is_kept_once() {
        assert_eq!(
            parse_addresses("127.0.0.1:5000,127.0.0.1:5001,127.0.0.1:5000"),
            Ok(vec![addr("127.0.0.1:5000"), addr("127.0.0.1:5001")])
        );
    }

    #[test]
    fn an_empty_item_is_named() {
        for (text, position) in [
            ("127.0.0.1:5000,,127.0.0.1:5001", "item 2 of 3"),
            ("127.0.0.1:5000,", "item 2 of 2"),
            (",127.0.0.1:5000", "item 1 of 2"),
            ("127.0.0.1:5000, ,127.0.0.1:5001", "item 2 of 3"),
        ] {
            let error = parse_addresses(text).unwrap_err();
            assert!(error.contains(position), "{text:?}: {error}");
            assert!(error.contains("is empty"), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_bad_item_is_named_with_what_to_write() {
        let error = parse_addresses("127.0.0.1:5000, nonsense").unwrap_err();
        assert!(error.contains("item 2 of 2"), "{error}");
        assert!(error.contains("\"nonsense\""), "{error}");
        assert!(error.contains("HOST:PORT"), "{error}");
    }

    #[test]
    fn nothing_at_all_is_an_error_saying_what_to_write() {
        for text in ["", "   "] {
            let error = parse_addresses(text).unwrap_err();
            assert!(error.contains("no matchmaker address"), "{text:?}: {error}");
            assert!(error.contains("HOST:PORT"), "{text:?}: {error}");
        }
    }

    #[test]
    fn a_single_address_parser_given_a_list_says_so() {
        let error = parse_address("127.0.0.1:5000,127.0.0.1:5001").unwrap_err();
        assert!(error.contains("is a list"), "{error}");
    }
}
