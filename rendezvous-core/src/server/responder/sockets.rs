//! Binding what a responder serves on: the UDP socket and, with the stream
//! transport, the TCP listener beside it. A leaf.
//!
//! Why the same port number rather than a port of its own, advertised in
//! the registration: one registered address then names both transports
//! (TCP and UDP ports are separate name spaces), so nothing changes in the
//! matchmaker, its stores or its lookups, and `Client::call_at`, which
//! knows only an address, reaches the stream too. The price is a bind
//! that can meet the TCP port taken: with port 0 another pair is tried;
//! with a fixed port the start fails, naming the TCP port.

use std::io;
use std::net::SocketAddr;

/// Binds a UDP socket at `address` and, when `stream`, a TCP listener on
/// the same IP and port number, so that one registered address names both.
/// With port 0 the pair is retried on other ports while the TCP port the
/// OS gave UDP is taken.
pub(super) fn bind(
    address: SocketAddr,
    stream: bool,
) -> io::Result<(std::net::UdpSocket, Option<std::net::TcpListener>)> {
    const TRIES: usize = 16;
    let tries = if stream && address.port() == 0 {
        TRIES
    } else {
        1
    };
    for tried in 1..=tries {
        let udp = std::net::UdpSocket::bind(address)?;
        if !stream {
            return Ok((udp, None));
        }
        let beside = SocketAddr::new(address.ip(), udp.local_addr()?.port());
        match std::net::TcpListener::bind(beside) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(error) if error.kind() == io::ErrorKind::AddrInUse && tried < tries => {}
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!(
                        "could not bind the stream listener at TCP {beside}, beside the UDP socket: {error}; free that TCP port, or bind port 0"
                    ),
                ));
            }
        }
    }
    unreachable!("the last try returns")
}
