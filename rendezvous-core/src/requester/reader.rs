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
use crate::wire::{MAX_DATAGRAM_BYTES, Message, Outcome, Xid};
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
        // Alone in flight, its reply may be due within microseconds.
        let spun = match socket.in_flight.lock().len() {
            0 | 1 => socket.spin.receive(&socket.spinning, &mut self.buffer),
            _ => None,
        };
        let received = match spun {
            Some(received) => received,
            None => socket.socket.recv_from(&mut self.buffer).await,
        };
        let length = match received {
            Ok((length, _from)) => length,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
                // A copy found nothing listening (`refusals`): tell its call.
                socket.take_refusals();
                return None;
            }
            Err(error) => {
                tracing::debug!(%error, "client socket receive error");
                socket.take_refusals();
                rt::sleep(Duration::from_millis(1)).await;
                return None;
            }
        };
        let mut mine = None;
        let mut messages = Message::decode_batch(&self.buffer[..length])
            .filter_map(|message| message.ok().map(|(message, _)| message))
            .peekable();
        while let Some(message) = messages.next() {
            // `[4]` followed by `[12, uptime]` for the same call is one
            // refusal, and `[8]` followed by `[13, size]` one notice, each
            // read as the second (PROTOCOL.md).
            if messages
                .peek()
                .is_some_and(|next| completed_by(&message, next))
            {
                continue;
            }
            let Some((xid, incoming)) = socket.incoming(message) else {
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

/// Whether `next` completes `message` for the same call: the
/// `[12, uptime]` after a `[4]`, or the `[13, size]` after an `[8]`.
fn completed_by(message: &Message, next: &Message) -> bool {
    let (Message::Reply(first), Message::Reply(second)) = (message, next) else {
        return false;
    };
    let pair = matches!(
        (&first.outcome, &second.outcome),
        (
            Outcome::WrongIncarnation,
            Outcome::WrongIncarnationUptime(_)
        ) | (Outcome::ReplyTooLarge { .. }, Outcome::ReplyWaiting { .. })
    );
    pair && second.client == first.client
        && second.xid == first.xid
        && second.incarnation == first.incarnation
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        *lock(&self.socket.buffer) = Some(std::mem::take(&mut self.buffer));
        self.socket.reading.store(false, Ordering::Release);
        self.socket.in_flight.nudge(Some(self.xid));
    }
}
