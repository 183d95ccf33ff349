//! A typed client of the matchmaker, on the one request/response core.
//!
//! Each request is one [`Operation`]: its name, signature, request and
//! answer types come from it, never from a table here. With a [`Secret`],
//! register, renew and unregister are signed (see [`auth`]). Lookups and list requests are padded to
//! [`PADDED_REQUEST_BYTES`], since the matchmaker answers no request with a
//! reply more than [`wire::AMPLIFICATION_FACTOR`] times its size; an answer
//! that needs more is asked again with the padding the matchmaker names.
//!
//! # Several matchmakers
//!
//! Matchmakers that share one store (etcd) answer alike, so a client may be
//! given several, in order of preference, and use whichever answers:
//!
//! * **Stickiness.** Each request goes first to the daemon that answered
//!   last (at first, the first listed), then to the others in list order.
//!   In the steady state one daemon carries all the traffic.
//! * **No answer moves on.** A daemon gets one attempt per request: it ends
//!   after [`MAX_UNANSWERED`] transmissions in a row go unanswered (about
//!   300 ms on a loopback whose round trip is known, 1.5 s cold), or at the
//!   per-daemon deadline ([`MATCHMAKER_DEADLINE`], or the policy's). The
//!   last daemon of the round is not cut short: it gets the whole deadline,
//!   as a single daemon always has. So a dead daemon costs one attempt, and
//!   with one address nothing changes. A daemon that acknowledged the
//!   request is working on it: it keeps it until the deadline.
//! * **An answer is final**, whatever it says (`NotFound`, `UnknownLease`,
//!   `Unauthenticated`, ...): daemons sharing a store would say the same.
//!   The one exception is `StoreUnavailable`: that daemon cannot reach the
//!   store now, another may, so the request moves on.
//! * **Each daemon gets a new call** (its own xid, and a fresh signature
//!   with its own nonce): reply caches are per daemon, so the xid would buy
//!   nothing there, and a shared store may remember nonces.
//! * **A register is not repeated elsewhere once acknowledged.** A daemon
//!   that acknowledged a register and then fell silent may have stored it;
//!   sending it on would leave a second lease (harmless, it expires
//!   unrenewed, but not wanted). The request fails instead, and the next
//!   request starts at the next daemon: the server's keeper retries within
//!   100 ms, so the register moves on only when it must. An unacknowledged
//!   register moves on at once: that daemon is most likely gone, and if it
//!   stored the lease first, that lease expires within its TTL.
//! * When no daemon answered, the next request starts at the daemon after
//!   the one this request started at, and the error names every address
//!   tried: [`Error::MatchmakerUnreachable`], or [`Error::StoreUnavailable`]
//!   if any daemon said its store was down.
//!
//! Daemons with separate in-memory tables (no shared store) work too, the
//! way a restarted daemon does: a lease renewed at another daemon is
//! `UnknownLease` there, and the server registers again where it is.

use crate::error::{Error, refusal};
use crate::requester::{Failure, MAX_UNANSWERED, Requester, bind_address_for};
use crate::retry::RetryPolicy;
use crate::signature::Fingerprint;
use crate::sync::lock;
use crate::wire::{self, Call, ClientId, Elsewhere, Incarnation, Outcome, Xid};
use rendezvous_protocol::matchmaker::auth::{self, Authenticated, Secret};
use rendezvous_protocol::matchmaker::operation::{self, Operation};
use rendezvous_protocol::matchmaker::{
    EndpointInfo, Lease, LeaseToken, ListCursor, ListPage, ListRequest, Lookup, LookupRequest,
    MatchmakerError, MatchmakerStatus, ProcedureSpec, RegisterRequest, Registration, RenewRequest,
    StatusRequest, UnregisterRequest,
};
use serde_bytes::ByteBuf;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a matchmaker request waits for one daemon by default: the
/// matchmaker answers from memory, so silence this long means it is not
/// there. With several daemons, each gets this long at most (see the
/// module docs).
pub const MATCHMAKER_DEADLINE: Duration = Duration::from_secs(3);

/// Lookups and list requests are padded to about this many bytes of
/// datagram, so that the matchmaker may answer with a full list page
/// (`3 × 420 − 35 ≥ 1 200` bytes of result) or 18 IPv4 endpoints.
pub(crate) const PADDED_REQUEST_BYTES: usize = 420;

