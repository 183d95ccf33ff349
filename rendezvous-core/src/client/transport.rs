//! One socket, many calls in flight: send, retransmit, match replies by xid.
//!
//! This is the request half of the one request/response core: matchmaker
//! requests and user calls both go through [`Transport::call`]. A background
//! task reads the socket and routes each ACK or reply to the call waiting on
//! its xid; each call retransmits under the [`RetryPolicy`] until its reply
//! arrives or its deadline passes. The task ends when the last clone of the
//! transport is dropped.

use crate::retry::{RetryPolicy, RttEstimator};
use crate::rt::{self, Instant, UdpSocket};
use crate::signature::Fingerprint;
use crate::wire::{
    Call, ClientId, Confirm, EncodeError, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Xid,
};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the receive task hands a waiting call.
enum Incoming {
    Ack,
    Reply(Incarnation, Outcome),
}

type Pending = Mutex<BTreeMap<Xid, async_channel::Sender<Incoming>>>;

/// A client socket shared by every call of one client.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    socket: Arc<UdpSocket>,
    client: ClientId,
    next_xid: AtomicU64,
    pending: Arc<Pending>,
    rtt: RttEstimator,
    /// Dropping it (with the last transport) stops the receive task.
    _stop: async_channel::Sender<()>,
}

/// One call to make.
pub(crate) struct Request<'a> {
    pub endpoint: SocketAddr,
    pub incarnation: Incarnation,
    pub procedure: &'a str,
    pub signature: Fingerprint,
    pub args: Vec<u8>,
    pub policy: &'a RetryPolicy,
}

/// The server's answer to a call.
#[derive(Debug)]
pub(crate) struct Answer {
    pub incarnation: Incarnation,
    pub outcome: Outcome,
}

/// Why a call got no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The deadline passed. `acked`: the server had acknowledged the call.
    NoReply { attempts: u32, acked: bool },
    /// The call does not fit a datagram.
    TooLarge { size: usize, limit: usize },
    Io(io::Error),
}

impl Transport {
    /// Binds a client socket (`0.0.0.0:0` unless told otherwise).
    pub(crate) async fn bind(address: SocketAddr) -> io::Result<Transport> {
        let socket = Arc::new(UdpSocket::bind(address).await?);
        let pending: Arc<Pending> = Arc::default();
        let (stop, stopped) = async_channel::bounded(1);
        let client = ClientId(crate::random::u64());
        rt::spawn(receive_loop(socket.clone(), client, pending.clone(), stopped));
        Ok(Transport {
            inner: Arc::new(Inner {
                socket,
                client,
                next_xid: AtomicU64::new(1),
                pending,
                rtt: RttEstimator::default(),
                _stop: stop,
            }),
        })
    }

    pub(crate) fn client_id(&self) -> ClientId {
        self.inner.client
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    /// Sends the call and retransmits it until its reply or its deadline.
    pub(crate) async fn call(&self, request: Request<'_>) -> Result<Answer, Failure> {
        let inner = &*self.inner;
        let xid = Xid(inner.next_xid.fetch_add(1, Ordering::Relaxed));
        let (sender, replies) = async_channel::bounded(2);
        let done_below = {
            let mut pending = lock(&inner.pending);
            pending.insert(xid, sender);
            *pending.keys().next().unwrap_or(&xid)
        };
        let _registered = Registered { pending: &inner.pending, xid };

        let call = Message::Call(Call {
            client: inner.client,
            xid,
            incarnation: request.incarnation,
            procedure: request.procedure.to_owned(),
            signature: request.signature,
            deadline: request.policy.deadline,
            done_below,
            args: request.args,
        });
        let datagram = call.encode().map_err(|error| match error {
            EncodeError::TooLarge { size, limit } => Failure::TooLarge { size, limit },
            EncodeError::Unencodable { reason } => Failure::Io(io::Error::other(reason)),
        })?;

        let policy = request.policy;
        let started = Instant::now();
        let deadline = started + policy.deadline;
        let mut attempts = 0;
        let mut acked = false;
        let mut retry = 0;
        loop {
            inner
                .socket
                .send_to(&datagram, request.endpoint)
                .await
                .map_err(Failure::Io)?;
            attempts += 1;
            let mut wake_at = Instant::now() + policy.timeout(&inner.rtt, retry, acked);
            // Wait for the reply; an ACK only stretches the wait.
            loop {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Failure::NoReply { attempts, acked });
                }
                let wait = wake_at.min(deadline) - now;
                match rt::timeout(wait, replies.recv()).await {
                    Some(Ok(Incoming::Reply(incarnation, outcome))) => {
                        if attempts == 1 && !acked {
                            inner.rtt.observe(started.elapsed());
                        }
                        if acked {
                            self.confirm(request.endpoint, xid).await;
                        }
                        return Ok(Answer {
                            incarnation,
                            outcome,
                        });
                    }
                    Some(Ok(Incoming::Ack)) if !acked => {
                        acked = true;
                        retry = 0;
                        wake_at = Instant::now() + policy.timeout(&inner.rtt, 0, true);
                    }
                    Some(Ok(Incoming::Ack)) => {}
                    Some(Err(_)) => {
                        return Err(Failure::Io(io::Error::other("client transport stopped")));
                    }
                    None if Instant::now() >= wake_at => break,
                    None => {}
                }
            }
            retry += 1;
        }
    }

    /// Tells the server it may forget the reply to `xid` (best effort).
    async fn confirm(&self, endpoint: SocketAddr, xid: Xid) {
        let confirm = Message::Confirm(Confirm {
            client: self.inner.client,
            xid,
        });
        if let Ok(datagram) = confirm.encode() {
            let _ = self.inner.socket.send_to(&datagram, endpoint).await;
        }
    }
}

/// Removes a call's entry when the call ends, however it ends (including
/// when the caller drops the future).
struct Registered<'a> {
    pending: &'a Pending,
    xid: Xid,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        lock(self.pending).remove(&self.xid);
    }
}

fn lock(pending: &Pending) -> MutexGuard<'_, BTreeMap<Xid, async_channel::Sender<Incoming>>> {
    pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    client: ClientId,
    pending: Arc<Pending>,
    stopped: async_channel::Receiver<()>,
) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    let mut stop = pin!(stopped.recv());
    loop {
        let received = futures_lite::future::or(
            async { Some(socket.recv_from(&mut buffer).await) },
            async {
                let _ = (&mut stop).await;
                None
            },
        )
        .await;
        let length = match received {
            None => return,
            Some(Ok((length, _from))) => length,
            Some(Err(error)) => {
                // ICMP errors surface here on some platforms; the call's own
                // timer deals with the silence.
                tracing::debug!(%error, "client socket receive error");
                rt::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let (xid, incoming) = match Message::decode(&buffer[..length]) {
            Ok(Message::Reply(reply)) if reply.client == client => {
                (reply.xid, Incoming::Reply(reply.incarnation, reply.outcome))
            }
            Ok(Message::Ack(ack)) if ack.client == client => (ack.xid, Incoming::Ack),
            _ => continue,
        };
        let waiting = lock(&pending).get(&xid).cloned();
        if let Some(waiting) = waiting {
            match incoming {
                reply @ Incoming::Reply(..) => {
                    let _ = waiting.force_send(reply);
                }
                ack => {
                    let _ = waiting.try_send(ack);
                }
            }
        }
    }
}
