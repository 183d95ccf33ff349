//! The full request path: a real responder (a server's, or the matchmaker's)
//! on a loopback socket, and a peer that sends it calls and waits for their
//! replies. A responder that stops answering, or answers with a panic, is a
//! finding.

use crate::checks::hex;
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{Call, ClientId, Incarnation, Message, Outcome, Xid};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// How long a peer waits for a reply before declaring the server dead.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Retransmission interval, should a datagram be lost on loopback.
const RETRANSMIT: Duration = Duration::from_millis(500);

/// A client of one responder, on a blocking socket of its own.
#[derive(Debug)]
pub struct Peer {
    socket: UdpSocket,
    server: SocketAddr,
    client: ClientId,
    next_xid: u64,
    buffer: Vec<u8>,
}

impl Peer {
    pub fn new(server: SocketAddr) -> Peer {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback socket");
        socket
            .set_read_timeout(Some(RETRANSMIT))
            .expect("set a read timeout");
        Peer {
            socket,
            server,
            client: ClientId(0x0066_757a_7a65_7221),
            next_xid: 1,
            buffer: vec![0; 1 << 16],
        }
    }

    pub fn client(&self) -> ClientId {
        self.client
    }

    /// Sends raw bytes as one datagram.
    pub fn send_raw(&self, datagram: &[u8]) {
        let _ = self.socket.send_to(datagram, self.server);
    }

    /// Calls `procedure` with `args` and returns the outcome; `None` when the
    /// call cannot be encoded (args too large for a datagram).
    pub fn call(
        &mut self,
        procedure: &str,
        signature: Fingerprint,
        args: &[u8],
    ) -> Option<Outcome> {
        let xid = Xid(self.next_xid);
        self.next_xid += 1;
        let call = Call {
            client: self.client,
            xid,
            incarnation: Incarnation::ANY,
            procedure: procedure.to_owned(),
            signature,
            deadline: REPLY_TIMEOUT,
            // Every earlier call has its reply: the server may forget them.
            done_below: xid,
            args: args.to_vec().into(),
            elsewhere: Default::default(),
        };
        let datagram = call.encode().ok()?;
        let started = Instant::now();
        self.send_raw(&datagram);
        loop {
            let length = match self.socket.recv_from(&mut self.buffer) {
                Ok((length, _)) => length,
                Err(_) => {
                    assert!(
                        started.elapsed() < REPLY_TIMEOUT,
                        "no reply to {procedure} within {REPLY_TIMEOUT:?}: the server stopped answering; args {}",
                        hex(args)
                    );
                    self.send_raw(&datagram);
                    continue;
                }
            };
            // Whatever a server sends decodes: every message of it (a
            // batch of answers, or `[4]` followed by its uptime `[12]`).
            let mut ours = None;
            for message in Message::decode_batch(&self.buffer[..length]) {
                let (message, _) = message.unwrap_or_else(|error| {
                    panic!(
                        "the server sent an undecodable datagram ({error:?}): {}",
                        hex(&self.buffer[..length])
                    )
                });
                if let Message::Reply(reply) = message
                    && reply.client == self.client
                    && reply.xid == xid
                {
                    ours.get_or_insert(reply.outcome);
                }
            }
            if ours.is_some() {
                return ours;
            }
        }
    }
}

/// Fails on the outcomes no input may cause: a panic, or silence until the deadline.
pub fn assert_no_panic(procedure: &str, outcome: &Outcome, args: &[u8]) {
    match outcome {
        Outcome::Panicked(message) => {
            panic!("{procedure} panicked on arguments {}: {message}", hex(args))
        }
        Outcome::DeadlineExceeded => {
            panic!("{procedure} ran to its deadline on arguments {}", hex(args))
        }
        _ => {}
    }
}
