//! A typed client of the matchmaker, on the one request/response core.
//!
//! With a [`Secret`], register, renew and unregister are signed (see
//! [`super::auth`]). Lookups and list requests are padded to
//! [`PADDED_REQUEST_BYTES`], since the matchmaker answers no request with a
//! reply more than [`wire::AMPLIFICATION_FACTOR`] times its size; an answer
//! that needs more is asked again with the padding the matchmaker names.

use super::auth::{self, Authenticated, Secret};
use super::protocol::*;
use crate::client::transport::{Failure, Transport};
use crate::client::{bind_address_for, refusal};
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::signature::Fingerprint;
use crate::wire::{self, Call, ClientId, Incarnation, Outcome, Xid};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_bytes::ByteBuf;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a matchmaker request waits by default: the matchmaker answers
/// from memory, so silence this long means it is not there.
pub const MATCHMAKER_DEADLINE: Duration = Duration::from_secs(3);

/// Lookups and list requests are padded to about this many bytes of
/// datagram, so that the matchmaker may answer with a full list page
/// (`3 × 420 − 35 ≥ 1 200` bytes of result) or 18 IPv4 endpoints.
pub const PADDED_REQUEST_BYTES: usize = 420;

/// Talks to one matchmaker.
#[derive(Clone, Debug)]
pub struct MatchmakerClient {
    transport: Transport,
    address: SocketAddr,
    policy: RetryPolicy,
    secret: Option<Secret>,
}

impl MatchmakerClient {
    /// A client of the matchmaker at `address`, on a socket of its own.
    pub async fn connect(address: SocketAddr) -> Result<MatchmakerClient, Error> {
        let bind = bind_address_for(address);
        let transport = Transport::bind(bind)
            .map_err(|e| Error::io(format!("could not bind a client socket on {bind}"), e))?;
        Ok(MatchmakerClient::on(transport, address))
    }

    /// Shares an existing transport (one socket per client).
    pub(crate) fn on(transport: Transport, address: SocketAddr) -> MatchmakerClient {
        MatchmakerClient {
            transport,
            address,
            policy: RetryPolicy::default().with_deadline(MATCHMAKER_DEADLINE),
            secret: None,
        }
    }

    /// The same client, signing register, renew and unregister with
    /// `secret` (or not at all, with `None`).
    pub fn with_secret(mut self, secret: Option<Secret>) -> MatchmakerClient {
        self.secret = secret;
        self
    }

    /// The same client with another retry policy (and deadline).
    pub fn with_policy(mut self, policy: RetryPolicy) -> MatchmakerClient {
        self.policy = policy;
        self
    }

    pub fn address(&self) -> SocketAddr {
        self.address
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
        self.signed(REGISTER_SIGNATURE, request).await
    }

    /// Extends a lease; returns the TTL granted.
    pub async fn renew(&self, token: LeaseToken) -> Result<Duration, Error> {
        let request = RenewRequest { token, auth: None };
        let renewed: Renewed = self.signed(RENEW_SIGNATURE, request).await?;
        Ok(Duration::from_millis(renewed.ttl_ms))
    }

    /// Ends a lease and removes its registrations.
    pub async fn unregister(&self, token: LeaseToken) -> Result<(), Error> {
        let request = UnregisterRequest { token, auth: None };
        self.signed(UNREGISTER_SIGNATURE, request).await
    }

    /// Sends a register, renew or unregister, signed if this client has a
    /// secret. Exactly what it is sent, `auth` included: for tests and for
    /// tools that sign by other means.
    pub async fn send_signed<R, T>(&self, request: R) -> Result<T, Error>
    where
        R: Authenticated,
        T: DeserializeOwned,
    {
        let signature = match R::PROCEDURE {
            REGISTER => REGISTER_SIGNATURE,
            RENEW => RENEW_SIGNATURE,
            _ => UNREGISTER_SIGNATURE,
        };
        self.request(R::PROCEDURE, signature, request).await
    }

