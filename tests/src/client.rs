//! The client most tests call through: their matchmakers, and a deadline
//! that only a hang reaches.

use rendezvous_core::Client;
use std::net::SocketAddr;
use std::time::Duration;

/// A deadline no healthy call comes near, even on a loaded machine.
pub const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// A client of the matchmaker at `matchmaker`, with [`CALL_DEADLINE`].
pub fn client(matchmaker: SocketAddr) -> Client {
    client_of(&[matchmaker])
}

/// A client of `matchmakers` (in order of preference), with
/// [`CALL_DEADLINE`].
pub fn client_of(matchmakers: &[SocketAddr]) -> Client {
    Client::builder()
        .matchmakers(matchmakers.iter().copied())
        .deadline(CALL_DEADLINE)
        .build()
        .expect("build a client")
}
