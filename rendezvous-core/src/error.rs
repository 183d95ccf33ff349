//! The one error type callers see.
//!
//! Each variant carries the facts needed to act (the name, the address tried,
//! both fingerprints, the size and the limit) and its message says what to do.
//! A procedure's own error type is not here: a procedure returning
//! `Result<T, E>` delivers its `E` as part of its result.

use crate::signature::Fingerprint;
use crate::wire::{MAX_DATAGRAM_BYTES, Outcome};
use rendezvous_protocol::matchmaker::auth::SecretError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Why a remote call or a matchmaker request failed.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No live server has registered the procedure.
    #[error(
        "no server has registered `{name}` with the matchmaker; start a server that exposes it, or check the name"
    )]
    NotFound { name: String },

    /// Servers exist for the name, but none with the signature this caller expects.
    /// The texts are there when known (registrations and proxies made by
    /// `#[procedure]` carry them), so that `u64` against `i64` shows as
    /// types rather than as two hashes.
    #[error(
        "`{name}`: this caller expects signature {}, but the servers offer {}; rebuild the caller against the servers' interface, or run a server of the matching version",
        with_text(*expected, expected_text.as_deref()),
        list(available, available_texts)
    )]
    SignatureMismatch {
        name: String,
        expected: Fingerprint,
        available: Vec<Fingerprint>,
        /// The caller's signature text, when it knows it.
        expected_text: Option<String>,
        /// The texts of `available` the matchmaker knew, by fingerprint.
        available_texts: Vec<(Fingerprint, String)>,
    },

    /// No reply came before the deadline.
    #[error(
        "`{procedure}` got no reply from {endpoint} within its {deadline:?} deadline ({attempts} transmissions); the server may be down, overloaded or unreachable: check it, or give the call a longer deadline"
    )]
    DeadlineExceeded {
        procedure: String,
        endpoint: SocketAddr,
        attempts: u32,
        deadline: Duration,
    },

    /// The call may or may not have run, and the caller cannot find out.
    #[error(
        "`{procedure}` at {endpoint}: {reason}. Its outcome is unknown to this caller: retry only if running it twice is harmless (declare such procedures idempotent)"
    )]
    OutcomeUnknown {
        procedure: String,
        endpoint: SocketAddr,
        reason: String,
    },

    /// The server refused the call without running it; [`Refusal`] says why.
    #[error("`{procedure}` at {endpoint} was refused: {refusal}")]
    Remote {
        procedure: String,
        endpoint: SocketAddr,
        refusal: Refusal,
    },

    /// The procedure ran and panicked; the server kept serving.
    #[error("`{procedure}` panicked on {endpoint}: {message}")]
    ProcedurePanicked {
        procedure: String,
        endpoint: SocketAddr,
        message: String,
    },

    /// Arguments or a result over a message limit: the client's own
    /// (`ClientBuilder::max_message_bytes`, checked before anything is
    /// sent), the server's (`ServerBuilder::max_message_bytes`: the call
    /// did not run when it is the arguments), or one datagram's (a
    /// matchmaker request, or a server without the stream transport).
    #[error(
        "the {what} is {size} bytes, over the {limit}-byte message limit; send less per call, or raise the limit (ClientBuilder::max_message_bytes for what a client sends, ServerBuilder::max_message_bytes for what a server accepts and returns)"
    )]
    PayloadTooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },

    /// No matchmaker answered: every address given was tried, in the order
    /// tried (one address when one was given).
    #[error("{}", unreachable(addresses))]
    MatchmakerUnreachable { addresses: Vec<SocketAddr> },

    /// The matchmaker addresses given (to a builder, on a command line or
    /// in `RENDEZVOUS_MATCHMAKER`) cannot be used.
    #[error("no usable matchmaker address: {reason}")]
    MatchmakerAddress { reason: String },

    /// The matchmaker does not know the lease: it expired, or the matchmaker restarted.
    #[error(
        "the matchmaker does not know this lease (it expired or the matchmaker restarted); register again"
    )]
    UnknownLease,

    /// The matchmaker refused a request as invalid.
    #[error("the matchmaker refused the request: {reason}")]
    InvalidRequest { reason: String },

    /// The matchmaker refused a register, renew or unregister as not
    /// authenticated: no MAC, a MAC made with another secret, a timestamp
    /// outside its window, a replayed nonce, or no secret on a matchmaker
    /// reached from off the host or by a registration sent from another
    /// endpoint than the one it registers.
    #[error("the matchmaker refused the request as unauthenticated: {reason}")]
    Unauthenticated { reason: String },

    /// The matchmaker is at one of its limits.
    #[error(
        "the matchmaker refused the request: it would exceed its limit of {limit} {what}; unregister servers that are gone, or raise the limit"
    )]
    LimitReached { what: String, limit: u64 },

    /// The matchmaker's answer needs a larger request (it never replies with
    /// more than three times a request's size); the matchmaker client pads
    /// and asks again by itself.
    #[error(
        "the matchmaker's answer needs a request of at least {needed_bytes} bytes; pad the request (the `padding` field)"
    )]
    RequestTooSmall { needed_bytes: usize },

    /// The matchmaker cannot reach the store it shares with other
    /// matchmakers (etcd): registrations and renewals wait until it can.
    /// Servers keep retrying by themselves, through every matchmaker they
    /// were given.
    #[error(
        "the matchmaker cannot reach its shared store, so it cannot register or renew now ({reason}); check that etcd is running and reachable from the matchmaker, or use another matchmaker"
    )]
    StoreUnavailable { reason: String },

    /// The server was running as many calls as it allows, or had no room
    /// for a new client of this host (its share of the reply cache), until
    /// the deadline; the call did not run there.
    #[error(
        "`{procedure}` at {endpoint} was refused as overloaded (the server was running as many calls as it allows, or its reply cache held as many clients of this host as it shares out to one) until the call's deadline; it did not run. Retry later, run more servers, or raise ServerBuilder::max_calls_in_flight or reply_cache_bytes"
    )]
    Overloaded {
        procedure: String,
        endpoint: SocketAddr,
    },

    /// A server cannot start as configured.
    #[error("the server cannot start: {reason}")]
    Configuration { reason: String },

    /// Bytes that should have decoded did not.
    #[error("could not decode {what}: {reason}")]
    Decode { what: String, reason: String },

    /// A value could not be encoded (a serde `Serialize` impl failed).
    #[error("could not encode {what}: {reason}")]
    Encode { what: String, reason: String },

    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// Why a server refused a call without running it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The server at that address does not serve the procedure (it moved,
    /// or another server took the port).
    #[error("the server there does not have this procedure")]
    NoSuchProcedure,

    /// The server's procedure of that name has another signature.
    #[error(
        "the server's procedure has signature {server}, not the one this caller was built against"
    )]
    SignatureMismatch { server: Fingerprint },

    /// The server restarted since its address was looked up.
    #[error("the server there restarted since the address was looked up")]
    Restarted,

    /// The server speaks none of this client's protocol versions.
    #[error("the server speaks protocol versions {versions:?}, not this client's")]
    UnsupportedVersion { versions: Vec<u64> },

    /// The server could not decode the call's envelope.
    #[error("the server could not decode the call: {reason}")]
    Malformed { reason: String },

    /// The server could not decode the arguments as the procedure's.
    #[error("arguments rejected: {reason}")]
    BadArguments { reason: String },

    /// The server returned a value to a request that expects none (a
    /// protocol error on its side).
    #[error("returned a value where none was expected")]
    UnexpectedValue,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// The error for an answer in which the procedure returned nothing: a
