//! What goes back to a caller, and how large it may be: replies encoded,
//! acknowledgments and refusals, cached replies sent again, all held to the
//! amplification policy.
//!
//! The policy: no answer may let a forged source address turn a small
//! datagram into a large one aimed at someone else. Acks, refusals and
//! error replies stay within [`AMPLIFICATION_FACTOR`] times the message
//! they answer, always; a procedure's result (and a replay of it) does
//! only under [`ResponderConfig::bound_replies`]. What would exceed its
//! bound is withheld, or replaced by a `ReplyTooLarge` reply, and counted
//! in `amplification_refused`; a result too large for any datagram is
//! replaced the same way (not counted: it amplifies nothing).
//!
//! A server with a stream transport keeps a result too large for a
//! datagram, up to its stream's message limit: the whole reply is recorded,
//! and a datagram caller is told so by a small notice ([`for_peer`]),
//! `[8, size, limit]` then `[13, size]` (PROTOCOL.md, *Streams*); it
//! fetches the reply by sending the same call over the stream, where the
//! reply cache answers it as the duplicate it is. The call ran once;
//! fetching never runs it again.
//!
//! [`ResponderConfig::bound_replies`]: super::ResponderConfig::bound_replies

use super::outbox::Outbox;
pub(super) use super::peer::{Peer, Via};
use super::service::Service;
use crate::server::shared_reply::SharedReply;
use crate::wire::{
    AMPLIFICATION_FACTOR, Ack, Call, ClientId, EncodeError, Header, MAX_DATAGRAM_BYTES, Message,
    Outcome, Reply, SPLIT_MIN_BYTES, Undecodable, Xid, reply_limit,
};

/// The largest reply a call from `peer` may get: a stream's message limit
/// over a stream, or on a datagram when the reply can wait to be fetched
/// (see [`for_peer`]); else a datagram, or the amplification bound.
fn reply_size_limit(service: &Service, peer: Peer) -> usize {
    match (&service.config.stream, peer.via) {
        _ if service.config.bound_replies => reply_limit(peer.datagram_bytes),
        (Some(stream), _) => stream.max_message_bytes.max(MAX_DATAGRAM_BYTES),
        (None, _) => MAX_DATAGRAM_BYTES,
    }
}

/// This server's reply to the call (`client`, `xid`).
fn reply_of(service: &Service, client: ClientId, xid: Xid, outcome: Outcome) -> Reply {
    Reply {
        client,
        xid,
        incarnation: service.incarnation,
        outcome,
    }
}

/// The same, as a message.
fn reply_to(service: &Service, client: ClientId, xid: Xid, outcome: Outcome) -> Message {
    Message::Reply(reply_of(service, client, xid, outcome))
}

/// A reply encoded, within `limit` bytes: a large result after the
/// envelope, not copied into it (see [`SharedReply`]).
fn encode_reply(reply: Reply, limit: usize) -> Result<SharedReply, EncodeError> {
    let large =
        matches!(&reply.outcome, Outcome::Return(result) if result.len() >= SPLIT_MIN_BYTES);
    let mut head = Vec::new();
    if large {
        reply.encode_before_result(&mut head, limit)?;
    } else {
        reply.encode_within(&mut head, limit)?;
    }
    Ok(match reply.outcome {
        Outcome::Return(result) if large => SharedReply::around(head, result),
        _ => SharedReply::whole(head),
    })
}

