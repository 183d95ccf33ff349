//! The calling side: one socket per client, calls retransmitted under the
//! retry policy until their reply or deadline.

pub(crate) mod transport;

use crate::error::Error;
use crate::wire::{MAX_DATAGRAM_BYTES, Outcome};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The unspecified address of the family of `target`, port 0, so one socket
/// can reach it.
pub(crate) fn bind_address_for(target: SocketAddr) -> SocketAddr {
    let ip = match target.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// The error for an outcome in which the procedure returned nothing.
pub(crate) fn refusal(procedure: &str, endpoint: std::net::SocketAddr, outcome: Outcome) -> Error {
    let procedure = procedure.to_owned();
    let remote = |reason: String| Error::Remote {
        procedure: procedure.clone(),
        endpoint,
        reason,
    };
    match outcome {
        Outcome::Return(_) => remote("returned a value where none was expected".into()),
        Outcome::Panicked(message) => Error::ProcedurePanicked {
            procedure,
            endpoint,
            message,
        },
        Outcome::NoSuchProcedure => remote("the server there does not have this procedure".into()),
        Outcome::SignatureMismatch(actual) => remote(format!(
            "the server's procedure has signature {actual}, not the one this caller was built against"
        )),
        Outcome::WrongIncarnation => {
            remote("the server there restarted since the address was looked up".into())
        }
        Outcome::UnsupportedVersion(versions) => remote(format!(
            "the server speaks protocol versions {versions:?}, not this client's"
        )),
        Outcome::Malformed(reason) => remote(format!("the server could not decode the call: {reason}")),
        Outcome::BadArguments(reason) => remote(format!("arguments rejected: {reason}")),
        Outcome::ReplyTooLarge { size, limit } => Error::PayloadTooLarge {
            what: "result",
            size: size as usize,
            limit: limit.min(MAX_DATAGRAM_BYTES as u64) as usize,
        },
        Outcome::ReplyEvicted => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "it ran, but the server evicted its reply from its reply cache before this client received it".into(),
        },
        Outcome::DeadlineExceeded => Error::OutcomeUnknown {
            procedure,
            endpoint,
            reason: "the server cancelled it at its deadline, possibly part-way through".into(),
        },
    }
}
