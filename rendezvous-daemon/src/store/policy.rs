//! What every store enforces alike: the TTLs it grants, how much it holds,
//! and which registrations are well formed.

use rendezvous_core::protocol::matchmaker::*;
use rendezvous_core::protocol::wire::MAX_NAME_BYTES;
use rendezvous_core::server::source_of;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

/// The shortest lease TTL granted by default; shorter requests are raised
/// to it, so a server cannot make the matchmaker sweep many times a second.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

/// The longest lease TTL granted by default; longer requests are cut to it,
/// so a crashed server's entries go within five minutes.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(300);

/// The TTLs the matchmaker grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlBounds {
    /// Granted when a server asks for 0.
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Default for TtlBounds {
    fn default() -> Self {
        TtlBounds {
            default: DEFAULT_LEASE_TTL,
            min: MIN_LEASE_TTL,
            max: MAX_LEASE_TTL,
        }
    }
}

impl TtlBounds {
    pub fn grant(&self, requested: Duration) -> Duration {
        if requested.is_zero() {
            return self.default.clamp(self.min, self.max);
        }
        requested.clamp(self.min, self.max)
    }
}

/// How much the table may hold. A registration is one procedure bound at one
/// endpoint under one lease (one row of `list`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Registrations held at once, from everyone.
    pub max_registrations: usize,
    /// Registrations held at once that were registered from one source:
    /// one host, as [`rendezvous_core::server::source_of`] tells it (all
    /// of 127.0.0.0/8 is one, an IPv6 /64 is one, any other IPv4 address
    /// is one), so a host cannot multiply its share by binding more of
    /// its addresses.
    pub max_registrations_per_source: usize,
}

/// A registration costs about 1.5 KiB at worst (measured: 65 536 of them,
/// with 255-byte names, grew the daemon by 93 MiB), so this default caps
/// the table near 25 MiB: more than most deployments register (160
/// servers of 100 procedures), less than any host minds.
pub const DEFAULT_MAX_REGISTRATIONS: usize = 16_384;

/// Four servers of a full 1 024 procedures each from one address, a quarter
/// of the total, so one host cannot take the whole table (with no secret,
/// every registration comes from loopback: one address).
pub const DEFAULT_MAX_REGISTRATIONS_PER_SOURCE: usize = 4_096;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_registrations: DEFAULT_MAX_REGISTRATIONS,
            max_registrations_per_source: DEFAULT_MAX_REGISTRATIONS_PER_SOURCE,
        }
    }
}

impl Limits {
    /// Refuses `count` more registrations from `address` when the store
    /// holds `total` in all and `from_source` from its source
    /// ([`source_of`]).
    pub fn admit(
        &self,
        count: usize,
        address: IpAddr,
        total: usize,
        from_source: usize,
    ) -> Result<(), MatchmakerError> {
        if total + count > self.max_registrations {
            return Err(MatchmakerError::LimitReached {
                what: format!(
                    "registrations in all (it holds {total}, this request adds {count}; --max-registrations)"
                ),
                limit: self.max_registrations as u64,
            });
        }
        if from_source + count > self.max_registrations_per_source {
            let address = address.to_canonical();
            let source = source_of(address);
            let from = if source.network() == address {
                address.to_string()
            } else {
                format!("{address}'s host ({source}, counted as one source)")
            };
            return Err(MatchmakerError::LimitReached {
                what: format!(
                    "registrations from {from} (it holds {from_source}, this request adds {count}; --max-registrations-per-source)"
                ),
                limit: self.max_registrations_per_source as u64,
            });
        }
        Ok(())
    }
}

/// The largest list page, in bytes of CBOR result, so a reply fits one
/// Ethernet frame unfragmented. A page is smaller when the request is: no
/// reply exceeds [`rendezvous_core::protocol::wire::AMPLIFICATION_FACTOR`] times its request.
pub const LIST_PAGE_BYTES: usize = 1200;

/// Most procedures one lease may cover (the request must also fit a datagram).
pub const MAX_PROCEDURES_PER_LEASE: usize = 1024;

/// Refuses a registration that breaks a rule, saying which.
pub fn validate(request: &RegisterRequest) -> Result<(), MatchmakerError> {
    let invalid = |reason: String| Err(MatchmakerError::InvalidRequest { reason });
    if request.procedures.is_empty() {
        return invalid("a registration must name at least one procedure".into());
    }
    if request.procedures.len() > MAX_PROCEDURES_PER_LEASE {
        return invalid(format!(
            "{} procedures in one registration; the limit is {MAX_PROCEDURES_PER_LEASE}",
            request.procedures.len()
        ));
    }
    let mut seen = BTreeSet::new();
    for spec in &request.procedures {
        if spec.name.is_empty() || spec.name.len() > MAX_NAME_BYTES {
            return invalid(format!(
                "procedure name {:?} must be 1 to {MAX_NAME_BYTES} bytes long",
                spec.name
            ));
        }
        if operation::is_reserved(&spec.name) {
            return invalid(format!(
                "procedure name `{}` is reserved: names starting with `{}` belong to the matchmaker's own procedures; give it a name of your own",
                spec.name,
                operation::RESERVED_PREFIX
            ));
        }
        if !seen.insert(spec.name.as_str()) {
            return invalid(format!("procedure `{}` is named twice", spec.name));
        }
        if let Some(text) = &spec.signature_text
            && text.len() > MAX_SIGNATURE_TEXT_BYTES
        {
            return invalid(format!(
                "the signature text of `{}` is {} bytes, over the {MAX_SIGNATURE_TEXT_BYTES}-byte limit; register it without the text (the fingerprint alone), or shorten its types with `use`",
                spec.name,
                text.len()
            ));
        }
    }
    if request.endpoint.port() == 0 || request.endpoint.ip().is_unspecified() {
        return invalid(format!(
            "endpoint {} is not an address clients can reach; advertise the address clients should use",
            request.endpoint
        ));
    }
    Ok(())
}

/// A duration in whole milliseconds, as the protocol carries it.
pub fn millis(duration: Duration) -> u64 {
    duration.as_millis().min(u64::MAX as u128) as u64
}
