//! The lease table: what the matchmaker knows, in memory.
//!
//! A lease belongs to one server (one endpoint, one incarnation) and covers
//! all the procedures it registered. Bindings map a name to endpoints; each
//! (name, endpoint) pair is bound at most once, and a new registration of the
//! same pair replaces the old binding. Expiry is exact: every operation first
//! drops the leases whose time has passed, so an expired endpoint is never
//! returned, and a periodic sweep frees their memory when nobody asks.

use rendezvous_core::matchmaker::protocol::*;
use rendezvous_core::wire::{self, MAX_NAME_BYTES};
use rendezvous_core::{Fingerprint, rt::Instant};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

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
            min: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl TtlBounds {
    fn grant(&self, requested: Duration) -> Duration {
        if requested.is_zero() {
            return self.default.clamp(self.min, self.max);
        }
        requested.clamp(self.min, self.max)
    }
}

/// One registration list page stays under this many bytes of CBOR, so a
/// reply fits one Ethernet frame unfragmented.
pub const LIST_PAGE_BYTES: usize = 1200;

/// The page's own CBOR around its registrations and cursor: the map, its
/// two keys, the array header.
const PAGE_FRAMING_BYTES: usize = 32;

/// Most procedures one lease may cover (the request must also fit a datagram).
pub const MAX_PROCEDURES_PER_LEASE: usize = 1024;

#[derive(Debug)]
struct LeaseRecord {
    endpoint: SocketAddr,
    ttl: Duration,
    expires: Instant,
    names: Vec<String>,
}

#[derive(Debug)]
struct Binding {
    signature: Fingerprint,
    incarnation: u64,
    lease: LeaseToken,
}

/// What an expiry sweep removed, for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    pub endpoint: SocketAddr,
    pub names: Vec<String>,
}

#[derive(Debug, Default)]
pub struct LeaseTable {
    ttl: TtlBounds,
    leases: HashMap<LeaseToken, LeaseRecord>,
    expiries: BTreeSet<(Instant, LeaseToken)>,
    names: BTreeMap<String, BTreeMap<SocketAddr, Binding>>,
}

impl LeaseTable {
    pub fn new(ttl: TtlBounds) -> LeaseTable {
        LeaseTable {
            ttl,
            ..LeaseTable::default()
        }
    }

    /// Number of live leases.
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    pub fn register(
        &mut self,
        request: RegisterRequest,
        token: LeaseToken,
        now: Instant,
    ) -> Result<Lease, MatchmakerError> {
        self.expire(now);
        validate(&request)?;
        let ttl = self.ttl.grant(Duration::from_millis(request.ttl_ms));
        let mut names = Vec::with_capacity(request.procedures.len());
        for spec in request.procedures {
            let binding = Binding {
                signature: spec.signature,
                incarnation: request.incarnation,
                lease: token,
            };
            let endpoints = self.names.entry(spec.name.clone()).or_default();
            if let Some(replaced) = endpoints.insert(request.endpoint, binding) {
                self.release(replaced.lease, &spec.name);
            }
            names.push(spec.name);
        }
        let expires = now + ttl;
        let record = LeaseRecord {
            endpoint: request.endpoint,
            ttl,
            expires,
            names,
        };
        self.leases.insert(token, record);
        self.expiries.insert((expires, token));
        Ok(Lease {
            token,
            ttl_ms: millis(ttl),
        })
    }

    pub fn renew(&mut self, token: LeaseToken, now: Instant) -> Result<Renewed, MatchmakerError> {
        self.expire(now);
        let record = self
            .leases
            .get_mut(&token)
            .ok_or(MatchmakerError::UnknownLease)?;
        self.expiries.remove(&(record.expires, token));
        record.expires = now + record.ttl;
        self.expiries.insert((record.expires, token));
        Ok(Renewed {
            ttl_ms: millis(record.ttl),
        })
    }

