//! Who a message came from and by which transport: what its answers go
//! back by and are measured against. A leaf, below every other room.

use std::net::SocketAddr;

/// Where a message came from, and how large it was (its share of a batched
/// datagram, or its stream frame): what its answers go to and are
/// measured against.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer {
    pub(super) address: SocketAddr,
    pub(super) datagram_bytes: usize,
    pub(super) via: Via,
}

/// The transport a message came by, which its answers take back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Via {
    /// The UDP socket, to the source address.
    Datagram,
    /// The stream connection of this number (see `stream`).
    Stream(u64),
}
