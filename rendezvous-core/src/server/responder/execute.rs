//! Running an admitted call: its handler polled once in the receive loop,
//! so a call that finishes at once (most do) costs no task and no timer;
//! one that waits moves, with its handler's future, to a task of its own,
//! which acknowledges it after the ACK delay and cancels it at its
//! deadline. A panic becomes an error reply. Either way the reply is
//! recorded in the reply cache before it is sent.
//!
//! The deadline is the caller's: when the call was admitted plus the
//! `deadline_ms` it carries (what its caller still had to wait when this
//! copy's attempt began, PROTOCOL.md "Deadlines"). The handler sees it as
//! [`CallContext::deadline`]. At the deadline the handler's future is
//! dropped, before the `DeadlineExceeded` reply is recorded and sent: once
//! the caller can hear that outcome, nothing of the call runs any more
//! (code it spawned elsewhere is its own business).

use super::answer::{self, Peer};
use super::outbox::Outbox;
use super::service::Service;
use crate::rt::{self, Instant};
use crate::server::call_counts::outcome_name;
use crate::server::procedure::{CallContext, HandlerError, Procedure};
use crate::server::shared_reply::SharedReply;
use crate::wire::{Call, Outcome, Payload};
use futures_lite::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tracing::Instrument;

/// Runs `call`, admitted at `admitted`, which holds a place in flight:
/// given back when the outbox is sent if it finished at once, else when
/// its task ends.
pub(super) async fn start(
    service: &Arc<Service>,
    mut call: Call,
    procedure: Arc<Procedure>,
    peer: Peer,
    admitted: Instant,
    out: &mut Outbox,
) {
    service.counters.executed.bump();
    let context = CallContext {
        peer: peer.address,
        client: call.client,
        xid: call.xid,
        datagram_bytes: peer.datagram_bytes,
        deadline: admitted + call.deadline,
        elsewhere: call.elsewhere,
    };
    let args = std::mem::take(&mut call.args);
    let handlers = &service.handlers;
    let span = call_span(&call);
    let started = std::panic::catch_unwind(AssertUnwindSafe(|| {
        within(&span, || {
            handlers.enter(|| (procedure.handler())(args, context))
        })
    }));
    let outcome = match started {
        Ok(future) => {
            // A boxed future, so moving it to a task after this poll is
            // allowed; polled and dropped inside the handlers' runtime,
            // and inside the call's span.
            let traced = handlers.wrap(future).instrument(span.clone());
            let mut running = AssertUnwindSafe(traced).catch_unwind();
            match futures_lite::future::poll_once(&mut running).await {
                Some(result) => outcome_of(result),
                None => {
                    let times = Times {
                        ack: admitted + service.config.ack_delay.min(call.deadline),
                        deadline: context.deadline,
                    };
                    let slowly =
                        finish_slowly(service.clone(), call, procedure, running, peer, times);
                    rt::spawn(slowly);
                    return;
                }
            }
        }
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    };
    let reply = within(&span, || finish(service, &call, &procedure, outcome, peer));
    out.post_shared(service, answer::for_peer(service, reply, peer))
        .await;
    out.answered_call();
}

/// When a call that did not finish at once is acknowledged, and when it
/// is cancelled; both counted from its admission.
#[derive(Clone, Copy, Debug)]
struct Times {
    ack: Instant,
    deadline: Instant,
}

