//! The in-memory store: the default, one daemon's table and nothing else to
//! install.
//!
//! A lease belongs to one server (one endpoint, one incarnation) and covers
//! all the procedures it registered. Bindings map a name to the endpoints
//! that serve it, one per (endpoint, lease): a new registration is added
//! beside the existing ones, never over them. A binding leaves with its
//! own lease (unregister, which needs the token, or expiry), or when the
//! matchmaker finds that a *new incarnation* that registered at its
//! endpoint holds that endpoint (it answers there, see `service.rs`): only
//! one process can hold a port, so the old one is gone, and its leases end
//! at once ([`LeaseTable::replace`]) instead of lingering until they
//! expire. No client request removes or demotes a registration; only its
//! lease, or that check, does.
//!
//! The table remembers, for [`UNREGISTERED_FOR`], which endpoints of each
//! name unregistered, and lookups list them (`Lookup::unregistered`): a
//! client reads a silent endpoint as having left gracefully only then. An
//! endpoint whose lease expired or that was replaced is never listed
//! there: neither says whether it ran what was sent to it.
//!
//! Expiry is exact: every operation first drops the leases whose time has
//! passed, so an expired endpoint is never returned, and a periodic sweep
//! frees their memory when nobody asks. Registrations are counted in total
//! and per source (all of 127.0.0.0/8 one, an IPv6 /64 one), each against
//! its [`Limits`].

use super::directory::{Binding, Directory};
use super::policy::{Limits, TtlBounds, millis, validate};
use super::{Counts, Expired, Pending, Store, StoreHealth};
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::*;
use rendezvous_core::server::{Source, source_of};
use rendezvous_runtime::Instant;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a lookup lists an endpoint that unregistered.
pub const UNREGISTERED_FOR: Duration = Duration::from_secs(60);

/// Endpoints remembered as unregistered, per name and in all: the oldest
/// are forgotten first (a client that is not told keeps its doubt).
const UNREGISTERED_PER_NAME: usize = 8;
const UNREGISTERED_IN_ALL: usize = 4096;

/// The in-memory [`Store`]: a [`LeaseTable`] behind a lock held for no
/// more than one operation, never across an `.await`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    table: Mutex<LeaseTable>,
}

impl MemoryStore {
    pub fn new(ttl: TtlBounds, limits: Limits) -> MemoryStore {
        MemoryStore {
            table: Mutex::new(LeaseTable::new(ttl, limits)),
        }
    }

    fn table(&self) -> MutexGuard<'_, LeaseTable> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn register(
        &self,
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
    ) -> Pending<Result<Lease, MatchmakerError>> {
        let granted = self
            .table()
            .register(request, token, source, Instant::now());
        Box::pin(std::future::ready(granted))
    }

    fn renew(&self, token: LeaseToken) -> Pending<Result<Renewed, MatchmakerError>> {
        let renewed = self.table().renew(token, Instant::now());
        Box::pin(std::future::ready(renewed))
    }

    fn unregister(&self, token: LeaseToken) -> Pending<Result<Expired, MatchmakerError>> {
        let gone = self.table().unregister(token, Instant::now());
        Box::pin(std::future::ready(gone))
    }

    fn lookup(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
    ) -> Result<Lookup, MatchmakerError> {
        self.table().lookup(name, signature, Instant::now())
    }

    fn list(&self, after: Option<ListCursor>, page_bytes: usize) -> Result<ListPage, usize> {
        self.table().list(after, page_bytes, Instant::now())
    }

    fn others_at(&self, endpoint: SocketAddr, incarnation: u64) -> bool {
        self.table().others_at(endpoint, incarnation)
    }

    fn replace(&self, endpoint: SocketAddr, incarnation: u64) -> Pending<Vec<Expired>> {
        let replaced = self.table().replace(endpoint, incarnation, Instant::now());
        Box::pin(std::future::ready(replaced))
    }

    fn expire(&self) -> Vec<Expired> {
        self.table().expire(Instant::now())
    }

    fn health(&self) -> StoreHealth {
        StoreHealth {
            kind: "memory",
            reachable: true,
            round_trips: 0,
            outages: 0,
        }
    }

    fn counts(&self) -> Counts {
        let table = self.table();
        Counts {
            leases: table.lease_count(),
            registrations: table.registration_count(),
        }
    }
}

