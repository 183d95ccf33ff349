//! Who may register, renew and unregister.
//!
//! **With a shared secret**, every such request must carry a MAC under it
//! (`rendezvous_core::protocol::matchmaker::auth`), from any address, loopback
//! included. The MAC is checked first, so a sender without the secret can
//! neither fill the nonce cache nor learn anything from which check failed.
//! Then the timestamp must lie within [`Gatekeeper::window`] of this host's
//! clock, and the nonce must not have been seen within that window.
//!
//! **Without a secret**, only loopback peers may: a server on this host is
//! as trusted as the matchmaker's own user. UDP source addresses can be
//! forged, but not as loopback from off the host: a Linux kernel drops
//! packets arriving on an outside interface with a loopback source
//! ("martians"), and loopback replies never leave the host.
//! And a registration must come *from the endpoint it registers* (its
//! source address and port equal to the endpoint; [`Gatekeeper::check_register`]),
//! so that a local process can speak only for a port it holds: it cannot
//! register at another server's endpoint, with a made-up incarnation or
//! not. A rendezvous server sends its registrations from its own serving
//! socket, so this holds for it by construction. Renew and unregister need
//! no such check: they carry the lease token, which the matchmaker sent
//! only to the registered endpoint (the register's source).
//!
//! Lookups and lists are open to all: they reveal where procedures live,
//! nothing more.

use rendezvous_core::protocol::matchmaker::auth::{
    self, Authenticated, MacError, NONCE_BYTES, Secret,
};
use rendezvous_core::protocol::matchmaker::{MatchmakerError, RegisterRequest};
use rendezvous_core::server::CallContext;
use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// How far a request's timestamp may be from the matchmaker's clock, either
/// way: room for ordinary clock skew and retransmissions (a matchmaker
/// request gives up after 3 s), short enough that a captured request is
/// soon useless.
pub const DEFAULT_AUTH_WINDOW: Duration = Duration::from_secs(30);

/// Nonces remembered at most. Only requests with a valid MAC are
/// remembered, so only holders of the secret can fill it; 65 536 is over
/// 2 000 registrations a second for a 30 s window, in about 4 MiB.
pub const DEFAULT_MAX_NONCES: usize = 65_536;

/// Why a request was refused, for the rate-limited log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalKind {
    MissingMac,
    BadMac,
    Stale,
    Replayed,
    NotLoopback,
    ForeignEndpoint,
}

impl RefusalKind {
    pub fn describe(self) -> &'static str {
        match self {
            RefusalKind::MissingMac => "no MAC, but this matchmaker has a secret",
            RefusalKind::BadMac => "a MAC made with another secret",
            RefusalKind::Stale => "a timestamp outside the window",
            RefusalKind::Replayed => "a nonce already used (a replay)",
            RefusalKind::NotLoopback => "from off this host, and this matchmaker has no secret",
            RefusalKind::ForeignEndpoint => {
                "an unsigned registration for an endpoint other than its source"
            }
        }
    }
}

/// Decides whether a register, renew or unregister may proceed.
#[derive(Debug)]
pub struct Gatekeeper {
    secret: Option<Secret>,
    window: Duration,
    nonces: NonceCache,
}

impl Gatekeeper {
    pub fn new(secret: Option<Secret>, window: Duration, max_nonces: usize) -> Gatekeeper {
        Gatekeeper {
            secret,
            window,
            nonces: NonceCache::new(max_nonces),
        }
    }

    /// Whether requests must be signed.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// How far a request's timestamp may be from this host's clock.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Admits the registration `request`, arriving as `context` says at
    /// `now`, or says why not: [`Gatekeeper::check`], and without a secret,
    /// only from the endpoint it registers (address and port; an IPv4
    /// address may arrive IPv4-mapped).
    pub fn check_register(
        &mut self,
        request: &RegisterRequest,
        context: &CallContext,
        now: SystemTime,
    ) -> Result<(), (RefusalKind, MatchmakerError)> {
        self.check(request, context, now)?;
        if self.secret.is_some() || same_endpoint(context.peer, request.endpoint) {
            return Ok(());
        }
        // Short: the reply may be at most 3 times an unpadded register.
        let reason = format!(
            "an unsigned registration must come from the endpoint it registers, {}, not {}; or give the matchmaker --secret-file and the server the same secret",
            request.endpoint, context.peer
        );
        Err((
            RefusalKind::ForeignEndpoint,
            MatchmakerError::Unauthenticated { reason },
        ))
    }