/// Waits for a call that did not finish at once: acknowledges it after
/// the ACK delay, cancels it at its deadline.
async fn finish_slowly(
    service: Arc<Service>,
    call: Call,
    procedure: Arc<Procedure>,
    running: impl Future<Output = std::thread::Result<Result<Payload, HandlerError>>>,
    peer: Peer,
    times: Times,
) {
    let ack_then_cancel = async {
        rt::sleep(times.ack.saturating_duration_since(Instant::now())).await;
        if let Some(ack) = answer::ack_bytes(&service, &call, peer) {
            service.deliver(ack.into(), peer).await;
        }
        rt::sleep(times.deadline.saturating_duration_since(Instant::now())).await;
        service.counters.cancelled.bump();
        Outcome::DeadlineExceeded
    };
    let mut racing = Box::pin(async { outcome_of(running.await) }.or(ack_then_cancel));
    let outcome = racing.as_mut().await;
    // The handler's future is dropped here, before the reply is recorded
    // or sent; a destructor of a cancelled handler that panics is logged,
    // and does not take the reply (or the place in flight) with it.
    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(racing))) {
        tracing::warn!(
            procedure = %call.procedure,
            panic = %panic_message(&*panic),
            "a handler cancelled at its deadline panicked while being dropped"
        );
    }
    let reply = finish(&service, &call, &procedure, outcome, peer);
    service
        .deliver(answer::for_peer(&service, reply, peer), peer)
        .await;
    service.in_flight.finish(1);
}

/// The server's side of a call's span: `call{procedure, client, xid}`,
/// as the client names it (see the client's `Outgoing::span`), so one call
/// reads the same in both logs. Unless a subscriber wants `rendezvous_core`
/// at debug, `Span::none()`: a disabled span still costs each poll of the
/// handler an enter and an exit with a `log` check (callgrind: ~200
/// instructions a call), the empty one only a test.
fn call_span(call: &Call) -> tracing::Span {
    let span = tracing::debug_span!(
        "call",
        procedure = %call.procedure,
        client = %format_args!("{:016x}", call.client.0),
        xid = call.xid.0
    );
    if span.is_disabled() {
        tracing::Span::none()
    } else {
        span
    }
}

/// Runs `f` inside `span`, but enters no span that is disabled: entering
/// one still costs a check (and a `log` call wherever tracing's `log`
/// feature is on), twice per call.
fn within<T>(span: &tracing::Span, f: impl FnOnce() -> T) -> T {
    if span.is_disabled() {
        f()
    } else {
        span.in_scope(f)
    }
}

/// Encodes and records the reply of a call that ran.
fn finish(
    service: &Service,
    call: &Call,
    procedure: &Procedure,
    outcome: Outcome,
    peer: Peer,
) -> SharedReply {
    procedure.call_counters().count(&outcome);
    tracing::debug!(outcome = outcome_name(&outcome), "call answered");
    let reply = answer::reply(service, call, outcome, peer);
    service
        .cache()
        .complete(call.client, call.xid, reply.clone(), Instant::now());
    service.reply_to_stream_waiters(call.client, call.xid, &reply);
    reply
}