#[derive(Debug)]
struct LeaseRecord {
    /// Orders the bindings of one (name, endpoint); never reused.
    number: u64,
    endpoint: SocketAddr,
    incarnation: u64,
    /// The source the registration came from, for the per-source limit.
    source: Source,
    ttl: Duration,
    expires: Instant,
    names: Vec<String>,
}

/// The leases and their bindings, with exact expiry.
#[derive(Debug, Default)]
pub struct LeaseTable {
    ttl: TtlBounds,
    limits: Limits,
    leases: HashMap<LeaseToken, LeaseRecord>,
    expiries: BTreeSet<(Instant, LeaseToken)>,
    directory: Directory<LeaseToken>,
    /// Registrations held by source (a host: see `source_of`).
    per_source: HashMap<Source, usize>,
    next_lease_number: u64,
    /// Endpoints that unregistered lately, by name, oldest first.
    unregistered: HashMap<String, VecDeque<(Instant, Departed)>>,
    /// The same, all names in the order they went: (when, name).
    unregistered_order: VecDeque<(Instant, String)>,
}

impl LeaseTable {
    pub fn new(ttl: TtlBounds, limits: Limits) -> LeaseTable {
        LeaseTable {
            ttl,
            limits,
            ..LeaseTable::default()
        }
    }

    /// Number of live leases.
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    /// Number of registrations held (rows of `list`).
    pub fn registration_count(&self) -> usize {
        self.directory.len()
    }

    /// Adds the request's procedures at its endpoint under a new lease,
    /// beside any registrations already there; `source` is the address the
    /// request came from.
    pub fn register(
        &mut self,
        request: RegisterRequest,
        token: LeaseToken,
        source: IpAddr,
        now: Instant,
    ) -> Result<Lease, MatchmakerError> {
        self.expire(now);
        validate(&request)?;
        let address = source;
        let source = source_of(address);
        let count = request.procedures.len();
        let from_source = self.per_source.get(&source).copied().unwrap_or(0);
        self.limits
            .admit(count, address, self.directory.len(), from_source)?;
        let ttl = self.ttl.grant(Duration::from_millis(request.ttl_ms));
        self.next_lease_number += 1;
        let number = self.next_lease_number;
        let mut names = Vec::with_capacity(count);
        for spec in request.procedures {
            let binding = Binding {
                signature: spec.signature,
                signature_text: spec.signature_text,
                incarnation: request.incarnation,
                lease: token,
            };
            self.directory
                .insert(&spec.name, request.endpoint, number, binding);
            names.push(spec.name);
        }
        *self.per_source.entry(source).or_default() += count;
        let expires = now + ttl;
        let record = LeaseRecord {
            number,
            endpoint: request.endpoint,
            incarnation: request.incarnation,
            source,
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
        let record = self
            .leases
            .get(&token)
            .ok_or(MatchmakerError::UnknownLease)?;
        let departed = Departed {
            address: record.endpoint,
            incarnation: record.incarnation,
        };
        let gone = self
            .remove_lease(token)
            .ok_or(MatchmakerError::UnknownLease)?;
        for name in &gone.names {
            self.note_unregistered(name, departed, now);
        }
        Ok(gone)
    }

    /// Whether leases of other incarnations than `incarnation` are held at
    /// `endpoint`.
    pub fn others_at(&self, endpoint: SocketAddr, incarnation: u64) -> bool {
        self.leases
            .values()
            .any(|r| r.endpoint == endpoint && r.incarnation != incarnation)
    }

    /// Ends at once the leases of other incarnations at `endpoint`: the
    /// process that held them no longer holds the port.
    pub fn replace(
        &mut self,
        endpoint: SocketAddr,
        incarnation: u64,
        now: Instant,
    ) -> Vec<Expired> {
        self.expire(now);
        let replaced: Vec<LeaseToken> = self
            .leases
            .iter()
            .filter(|(_, r)| r.endpoint == endpoint && r.incarnation != incarnation)
            .map(|(token, _)| *token)
            .collect();
        replaced
            .into_iter()
            .filter_map(|token| self.remove_lease(token))
            .collect()
    }

    fn note_unregistered(&mut self, name: &str, departed: Departed, now: Instant) {
        let held = self.unregistered.entry(name.to_owned()).or_default();
        held.retain(|(_, d)| *d != departed);
        if held.len() >= UNREGISTERED_PER_NAME {
            held.pop_front();
        }
        held.push_back((now, departed));
        self.unregistered_order.push_back((now, name.to_owned()));
        while self.unregistered_order.len() > UNREGISTERED_IN_ALL {
            self.forget_oldest_unregistered();
        }
    }

    /// Forgets the oldest note of an unregistered endpoint.
    fn forget_oldest_unregistered(&mut self) {
        let Some((at, name)) = self.unregistered_order.pop_front() else {
            return;
        };
        if let Some(held) = self.unregistered.get_mut(&name) {
            held.retain(|(when, _)| *when > at);
            if held.is_empty() {
                self.unregistered.remove(&name);
            }
        }
    }

    /// Every live endpoint of `name` with `signature` (any, if `None`),
    /// ordered by address, then by lease (older first), rotated per name
    /// (see `directory`).
    pub fn lookup(
        &mut self,
        name: &str,
        signature: Option<Fingerprint>,
        now: Instant,
    ) -> Result<Lookup, MatchmakerError> {
        self.expire(now);
        let leases = &self.leases;
        let mut found = self
            .directory
            .lookup(name, signature, |token| ttl_left(leases, token, now))?;
        if let Some(held) = self.unregistered.get(name) {
            found.unregistered = held.iter().map(|(_, departed)| *departed).collect();
        }
        Ok(found)
    }

    /// One page of registrations after `after`, at most `page_bytes` of
    /// CBOR result. `Err(bytes)` when the next registration alone needs a
    /// page of `bytes`, more than `page_bytes`.
    pub fn list(
        &mut self,
        after: Option<ListCursor>,
        page_bytes: usize,
        now: Instant,
    ) -> Result<ListPage, usize> {
        self.expire(now);
        self.directory
            .list(after, page_bytes, |token| self.ttl_left(token, now))
    }

    /// Drops every lease whose time has passed; returns what went.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        while self
            .unregistered_order
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= UNREGISTERED_FOR)
        {
            self.forget_oldest_unregistered();
        }
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

