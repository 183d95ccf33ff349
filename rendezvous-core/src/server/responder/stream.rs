//! The stream transport: a TCP listener on the UDP socket's port number,
//! each connection a sequence of frames (PROTOCOL.md, *Streams*), each
//! message in them dispatched exactly as a datagram's is (`receive`), so a
//! call is named by (client id, xid) whichever transport carries it and
//! the reply cache answers a copy on one that ran from the other.
//!
//! ```text
//! accept -> limits (in all, per source) -> connection
//! connection: header (idle timeout) -> length <= limit? -> inbound room
//!             -> body (read timeout; `frame_read`) -> receive::on_call
//!          <- writer: the connection's bounded queue -> frames (write timeout)
//! ```
//!
//! Every hostile case is bounded, and none holds up other peers:
//!
//! - a header then a stall: each read of a started frame must progress
//!   within `read_timeout`; a connection with nothing in it and no call of
//!   it running is closed after `idle_timeout`;
//! - garbage: the first frame that does not decode closes the connection
//!   (a stream has no old peers to answer with a version refusal);
//! - a frame over the limit: refused by its length alone; its first bytes
//!   (at most [`FRAME_PEEK_BYTES`]) name the call, which is answered
//!   `[14, size, limit]`, and the rest is read and thrown away through a
//!   fixed buffer, never held, so the connection stays in step;
//! - many connections: a limit in all and one per source, checked at
//!   accept (one over them is closed at once);
//! - a peer that never reads its replies: its queue holds
//!   [`OUTBOUND_MESSAGES`] answers, one more closes it, and a write must
//!   finish within `write_timeout`;
//! - many large frames at once: their buffers wait for room under
//!   `max_inbound_bytes` before being allocated, and each call keeps its
//!   room until its reply is written, so the cap bounds the bytes of
//!   stream calls read or running (a frame waits for room up to the idle
//!   timeout).