/// What a handler's result, or its panic, tells the caller.
fn outcome_of(result: std::thread::Result<Result<Payload, HandlerError>>) -> Outcome {
    match result {
        Ok(Ok(bytes)) => Outcome::Return(bytes),
        Ok(Err(HandlerError::BadArguments(reason))) => Outcome::BadArguments(reason),
        Ok(Err(error @ HandlerError::ResultUnencodable(_))) => Outcome::Panicked(error.to_string()),
        Ok(Err(HandlerError::ResultTooLarge { size, limit })) => Outcome::ReplyTooLarge {
            size: size as u64,
            limit: limit as u64,
        },
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::super::admission::{Admission, admit};
    use super::super::config::ResponderConfig;
    use super::super::testing::{call, listener, math_add, outcome, received};
    use super::*;
    use crate::rt::block_on;
    use crate::server::ProcedureSet;
    use crate::wire::{Message, Xid};
    use std::net::UdpSocket;
    use std::time::Duration;

    #[test]
    fn a_result_is_returned_and_each_handler_error_says_what_happened() {
        assert_eq!(
            outcome_of(Ok(Ok(vec![1].into()))),
            Outcome::Return(vec![1].into())
        );
        assert_eq!(
            outcome_of(Ok(Err(HandlerError::BadArguments("two".into())))),
            Outcome::BadArguments("two".into())
        );
        let unencodable = HandlerError::ResultUnencodable("a map key".into());
        assert_eq!(
            outcome_of(Ok(Err(unencodable.clone()))),
            Outcome::Panicked(unencodable.to_string())
        );
        assert_eq!(
            outcome_of(Ok(Err(HandlerError::ResultTooLarge { size: 9, limit: 8 }))),
            Outcome::ReplyTooLarge { size: 9, limit: 8 }
        );
        assert_eq!(
            outcome_of(Err(Box::new("boom"))),
            Outcome::Panicked("boom".into())
        );
    }

    #[test]
    fn a_panic_message_is_its_string_payload() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("formatted")), "formatted");
        assert_eq!(panic_message(&42), "a panic with a non-string payload");
    }

    /// A service of `set`, and a listener to hear what it answers.
    fn serve(set: ProcedureSet, config: ResponderConfig) -> (Arc<Service>, UdpSocket, Peer) {
        let service = Arc::new(Service::on_loopback(set, config));
        let listener = listener();
        let peer = Peer {
            address: listener.local_addr().unwrap(),
            datagram_bytes: 100,
            via: super::super::peer::Via::Datagram,
        };
        (service, listener, peer)
    }

    /// Admits and starts `call` as the receive loop would, and sends what
    /// the outbox holds then.
    fn run(service: &Arc<Service>, call: Call, peer: Peer) {
        let admission = admit(
            &mut service.cache(),
            &service.in_flight,
            &call,
            super::super::testing::source(),
            Instant::now(),
        );
        assert_eq!(admission, Admission::New);
        let procedure = service.procedures.get("math.add").unwrap().clone();
        let mut out = Outbox::new();
        out.address_to(peer.address);
        block_on(async {
            start(service, call, procedure, peer, Instant::now(), &mut out).await;
            out.flush(service).await;
        });
    }

    #[test]
    fn a_call_that_finishes_at_once_is_answered_and_its_reply_kept() {
        let set = math_add(|args| async { args });
        let (service, listener, peer) = serve(set, ResponderConfig::default());
        let with_args = Call {
            args: vec![4, 2].into(),
            ..call(1)
        };
        run(&service, with_args, peer);
        let answer = received(&listener);
        assert_eq!(outcome(&answer), Outcome::Return(vec![4, 2].into()));
        assert_eq!(service.in_flight.running(), 0);
        assert_eq!(service.stats().executed, 1);
        let again = admit(
            &mut service.cache(),
            &service.in_flight,
            &call(1),
            super::super::testing::source(),
            Instant::now(),
        );
        assert_eq!(again, Admission::Replay(answer.into()));
    }

    #[test]
    fn a_panicking_handler_is_answered_with_its_message() {
        let set = math_add(|_| async { panic!("divided by zero") });
        let (service, listener, peer) = serve(set, ResponderConfig::default());
        run(&service, call(1), peer);
        let answer = received(&listener);
        assert_eq!(
            outcome(&answer),
            Outcome::Panicked("divided by zero".into())
        );
    }

    #[test]
    fn a_call_that_waits_is_acknowledged_then_answered_from_its_task() {
        let set = math_add(|args| async {
            rt::sleep(Duration::from_millis(200)).await;
            args
        });
        let config = ResponderConfig {
            ack_delay: Duration::from_millis(10),
            ..ResponderConfig::default()
        };
        let (service, listener, peer) = serve(set, config);
        run(&service, call(1), peer);
        assert_eq!(service.in_flight.running(), 1, "still running in its task");
        let first = Message::decode(&received(&listener)).unwrap();
        assert!(
            matches!(first, Message::Ack(ack) if ack.xid == Xid(1)),
            "{first:?}"
        );
        assert_eq!(
            outcome(&received(&listener)),
            Outcome::Return(Vec::new().into())
        );
        // The place is given back just after the reply leaves.
        let deadline = Instant::now() + Duration::from_secs(2);
        while service.in_flight.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(service.in_flight.running(), 0);
    }
}