    /// Admits `request`, arriving as `context` says at `now`, or says why not.
    pub fn check<R: Authenticated>(
        &mut self,
        request: &R,
        context: &CallContext,
        now: SystemTime,
    ) -> Result<(), (RefusalKind, MatchmakerError)> {
        let Some(secret) = &self.secret else {
            if context.peer.ip().to_canonical().is_loopback() {
                return Ok(());
            }
            let refusal = MatchmakerError::SecretRequired { peer: context.peer };
            return Err((RefusalKind::NotLoopback, refusal));
        };
        let signed = auth::verify(secret, request).map_err(|error| {
            let kind = match error {
                MacError::Missing => RefusalKind::MissingMac,
                MacError::Mismatch => RefusalKind::BadMac,
            };
            let reason = error.to_string();
            (kind, MatchmakerError::Unauthenticated { reason })
        })?;
        let now_ms = auth::unix_millis(now);
        let window_ms = self.window.as_millis().min(u128::from(u64::MAX)) as u64;
        if signed.timestamp_ms.abs_diff(now_ms) > window_ms {
            let refusal = MatchmakerError::StaleRequest {
                request_ms: signed.timestamp_ms,
                matchmaker_ms: now_ms,
                window_ms,
            };
            return Err((RefusalKind::Stale, refusal));
        }
        self.nonces
            .admit(signed.timestamp_ms, signed.nonce, now_ms, window_ms)
            .map_err(|()| (RefusalKind::Replayed, MatchmakerError::Replayed))
    }
}

/// Whether `peer` is `endpoint`: the same port and address, an IPv4
/// address matching its IPv4-mapped IPv6 form.
fn same_endpoint(peer: SocketAddr, endpoint: SocketAddr) -> bool {
    peer.port() == endpoint.port() && peer.ip().to_canonical() == endpoint.ip().to_canonical()
}

/// The nonces of requests admitted within the window, at most `capacity`.
///
/// A nonce is forgotten once its timestamp has left the window: a replay of
/// it would be refused as stale anyway. When the cache is full, the nonce
/// with the oldest timestamp is dropped and the *floor* rises to that
/// timestamp: every request stamped at or before the floor is refused, so a
/// dropped nonce can never be replayed (at worst an honest request stamped
/// that early is refused, and its sender's next request passes).
#[derive(Debug)]
struct NonceCache {
    capacity: usize,
    by_time: BTreeSet<(u64, [u8; NONCE_BYTES])>,
    seen: HashSet<[u8; NONCE_BYTES]>,
    floor_ms: Option<u64>,
}

impl NonceCache {
    fn new(capacity: usize) -> NonceCache {
        NonceCache {
            capacity: capacity.max(1),
            by_time: BTreeSet::new(),
            seen: HashSet::new(),
            floor_ms: None,
        }
    }

