//! The reading role: one waiting call at a time reads the socket.
//!
//! There is no receive task. The reader hands each ACK or reply it reads to
//! the call waiting on its xid (every message of a batched reply); when it
//! leaves, it nudges another waiting call to take over. With one call in
//! flight the caller reads its own reply, with no hop through another task;
//! with many, the reader dispatches to the rest.

use super::in_flight::Incoming;
use super::socket::ClientSocket;
use crate::rt;
use crate::sync::lock;
use crate::wire::{MAX_DATAGRAM_BYTES, Message, Xid};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The reading role, held by one waiting call at a time. Dropping it hands
/// the role to another waiting call.
pub(super) struct Reader<'a> {
    socket: &'a ClientSocket,
    xid: Xid,
    buffer: Vec<u8>,
}

impl<'a> Reader<'a> {
    /// The role for the call `xid`, if no other call holds it.
    pub(super) fn acquire(socket: &'a ClientSocket, xid: Xid) -> Option<Reader<'a>> {
        socket
            .reading
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        let buffer = lock(&socket.buffer)
            .take()
            .unwrap_or_else(|| vec![0u8; MAX_DATAGRAM_BYTES + 1]);
        Some(Reader {
            socket,
            xid,
            buffer,
        })
    }

    /// Reads one datagram and hands each ACK or reply in it to its call;
    /// returns the one for the reading call itself, if there is one.
    pub(super) async fn receive(&mut self) -> Option<Incoming> {
        let socket = self.socket;
        let length = match socket.socket.recv_from(&mut self.buffer).await {
            Ok((length, _from)) => length,
            Err(error) => {
                // ICMP errors surface here on some platforms; the calls' own
                // timers deal with the silence.
                tracing::debug!(%error, "client socket receive error");
                rt::sleep(Duration::from_millis(1)).await;
                return None;
            }
        };
        let mut mine = None;
        for message in Message::decode_batch(&self.buffer[..length]) {
            let Some((xid, incoming)) = message.ok().and_then(|(m, _)| socket.incoming(m)) else {
                continue;
            };
            if xid == self.xid {
                mine = Some(incoming);
            } else {
                socket.in_flight.deliver(xid, incoming);
            }
        }
        mine
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        *lock(&self.socket.buffer) = Some(std::mem::take(&mut self.buffer));
        self.socket.reading.store(false, Ordering::Release);
        self.socket.in_flight.nudge(Some(self.xid));
    }
}