    pub fn unregister(
        &mut self,
        token: LeaseToken,
        now: Instant,
    ) -> Result<Expired, MatchmakerError> {
        self.expire(now);
        self.remove_lease(token)
            .ok_or(MatchmakerError::UnknownLease)
    }

    pub fn lookup(
        &mut self,
        name: &str,
        signature: Option<Fingerprint>,
        now: Instant,
    ) -> Result<Lookup, MatchmakerError> {
        self.expire(now);
        let not_found = || MatchmakerError::NotFound {
            name: name.to_owned(),
        };
        let endpoints = self.names.get(name).ok_or_else(not_found)?;
        let matching: Vec<EndpointInfo> = endpoints
            .iter()
            .filter(|(_, binding)| signature.is_none_or(|s| s == binding.signature))
            .map(|(address, binding)| EndpointInfo {
                address: *address,
                signature: binding.signature,
                incarnation: binding.incarnation,
                ttl_ms: self.ttl_left(binding.lease, now),
            })
            .collect();
        match signature {
            Some(expected) if matching.is_empty() => {
                let available: BTreeSet<Fingerprint> =
                    endpoints.values().map(|b| b.signature).collect();
                Err(MatchmakerError::SignatureMismatch {
                    name: name.to_owned(),
                    expected,
                    available: available.into_iter().collect(),
                })
            }
            _ => Ok(Lookup {
                endpoints: matching,
            }),
        }
    }

    /// One page of registrations after `after`, at most [`LIST_PAGE_BYTES`]
    /// of CBOR (and always at least one registration, if any remain).
    pub fn list(&mut self, after: Option<ListCursor>, now: Instant) -> ListPage {
        self.expire(now);
        let mut registrations = Vec::new();
        let mut last_cursor = None;
        let mut bytes = 0;
        let start = after.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        for (name, endpoints) in self.names.range(start..) {
            for (endpoint, binding) in endpoints {
                if let Some(cursor) = &after
                    && (name.as_str(), *endpoint) <= (cursor.name.as_str(), cursor.endpoint)
                {
                    continue;
                }
                let registration = Registration {
                    name: name.clone(),
                    endpoint: *endpoint,
                    signature: binding.signature,
                    incarnation: binding.incarnation,
                    ttl_ms: self.ttl_left(binding.lease, now),
                };
                let cursor = ListCursor {
                    name: name.clone(),
                    endpoint: *endpoint,
                };
                // Room for this registration and, should it end the page,
                // for the cursor naming it.
                let size = encoded_len(&registration) + encoded_len(&cursor);
                if !registrations.is_empty() && bytes + size + PAGE_FRAMING_BYTES > LIST_PAGE_BYTES
                {
                    return ListPage {
                        registrations,
                        next: last_cursor,
                    };
                }
                last_cursor = Some(cursor);
                let size = encoded_len(&registration);
                bytes += size;
                registrations.push(registration);
            }
        }
        ListPage {
            registrations,
            next: None,
        }
    }

    /// Drops every lease whose time has passed; returns what went.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let mut expired = Vec::new();
        while let Some(&(expires, token)) = self.expiries.first() {
            if expires > now {
                break;
            }
            if let Some(gone) = self.remove_lease(token) {
                expired.push(gone);
            }
        }
        expired
    }

    fn remove_lease(&mut self, token: LeaseToken) -> Option<Expired> {
        let record = self.leases.remove(&token)?;
        self.expiries.remove(&(record.expires, token));
        for name in &record.names {
            if let Some(endpoints) = self.names.get_mut(name) {
                if endpoints
                    .get(&record.endpoint)
                    .is_some_and(|b| b.lease == token)
                {
                    endpoints.remove(&record.endpoint);
                }
                if endpoints.is_empty() {
                    self.names.remove(name);
                }
            }
        }
        Some(Expired {
            endpoint: record.endpoint,
            names: record.names,
        })
    }

    /// A binding of `name` moved to another lease: the old lease no longer
    /// covers it, and a lease left covering nothing ends.
    fn release(&mut self, token: LeaseToken, name: &str) {
        let Some(record) = self.leases.get_mut(&token) else {
            return;
        };
        record.names.retain(|n| n != name);
        if record.names.is_empty() {
            let expires = record.expires;
            self.leases.remove(&token);
            self.expiries.remove(&(expires, token));
        }
    }

    fn ttl_left(&self, token: LeaseToken, now: Instant) -> u64 {
        self.leases.get(&token).map_or(0, |record| {
            millis(record.expires.saturating_duration_since(now))
        })
    }
}