    /// Records the nonce, or refuses it as a possible replay.
    fn admit(
        &mut self,
        timestamp_ms: u64,
        nonce: [u8; NONCE_BYTES],
        now_ms: u64,
        window_ms: u64,
    ) -> Result<(), ()> {
        while let Some(&(oldest, old_nonce)) = self.by_time.first() {
            if oldest.saturating_add(window_ms) >= now_ms {
                break;
            }
            self.by_time.pop_first();
            self.seen.remove(&old_nonce);
        }
        if self.floor_ms.is_some_and(|floor| timestamp_ms <= floor) || self.seen.contains(&nonce) {
            return Err(());
        }
        self.by_time.insert((timestamp_ms, nonce));
        self.seen.insert(nonce);
        while self.by_time.len() > self.capacity {
            if let Some((dropped, dropped_nonce)) = self.by_time.pop_first() {
                self.seen.remove(&dropped_nonce);
                self.floor_ms = Some(self.floor_ms.map_or(dropped, |floor| floor.max(dropped)));
            }
        }
        Ok(())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_time.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rendezvous_core::protocol::matchmaker::{LeaseToken, RenewRequest};
    use rendezvous_core::protocol::wire::{ClientId, Xid};
    use std::sync::atomic::{AtomicU64, Ordering};

    const WINDOW: Duration = Duration::from_secs(30);

    fn secret() -> Secret {
        Secret::new(*b"correct horse battery staple").unwrap()
    }

    fn context(peer: &str) -> CallContext {
        CallContext {
            peer: peer.parse().unwrap(),
            client: ClientId(1),
            xid: Xid(1),
            datagram_bytes: 100,
            deadline: std::time::Instant::now() + Duration::from_secs(10),
            elsewhere: Default::default(),
        }
    }

    fn renew_signed_at(time: SystemTime) -> RenewRequest {
        let mut request = RenewRequest {
            token: LeaseToken([3; 16]),
            auth: None,
        };
        static DRAWN: AtomicU64 = AtomicU64::new(0);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce[..8].copy_from_slice(&DRAWN.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        auth::sign_with(&secret(), &mut request, auth::unix_millis(time), nonce);
        request
    }

    fn kind(result: Result<(), (RefusalKind, MatchmakerError)>) -> Option<RefusalKind> {
        result.err().map(|(kind, _)| kind)
    }

    #[test]
    fn without_a_secret_loopback_peers_are_admitted() {
        let mut gate = Gatekeeper::new(None, WINDOW, 16);
        let request = RenewRequest {
            token: LeaseToken([3; 16]),
            auth: None,
        };
        let now = SystemTime::now();
        for peer in ["127.0.0.1:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000"] {
            assert_eq!(gate.check(&request, &context(peer), now), Ok(()), "{peer}");
        }
    }

    #[test]
    fn without_a_secret_a_non_loopback_peer_is_refused_naming_it() {
        let mut gate = Gatekeeper::new(None, WINDOW, 16);
        let request = RenewRequest {
            token: LeaseToken([3; 16]),
            auth: None,
        };
        let peer: SocketAddr = "192.0.2.10:4000".parse().unwrap();
        let refused = gate.check(&request, &context("192.0.2.10:4000"), SystemTime::now());
        assert_eq!(
            refused,
            Err((
                RefusalKind::NotLoopback,
                MatchmakerError::SecretRequired { peer }
            ))
        );
    }

    fn register_at(endpoint: &str) -> RegisterRequest {
        RegisterRequest {
            procedures: Vec::new(),
            endpoint: endpoint.parse().unwrap(),
            incarnation: 1,
            ttl_ms: 30_000,
            auth: None,
        }
    }

    #[test]
    fn without_a_secret_a_registration_is_admitted_only_from_its_own_endpoint() {
        let mut gate = Gatekeeper::new(None, WINDOW, 16);
        let now = SystemTime::now();
        for (endpoint, peer) in [
            ("127.0.0.1:4000", "127.0.0.1:4000"),
            ("127.0.0.1:4000", "[::ffff:127.0.0.1]:4000"),
            ("[::1]:4000", "[::1]:4000"),
        ] {
            let admitted = gate.check_register(&register_at(endpoint), &context(peer), now);
            assert_eq!(admitted, Ok(()), "{endpoint} from {peer}");
        }
        for (endpoint, peer) in [
            ("127.0.0.1:4000", "127.0.0.1:4001"),
            ("127.0.0.1:4000", "127.0.0.2:4000"),
            ("[::1]:4000", "127.0.0.1:4000"),
        ] {
            let refused = gate.check_register(&register_at(endpoint), &context(peer), now);
            let Err((RefusalKind::ForeignEndpoint, MatchmakerError::Unauthenticated { reason })) =
                refused
            else {
                panic!("{endpoint} from {peer}: {refused:?}");
            };
            assert!(
                reason.contains(endpoint) && reason.contains(peer),
                "{reason}"
            );
            assert!(reason.contains("--secret-file"), "{reason}");
        }
    }

    #[test]
    fn with_a_secret_a_signed_registration_is_admitted_for_any_endpoint() {
        let mut gate = Gatekeeper::new(Some(secret()), WINDOW, 16);
        let now = SystemTime::now();
        let mut request = register_at("192.0.2.1:4000");
        auth::sign_with(
            &secret(),
            &mut request,
            auth::unix_millis(now),
            [7; NONCE_BYTES],
        );
        assert_eq!(
            gate.check_register(&request, &context("192.0.2.10:5555"), now),
            Ok(())
        );
    }

    #[test]
    fn with_a_secret_a_fresh_signed_request_is_admitted_from_anywhere() {
        let mut gate = Gatekeeper::new(Some(secret()), WINDOW, 16);
        let now = SystemTime::now();
        let request = renew_signed_at(now);
        assert_eq!(
            gate.check(&request, &context("192.0.2.10:4000"), now),
            Ok(())
        );
    }

    #[test]
    fn with_a_secret_an_unsigned_request_is_refused_even_from_loopback() {
        let mut gate = Gatekeeper::new(Some(secret()), WINDOW, 16);
        let request = RenewRequest {
            token: LeaseToken([3; 16]),
            auth: None,
        };
        let refused = gate.check(&request, &context("127.0.0.1:4000"), SystemTime::now());
        assert_eq!(kind(refused), Some(RefusalKind::MissingMac));
    }

    #[test]
    fn a_request_signed_with_another_secret_is_refused() {
        let other = Secret::new(*b"another secret entirely, 32 byte").unwrap();
        let mut gate = Gatekeeper::new(Some(other), WINDOW, 16);
        let now = SystemTime::now();
        let refused = gate.check(&renew_signed_at(now), &context("127.0.0.1:1"), now);
        assert_eq!(kind(refused), Some(RefusalKind::BadMac));
    }

    #[test]
    fn timestamps_just_inside_the_window_pass_and_just_outside_are_stale() {
        let mut gate = Gatekeeper::new(Some(secret()), WINDOW, 16);
        let now = SystemTime::now();
        let at = context("127.0.0.1:1");
        let inside = Duration::from_millis(29_999);
        let outside = Duration::from_millis(30_001);
        assert_eq!(gate.check(&renew_signed_at(now - inside), &at, now), Ok(()));
        assert_eq!(gate.check(&renew_signed_at(now + inside), &at, now), Ok(()));
        for skewed in [now - outside, now + outside] {
            let refused = gate.check(&renew_signed_at(skewed), &at, now);
            assert_eq!(kind(refused), Some(RefusalKind::Stale));
        }
    }

    #[test]
    fn a_nonce_seen_within_the_window_is_a_replay() {
        let mut gate = Gatekeeper::new(Some(secret()), WINDOW, 16);
        let now = SystemTime::now();
        let request = renew_signed_at(now);
        let at = context("127.0.0.1:1");
        assert_eq!(gate.check(&request, &at, now), Ok(()));
        let later = now + Duration::from_secs(10);
        assert_eq!(
            gate.check(&request, &at, later),
            Err((RefusalKind::Replayed, MatchmakerError::Replayed))
        );
    }

    #[test]
    fn nonces_are_forgotten_once_their_timestamps_leave_the_window() {
        let mut cache = NonceCache::new(16);
        let window_ms = 30_000;
        for n in 0..10u8 {
            cache
                .admit(1_000, [n; NONCE_BYTES], 1_000, window_ms)
                .unwrap();
        }
        assert_eq!(cache.len(), 10);
        cache
            .admit(40_000, [99; NONCE_BYTES], 40_000, window_ms)
            .unwrap();
        assert_eq!(cache.len(), 1, "the ten older nonces left with the window");
    }

    #[test]
    fn a_full_nonce_cache_stays_bounded_and_refuses_what_it_dropped() {
        let mut cache = NonceCache::new(4);
        let window_ms = 30_000;
        for n in 0..8u8 {
            let at = 1_000 + u64::from(n);
            cache.admit(at, [n; NONCE_BYTES], at, window_ms).unwrap();
            assert!(cache.len() <= 4);
        }
        // Nonces 0..4 were dropped: replaying them must still fail.
        for n in 0..4u8 {
            let at = 1_000 + u64::from(n);
            assert_eq!(cache.admit(at, [n; NONCE_BYTES], 1_010, window_ms), Err(()));
        }
        // A fresh request stamped after the floor passes.
        assert_eq!(
            cache.admit(1_010, [50; NONCE_BYTES], 1_010, window_ms),
            Ok(())
        );
    }
}