/// Talks to the matchmaker: one daemon, or several sharing a store, failing
/// over between them (see the module docs). Cheap to clone; clones share
/// the socket and the memory of which daemon answered last.
#[derive(Clone, Debug)]
pub struct MatchmakerClient {
    requester: Requester,
    /// In order of preference; never empty, no address twice.
    addresses: Arc<[SocketAddr]>,
    /// Index into `addresses` of the daemon asked first.
    preferred: Arc<AtomicUsize>,
    policy: RetryPolicy,
    secret: Option<Secret>,
    /// The last padded request's call size (see [`CallSizes`]).
    call_sizes: Arc<CallSizes>,
}

/// What one daemon did with one request.
enum Asked<T> {
    /// It answered; that is the result.
    Answered(Result<T, Error>),
    /// It answered that it cannot reach its store.
    StoreUnavailable(String),
    /// It did not answer; `acknowledged`: it had acknowledged the request.
    Silent { acknowledged: bool },
    /// The request could not be sent there.
    Unsendable(io::Error),
}

/// Why a daemon gave no usable answer, for the error naming them all.
enum Miss {
    Silent,
    StoreUnavailable(String),
    Unsendable(io::Error),
}

impl MatchmakerClient {
    /// A client of the matchmaker at `address`, on a socket of its own.
    pub async fn connect(address: SocketAddr) -> Result<MatchmakerClient, Error> {
        MatchmakerClient::connect_any(&[address]).await
    }

    /// A client of the matchmakers at `addresses` (in order of preference:
    /// the first is asked first until another answers instead), on a socket
    /// of its own, bound for the first address's IP family. An empty list
    /// is an error.
    pub async fn connect_any(addresses: &[SocketAddr]) -> Result<MatchmakerClient, Error> {
        let first = *addresses.first().ok_or_else(no_addresses)?;
        let bind = bind_address_for(first);
        let requester = Requester::bind(bind)
            .map_err(|e| Error::io(format!("could not bind a client socket on {bind}"), e))?;
        MatchmakerClient::on(requester, addresses)
    }

    /// Shares an existing requester (one socket per client).
    pub(crate) fn on(
        requester: Requester,
        addresses: &[SocketAddr],
    ) -> Result<MatchmakerClient, Error> {
        let mut distinct: Vec<SocketAddr> = Vec::with_capacity(addresses.len());
        for address in addresses {
            if !distinct.contains(address) {
                distinct.push(*address);
            }
        }
        if distinct.is_empty() {
            return Err(no_addresses());
        }
        Ok(MatchmakerClient {
            requester,
            addresses: distinct.into(),
            preferred: Arc::new(AtomicUsize::new(0)),
            policy: RetryPolicy::default().with_deadline(MATCHMAKER_DEADLINE),
            secret: None,
            call_sizes: Arc::default(),
        })
    }

    /// The same client, signing register, renew and unregister with
    /// `secret` (or not at all, with `None`).
    pub fn with_secret(mut self, secret: Option<Secret>) -> MatchmakerClient {
        self.secret = secret;
        self
    }

    /// The same client with another retry policy; its deadline is each
    /// daemon's.
    pub fn with_policy(mut self, policy: RetryPolicy) -> MatchmakerClient {
        self.policy = policy;
        self
    }

    /// The matchmaker asked first now: the one that answered last, else
    /// the first given. With one address, that address.
    pub fn address(&self) -> SocketAddr {
        self.addresses[self.preferred_index()]
    }

    /// Every matchmaker this client may ask, in order of preference.
    pub fn addresses(&self) -> &[SocketAddr] {
        &self.addresses
    }

    fn preferred_index(&self) -> usize {
        self.preferred.load(Ordering::Relaxed) % self.addresses.len()
    }

    /// Registers `procedures` at `endpoint` under one lease.
    pub async fn register(
        &self,
        procedures: Vec<ProcedureSpec>,
        endpoint: SocketAddr,
        incarnation: Incarnation,
        ttl: Duration,
    ) -> Result<Lease, Error> {
        let request = RegisterRequest {
            procedures,
            endpoint,
            incarnation: incarnation.0,
            ttl_ms: ttl.as_millis() as u64,
            auth: None,
        };
        self.signed(request).await
    }