use super::config::StreamConfig;
use super::connections::{OUTBOUND_MESSAGES, Refused};
use super::outbox::Outbox;
use super::peer::{Peer, Via};
use super::receive;
use super::service::Service;
use crate::frame_read::{fill, read_message};
use crate::frame_write::write_frame;
use crate::rt::{self, Instant, TcpListener, TcpStream};
use crate::server::shared_reply::SharedReply;
use crate::wire::{
    FRAME_HEADER_BYTES, FRAME_PEEK_BYTES, Header, Message, Outcome, Reply, frame_header,
    frame_length,
};
use futures_lite::AsyncReadExt;
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Accepts connections until cancelled.
pub(super) async fn accept_loop(service: Arc<Service>, listener: TcpListener) {
    let Some(config) = service.config.stream.clone() else {
        return;
    };
    let inbound = Arc::new(Room::new(config.max_inbound_bytes));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most likely: let some close.
                tracing::debug!(%error, "stream accept error");
                rt::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let opened = service.connections().open(
            peer,
            config.max_connections,
            config.max_connections_per_source,
        );
        match opened {
            Ok((id, outbound)) => {
                let connection = Connection {
                    service: service.clone(),
                    config: config.clone(),
                    inbound: inbound.clone(),
                    stream,
                    peer,
                    id,
                    running: std::sync::Mutex::default(),
                };
                rt::spawn(connection.serve(outbound));
            }
            Err(refused) => {
                let limit = match refused {
                    Refused::Total => "in all",
                    Refused::Source => "from its source",
                };
                tracing::debug!(%peer, limit, "closed a stream connection over the limit of connections");
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// One accepted connection.
struct Connection {
    service: Arc<Service>,
    config: StreamConfig,
    inbound: Arc<Room>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    /// The room of each call read here whose reply is not written yet,
    /// oldest first: held until then, so `max_inbound_bytes` bounds calls
    /// being read *and* running; while there are any, the connection is
    /// not idle.
    running: std::sync::Mutex<VecDeque<Taken>>,
}

/// How a connection's reading ended.
#[derive(Debug)]
enum Ended {
    Closed,
    Idle,
    Stalled,
    Garbage,
}

impl Connection {
    async fn serve(self, outbound: async_channel::Receiver<SharedReply>) {
        let _ = self.stream.set_nodelay(true);
        let ended = futures_lite::future::or(self.read_loop(), async {
            self.write_loop(outbound).await;
            Ended::Closed
        })
        .await;
        tracing::debug!(peer = %self.peer, ?ended, "stream connection closed");
        self.service.connections().close(self.id);
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Reads frames and dispatches their messages until the peer closes,
    /// stalls, idles or sends garbage.
    async fn read_loop(&self) -> Ended {
        let limit = self.config.max_message_bytes;
        let mut out = Outbox::new();
        out.address_to_stream(self.peer, self.id);
        loop {
            let mut header = [0u8; FRAME_HEADER_BYTES];
            if let Err(ended) = self.read_header(&mut header).await {
                return ended;
            }
            let size = frame_length(header);
            if size > limit {
                if let Err(ended) = self.refuse_over_limit(size).await {
                    return ended;
                }
                continue;
            }
            // Waiting for room is waiting for other calls to finish: as
            // long as a connection may idle.
            let Some(room) = self.inbound.take(size, self.config.idle_timeout).await else {
                return Ended::Stalled;
            };
            let read = read_message(&self.stream, size, limit, self.config.read_timeout);
            let message = match read.await {
                Ok(Ok(message)) => message,
                Ok(Err(undecodable)) => {
                    tracing::debug!(peer = %self.peer, error = %undecodable.error, "undecodable stream message");
                    return Ended::Garbage;
                }
                Err(error) => return ended_by(error),
            };
            match message {
                Message::Call(call) => {
                    let peer = Peer {
                        address: self.peer,
                        datagram_bytes: size,
                        via: Via::Stream(self.id),
                    };
                    crate::sync::lock(&self.running).push_back(room);
                    receive::on_call(&self.service, call, peer, Instant::now(), &mut out).await;
                    out.flush(&self.service).await;
                }
                Message::Confirm(confirm) => {
                    self.service.cache().confirm(confirm.client, confirm.xid)
                }
                Message::Ack(_) | Message::Reply(_) => {}
            }
        }
    }

    /// Reads a frame's header: waiting up to the idle timeout for its first
    /// byte (longer while a call of this connection runs), then the read
    /// timeout for each of the others.
    async fn read_header(&self, header: &mut [u8; FRAME_HEADER_BYTES]) -> Result<(), Ended> {
        let mut filled = 0;
        while filled < header.len() {
            let wait = if filled == 0 {
                self.config.idle_timeout
            } else {
                self.config.read_timeout
            };
            match rt::timeout(wait, (&self.stream).read(&mut header[filled..])).await {
                Some(Ok(0)) | Some(Err(_)) => return Err(Ended::Closed),
                Some(Ok(read)) => filled += read,
                None if filled == 0 && !crate::sync::lock(&self.running).is_empty() => {}
                None if filled == 0 => return Err(Ended::Idle),
                None => return Err(Ended::Stalled),
            }
        }
        Ok(())
    }

    /// Fills `buffer`, each read within the read timeout.
    async fn read_exact(&self, buffer: &mut [u8]) -> Result<(), Ended> {
        fill(&mut &self.stream, buffer, self.config.read_timeout)
            .await
            .map_err(ended_by)
    }

    /// Refuses a frame of `size` bytes, over the limit, without holding it:
    /// its first bytes name the call answered `[14, size, limit]`; the
    /// rest is read through a small buffer and dropped.
    async fn refuse_over_limit(&self, size: usize) -> Result<(), Ended> {
        let limit = self.config.max_message_bytes;
        let mut peek = [0u8; FRAME_PEEK_BYTES];
        let peeked = size.min(FRAME_PEEK_BYTES);
        self.read_exact(&mut peek[..peeked]).await?;
        match Header::decode_front(&peek[..peeked]) {
            Ok(header) if header.is_call() => {
                tracing::debug!(peer = %self.peer, size, limit, "refused a stream message over the limit");
                let refusal = Message::Reply(Reply {
                    client: header.client,
                    xid: header.xid,
                    incarnation: self.service.incarnation,
                    outcome: Outcome::MessageTooLarge {
                        size: size as u64,
                        limit: limit as u64,
                    },
                });
                if let Ok(bytes) = refusal.encode() {
                    self.service.connections().post(self.id, bytes.into());
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(peer = %self.peer, %error, "undecodable stream message");
                return Err(Ended::Garbage);
            }
        }
        let mut rest = size - peeked;
        let mut sink = vec![0u8; SINK_BYTES.min(rest)];
        while rest > 0 {
            let chunk = rest.min(sink.len());
            self.read_exact(&mut sink[..chunk]).await?;
            rest -= chunk;
        }
        Ok(())
    }

    /// Writes the connection's answers as frames until its queue closes or
    /// a write does not finish in time.
    async fn write_loop(&self, outbound: async_channel::Receiver<SharedReply>) {
        let mut stream = &self.stream;
        while let Ok(bytes) = outbound.recv().await {
            let Some(header) = frame_header(bytes.len()) else {
                continue;
            };
            let is_reply = Header::decode_front(bytes.head()).is_ok_and(|h| h.kind == REPLY_KIND);
            let parts = bytes.parts();
            let write = write_frame(&mut stream, header, &parts);
            match rt::timeout(self.config.write_timeout, write).await {
                Some(Ok(())) => {}
                Some(Err(_)) => return,
                None => {
                    tracing::debug!(peer = %self.peer, "a stream peer did not take its answer in time; closing it");
                    return;
                }
            }
            if is_reply {
                // Its call's room (the oldest's: replies mostly come in order).
                crate::sync::lock(&self.running).pop_front();
            }
        }
    }
}

/// How reading ended on a read error: a timeout is a stall, anything else
/// the connection closing.
fn ended_by(error: std::io::Error) -> Ended {
    match error.kind() {
        std::io::ErrorKind::TimedOut => Ended::Stalled,
        _ => Ended::Closed,
    }
}

/// The kind number of a reply (PROTOCOL.md, Envelope).
const REPLY_KIND: u64 = 2;

/// The buffer an over-limit frame is read through and dropped.
const SINK_BYTES: usize = 64 * 1024;

/// Room for bytes being read, shared by every connection: a frame takes
/// its size before its buffer is allocated and gives it back when read.
#[derive(Debug)]
struct Room {
    free: std::sync::Mutex<usize>,
    capacity: usize,
    /// A token per release wakes a frame waiting for room.
    released: (async_channel::Sender<()>, async_channel::Receiver<()>),
}

impl Room {
    fn new(capacity: usize) -> Room {
        Room {
            free: std::sync::Mutex::new(capacity),
            capacity,
            released: async_channel::bounded(1),
        }
    }

    /// Takes `size` bytes of room (a frame larger than all of it takes all
    /// of it), waiting up to `patience`; `None` if there was none by then.
    async fn take(self: &Arc<Room>, size: usize, patience: Duration) -> Option<Taken> {
        let size = size.min(self.capacity);
        let deadline = Instant::now() + patience;
        loop {
            {
                let mut free = crate::sync::lock(&self.free);
                if *free >= size {
                    *free -= size;
                    return Some(Taken {
                        room: self.clone(),
                        size,
                    });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            // Woken by a release, or looks again every few ms.
            let _ = rt::timeout(left.min(Duration::from_millis(5)), self.released.1.recv()).await;
        }
    }
}

/// Room taken by one frame, given back when dropped.
#[derive(Debug)]
struct Taken {
    room: Arc<Room>,
    size: usize,
}

impl Drop for Taken {
    fn drop(&mut self) {
        *crate::sync::lock(&self.room.free) += self.size;
        let _ = self.room.released.0.try_send(());
    }
}

const _: () = assert!(OUTBOUND_MESSAGES >= 2, "an ack and a reply fit the queue");