    async fn signed<R: Authenticated, T: DeserializeOwned>(
        &self,
        signature: Fingerprint,
        mut request: R,
    ) -> Result<T, Error> {
        if let Some(secret) = &self.secret {
            auth::sign(secret, &mut request)?;
        }
        self.request(R::PROCEDURE, signature, request).await
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
        self.padded(LOOKUP, LOOKUP_SIGNATURE, request).await
    }

    /// One page of registrations, starting after `after`.
    pub async fn list_page(&self, after: Option<ListCursor>) -> Result<ListPage, Error> {
        let request = |padding| ListRequest {
            after: after.clone(),
            padding,
        };
        self.padded(LIST, LIST_SIGNATURE, request).await
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
    async fn padded<A, T, F>(
        &self,
        procedure: &'static str,
        signature: Fingerprint,
        request: F,
    ) -> Result<T, Error>
    where
        A: Serialize,
        T: DeserializeOwned,
        F: Fn(Option<ByteBuf>) -> A,
    {
        let mut target = PADDED_REQUEST_BYTES;
        loop {
            let padding = padding_for(procedure, signature, &request(None), target);
            match self.request(procedure, signature, request(padding)).await {
                Err(Error::RequestTooSmall { needed_bytes }) if needed_bytes > target => {
                    target = needed_bytes.min(wire::MAX_DATAGRAM_BYTES);
                }
                other => return other,
            }
        }
    }

    async fn request<A: Serialize, T: DeserializeOwned>(
        &self,
        procedure: &'static str,
        signature: Fingerprint,
        argument: A,
    ) -> Result<T, Error> {
        let args = wire::encode_payload(&(argument,)).map_err(|error| Error::Encode {
            what: format!("the arguments of `{procedure}`"),
            reason: error.to_string(),
        })?;
        let answer = self
            .transport
            .call(self.address, procedure, signature, args, &self.policy)
            .await
            .map_err(|failure| match failure {
                Failure::Expired | Failure::Silent => Error::MatchmakerUnreachable {
                    address: self.address,
                },
                Failure::TooLarge { size, limit } => Error::PayloadTooLarge {
                    what: "matchmaker request",
                    size,
                    limit,
                },
                Failure::Io(error) => Error::io(
                    format!("could not reach the matchmaker at {}", self.address),
                    error,
                ),
            })?;
        let bytes = match answer {
            Outcome::Return(bytes) => bytes,
            other => return Err(refusal(procedure, self.address, other)),
        };
        let result: Result<T, MatchmakerError> =
            wire::decode_payload(&bytes).map_err(|error| Error::Decode {
                what: format!("the matchmaker's answer to `{procedure}`"),
                reason: error.to_string(),
            })?;
        result.map_err(Error::from)
    }
}

/// Padding that brings the call carrying `request` to at least `target`
/// bytes (or none, if it is that large already). The estimate takes the
/// client id at its widest and the xid and watermark at their narrowest, so
/// the real datagram is never smaller than `target`.
fn padding_for<A: Serialize>(
    procedure: &str,
    signature: Fingerprint,
    request: &A,
    target: usize,
) -> Option<ByteBuf> {
    let args = wire::encode_payload(&(request,)).ok()?;
    let call = Call {
        client: ClientId(u64::MAX),
        xid: Xid(1),
        incarnation: Incarnation::ANY,
        procedure: procedure.to_owned(),
        signature,
        deadline: MATCHMAKER_DEADLINE,
        done_below: Xid(1),
        args,
    };
    let size = call.encode().ok()?.len();
    // The `padding` key and the byte string's header: at most 8 + 3 bytes.
    let wanted = target
        .checked_sub(size)?
        .saturating_sub(PADDING_FRAMING_BYTES);
    (wanted > 0).then(|| ByteBuf::from(vec![0u8; wanted]))
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
            } => Error::SignatureMismatch {
                name,
                expected,
                available,
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
