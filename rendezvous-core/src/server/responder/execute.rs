//! Running an admitted call: its handler polled once in the receive loop,
//! so a call that finishes at once (most do) costs no task and no timer;
//! one that waits moves, with its handler's future, to a task of its own,
//! which acknowledges it after the ACK delay and cancels it at its
//! deadline. A panic becomes an error reply. Either way the reply is
//! recorded in the reply cache before it is sent.

use super::super::procedure::{CallContext, HandlerError, Procedure};
use super::answer::{self, Peer};
use super::outbox::Outbox;
use super::service::Service;
use crate::rt::{self, Instant};
use crate::wire::{Call, Outcome};
use futures_lite::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Runs `call`, which holds a place in flight: given back when the outbox
/// is sent if it finished at once, else when its task ends.
pub(super) async fn start(
    service: &Arc<Service>,
    mut call: Call,
    procedure: Arc<Procedure>,
    peer: Peer,
    out: &mut Outbox,
) {
    service.counters.executed.bump();
    let context = CallContext {
        peer: peer.address,
        client: call.client,
        datagram_bytes: peer.datagram_bytes,
    };
    let args = std::mem::take(&mut call.args);
    let started =
        std::panic::catch_unwind(AssertUnwindSafe(|| (procedure.handler())(args, context)));
    let outcome = match started {
        Ok(future) => {
            // A boxed future, so moving it to a task after this poll is
            // allowed.
            let mut running = AssertUnwindSafe(future).catch_unwind();
            match futures_lite::future::poll_once(&mut running).await {
                Some(result) => outcome_of(result),
                None => {
                    rt::spawn(finish_slowly(service.clone(), call, running, peer));
                    return;
                }
            }
        }
        Err(panic) => Outcome::Panicked(panic_message(&*panic)),
    };
    let reply = finish(service, &call, outcome, peer);
    out.post(service, reply).await;
    out.answered_call();
}

/// Waits for a call that did not finish at once: acknowledges it after
/// the ACK delay, cancels it at its deadline.
async fn finish_slowly(
    service: Arc<Service>,
    call: Call,
    running: impl Future<Output = std::thread::Result<Result<Vec<u8>, HandlerError>>>,
    peer: Peer,
) {
    let ack_then_cancel = async {
        let ack_delay = service.config.ack_delay.min(call.deadline);
        rt::sleep(ack_delay).await;
        if let Some(ack) = answer::ack_bytes(&service, &call, peer) {
            service.send(&ack, peer.address).await;
        }
        rt::sleep(call.deadline.saturating_sub(ack_delay)).await;
        Outcome::DeadlineExceeded
    };
    let outcome = async { outcome_of(running.await) }
        .or(ack_then_cancel)
        .await;
    let reply = finish(&service, &call, outcome, peer);
    service.send(&reply, peer.address).await;
    service.in_flight.finish(1);
}

/// Encodes and records the reply of a call that ran.
fn finish(service: &Service, call: &Call, outcome: Outcome, peer: Peer) -> Vec<u8> {
    let reply = answer::reply(service, call, outcome, peer);
    service
        .cache()
        .complete(call.client, call.xid, &reply, Instant::now());
    reply
}

/// What a handler's result, or its panic, tells the caller.
fn outcome_of(result: std::thread::Result<Result<Vec<u8>, HandlerError>>) -> Outcome {
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
