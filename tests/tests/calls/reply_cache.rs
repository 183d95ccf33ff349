//! The reply cache under calls that are never confirmed: it stays under its
//! cap, and a duplicate of a call whose reply it evicted is not run again.

use crate::procedures::{BLOB, blob};
use crate::support::matchmaker;
use rendezvous_core::protocol::wire::{
    self, Call, ClientId, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Xid,
};
use rendezvous_core::{RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use rendezvous_runtime::{self as rt, UdpSocket};
use rendezvous_tests::{CALL_DEADLINE, loopback, run};
use std::net::SocketAddr;
use std::time::Duration;

/// A client that writes its own calls and never confirms anything: every
/// call says `done_below = 1`, so the server may forget none of them.
struct RawClient {
    socket: UdpSocket,
    id: ClientId,
    server: SocketAddr,
}

impl RawClient {
    async fn new(server: SocketAddr) -> RawClient {
        RawClient {
            socket: UdpSocket::bind(loopback(0))
                .await
                .expect("bind a raw client socket"),
            id: ClientId(fastrand::u64(1..)),
            server,
        }
    }

    /// Sends call `xid` of `procedure` and returns the outcome of its reply,
    /// retransmitting on silence.
    async fn call(&self, xid: u64, procedure: &RemoteProcedure, args: Vec<u8>) -> Outcome {
        let datagram = Message::Call(Call {
            client: self.id,
            xid: Xid(xid),
            incarnation: Incarnation::ANY,
            procedure: procedure.name.to_owned(),
            signature: procedure.signature,
            deadline: CALL_DEADLINE,
            done_below: Xid(1),
            args: args.into(),
            elsewhere: Default::default(),
        })
        .encode()
        .expect("encode a call");
        let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        for _ in 0..20 {
            self.socket
                .send_to(&datagram, self.server)
                .await
                .expect("send a call");
            while let Some(received) =
                rt::timeout(Duration::from_secs(1), self.socket.recv_from(&mut buffer)).await
            {
                let (length, _) = received.expect("receive from the server");
                match Message::decode(&buffer[..length]) {
                    Ok(Message::Reply(reply)) if reply.xid == Xid(xid) => return reply.outcome,
                    _ => continue,
                }
            }
        }
        panic!("no reply to call {xid} after 20 transmissions");
    }
}

/// Makes `calls` calls of `blob(1024)`, none confirmed, to a server whose
/// reply cache may hold `cap` bytes; checks every reply and the cap after
/// each call.
async fn fill_reply_cache(cap: usize, calls: u64) -> (Server, RawClient, Matchmaker) {
    let matchmaker = matchmaker().await;
    let server = Server::builder()
        .matchmaker(matchmaker.local_addr())
        .procedure(blob())
        .reply_cache_bytes(cap)
        .start()
        .await
        .expect("start a server");
    let raw = RawClient::new(server.local_addr()).await;
    let args = wire::encode_payload(&(1_024u64,)).expect("encode the arguments");
    for xid in 1..=calls {
        match raw.call(xid, &BLOB, args.clone()).await {
            Outcome::Return(bytes) => {
                let text: String = wire::decode_payload(&bytes.to_vec()).expect("decode a blob");
                assert_eq!(text.len(), 1_024);
            }
            other => panic!("call {xid} got {other:?}"),
        }
        let held = server.stats().reply_cache_bytes;
        assert!(
            held <= cap as u64,
            "after call {xid} the reply cache holds {held} bytes"
        );
    }
    (server, raw, matchmaker)
}

#[test]
fn reply_cache_stays_under_its_cap_when_confirmations_are_lost() {
    const CAP: usize = 64 * 1024;
    const CALLS: u64 = 2_000;
    run(async {
        let (server, _raw, matchmaker) = fill_reply_cache(CAP, CALLS).await;
        let stats = server.stats();
        assert_eq!(stats.executed, CALLS);
        assert!(stats.reply_cache_bytes <= CAP as u64, "{stats:?}");
        assert!(stats.evictions > 0, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn duplicate_of_a_call_whose_reply_was_evicted_is_not_run_again() {
    // 2,000 unconfirmed calls leave 2,000 tombstones of 64 bytes each: the
    // cap must hold them (plus some replies) for this test to see
    // ReplyEvicted for the call itself; past that the cache drops the oldest
    // tombstones and refuses calls below them (the forgotten floor).
    const CAP: usize = 256 * 1024;
    const CALLS: u64 = 2_000;
    run(async {
        let (server, raw, matchmaker) = fill_reply_cache(CAP, CALLS).await;
        let filled = server.stats();
        assert_eq!(filled.executed, CALLS);
        assert!(filled.evictions > 0, "{filled:?}");

        let args = wire::encode_payload(&(1_024u64,)).expect("encode the arguments");
        let early = raw.call(1, &BLOB, args.clone()).await;
        assert_eq!(early, Outcome::ReplyEvicted);
        let late = raw.call(CALLS, &BLOB, args).await;
        assert!(
            matches!(&late, Outcome::Return(bytes) if bytes.len() > 1_024),
            "the latest reply is still cached: {late:?}"
        );

        let stats = server.stats();
        assert_eq!(stats.executed, CALLS, "a duplicate ran again");
        assert!(stats.replayed > filled.replayed, "{stats:?}");
        assert!(stats.reply_cache_bytes <= CAP as u64, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
