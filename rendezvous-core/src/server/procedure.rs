//! Procedures as the server runs them: a name, a signature and a handler
//! from argument bytes to result bytes, with the types erased.

use super::call_counts::{CallCounters, CallCounts};
use crate::rt::Instant;
use crate::signature::Fingerprint;
use crate::wire::{self, ClientId, Elsewhere, MAX_NAME_BYTES, Payload, Xid};
use futures_lite::future::Boxed;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Who is calling and how long they wait: what the server knows of one
/// call besides its arguments. A `#[procedure]` gets it by taking an
/// argument of this type (`ctx: CallContext`), which the server supplies
/// and which never travels; hand-built procedures get it as their
/// handler's second argument.
///
/// Every call a handler sees is new to this server: a duplicate of it is
/// answered from the reply cache (an ACK while it runs, its reply after)
/// and never reaches the handler. Whether it reached *another* server
/// first (an idempotent call failing over here) is [`CallContext::elsewhere`].
#[derive(Clone, Copy, Debug)]
pub struct CallContext {
    /// The address the call came from (as UDP says: it can be forged).
    pub peer: SocketAddr,
    /// The calling client instance.
    pub client: ClientId,
    /// The call's transaction id within `client`: (client, xid) names the
    /// call, across retransmissions.
    pub xid: Xid,
    /// The size of the call's datagram: what a reply bounded by
    /// [`crate::wire::AMPLIFICATION_FACTOR`] is measured against.
    pub datagram_bytes: usize,
    /// When the caller gives up: when this server admitted the call plus
    /// the time the call said its caller would still wait (`deadline_ms`,
    /// PROTOCOL.md "Deadlines"). The server cancels the call then (drops
    /// its future at its next await point) and answers `DeadlineExceeded`;
    /// a handler with slow steps can check [`CallContext::remaining`] to
    /// skip work no one will see.
    pub deadline: Instant,
    /// What the caller knew, when it sent the call here, of attempts at
    /// other servers: whether one acknowledged it (it started there) or
    /// went silent with it (it may have run there). Only calls of
    /// idempotent procedures move after that, so for the others this is
    /// always [`Elsewhere::Nowhere`]. A handler can use it to look for an
    /// effect an earlier attempt left before repeating it.
    pub elsewhere: Elsewhere,
}

impl CallContext {
    /// The time left before the caller's deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether the caller's deadline has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The most bytes of result that fit a reply within
    /// [`crate::wire::AMPLIFICATION_FACTOR`] of this call's datagram: what a
    /// procedure of a responder with `bound_replies` must stay within.
    pub fn result_budget(&self) -> usize {
        wire::result_budget(self.datagram_bytes)
    }
}

/// Why a handler produced no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// The argument bytes are not the procedure's parameters; it did not run.
    #[error("arguments do not match the procedure's parameters: {0}")]
    BadArguments(String),
    /// It ran, but its result could not be encoded.
    #[error("the result could not be encoded: {0}")]
    ResultUnencodable(String),
    /// It ran, but its encoded result exceeds a datagram.
    #[error("the result is {size} bytes, over the {limit}-byte datagram limit")]
    ResultTooLarge { size: usize, limit: usize },
}

/// A type-erased handler: argument bytes in, result bytes out (each in one
/// buffer or, with a large byte string, two: see [`wire::Payload`]).
pub type Handler =
    Arc<dyn Fn(Payload, CallContext) -> Boxed<Result<Payload, HandlerError>> + Send + Sync>;

/// One procedure a server exposes.
#[derive(Clone)]
pub struct Procedure {
    name: String,
    signature: Fingerprint,
    signature_text: Option<String>,
    handler: Handler,
    read_only: bool,
    /// Shared by clones: a clone is the same procedure.
    calls: Arc<CallCounters>,
}