/// The reply of a call that ran, encoded; a result too large for a
/// datagram, or for the policy's bound, becomes an error outcome saying so.
pub(super) fn reply(service: &Service, call: &Call, outcome: Outcome, peer: Peer) -> SharedReply {
    let limit = reply_size_limit(service, peer);
    let ran = reply_of(service, call.client, call.xid, outcome);
    let encoded = encode_reply(ran, limit.max(MAX_DATAGRAM_BYTES));
    let reply = |outcome| {
        let reply = reply_to(service, call.client, call.xid, outcome);
        SharedReply::whole(reply.encode().unwrap_or_default())
    };
    match encoded {
        Ok(bytes) if bytes.len() <= limit => bytes,
        Ok(bytes) => {
            service.counters.amplification_refused.bump();
            tracing::warn!(
                procedure = %call.procedure,
                size = bytes.len(),
                limit,
                "a reply exceeded {AMPLIFICATION_FACTOR} times its call's datagram; sent ReplyTooLarge instead"
            );
            let outcome = Outcome::ReplyTooLarge {
                size: bytes.len() as u64,
                limit: limit as u64,
            };
            reply(outcome)
        }
        Err(error) => {
            let outcome = match error {
                EncodeError::TooLarge { size, limit } => Outcome::ReplyTooLarge {
                    size: size as u64,
                    limit: limit as u64,
                },
                EncodeError::Unencodable { reason } => Outcome::Panicked(reason),
            };
            reply(outcome)
        }
    }
}

/// What of a recorded reply goes to `peer`: the reply itself, unless it is
/// too large for a datagram and `peer` sent one; then the notice that it
/// waits on the stream, `[8, size, limit]` and `[13, size]` in one
/// datagram (`[8]` alone if the pair exceeds the call's amplification
/// bound). A peer that does not know code 13 reads `[8]` and stops there,
/// as before streams; one that does fetches the reply.
pub(super) fn for_peer(service: &Service, reply: SharedReply, peer: Peer) -> SharedReply {
    if peer.via != Via::Datagram || reply.len() <= MAX_DATAGRAM_BYTES {
        return reply;
    }
    let Ok(header) = Header::decode_front(reply.head()) else {
        return reply;
    };
    let size = reply.len() as u64;
    let notice = |outcome| {
        reply_to(service, header.client, header.xid, outcome)
            .encode()
            .unwrap_or_default()
    };
    let mut bytes = notice(Outcome::ReplyTooLarge {
        size,
        limit: MAX_DATAGRAM_BYTES as u64,
    });
    let waiting = notice(Outcome::ReplyWaiting { size });
    if bytes.len() + waiting.len() <= reply_limit(peer.datagram_bytes) {
        bytes.extend(waiting);
    }
    SharedReply::whole(bytes)
}

/// Sends a finished call's cached reply again, counted as replayed. Under
/// `bound_replies` it is withheld if larger than the bound of this copy of
/// the call: a legitimate retransmission is the same bytes as the call that
/// made the reply; a shorter copy is someone else's.
pub(super) async fn replay(service: &Service, reply: SharedReply, peer: Peer, out: &mut Outbox) {
    service.counters.replayed.bump();
    let reply = for_peer(service, reply, peer);
    if service.config.bound_replies && reply.len() > reply_limit(peer.datagram_bytes) {
        service.counters.amplification_refused.bump();
        return;
    }
    out.post_shared(service, reply).await;
}

/// Acknowledges a call that is still running.
pub(super) async fn ack(service: &Service, call: &Call, peer: Peer, out: &mut Outbox) {
    if let Some(bytes) = ack_bytes(service, call, peer) {
        out.post(service, bytes).await;
    }
}

/// An acknowledgment of `call`, encoded and counted; `None` if withheld.
pub(super) fn ack_bytes(service: &Service, call: &Call, peer: Peer) -> Option<Vec<u8>> {
    service.counters.acks.bump();
    let ack = Message::Ack(Ack {
        client: call.client,
        xid: call.xid,
        incarnation: service.incarnation,
    });
    encode_within(service, &ack, peer)
}

/// Answers a call that will not run (not cached: nothing ran).
pub(super) async fn refuse(
    service: &Service,
    call: &Call,
    outcome: Outcome,
    peer: Peer,
    out: &mut Outbox,
) {
    let reply = reply_to(service, call.client, call.xid, outcome);
    post(service, &reply, peer, out).await;
}

