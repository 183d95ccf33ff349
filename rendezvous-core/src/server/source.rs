//! What counts as one source of traffic: one host, as far as an address
//! can tell.
//!
//! Limits that are shared "fairly by source" (the reply cache's room for
//! client records, the matchmaker's registrations per source) must not be
//! multiplied by a host that owns many addresses. A host owns all of
//! 127.0.0.0/8 (any of it can be bound without configuration) and is
//! usually given a whole IPv6 /64, so each of those is one source; any
//! other IPv4 address is a source of its own. An IPv4-mapped IPv6 address
//! (what a dual-stack socket reports for IPv4 peers) is its IPv4 address.
//! 127.0.0.1 and ::1 are two sources: on one host that is harmless (it
//! doubles what that host may hold), and it lets a test stand for two
//! hosts on loopback.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One source: the network of addresses counted as one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    network: IpAddr,
    prefix: u8,
}

/// The source `address` belongs to.
pub fn source_of(address: IpAddr) -> Source {
    match address.to_canonical() {
        IpAddr::V4(v4) if v4.is_loopback() => Source {
            network: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)),
            prefix: 8,
        },
        IpAddr::V4(v4) => Source {
            network: IpAddr::V4(v4),
            prefix: 32,
        },
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !(u128::MAX >> 64);
            Source {
                network: IpAddr::V6(Ipv6Addr::from(bits)),
                prefix: 64,
            }
        }
    }
}

impl Source {
    /// The first address of the source's network.
    pub fn network(&self) -> IpAddr {
        self.network
    }
}

/// `127.0.0.0/8`, `2001:db8::/64`; a single IPv4 address as itself.
impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix {
            32 => write!(f, "{}", self.network),
            prefix => write!(f, "{}/{prefix}", self.network),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn all_of_127_slash_8_is_one_source() {
        assert_eq!(source_of(ip("127.0.0.1")), source_of(ip("127.0.0.6")));
        assert_eq!(source_of(ip("127.255.1.2")), source_of(ip("127.0.0.1")));
        assert_eq!(source_of(ip("127.0.0.9")).to_string(), "127.0.0.0/8");
    }

    #[test]
    fn other_ipv4_addresses_are_sources_of_their_own() {
        assert_ne!(source_of(ip("10.0.0.1")), source_of(ip("10.0.0.2")));
        assert_eq!(source_of(ip("10.0.0.1")).to_string(), "10.0.0.1");
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let a = source_of(ip("2001:db8::1"));
        assert_eq!(a, source_of(ip("2001:db8::ffff:1:2")));
        assert_ne!(a, source_of(ip("2001:db8:0:1::1")));
        assert_eq!(a.to_string(), "2001:db8::/64");
    }

    #[test]
    fn mapped_ipv4_is_ipv4_and_loopbacks_of_the_two_families_differ() {
        assert_eq!(
            source_of(ip("::ffff:127.0.0.3")),
            source_of(ip("127.0.0.1"))
        );
        assert_ne!(source_of(ip("::1")), source_of(ip("127.0.0.1")));
    }
}