impl Procedure {
    /// A procedure from a raw handler over encoded bytes.
    pub fn new<F, Fut>(name: impl Into<String>, signature: Fingerprint, handler: F) -> Procedure
    where
        F: Fn(Vec<u8>, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<u8>, HandlerError>> + Send + 'static,
    {
        Procedure::over_payloads(name, signature, move |args: Payload, context| {
            let result = handler(args.into_vec(), context);
            async move { result.await.map(Payload::from) }
        })
    }

    /// A procedure from a handler over payloads as they are held.
    fn over_payloads<F, Fut>(
        name: impl Into<String>,
        signature: Fingerprint,
        handler: F,
    ) -> Procedure
    where
        F: Fn(Payload, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Payload, HandlerError>> + Send + 'static,
    {
        Procedure {
            name: name.into(),
            signature,
            signature_text: None,
            handler: Arc::new(move |args, context| Box::pin(handler(args, context))),
            read_only: false,
            calls: Arc::default(),
        }
    }

    /// Declares the procedure read-only: it changes nothing, so running a
    /// call of it again (a duplicate, a late copy) answers the same and
    /// harms nothing. Its calls are then answered without a record in the
    /// reply cache: a flood of them, from any number of made-up client
    /// ids, holds no memory and crowds out no one (the matchmaker's lookup
    /// and list are). Calls of it still count against the calls in flight.
    ///
    /// `#[procedure(idempotent)]` does not imply it: an idempotent write
    /// ("set x to 5") may run twice, but a late copy of it run after a
    /// later call ("set x to 6") would undo that one; the record is what
    /// recognises the late copy. Only a procedure that writes nothing may
    /// do without one.
    pub fn read_only(mut self) -> Procedure {
        self.read_only = true;
        self
    }

    /// Gives the signature text the fingerprint was made from
    /// (`math.add(i64, i64) -> i64`), registered beside it so that
    /// `rendezvous-daemon list` and mismatch errors can show types rather
    /// than hashes. `#[procedure]` gives it; without it the registration
    /// carries the fingerprint alone. A text over
    /// [`MAX_SIGNATURE_TEXT_BYTES`](crate::protocol::matchmaker::MAX_SIGNATURE_TEXT_BYTES)
    /// is refused by the matchmaker.
    pub fn with_signature_text(mut self, text: impl Into<String>) -> Procedure {
        self.signature_text = Some(text.into());
        self
    }

    /// The signature text given by [`Procedure::with_signature_text`].
    pub fn signature_text(&self) -> Option<&str> {
        self.signature_text.as_deref()
    }

    /// How its calls on this server ended so far.
    pub fn calls(&self) -> CallCounts {
        self.calls.read()
    }

    /// Where the responder counts each call's end.
    pub(crate) fn call_counters(&self) -> &CallCounters {
        &self.calls
    }

    /// Whether it was declared [`Procedure::read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// A procedure from a typed async function: `A` is the argument tuple
    /// (CBOR array on the wire), `R` the result.
    pub fn typed<A, R, F, Fut>(name: impl Into<String>, signature: Fingerprint, f: F) -> Procedure
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(A, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        let f = Arc::new(f);
        Procedure::over_payloads(name, signature, move |bytes: Payload, context| {
            let f = f.clone();
            async move {
                // Bounded already: by a datagram, or the stream's limit. By
                // value, so a large byte string keeps its buffer, and the
                // rest is not held while the procedure runs.
                let args: A = wire::decode_payload_owned(bytes, wire::MAX_FRAME_BYTES)
                    .map_err(|error| HandlerError::BadArguments(error.to_string()))?;
                let result = f(args, context).await;
                // The responder holds the reply to its transport's limit.
                // By value, so a large byte string becomes the payload.
                wire::encode_payload_owned(result, wire::MAX_FRAME_BYTES).map_err(|error| {
                    match error {
                        wire::EncodeError::TooLarge { size, limit } => {
                            HandlerError::ResultTooLarge { size, limit }
                        }
                        other => HandlerError::ResultUnencodable(other.to_string()),
                    }
                })
            }
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn signature(&self) -> Fingerprint {
        self.signature
    }

    pub(crate) fn handler(&self) -> &Handler {
        &self.handler
    }
}

impl fmt::Debug for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Procedure")
            .field("name", &self.name)
            .field("signature", &self.signature)
            .finish_non_exhaustive()
    }
}

/// Why a set of procedures cannot be served.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProcedureSetError {
    #[error(
        "two procedures are named `{name}` (signatures {first} and {second}); give one of them another name"
    )]
    DuplicateName {
        name: String,
        first: Fingerprint,
        second: Fingerprint,
    },
    #[error("procedure name `{name}` is invalid: names are 1 to {MAX_NAME_BYTES} bytes long")]
    InvalidName { name: String },
}

/// The procedures one socket serves, by name.
#[derive(Clone, Debug, Default)]
pub struct ProcedureSet {
    by_name: HashMap<String, Arc<Procedure>>,
}

impl ProcedureSet {
    pub fn new() -> ProcedureSet {
        ProcedureSet::default()
    }

    /// Adds a procedure; a second one with the same name is an error naming both.
    pub fn insert(&mut self, procedure: Procedure) -> Result<(), ProcedureSetError> {
        if procedure.name.is_empty() || procedure.name.len() > MAX_NAME_BYTES {
            return Err(ProcedureSetError::InvalidName {
                name: procedure.name,
            });
        }
        if let Some(existing) = self.by_name.get(&procedure.name) {
            return Err(ProcedureSetError::DuplicateName {
                name: procedure.name.clone(),
                first: existing.signature,
                second: procedure.signature,
            });
        }
        self.by_name
            .insert(procedure.name.clone(), Arc::new(procedure));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Procedure>> {
        self.by_name.get(name)
    }

    /// Every procedure, sorted by name.
    pub fn procedures(&self) -> Vec<&Procedure> {
        let mut all: Vec<&Procedure> = self.by_name.values().map(|p| &**p).collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}
