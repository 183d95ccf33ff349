//! A typed client of the matchmaker, on the one request/response core.

use super::protocol::*;
use crate::client::transport::{Failure, Transport};
use crate::client::{bind_address_for, refusal};
use crate::error::Error;
use crate::retry::RetryPolicy;
use crate::signature::Fingerprint;
use crate::wire::{self, Incarnation, Outcome};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a matchmaker request waits by default: the matchmaker answers
/// from memory, so silence this long means it is not there.
pub const MATCHMAKER_DEADLINE: Duration = Duration::from_secs(3);

/// Talks to one matchmaker.
#[derive(Clone, Debug)]
pub struct MatchmakerClient {
    transport: Transport,
    address: SocketAddr,
    policy: RetryPolicy,
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
        }
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
        };
        self.request(REGISTER, REGISTER_SIGNATURE, request).await
    }

    /// Extends a lease; returns the TTL granted.
    pub async fn renew(&self, token: LeaseToken) -> Result<Duration, Error> {
        let renewed: Renewed = self
            .request(RENEW, RENEW_SIGNATURE, RenewRequest { token })
            .await?;
        Ok(Duration::from_millis(renewed.ttl_ms))
    }

    /// Ends a lease and removes its registrations.
    pub async fn unregister(&self, token: LeaseToken) -> Result<(), Error> {
        let request = UnregisterRequest { token };
        self.request(UNREGISTER, UNREGISTER_SIGNATURE, request)
            .await
    }

    /// Every live endpoint of `name` whose signature is `signature` (any, if `None`).
    pub async fn lookup(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
    ) -> Result<Vec<EndpointInfo>, Error> {
        let request = LookupRequest {
            name: name.to_owned(),
            signature,
        };
        let lookup: Lookup = self.request(LOOKUP, LOOKUP_SIGNATURE, request).await?;
        Ok(lookup.endpoints)
    }

    /// One page of registrations, starting after `after`.
    pub async fn list_page(&self, after: Option<ListCursor>) -> Result<ListPage, Error> {
        self.request(LIST, LIST_SIGNATURE, ListRequest { after })
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
        }
    }
}
