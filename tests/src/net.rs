//! Loopback addresses for tests: every socket of the harness and the tests
//! binds one.

use std::net::{Ipv4Addr, SocketAddr};

/// `127.0.0.1:port`; port 0 lets the OS choose.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A UDP loopback address nothing listens on now: bound by the OS, then
/// freed. Another socket may take it meanwhile, so a caller binding it
/// should be ready to try another.
pub fn free_address() -> SocketAddr {
    std::net::UdpSocket::bind(loopback(0))
        .and_then(|socket| socket.local_addr())
        .expect("bind a loopback socket to learn a free port")
}
