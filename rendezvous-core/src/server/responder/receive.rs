//! The receive loop and dispatch: each datagram's messages in order, each
//! call checked (incarnation? procedure? signature?), admitted, and handed
//! to what answers it; the datagram's answers are sent when it is done.

use super::admission::{self, Admission};
use super::answer::{self, Peer, Via};
use super::execute;
use super::outbox::Outbox;
use super::service::Service;
use crate::rt::{self, Instant};
use crate::server::source::source_of;
use crate::wire::{Call, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often expired replies are swept out.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Where the loop waits for datagrams, and when it is to leave
/// (`placement`).
pub(super) trait Seat {
    /// The next datagram, or `None` when the loop is to stop.
    async fn receive(
        &mut self,
        service: &Service,
        buffer: &mut [u8],
    ) -> Option<io::Result<(usize, SocketAddr)>>;

    /// Asked after each datagram: whether the loop is to return now.
    fn leave(&mut self, now: Instant) -> bool;
}

/// Serves datagrams until `seat` says to stop or to leave (or the future
/// is dropped).
pub(super) async fn receive_loop(service: &Arc<Service>, seat: &mut impl Seat) {
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    // Reused for every datagram, addressed to its sender.
    let mut out = Outbox::new();
    let mut next_sweep = Instant::now() + SWEEP_INTERVAL;
    loop {
        let Some(received) = seat.receive(service, &mut buffer).await else {
            return;
        };
        let (length, peer) = match received {
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
                        via: Via::Datagram,
                    };
                    on_call(service, call, from, now, &mut out).await;
                }
                Ok((Message::Confirm(confirm), _)) => {
                    service.cache().confirm(confirm.client, confirm.xid)
                }
                // Answers to this server's own requests (its registrations).
                Ok((message @ (Message::Ack(_) | Message::Reply(_)), _)) => service.feed(message),
                Err(undecodable) => {
                    // What is left of the datagram is what it answers.
                    let from = Peer {
                        address: peer,
                        datagram_bytes: messages.rest().len(),
                        via: Via::Datagram,
                    };
                    service.counters.malformed.bump();
                    tracing::debug!(%peer, error = %undecodable.error, "undecodable datagram");
                    answer::undecodable(service, &undecodable, from, &mut out).await;
                }
            }
        }
        out.flush(service).await;
        if now >= next_sweep {
            service.cache().sweep(now);
            next_sweep = now + SWEEP_INTERVAL;
        }
        if seat.leave(now) {
            return;
        }
    }
}

