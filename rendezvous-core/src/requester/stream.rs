//! Calls over the stream transport (TCP, on the endpoint's port number):
//! a call too large for a datagram, and the fetch of a reply the server
//! said waits there (`[13]`). The call is the same message, named by the
//! same (client id, xid), so the server's reply cache makes every copy,
//! on either transport, one call.
//!
//! Connections are pooled per server address: taken for one exchange
//! (a call, then its acks and its reply), given back when the reply is
//! read, opened lazily when none is idle, closed after [`IDLE_FOR`] unused
//! (before the server's own idle timeout closes them under us). A pooled
//! connection the server has closed meanwhile shows as a broken exchange;
//! the caller's next try takes a fresh one (the broken one is dropped).

use crate::frame_read::read_message;
use crate::frame_write::write_frame;
use crate::rt::{self, Instant, TcpStream};
use crate::sync::lock;
use crate::wire::{
    DEFAULT_MAX_MESSAGE_BYTES, FRAME_HEADER_BYTES, Incarnation, Message, Outcome, Xid,
    frame_header, frame_length,
};
use futures_lite::AsyncReadExt;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a pooled connection may sit unused: shorter than a server's
/// idle timeout (60 s by default), so the client closes first.
pub(super) const IDLE_FOR: Duration = Duration::from_secs(30);

/// Idle connections kept per server; more are closed when given back.
pub(super) const MAX_IDLE_PER_SERVER: usize = 16;

/// The idle connections of one client, per server address, and its limit
/// on the messages it sends and reads.
#[derive(Debug)]
pub(super) struct StreamPool {
    idle: Mutex<HashMap<SocketAddr, Vec<(TcpStream, Instant)>>>,
    max_message_bytes: AtomicUsize,
}

impl Default for StreamPool {
    fn default() -> Self {
        StreamPool {
            idle: Mutex::default(),
            max_message_bytes: AtomicUsize::new(DEFAULT_MAX_MESSAGE_BYTES),
        }
    }
}

/// Why an exchange ended without a reply.
#[derive(Debug)]
pub(super) enum Broken {
    /// Nothing listens on the stream port: this copy reached no one.
    Refused,
    /// The connection failed or closed; the call may have reached the
    /// server.
    Lost,
    /// The call's deadline passed.
    Expired,
}

impl StreamPool {
    pub(super) fn max_message_bytes(&self) -> usize {
        self.max_message_bytes.load(Ordering::Relaxed)
    }

    pub(super) fn set_max_message_bytes(&self, bytes: usize) {
        self.max_message_bytes.store(bytes, Ordering::Relaxed);
    }

    /// The most recently used idle connection to `address`, if one is
    /// younger than [`IDLE_FOR`]; older ones are closed.
    fn take(&self, address: SocketAddr) -> Option<TcpStream> {
        let mut idle = lock(&self.idle);
        let connections = idle.get_mut(&address)?;
        connections.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        let taken = connections.pop().map(|(stream, _)| stream);
        if connections.is_empty() {
            idle.remove(&address);
        }
        taken
    }

    fn give_back(&self, address: SocketAddr, stream: TcpStream) {
        let mut idle = lock(&self.idle);
        let connections = idle.entry(address).or_default();
        if connections.len() < MAX_IDLE_PER_SERVER {
            connections.push((stream, Instant::now()));
        }
    }

    /// Sends `call` (an encoded call named `xid`, in parts written one
    /// after the other) to `address` over a stream, and reads until its
    /// reply, reporting each ack on the way; returns the reply's outcome
    /// and incarnation.
    pub(super) async fn exchange(
        &self,
        address: SocketAddr,
        call: &[&[u8]],
        xid: Xid,
        deadline: Instant,
        mut acked: impl FnMut(Incarnation),
    ) -> Result<(Outcome, Incarnation), Broken> {
        let mut stream = match self.take(address) {
            Some(stream) => stream,
            None => match before(deadline, TcpStream::connect(address)).await? {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    stream
                }
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(Broken::Refused);
                }
                Err(_) => return Err(Broken::Lost),
            },
        };
        let Some(header) = frame_header(call.iter().map(|part| part.len()).sum()) else {
            return Err(Broken::Lost);
        };
        let write = write_frame(&mut stream, header, call);
        if before(deadline, write).await?.is_err() {
            return Err(Broken::Lost);
        }
        let limit = self.max_message_bytes();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let message = before(deadline, read_frame(&mut stream, limit, left))
                .await?
                .map_err(|_| Broken::Lost)?;
            match message {
                Message::Ack(ack) if ack.xid == xid => acked(ack.incarnation),
                Message::Reply(reply) if reply.xid == xid => {
                    self.give_back(address, stream);
                    return Ok((reply.outcome, reply.incarnation));
                }
                _ => {}
            }
        }
    }
}

/// `future`, unless the deadline passes first.
async fn before<T>(deadline: Instant, future: impl Future<Output = T>) -> Result<T, Broken> {
    let left = deadline.saturating_duration_since(Instant::now());
    rt::timeout(left, future).await.ok_or(Broken::Expired)
}

/// Reads one frame and decodes its message; a frame over `limit` is not
/// read (the connection is then dropped by the caller); each read within
/// `read_timeout`.
async fn read_frame(
    stream: &mut TcpStream,
    limit: usize,
    read_timeout: Duration,
) -> io::Result<Message> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    stream.read_exact(&mut header).await?;
    let size = frame_length(header);
    if size > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a stream message of {size} bytes is over this client's {limit}-byte limit"),
        ));
    }
    read_message(stream, size, limit, read_timeout)
        .await?
        .map_err(|undecodable| io::Error::new(io::ErrorKind::InvalidData, undecodable.error))
}