/// refusal, or a failure the server reported. Both clients use it, so a
/// refusal reads the same from a lookup as from a user call.
pub(crate) fn refusal(procedure: &str, endpoint: SocketAddr, outcome: Outcome) -> Error {
    let procedure = procedure.to_owned();
    let remote = |refusal: Refusal| Error::Remote {
        procedure: procedure.clone(),
        endpoint,
        refusal,
    };
    match outcome {
        Outcome::Return(_) => remote(Refusal::UnexpectedValue),
        Outcome::Panicked(message) => Error::ProcedurePanicked {
            procedure,
            endpoint,
            message,
        },
        Outcome::NoSuchProcedure => remote(Refusal::NoSuchProcedure),
        Outcome::SignatureMismatch(server) => remote(Refusal::SignatureMismatch { server }),
        Outcome::WrongIncarnation | Outcome::WrongIncarnationUptime(_) => {
            remote(Refusal::Restarted)
        }
        Outcome::UnsupportedVersion(versions) => remote(Refusal::UnsupportedVersion { versions }),
        Outcome::Malformed(reason) => remote(Refusal::Malformed { reason }),
        Outcome::BadArguments(reason) => remote(Refusal::BadArguments { reason }),
        Outcome::ReplyTooLarge { size, limit } => Error::PayloadTooLarge {
            what: "result",
            size: size as usize,
            limit: limit as usize,
        },
        // Read over the stream by a client that knows it; one that reached
        // the caller is a reply that could not be fetched.
        Outcome::ReplyWaiting { size } => Error::PayloadTooLarge {
            what: "result",
            size: size as usize,
            limit: MAX_DATAGRAM_BYTES,
        },
        Outcome::MessageTooLarge { size, limit } => Error::PayloadTooLarge {
            what: "call",
            size: size as usize,
            limit: limit as usize,
        },
        Outcome::ReplyEvicted => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "the server's full reply cache evicted this call's reply before this client received it".into(),
        },
        Outcome::DeadlineExceeded => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "the server cancelled it at its deadline, possibly part-way through".into(),
        },
        Outcome::Overloaded => Error::Overloaded {
            procedure,
            endpoint,
        },
    }
}