fn validate(request: &RegisterRequest) -> Result<(), MatchmakerError> {
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
        if !seen.insert(spec.name.as_str()) {
            return invalid(format!("procedure `{}` is named twice", spec.name));
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

fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    wire::encode_payload(value).map_or(LIST_PAGE_BYTES, |bytes| bytes.len())
}

fn millis(duration: Duration) -> u64 {
    duration.as_millis().min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(names: &[&str], port: u16, signature: u64) -> RegisterRequest {
        RegisterRequest {
            procedures: names
                .iter()
                .map(|n| ProcedureSpec {
                    name: n.to_string(),
                    signature: Fingerprint(signature),
                })
                .collect(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            incarnation: 9,
            ttl_ms: 10_000,
        }
    }

    fn token(n: u8) -> LeaseToken {
        LeaseToken([n; 16])
    }

    #[test]
    fn reregistering_a_name_at_an_endpoint_replaces_it() {
        let mut table = LeaseTable::new(TtlBounds::default());
        let now = Instant::now();
        table
            .register(request(&["a"], 1000, 1), token(1), now)
            .unwrap();
        table
            .register(request(&["a"], 1000, 1), token(2), now)
            .unwrap();
        let found = table.lookup("a", None, now).unwrap();
        assert_eq!(found.endpoints.len(), 1);
        assert_eq!(table.lease_count(), 1, "the emptied lease ended");
        assert_eq!(
            table.renew(token(1), now),
            Err(MatchmakerError::UnknownLease)
        );
    }

    #[test]
    fn leases_expire_exactly_at_their_ttl() {
        let mut table = LeaseTable::new(TtlBounds::default());
        let now = Instant::now();
        table
            .register(request(&["a"], 1000, 1), token(1), now)
            .unwrap();
        assert!(
            table
                .lookup("a", None, now + Duration::from_millis(9_999))
                .is_ok()
        );
        assert_eq!(
            table.lookup("a", None, now + Duration::from_secs(10)),
            Err(MatchmakerError::NotFound { name: "a".into() })
        );
    }

    #[test]
    fn requested_ttls_are_clamped() {
        let mut table = LeaseTable::new(TtlBounds::default());
        let now = Instant::now();
        let mut huge = request(&["a"], 1000, 1);
        huge.ttl_ms = u64::MAX;
        let lease = table.register(huge, token(1), now).unwrap();
        assert_eq!(lease.ttl_ms, 300_000);
    }

    #[test]
    fn list_pages_cover_everything_once_in_order() {
        let mut table = LeaseTable::new(TtlBounds::default());
        let now = Instant::now();
        let names: Vec<String> = (0..200)
            .map(|i| format!("service.procedure_{i:03}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        table
            .register(request(&refs, 1000, 1), token(1), now)
            .unwrap();
        table
            .register(request(&refs[..50], 2000, 1), token(2), now)
            .unwrap();
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = table.list(after, now);
            pages += 1;
            let size = wire::encode_payload(&page).unwrap().len();
            assert!(size <= LIST_PAGE_BYTES, "page of {size} bytes");
            seen.extend(page.registrations.into_iter().map(|r| (r.name, r.endpoint)));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(pages > 1);
        assert_eq!(seen.len(), 250);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen);
    }
}