    /// Extends a lease; returns the TTL granted.
    pub async fn renew(&self, token: LeaseToken) -> Result<Duration, Error> {
        let request = RenewRequest { token, auth: None };
        let renewed = self.signed(request).await?;
        Ok(Duration::from_millis(renewed.ttl_ms))
    }

    /// Ends a lease and removes its registrations.
    pub async fn unregister(&self, token: LeaseToken) -> Result<(), Error> {
        let request = UnregisterRequest { token, auth: None };
        self.signed(request).await
    }

    /// Sends a register, renew or unregister exactly as it is, `auth`
    /// included (this client's secret is not used): for tests and for tools
    /// that sign by other means. `T` is the operation's answer.
    pub async fn send_signed<R, T>(&self, request: R) -> Result<T, Error>
    where
        R: Authenticated,
        R::Operation: Operation<Answer = T>,
    {
        self.request::<R::Operation, _>(|| Ok(request.clone()))
            .await
    }

    /// Signs the request afresh for each daemon asked (a new timestamp and
    /// nonce), if this client has a secret.
    async fn signed<R: Authenticated>(
        &self,
        request: R,
    ) -> Result<<R::Operation as Operation>::Answer, Error> {
        let make = || {
            let mut request = request.clone();
            if let Some(secret) = &self.secret {
                auth::sign(secret, &mut request)?;
            }
            Ok(request)
        };
        self.request::<R::Operation, _>(make).await
    }
    /// Live endpoints of `name` whose signature is `signature` (any, if
    /// `None`): all of them, or as many as fit a reply to a padded request
    /// (18 IPv4 ones; [`MatchmakerClient::lookup_answer`] says whether
    /// others exist).
    pub async fn lookup(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
    ) -> Result<Vec<EndpointInfo>, Error> {
        Ok(self.lookup_answer(name, signature).await?.endpoints)
    }

    /// The whole answer to a lookup, `truncated` included.
    pub async fn lookup_answer(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
    ) -> Result<Lookup, Error> {
        let request = |padding| LookupRequest {
            name: name.to_owned(),
            signature,
            padding,
        };
        self.padded::<operation::Lookup, _>(request).await
    }

    /// One page of registrations, starting after `after`.
    pub async fn list_page(&self, after: Option<ListCursor>) -> Result<ListPage, Error> {
        let request = |padding| ListRequest {
            after: after.clone(),
            padding,
        };
        self.padded::<operation::List, _>(request).await
    }

    /// How the matchmaker is: its store, whether it reaches it, how much
    /// it holds. A matchmaker older than this operation refuses it as a
    /// procedure it does not have ([`Error::Remote`] with
    /// [`crate::Refusal::NoSuchProcedure`]).
    pub async fn status(&self) -> Result<MatchmakerStatus, Error> {
        self.request::<operation::Status, _>(|| Ok(StatusRequest::default()))
            .await
    }