    /// Removes a lease and exactly the bindings it made.
    fn remove_lease(&mut self, token: LeaseToken) -> Option<Expired> {
        let record = self.leases.remove(&token)?;
        self.expiries.remove(&(record.expires, token));
        for name in &record.names {
            self.directory.remove(name, record.endpoint, record.number);
        }
        let count = record.names.len();
        if let Some(held) = self.per_source.get_mut(&record.source) {
            *held -= count;
            if *held == 0 {
                self.per_source.remove(&record.source);
            }
        }
        Some(Expired {
            endpoint: record.endpoint,
            names: record.names,
        })
    }

    fn ttl_left(&self, token: &LeaseToken, now: Instant) -> u64 {
        ttl_left(&self.leases, token, now)
    }
}

/// How long the lease `token` has to live, in milliseconds.
fn ttl_left(leases: &HashMap<LeaseToken, LeaseRecord>, token: &LeaseToken, now: Instant) -> u64 {
    leases.get(token).map_or(0, |record| {
        millis(record.expires.saturating_duration_since(now))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LIST_PAGE_BYTES;
    use rendezvous_core::protocol::wire;
    use std::net::Ipv4Addr;

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn request(names: &[&str], port: u16, signature: u64) -> RegisterRequest {
        RegisterRequest {
            procedures: names
                .iter()
                .map(|n| ProcedureSpec {
                    signature_text: None,
                    name: n.to_string(),
                    signature: Fingerprint(signature),
                })
                .collect(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            incarnation: 9,
            ttl_ms: 10_000,
            auth: None,
        }
    }

    fn token(n: u8) -> LeaseToken {
        LeaseToken([n; 16])
    }

    fn table() -> LeaseTable {
        LeaseTable::new(TtlBounds::default(), Limits::default())
    }

    /// Issue 13, item 1(b): the restarted server replaces its predecessor
    /// at once, which is not listed as having unregistered.
    #[test]
    fn a_new_incarnation_at_an_endpoint_replaces_the_old_ones_leases() {
        let mut table = table();
        let now = Instant::now();
        table
            .register(request(&["a", "b"], 1000, 1), token(1), LOCAL, now)
            .unwrap();
        table
            .register(request(&["a"], 1001, 1), token(3), LOCAL, now)
            .unwrap();
        let mut restarted = request(&["a"], 1000, 1);
        restarted.incarnation = 10;
        table.register(restarted, token(2), LOCAL, now).unwrap();
        // Beside, until the matchmaker finds the new one holds the port.
        assert!(table.others_at(SocketAddr::from(([127, 0, 0, 1], 1000)), 10));
        assert_eq!(table.lookup("a", None, now).unwrap().endpoints.len(), 3);
        let replaced = table.replace(SocketAddr::from(([127, 0, 0, 1], 1000)), 10, now);
        assert_eq!(replaced.len(), 1);
        assert!(!table.others_at(SocketAddr::from(([127, 0, 0, 1], 1000)), 10));
        let found = table.lookup("a", None, now).unwrap();
        // In address order, rotated per lookup (`directory`): compare sorted.
        let mut listed: Vec<(u16, u64)> = found
            .endpoints
            .iter()
            .map(|e| (e.address.port(), e.incarnation))
            .collect();
        listed.sort();
        assert_eq!(listed, [(1000, 10), (1001, 9)]);
        assert!(found.unregistered.is_empty(), "{:?}", found.unregistered);
        assert_eq!(
            table.lookup("b", None, now),
            Err(MatchmakerError::NotFound { name: "b".into() })
        );
        assert_eq!(table.lease_count(), 2);
        assert_eq!(
            table.renew(token(1), now),
            Err(MatchmakerError::UnknownLease),
            "the old lease ended"
        );
    }

    #[test]
    fn a_lookup_lists_endpoints_that_unregistered_but_not_those_that_expired() {
        let mut table = table();
        let now = Instant::now();
        for (port, n) in [(1000, 1), (1001, 2), (1002, 3)] {
            let mut request = request(&["a"], port, 1);
            request.incarnation = u64::from(n);
            table.register(request, token(n), LOCAL, now).unwrap();
        }
        table.unregister(token(1), now).unwrap();
        let mut short = request(&["a"], 1003, 1);
        short.ttl_ms = 1_000;
        table.register(short, token(4), LOCAL, now).unwrap();
        let later = now + Duration::from_secs(2);
        let found = table.lookup("a", None, later).unwrap();
        let ports: Vec<u16> = found.endpoints.iter().map(|e| e.address.port()).collect();
        assert_eq!(ports, [1001, 1002]);
        assert_eq!(
            found.unregistered,
            [Departed {
                address: SocketAddr::from(([127, 0, 0, 1], 1000)),
                incarnation: 1
            }]
        );
        // Forgotten after a while.
        let much_later = now + UNREGISTERED_FOR;
        for n in [5, 6] {
            let mut request = request(&["a"], 1000 + u16::from(n), 1);
            request.incarnation = u64::from(n);
            table
                .register(request, token(n), LOCAL, much_later)
                .unwrap();
        }
        table.unregister(token(5), much_later).unwrap();
        let found = table.lookup("a", None, much_later).unwrap();
        let gone: Vec<u64> = found.unregistered.iter().map(|d| d.incarnation).collect();
        assert_eq!(gone, [5]);
    }

    #[test]
    fn unregistering_one_lease_leaves_the_other_at_the_same_endpoint() {
        let mut table = table();
        let now = Instant::now();
        table
            .register(request(&["a"], 1000, 1), token(1), LOCAL, now)
            .unwrap();
        table
            .register(request(&["a"], 1000, 1), token(2), LOCAL, now)
            .unwrap();
        table.unregister(token(2), now).unwrap();
        let found = table.lookup("a", None, now).unwrap();
        assert_eq!(found.endpoints.len(), 1);
        assert_eq!(table.registration_count(), 1);
    }

    #[test]
    fn leases_expire_exactly_at_their_ttl() {
        let mut table = table();
        let now = Instant::now();
        table
            .register(request(&["a"], 1000, 1), token(1), LOCAL, now)
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
        assert_eq!(table.registration_count(), 0);
    }

    #[test]
    fn requested_ttls_are_clamped() {
        let mut table = table();
        let now = Instant::now();
        let mut huge = request(&["a"], 1000, 1);
        huge.ttl_ms = u64::MAX;
        let lease = table.register(huge, token(1), LOCAL, now).unwrap();
        assert_eq!(lease.ttl_ms, 300_000);
    }

    #[test]
    fn registrations_beyond_the_total_limit_are_refused() {
        let limits = Limits {
            max_registrations: 3,
            max_registrations_per_source: 100,
        };
        let mut table = LeaseTable::new(TtlBounds::default(), limits);
        let now = Instant::now();
        table
            .register(request(&["a", "b"], 1000, 1), token(1), LOCAL, now)
            .unwrap();
        let refused = table.register(request(&["c", "d"], 1001, 1), token(2), LOCAL, now);
        assert!(
            matches!(refused, Err(MatchmakerError::LimitReached { limit: 3, .. })),
            "{refused:?}"
        );
        table
            .register(request(&["c"], 1001, 1), token(3), LOCAL, now)
            .unwrap();
    }

    #[test]
    fn registrations_beyond_the_per_source_limit_are_refused_for_that_source_only() {
        let limits = Limits {
            max_registrations: 100,
            max_registrations_per_source: 2,
        };
        let mut table = LeaseTable::new(TtlBounds::default(), limits);
        let now = Instant::now();
        let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
        table
            .register(request(&["a", "b"], 1000, 1), token(1), LOCAL, now)
            .unwrap();
        let refused = table.register(request(&["c"], 1001, 1), token(2), LOCAL, now);
        assert!(
            matches!(refused, Err(MatchmakerError::LimitReached { limit: 2, .. })),
            "{refused:?}"
        );
        table
            .register(request(&["c"], 1001, 1), token(3), other, now)
            .unwrap();
        table.unregister(token(1), now).unwrap();
        table
            .register(request(&["c"], 1002, 1), token(4), LOCAL, now)
            .unwrap();
    }

    #[test]
    fn a_host_is_one_source_all_of_127_slash_8_and_an_ipv6_slash_64() {
        let limits = Limits {
            max_registrations: 100,
            max_registrations_per_source: 2,
        };
        let mut table = LeaseTable::new(TtlBounds::default(), limits);
        let now = Instant::now();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let mut number = 0;
        let mut register = |table: &mut LeaseTable, from: &str| {
            number += 1;
            let request = request(&["a"], 1000 + number, 1);
            table.register(request, token(number as u8), ip(from), now)
        };
        register(&mut table, "127.0.0.1").unwrap();
        register(&mut table, "127.0.0.2").unwrap();
        let refused = register(&mut table, "127.0.0.6");
        let Err(MatchmakerError::LimitReached { what, limit: 2 }) = refused else {
            panic!("{refused:?}");
        };
        assert!(what.contains("127.0.0.0/8"), "{what}");
        register(&mut table, "2001:db8::1").unwrap();
        register(&mut table, "2001:db8::2").unwrap();
        assert!(register(&mut table, "2001:db8::ffff:3").is_err());
        register(&mut table, "2001:db8:0:1::1").unwrap();
        register(&mut table, "10.0.0.1").unwrap();
        register(&mut table, "10.0.0.2").unwrap();
    }

    #[test]
    fn list_pages_cover_everything_once_in_order() {
        let mut table = table();
        let now = Instant::now();
        let names: Vec<String> = (0..200)
            .map(|i| format!("service.procedure_{i:03}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        table
            .register(request(&refs, 1000, 1), token(1), LOCAL, now)
            .unwrap();
        table
            .register(request(&refs[..50], 2000, 1), token(2), LOCAL, now)
            .unwrap();
        table
            .register(request(&refs[..50], 2000, 1), token(3), LOCAL, now)
            .unwrap();
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let page = table.list(after, LIST_PAGE_BYTES, now).unwrap();
            pages += 1;
            let size = wire::encode_payload(&Ok::<_, ()>(&page)).unwrap().len();
            assert!(size <= LIST_PAGE_BYTES, "page of {size} bytes");
            seen.extend(
                page.registrations
                    .into_iter()
                    .map(|r| (r.name, r.endpoint, r.incarnation)),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert!(pages > 1);
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn a_page_too_small_for_one_registration_says_what_it_needs() {
        let mut table = table();
        let now = Instant::now();
        table
            .register(request(&["a"], 1000, 1), token(1), LOCAL, now)
            .unwrap();
        let needed = table.list(None, 40, now).unwrap_err();
        assert!(needed > 40);
        let page = table.list(None, needed, now).unwrap();
        assert_eq!(page.registrations.len(), 1);
    }
}