impl From<SecretError> for Error {
    fn from(error: SecretError) -> Error {
        Error::Configuration {
            reason: error.reason,
        }
    }
}

fn unreachable(addresses: &[SocketAddr]) -> String {
    match addresses {
        [address] => format!(
            "the matchmaker at {address} did not answer; start `rendezvous-daemon --listen {address}`, or point --matchmaker / RENDEZVOUS_MATCHMAKER at a running one"
        ),
        _ => {
            let all: Vec<String> = addresses.iter().map(ToString::to_string).collect();
            format!(
                "none of the matchmakers at {} answered; start `rendezvous-daemon --listen ADDR` on one of them, or point --matchmaker / RENDEZVOUS_MATCHMAKER at running ones",
                all.join(", ")
            )
        }
    }
}

fn list(fingerprints: &[Fingerprint], texts: &[(Fingerprint, String)]) -> String {
    let all: Vec<String> = fingerprints
        .iter()
        .map(|&fingerprint| {
            let text = texts
                .iter()
                .find(|(f, _)| *f == fingerprint)
                .map(|(_, text)| text.as_str());
            with_text(fingerprint, text)
        })
        .collect();
    all.join(", ")
}

/// `` `math.add(i64, i64) -> i64` (0x…) `` when the text is known, the
/// fingerprint alone otherwise.
fn with_text(fingerprint: Fingerprint, text: Option<&str>) -> String {
    match text {
        Some(text) => format!("`{text}` ({fingerprint})"),
        None => fingerprint.to_string(),
    }
}

impl Error {
    /// Adds the caller's own signature text to a [`Error::SignatureMismatch`]
    /// that lacks it (the matchmaker knows only the caller's fingerprint);
    /// other errors pass unchanged. The proxies `#[procedure]` makes call it.
    pub fn with_expected_signature_text(self, text: &str) -> Error {
        match self {
            Error::SignatureMismatch {
                name,
                expected,
                available,
                expected_text: None,
                available_texts,
            } => Error::SignatureMismatch {
                name,
                expected,
                available,
                expected_text: Some(text.to_owned()),
                available_texts,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(outcome: Outcome) -> String {
        let endpoint = SocketAddr::from(([127, 0, 0, 1], 4000));
        refusal("math.add", endpoint, outcome).to_string()
    }

    /// The texts a refusal had when its reason was a string.
    #[test]
    fn a_refusal_reads_as_it_always_did() {
        let at = "`math.add` at 127.0.0.1:4000 was refused: ";
        for (outcome, reason) in [
            (
                Outcome::Return(vec![].into()),
                "returned a value where none was expected".to_owned(),
            ),
            (
                Outcome::NoSuchProcedure,
                "the server there does not have this procedure".to_owned(),
            ),
            (
                Outcome::SignatureMismatch(Fingerprint(0xab)),
                "the server's procedure has signature 0x00000000000000ab, not the one this caller was built against".to_owned(),
            ),
            (
                Outcome::WrongIncarnation,
                "the server there restarted since the address was looked up".to_owned(),
            ),
            (
                Outcome::UnsupportedVersion(vec![2, 3]),
                "the server speaks protocol versions [2, 3], not this client's".to_owned(),
            ),
            (
                Outcome::Malformed("bad kind".into()),
                "the server could not decode the call: bad kind".to_owned(),
            ),
            (
                Outcome::BadArguments("expected an array".into()),
                "arguments rejected: expected an array".to_owned(),
            ),
        ] {
            assert_eq!(refused(outcome), format!("{at}{reason}"));
        }
    }

    #[test]
    fn a_refusal_says_why_in_its_type() {
        let endpoint = SocketAddr::from(([127, 0, 0, 1], 4000));
        let error = refusal(
            "math.add",
            endpoint,
            Outcome::SignatureMismatch(Fingerprint(7)),
        );
        assert!(matches!(
            error,
            Error::Remote {
                refusal: Refusal::SignatureMismatch {
                    server: Fingerprint(7)
                },
                ..
            }
        ));
    }
}