    /// Every registration, all pages.
    pub async fn list(&self) -> Result<Vec<Registration>, Error> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_page(after).await?;
            all.extend(page.registrations);
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(all),
            }
        }
    }

    /// Sends the request padded to [`PADDED_REQUEST_BYTES`]; if the
    /// matchmaker says the answer needs a larger request, once more padded
    /// to what it said.
    async fn padded<O, F>(&self, request: F) -> Result<O::Answer, Error>
    where
        O: Operation,
        F: Fn(Option<ByteBuf>) -> O::Request,
    {
        let mut target = PADDED_REQUEST_BYTES;
        loop {
            let padding = padding_for::<O>(&request(None), target, &self.call_sizes);
            let make = || Ok(request(padding.clone()));
            match self.request::<O, _>(make).await {
                Err(Error::RequestTooSmall { needed_bytes }) if needed_bytes > target => {
                    target = needed_bytes.min(wire::MAX_DATAGRAM_BYTES);
                }
                other => return other,
            }
        }
    }

    /// Asks the daemons in turn, from the preferred one, until one
    /// answers; `make` builds the request for each daemon asked.
    async fn request<O, F>(&self, make: F) -> Result<O::Answer, Error>
    where
        O: Operation,
        F: Fn() -> Result<O::Request, Error>,
    {
        let count = self.addresses.len();
        let first = self.preferred_index();
        let order = std::iter::once(first).chain((0..count).filter(|&i| i != first));
        let mut missed: Vec<(SocketAddr, Miss)> = Vec::new();
        for (position, index) in order.enumerate() {
            let address = self.addresses[index];
            let last = position + 1 == count;
            let args = wire::encode_payload(&(make()?,)).map_err(|error| Error::Encode {
                what: format!("the arguments of `{}`", O::NAME),
                reason: error.to_string(),
            })?;
            match self.ask::<O>(address, args, last).await? {
                Asked::Answered(result) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return result;
                }
                Asked::StoreUnavailable(reason) => {
                    missed.push((address, Miss::StoreUnavailable(reason)));
                }
                Asked::Silent { acknowledged } => {
                    missed.push((address, Miss::Silent));
                    if acknowledged && O::NAME == operation::Register::NAME {
                        break;
                    }
                }
                Asked::Unsendable(error) => missed.push((address, Miss::Unsendable(error))),
            }
        }
        // Nobody answered: the next request starts further down the list.
        self.preferred.store((first + 1) % count, Ordering::Relaxed);
        Err(unanswered(missed))
    }

    /// One attempt at one daemon: until it answers, or leaves
    /// [`MAX_UNANSWERED`] transmissions in a row unanswered (unless it is
    /// the `last` one to ask), or the per-daemon deadline passes. Errors
    /// are those that no other daemon would change (the request is too
    /// large).
    async fn ask<O: Operation>(
        &self,
        address: SocketAddr,
        args: Vec<u8>,
        last: bool,
    ) -> Result<Asked<O::Answer>, Error> {
        let procedure = O::NAME;
        let max_unanswered = if last { u32::MAX } else { MAX_UNANSWERED };
        let mut call =
            self.requester
                .begin(procedure, O::SIGNATURE, args.into(), self.policy.deadline);
        // Still overloaded at the deadline, the answer is `Overloaded`; it
        // is final (another daemon sharing the store is no less loaded by
        // the same clients).
        let attempt = call
            .attempt_riding_out_overload(address, Incarnation::ANY, &self.policy, max_unanswered)
            .await;
        let answer = match attempt {
            Ok(answer) => answer,
            Err(Failure::Expired | Failure::Silent | Failure::Refused) => {
                return Ok(Asked::Silent {
                    acknowledged: call.acked_by().is_some(),
                });
            }
            Err(Failure::TooLarge { size, limit }) => {
                return Err(Error::PayloadTooLarge {
                    what: "matchmaker request",
                    size,
                    limit,
                });
            }
            Err(Failure::Io(error)) => return Ok(Asked::Unsendable(error)),
        };
        let bytes = match answer {
            Outcome::Return(bytes) => bytes.into_vec(),
            other => return Ok(Asked::Answered(Err(refusal(procedure, address, other)))),
        };
        let result: Result<O::Answer, MatchmakerError> = match wire::decode_payload(&bytes) {
            Ok(result) => result,
            Err(error) => {
                return Ok(Asked::Answered(Err(Error::Decode {
                    what: format!("the matchmaker's answer to `{procedure}`"),
                    reason: error.to_string(),
                })));
            }
        };
        Ok(match result {
            Err(MatchmakerError::StoreUnavailable { reason }) => Asked::StoreUnavailable(reason),
            other => Asked::Answered(other.map_err(Error::from)),
        })
    }
}

fn no_addresses() -> Error {
    Error::MatchmakerAddress {
        reason: "the list of matchmakers is empty; give at least one HOST:PORT".into(),
    }
}

/// The error when no daemon answered: a store that is down, if any daemon
/// said so (it is the one a person can fix); else silence, naming every
/// address; else the failure to send. With one address, that daemon's
/// error as it always was.
fn unanswered(mut missed: Vec<(SocketAddr, Miss)>) -> Error {
    if missed.len() == 1
        && let Some((address, miss)) = missed.pop()
    {
        return match miss {
            Miss::Silent => Error::MatchmakerUnreachable {
                addresses: vec![address],
            },
            Miss::StoreUnavailable(reason) => Error::StoreUnavailable { reason },
            Miss::Unsendable(error) => Error::io(
                format!("could not reach the matchmaker at {address}"),
                error,
            ),
        };
    }
    let addresses: Vec<SocketAddr> = missed.iter().map(|(address, _)| *address).collect();
    let details: Vec<String> = missed
        .iter()
        .map(|(address, miss)| match miss {
            Miss::Silent => format!("{address} did not answer"),
            Miss::StoreUnavailable(reason) => format!("{address}: {reason}"),
            Miss::Unsendable(error) => format!("{address}: {error}"),
        })
        .collect();
    let details = details.join("; ");
    let mut store_down = false;
    let mut unsendable = None;
    for (_, miss) in missed {
        match miss {
            Miss::StoreUnavailable(_) => store_down = true,
            Miss::Unsendable(error) => unsendable = Some(error),
            Miss::Silent => {}
        }
    }
    match unsendable {
        _ if store_down => Error::StoreUnavailable { reason: details },
        Some(error) => Error::io(format!("could not reach any matchmaker ({details})"), error),
        None => Error::MatchmakerUnreachable { addresses },
    }
}