/// Refuses a call that names another incarnation: `[4]`, then, in the same
/// datagram, `[12, uptime_ms]` for the same call (PROTOCOL.md, Outcomes).
/// A peer that does not know code 12 stops reading the datagram there,
/// having read `[4]`; one that does learns that a call first sent here
/// less than `uptime_ms` ago reached no earlier process. When the pair
/// would exceed the call's amplification bound, `[4]` goes alone.
pub(super) async fn wrong_incarnation(
    service: &Service,
    call: &Call,
    peer: Peer,
    out: &mut Outbox,
) {
    let reply = |outcome| reply_to(service, call.client, call.xid, outcome);
    // Rounded down: an uptime too short is safe, one too long is not.
    let uptime_ms = u64::try_from(service.bound_at.elapsed().as_millis()).unwrap_or(u64::MAX);
    if peer.via != Via::Datagram {
        // A frame holds one message, and only peers that know code 12
        // speak the stream: the second of the pair alone.
        let uptime = reply(Outcome::WrongIncarnationUptime(uptime_ms));
        return post(service, &uptime, peer, out).await;
    }
    let pair = reply(Outcome::WrongIncarnation)
        .encode()
        .and_then(|mut bytes| {
            bytes.extend(reply(Outcome::WrongIncarnationUptime(uptime_ms)).encode()?);
            Ok(bytes)
        });
    match pair {
        Ok(bytes) if bytes.len() <= reply_limit(peer.datagram_bytes) => {
            out.post(service, bytes).await
        }
        _ => post(service, &reply(Outcome::WrongIncarnation), peer, out).await,
    }
}

/// Answers a message that did not decode, if it was a call and an error
/// reply fits its bound (see [`Undecodable::error_reply_within`]).
pub(super) async fn undecodable(
    service: &Service,
    undecodable: &Undecodable,
    peer: Peer,
    out: &mut Outbox,
) {
    match undecodable.error_reply_within(service.incarnation, peer.datagram_bytes) {
        Some(reply) => post(service, &Message::Reply(reply), peer, out).await,
        None if undecodable.header.is_some_and(|h| h.is_call()) => {
            service.counters.amplification_refused.bump();
        }
        None => {}
    }
}

/// Queues an ack or a refusal for the datagram's sender, if within bound.
async fn post(service: &Service, message: &Message, peer: Peer, out: &mut Outbox) {
    if let Some(bytes) = encode_within(service, message, peer) {
        out.post(service, bytes).await;
    }
}

