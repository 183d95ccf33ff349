//! The receive loop and dispatch: each datagram's messages in order, each
//! call checked (incarnation? procedure? signature?), admitted, and handed
//! to what answers it; the datagram's answers are sent when it is done.

use super::admission::{self, Admission};
use super::answer::{self, Peer};
use super::execute;
use super::outbox::Outbox;
use super::service::Service;
use crate::rt::{self, Instant};
use crate::wire::{Call, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome};
use std::sync::Arc;
use std::time::Duration;

/// How often expired replies are swept out.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Serves datagrams until cancelled.
pub(super) async fn receive_loop(service: Arc<Service>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    // Reused for every datagram, addressed to its sender.
    let mut out = Outbox::new();
    let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
    loop {
        let (length, peer) = match service.receive(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "server socket receive error");
                rt::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        service.counters.datagrams_received.bump();
        let now = Instant::now();
        out.address_to(peer);
        let mut messages = Message::decode_batch(&buffer[..length]);
        while let Some(message) = messages.next() {
            match message {
                Ok((Message::Call(call), bytes)) => {
                    let from = Peer {
                        address: peer,
                        datagram_bytes: bytes,
                    };
                    on_call(&service, call, from, now, &mut out).await;
                }
                Ok((Message::Confirm(confirm), _)) => {
                    service.cache().confirm(confirm.client, confirm.xid)
                }
                Ok((Message::Ack(_) | Message::Reply(_), _)) => {}
                Err(undecodable) => {
                    // What is left of the datagram is what it answers.
                    let from = Peer {
                        address: peer,
                        datagram_bytes: messages.rest().len(),
                    };
                    service.counters.malformed.bump();
                    tracing::debug!(%peer, error = %undecodable.error, "undecodable datagram");
                    answer::undecodable(&service, &undecodable, from, &mut out).await;
                }
            }
        }
        out.flush(&service).await;
        if now >= next_sweep {
            service.cache().sweep(now);
            next_sweep = now + SWEEP_INTERVAL;
        }
    }
}

/// Checks a call, in order (incarnation, procedure, signature), admits it
/// and has it answered.
async fn on_call(service: &Arc<Service>, call: Call, peer: Peer, now: Instant, out: &mut Outbox) {
    if call.incarnation != Incarnation::ANY && call.incarnation != service.incarnation {
        return answer::refuse(service, &call, Outcome::WrongIncarnation, peer, out).await;
    }
    let procedure = match service.procedures.get(&call.procedure) {
        None => return answer::refuse(service, &call, Outcome::NoSuchProcedure, peer, out).await,
        Some(p) if p.signature() != call.signature => {
            let outcome = Outcome::SignatureMismatch(p.signature());
            return answer::refuse(service, &call, outcome, peer, out).await;
        }
        Some(p) => p.clone(),
    };
    let admission = admission::admit(&mut service.cache(), &service.in_flight, &call, now);
    match admission {
        Admission::New => execute::start(service, call, procedure, peer, out).await,
        Admission::Running => answer::ack(service, &call, peer, out).await,
        Admission::Replay(reply) => answer::replay(service, reply, peer, out).await,
        Admission::Stale => {}
        Admission::Evicted => {
            answer::refuse(service, &call, Outcome::ReplyEvicted, peer, out).await
        }
        Admission::Full => {
            service.counters.overloaded.bump();
            answer::refuse(service, &call, Outcome::Overloaded, peer, out).await;
        }
    }
}