/// Padding that brings the call carrying `request` to at least `target`
/// bytes (or none, if it is that large already). The estimate takes the
/// client id at its widest and the xid and watermark at their narrowest, so
/// the real datagram is never smaller than `target`.
fn padding_for<O: Operation>(
    request: &O::Request,
    target: usize,
    sizes: &CallSizes,
) -> Option<ByteBuf> {
    let args = wire::encode_payload(&(request,)).ok()?;
    let size = sizes.of::<O>(args)?;
    // The `padding` key and the byte string's header: at most 8 + 3 bytes.
    let wanted = target
        .checked_sub(size)?
        .saturating_sub(PADDING_FRAMING_BYTES);
    (wanted > 0).then(|| ByteBuf::from(vec![0u8; wanted]))
}

/// The size of the call carrying `args` as `padding_for` estimates it,
/// remembered for the last operation and length asked: the size depends on
/// nothing else, a client pads the same lookups again and again, and
/// working it out takes a whole envelope built and encoded only to be
/// measured (~1k instructions of a lookup's ~38k, callgrind).
#[derive(Debug, Default)]
struct CallSizes {
    last: Mutex<Option<(&'static str, usize, usize)>>,
}

impl CallSizes {
    fn of<O: Operation>(&self, args: Vec<u8>) -> Option<usize> {
        let length = args.len();
        if let Some((operation, args_bytes, size)) = *lock(&self.last)
            && operation == O::NAME
            && args_bytes == length
        {
            return Some(size);
        }
        let call = Call {
            client: ClientId(u64::MAX),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: O::NAME.to_owned(),
            signature: O::SIGNATURE,
            deadline: MATCHMAKER_DEADLINE,
            done_below: Xid(1),
            args: args.into(),
            elsewhere: Elsewhere::Nowhere,
        };
        let size = call.encode().ok()?.len();
        *lock(&self.last) = Some((O::NAME, length, size));
        Some(size)
    }
}

/// `"padding"` as a key (8 bytes) and a byte string header (up to 3); the
/// args byte string's own header may grow by up to 2 more.
const PADDING_FRAMING_BYTES: usize = 8;

impl From<MatchmakerError> for Error {
    fn from(error: MatchmakerError) -> Error {
        match error {
            MatchmakerError::NotFound { name } => Error::NotFound { name },
            MatchmakerError::SignatureMismatch {
                name,
                expected,
                available,
                available_texts,
            } => Error::SignatureMismatch {
                name,
                expected,
                available,
                expected_text: None,
                available_texts,
            },
            MatchmakerError::UnknownLease => Error::UnknownLease,
            MatchmakerError::InvalidRequest { reason } => Error::InvalidRequest { reason },
            MatchmakerError::Unauthenticated { reason } => Error::Unauthenticated { reason },
            MatchmakerError::StaleRequest {
                request_ms,
                matchmaker_ms,
                window_ms,
            } => Error::Unauthenticated {
                reason: format!(
                    "the request was made at {request_ms} ms past the Unix epoch by this host's clock, {} ms from the matchmaker's ({matchmaker_ms}), outside its ±{window_ms} ms window; synchronise the clocks (NTP), or widen the matchmaker's --auth-window",
                    request_ms.abs_diff(matchmaker_ms)
                ),
            },
            MatchmakerError::Replayed => Error::Unauthenticated {
                reason: "the request's nonce was used before: it is a replay".into(),
            },
            MatchmakerError::SecretRequired { peer } => Error::Unauthenticated {
                reason: format!(
                    "the matchmaker has no shared secret, so it accepts registrations only from its own host, and this one came from {peer}; give the matchmaker --secret-file and this server the same secret (ServerBuilder::secret_file or RENDEZVOUS_SECRET_FILE)"
                ),
            },
            MatchmakerError::LimitReached { what, limit } => Error::LimitReached { what, limit },
            MatchmakerError::RequestTooSmall { needed_bytes } => Error::RequestTooSmall {
                needed_bytes: needed_bytes.min(usize::MAX as u64) as usize,
            },
            MatchmakerError::StoreUnavailable { reason } => Error::StoreUnavailable { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A remembered size is the size worked out afresh, and is used only
    /// for the same operation and length: the padded call still reaches
    /// its target.
    #[test]
    fn a_remembered_call_size_pads_as_a_fresh_one_would() {
        let lookup = |name: &str| LookupRequest {
            name: name.into(),
            signature: Some(Fingerprint(7)),
            padding: None,
        };
        let sizes = CallSizes::default();
        for name in ["a", "a", "a-longer-name", "a-longer-name", "a"] {
            let remembered = padding_for::<operation::Lookup>(&lookup(name), 420, &sizes);
            let fresh = padding_for::<operation::Lookup>(&lookup(name), 420, &CallSizes::default());
            assert_eq!(remembered, fresh, "{name}");
            let padded = LookupRequest {
                padding: remembered,
                ..lookup(name)
            };
            // A client id is random: 64 bits wide but for 1 in 2^32.
            let call = Call {
                client: ClientId(u64::MAX - 1),
                xid: Xid(1),
                incarnation: Incarnation::ANY,
                procedure: operation::Lookup::NAME.to_owned(),
                signature: operation::Lookup::SIGNATURE,
                deadline: MATCHMAKER_DEADLINE,
                done_below: Xid(1),
                args: wire::encode_payload(&(padded,)).unwrap().into(),
                elsewhere: Elsewhere::Nowhere,
            };
            assert!(call.encode().unwrap().len() >= 420, "{name}");
        }
    }

    #[test]
    fn one_silent_matchmaker_gives_the_error_it_always_did() {
        let error = unanswered(vec![(addr(5000), Miss::Silent)]);
        assert!(matches!(
            &error,
            Error::MatchmakerUnreachable { addresses } if addresses == &[addr(5000)]
        ));
        assert_eq!(
            error.to_string(),
            "the matchmaker at 127.0.0.1:5000 did not answer; start `rendezvous-daemon --listen 127.0.0.1:5000`, or point --matchmaker / RENDEZVOUS_MATCHMAKER at a running one"
        );
    }

    #[test]
    fn several_silent_matchmakers_are_all_named_in_order() {
        let error = unanswered(vec![(addr(5001), Miss::Silent), (addr(5000), Miss::Silent)]);
        assert!(matches!(
            &error,
            Error::MatchmakerUnreachable { addresses } if addresses == &[addr(5001), addr(5000)]
        ));
        let message = error.to_string();
        assert!(
            message.contains("127.0.0.1:5001, 127.0.0.1:5000"),
            "{message}"
        );
    }

    #[test]
    fn one_store_down_gives_its_own_reason() {
        let error = unanswered(vec![(
            addr(5000),
            Miss::StoreUnavailable("etcd timed out".into()),
        )]);
        assert!(
            matches!(&error, Error::StoreUnavailable { reason } if reason == "etcd timed out"),
            "{error:?}"
        );
    }

    #[test]
    fn a_store_down_anywhere_is_the_error_and_every_matchmaker_is_accounted_for() {
        let error = unanswered(vec![
            (addr(5000), Miss::Silent),
            (addr(5001), Miss::StoreUnavailable("etcd timed out".into())),
        ]);
        let Error::StoreUnavailable { reason } = &error else {
            panic!("expected StoreUnavailable, got {error:?}");
        };
        assert_eq!(
            reason,
            "127.0.0.1:5000 did not answer; 127.0.0.1:5001: etcd timed out"
        );
    }

    #[test]
    fn a_send_failure_is_reported_with_every_matchmaker_tried() {
        let error = unanswered(vec![
            (addr(5000), Miss::Silent),
            (
                addr(5001),
                Miss::Unsendable(io::Error::other("network unreachable")),
            ),
        ]);
        let message = error.to_string();
        assert!(matches!(error, Error::Io { .. }), "{error:?}");
        assert!(
            message.starts_with(
                "could not reach any matchmaker (127.0.0.1:5000 did not answer; 127.0.0.1:5001: network unreachable)"
            ),
            "{message}"
        );
    }
}