/// Checks a call, in order (incarnation, procedure, signature), admits it
/// and has it answered.
pub(super) async fn on_call(
    service: &Arc<Service>,
    call: Call,
    peer: Peer,
    now: Instant,
    out: &mut Outbox,
) {
    if call.incarnation != Incarnation::ANY && call.incarnation != service.incarnation {
        return answer::wrong_incarnation(service, &call, peer, out).await;
    }
    let procedure = match service.procedures.get(&call.procedure) {
        // Debug, not info: anyone can send these, and each is the caller's
        // to fix (its error names the procedure and the signatures).
        None => {
            tracing::debug!(peer = %peer.address, procedure = %call.procedure, "refused a call: no such procedure here");
            return answer::refuse(service, &call, Outcome::NoSuchProcedure, peer, out).await;
        }
        Some(p) if p.signature() != call.signature => {
            tracing::debug!(
                peer = %peer.address,
                procedure = %call.procedure,
                caller = %call.signature,
                server = %p.signature(),
                server_text = p.signature_text().unwrap_or("?"),
                "refused a call: signature mismatch"
            );
            let outcome = Outcome::SignatureMismatch(p.signature());
            return answer::refuse(service, &call, outcome, peer, out).await;
        }
        Some(p) => p.clone(),
    };
    // A read-only call needs no record: it is only run (again).
    let admission = if procedure.is_read_only() {
        admission::admit_read_only(&service.in_flight)
    } else {
        let source = source_of(peer.address.ip());
        admission::admit(&mut service.cache(), &service.in_flight, &call, source, now)
    };
    if !matches!(admission, Admission::New | Admission::Full) {
        service.counters.duplicates.bump();
    }
    match admission {
        Admission::New => execute::start(service, call, procedure, peer, now, out).await,
        Admission::Running => {
            if let Via::Stream(id) = peer.via {
                service.await_reply_on_stream(call.client, call.xid, id);
            }
            answer::ack(service, &call, peer, out).await
        }
        Admission::Replay(reply) => answer::replay(service, reply, peer, out).await,
        Admission::Stale => {}
        Admission::Evicted => {
            answer::refuse(service, &call, Outcome::ReplyEvicted, peer, out).await
        }
        Admission::Full => {
            service.counters.overloaded.bump();
            if let Some(suppressed) = service.refusals().note(now) {
                tracing::warn!(
                    peer = %peer.address,
                    source = %source_of(peer.address.ip()),
                    procedure = %call.procedure,
                    suppressed,
                    "refused a call as overloaded: no room to run it, or to record a new client of its source ({suppressed} more refused since the last such line)"
                );
            }
            answer::refuse(service, &call, Outcome::Overloaded, peer, out).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::ResponderConfig;
    use super::super::placement::Receiving;
    use super::super::testing::{call, listener, math_add, outcome, received};
    use super::*;
    use crate::server::ProcedureSet;
    use crate::signature::Fingerprint;
    use crate::wire::Xid;
    use std::net::UdpSocket;

    /// A receive loop serving `set`, and a client socket to call it from.
    struct Served {
        service: Arc<Service>,
        receiving: Receiving,
        client: UdpSocket,
    }

    impl Served {
        fn new(set: ProcedureSet, config: ResponderConfig) -> Served {
            let service = Arc::new(Service::on_loopback(set, config));
            let receiving = Receiving::start_with(service.clone(), || false).unwrap();
            Served {
                service,
                receiving,
                client: listener(),
            }
        }

        /// Sends `calls` in one datagram.
        fn send(&self, calls: &[Call]) {
            let mut datagram = Vec::new();
            for call in calls {
                datagram.extend(Message::Call(call.clone()).encode().unwrap());
            }
            let to = self.service.local_addr;
            self.client.send_to(&datagram, to).unwrap();
        }

        /// Sends `call` and returns the outcome of the answer.
        fn ask(&self, call: Call) -> Outcome {
            self.send(&[call]);
            outcome(&received(&self.client))
        }

        fn stop(self) {
            rt::block_on(self.receiving.stop());
        }
    }

    fn echo() -> ProcedureSet {
        math_add(|args| async { args })
    }

    #[test]
    fn checks_run_in_order_incarnation_then_procedure_then_signature() {
        let served = Served::new(echo(), ResponderConfig::default());
        let elsewhere = Incarnation(served.service.incarnation.0 ^ 1);
        let unknown = |call: Call| Call {
            procedure: "math.sub".into(),
            ..call
        };
        let wrong_signature = |call: Call| Call {
            signature: Fingerprint::of("math.add(f64)"),
            ..call
        };
        let call_elsewhere = Call {
            incarnation: elsewhere,
            ..wrong_signature(unknown(call(1)))
        };
        // `[4]`, then the uptime for the same call, in one datagram.
        served.send(&[call_elsewhere]);
        let answer = received(&served.client);
        let outcomes: Vec<(Xid, Outcome)> = Message::decode_batch(&answer)
            .map(|message| match message {
                Ok((Message::Reply(reply), _)) => (reply.xid, reply.outcome),
                other => panic!("not a reply: {other:?}"),
            })
            .collect();
        assert!(
            matches!(&outcomes[..], [(Xid(1), Outcome::WrongIncarnation), (Xid(1), Outcome::WrongIncarnationUptime(uptime))]
                if *uptime < 60_000),
            "{outcomes:?}"
        );
        assert_eq!(
            served.ask(wrong_signature(unknown(call(2)))),
            Outcome::NoSuchProcedure
        );
        assert_eq!(
            served.ask(wrong_signature(call(3))),
            Outcome::SignatureMismatch(Fingerprint::of("math.add"))
        );
        assert_eq!(served.ask(call(4)), Outcome::Return(Vec::new().into()));
        assert_eq!(served.service.stats().executed, 1);
        served.stop();
    }

    #[test]
    fn the_answers_to_one_datagram_go_out_in_one() {
        let served = Served::new(echo(), ResponderConfig::default());
        served.send(&[call(1), call(2), call(3)]);
        let answers = received(&served.client);
        let replies: Vec<_> = Message::decode_batch(&answers)
            .map(|message| message.unwrap().0)
            .collect();
        assert_eq!(replies.len(), 3);
        let stats = served.service.stats();
        assert_eq!((stats.datagrams_received, stats.datagrams_sent), (1, 1));
        served.stop();
    }

    #[test]
    fn an_overloaded_call_is_refused_unrun_and_its_retransmission_runs_later() {
        let (release, released) = async_channel::unbounded::<()>();
        let set = math_add(move |args| {
            let released = released.clone();
            async move {
                if args == b"wait" {
                    let _ = released.recv().await;
                }
                args
            }
        });
        let config = ResponderConfig {
            max_calls_in_flight: 1,
            ack_delay: Duration::from_secs(60),
            ..ResponderConfig::default()
        };
        let served = Served::new(set, config);
        let waiting = Call {
            args: b"wait".to_vec().into(),
            ..call(1)
        };
        served.send(&[waiting, call(2)]);
        assert_eq!(outcome(&received(&served.client)), Outcome::Overloaded);
        let stats = served.service.stats();
        assert_eq!((stats.executed, stats.overloaded), (1, 1));

        release.send_blocking(()).unwrap();
        assert_eq!(
            outcome(&received(&served.client)),
            Outcome::Return(b"wait".to_vec().into())
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while served.service.in_flight.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Nothing of the refused call was kept: its copy runs.
        assert_eq!(served.ask(call(2)), Outcome::Return(Vec::new().into()));
        assert_eq!(served.service.stats().executed, 2);
        served.stop();
    }
}