/// Encodes an ack or a refusal, unless it would exceed
/// [`AMPLIFICATION_FACTOR`] times the message it answers (no real call is
/// that short: these are at most 40 bytes).
fn encode_within(service: &Service, message: &Message, peer: Peer) -> Option<Vec<u8>> {
    match message.encode() {
        Ok(bytes) if bytes.len() <= reply_limit(peer.datagram_bytes) => Some(bytes),
        Ok(_) => {
            service.counters.amplification_refused.bump();
            None
        }
        Err(error) => {
            tracing::warn!(%error, "could not encode a reply");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::ResponderConfig;
    use super::super::testing::{call, hears_nothing, listener, outcome, received};
    use super::*;
    use crate::rt::block_on;
    use crate::server::ProcedureSet;
    use std::net::SocketAddr;

    fn service(bound_replies: bool) -> Service {
        let config = ResponderConfig {
            bound_replies,
            ..ResponderConfig::default()
        };
        Service::on_loopback(ProcedureSet::new(), config)
    }

    /// A call datagram of `bytes`, from a port nothing listens on.
    fn from(bytes: usize) -> Peer {
        Peer {
            address: SocketAddr::from(([127, 0, 0, 1], 9)),
            datagram_bytes: bytes,
            via: Via::Datagram,
        }
    }

    /// The outcome a call datagram of 100 bytes is answered with when its
    /// result is 1000 bytes.
    fn large_result(service: &Service) -> Outcome {
        let result = Outcome::Return(vec![0; 1000].into());
        outcome(&reply(service, &call(1), result, from(100)).into_vec())
    }

    #[test]
    fn a_bound_reply_over_its_calls_bound_becomes_reply_too_large() {
        let service = service(true);
        match large_result(&service) {
            Outcome::ReplyTooLarge { size, limit } => {
                assert!(size > 1000, "{size}");
                assert_eq!(limit, reply_limit(100) as u64);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(service.stats().amplification_refused, 1);
    }

    #[test]
    fn an_unbound_reply_may_fill_a_datagram() {
        let service = service(false);
        assert_eq!(
            large_result(&service),
            Outcome::Return(vec![0; 1000].into())
        );
        assert_eq!(service.stats().amplification_refused, 0);
    }

    #[test]
    fn a_large_result_is_sent_after_the_envelope_not_copied_into_it() {
        let service = service(false);
        let result = vec![9; SPLIT_MIN_BYTES];
        let at = result.as_ptr() as usize;
        let returned = returning(&service, result);
        let parts = returned.parts();
        assert_eq!(parts[2].as_ptr() as usize, at, "the handler's own buffer");
        let expected = Outcome::Return(vec![9; SPLIT_MIN_BYTES].into());
        assert_eq!(outcome(&parts.concat()), expected);
        // A smaller one is one buffer.
        let small = returning(&service, vec![9; SPLIT_MIN_BYTES - 1]);
        assert!(small.parts()[1..].iter().all(|part| part.is_empty()));
    }

    fn returning(service: &Service, result: Vec<u8>) -> SharedReply {
        reply(service, &call(1), Outcome::Return(result.into()), from(100))
    }

    #[test]
    fn a_result_too_large_for_any_datagram_says_so() {
        let service = service(false);
        let result = vec![0; MAX_DATAGRAM_BYTES];
        let bytes = reply(
            &service,
            &call(1),
            Outcome::Return(result.into()),
            from(100),
        );
        match outcome(&bytes.into_vec()) {
            Outcome::ReplyTooLarge { limit, .. } => assert_eq!(limit, MAX_DATAGRAM_BYTES as u64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_ack_larger_than_its_bound_is_withheld_and_counted() {
        let service = service(false);
        assert!(ack_bytes(&service, &call(1), from(1)).is_none());
        assert!(ack_bytes(&service, &call(1), from(100)).is_some());
        let stats = service.stats();
        assert_eq!((stats.acks, stats.amplification_refused), (2, 1));
    }

    #[test]
    fn a_refusal_goes_to_the_outbox_within_its_bound() {
        let service = service(false);
        let listener = listener();
        let peer = Peer {
            address: listener.local_addr().unwrap(),
            datagram_bytes: 100,
            via: Via::Datagram,
        };
        let mut out = Outbox::new();
        out.address_to(peer.address);
        block_on(async {
            refuse(&service, &call(1), Outcome::Overloaded, peer, &mut out).await;
            out.flush(&service).await;
        });
        assert_eq!(outcome(&received(&listener)), Outcome::Overloaded);
    }

    #[test]
    fn a_bound_replay_larger_than_this_copys_bound_is_withheld() {
        let service = service(true);
        let listener = listener();
        let peer = |datagram_bytes| Peer {
            address: listener.local_addr().unwrap(),
            datagram_bytes,
            via: Via::Datagram,
        };
        let mut out = Outbox::new();
        out.address_to(peer(0).address);
        block_on(async {
            replay(&service, vec![1; 1000].into(), peer(100), &mut out).await;
            out.flush(&service).await;
        });
        assert!(hears_nothing(&listener));
        block_on(async {
            replay(&service, vec![2; 300].into(), peer(100), &mut out).await;
            out.flush(&service).await;
        });
        assert_eq!(received(&listener), vec![2; 300]);
        let stats = service.stats();
        assert_eq!((stats.replayed, stats.amplification_refused), (2, 1));
    }
}
