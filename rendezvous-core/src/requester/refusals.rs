//! Port unreachable: the kernel's word that nothing listens where a call
//! was sent.
//!
//! A datagram to a port nobody has bound is answered by the destination
//! host with ICMP "destination unreachable"; Linux hands it to the sending
//! socket only if that socket is connected, or has `IP_RECVERR` (and
//! `IPV6_RECVERR`) set. The client socket is unconnected (one socket, all
//! endpoints), so it sets `IP_RECVERR`: each such error is queued with the
//! destination and the bytes of the datagram that was refused, and the
//! reader drains the queue when a receive fails. Those bytes name the
//! calls (client id, xid): each refused copy is known never to have been
//! delivered. A datagram is refused only by the host it was addressed to
//! (or a router on the way): the ICMP quotes the datagram's own bytes, so
//! an off-path forger would need the client's random id.
//!
//! Elsewhere than on Linux nothing is queued, and calls fall back on their
//! timers. Errors that are not "destination unreachable" are ignored.

use std::net::SocketAddr;

/// One refused datagram: where it was sent, and (the start of) its bytes.
#[derive(Debug)]
pub(super) struct Refused {
    pub(super) to: SocketAddr,
    pub(super) datagram: Vec<u8>,
}

#[cfg(target_os = "linux")]
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
#[cfg(target_os = "linux")]
use std::io::IoSliceMut;
#[cfg(target_os = "linux")]
use std::net::{SocketAddrV4, SocketAddrV6};
#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, AsRawFd};

/// `SO_EE_ORIGIN_ICMP`, `SO_EE_ORIGIN_ICMP6`.
#[cfg(target_os = "linux")]
const ORIGIN_ICMP: u8 = 2;
#[cfg(target_os = "linux")]
const ORIGIN_ICMP6: u8 = 3;
/// Destination unreachable: ICMP type 3, ICMPv6 type 1.
#[cfg(target_os = "linux")]
const UNREACHABLE: u8 = 3;
#[cfg(target_os = "linux")]
const UNREACHABLE6: u8 = 1;

/// A bound on one drain, far above what a socket's receive buffer
/// can queue: the queue is emptied, since a non-empty one keeps the
/// socket polling as readable.
#[cfg(target_os = "linux")]
const MAX_AT_ONCE: usize = 100_000;

/// Asks the kernel to queue ICMP errors on `socket`.
#[cfg(target_os = "linux")]
pub(super) fn enable(socket: &impl AsFd, ipv4: bool) {
    let result = if ipv4 {
        setsockopt(socket, sockopt::Ipv4RecvErr, &true)
    } else {
        // A v6 socket may also send to v4-mapped addresses.
        let _ = setsockopt(socket, sockopt::Ipv4RecvErr, &true);
        setsockopt(socket, sockopt::Ipv6RecvErr, &true)
    };
    if let Err(error) = result {
        tracing::debug!(%error, "could not ask for port-unreachable errors; calls rely on timers");
    }
}

/// The refusals queued on `socket`, without waiting.
#[cfg(target_os = "linux")]
pub(super) fn drain(socket: &impl AsRawFd) -> Vec<Refused> {
    let mut refused = Vec::new();
    let mut buffer = vec![0u8; 2048];
    let mut control = nix::cmsg_space!(nix::libc::sock_extended_err, nix::libc::sockaddr_in6);
    for _ in 0..MAX_AT_ONCE {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
        let received =
            recvmsg::<SockaddrStorage>(socket.as_raw_fd(), &mut iov, Some(&mut control), flags);
        let Ok(message) = received else {
            break;
        };
        let unreachable = message
            .cmsgs()
            .into_iter()
            .flatten()
            .any(|cmsg| match cmsg {
                ControlMessageOwned::Ipv4RecvErr(error, _) => {
                    error.ee_origin == ORIGIN_ICMP && error.ee_type == UNREACHABLE
                }
                ControlMessageOwned::Ipv6RecvErr(error, _) => {
                    error.ee_origin == ORIGIN_ICMP6 && error.ee_type == UNREACHABLE6
                }
                _ => false,
            });
        let to = message.address.as_ref().and_then(address);
        let length = message.bytes;
        if let (true, Some(to)) = (unreachable, to) {
            refused.push(Refused {
                to,
                datagram: buffer[..length.min(buffer.len())].to_vec(),
            });
        }
    }
    refused
}

#[cfg(target_os = "linux")]
fn address(storage: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    let v6 = SocketAddrV6::from(*storage.as_sockaddr_in6()?);
    // A v4 destination sent from a v6 socket.
    Some(match v6.ip().to_ipv4_mapped() {
        Some(v4) => SocketAddr::from((v4, v6.port())),
        None => SocketAddr::V6(v6),
    })
}

#[cfg(not(target_os = "linux"))]
pub(super) fn enable<S>(_socket: &S, _ipv4: bool) {}

#[cfg(not(target_os = "linux"))]
pub(super) fn drain<S>(_socket: &S) -> Vec<Refused> {
    Vec::new()
}
