//! The caller's deadline travels with its call (PROTOCOL.md, "Deadlines"):
//! a procedure sees it in its context, and a call still running when it
//! passes is cancelled (its future dropped), answered `DeadlineExceeded`
//! once, and that answer is what every later copy of the call gets.
//!
//! A real server and matchmaker on loopback; the slow procedure counts its
//! steps, so a cancelled call shows as a count that stops, and a guard
//! that is dropped. Every wait is bounded and generous; nothing asserts how
//! long something took.

use rendezvous_core::protocol::wire::{
    Call, ClientId, Incarnation, Message, Outcome, Xid, encode_payload,
};
use rendezvous_core::server::CallContext;
use rendezvous_core::{
    Client, Error, Fingerprint, Procedure, RemoteProcedure, RetryPolicy, Server,
};
use rendezvous_daemon::Matchmaker;
use rendezvous_runtime as rt;
use rendezvous_tests::{eventually, loopback, run};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const SLOW: RemoteProcedure = RemoteProcedure {
    name: "deadlines.slow",
    signature: Fingerprint::of("deadlines.slow(u64)->u64"),
    idempotent: false,
};

const REMAINING: RemoteProcedure = RemoteProcedure {
    name: "deadlines.remaining",
    signature: Fingerprint::of("deadlines.remaining()->u64"),
    idempotent: false,
};

const PANICS_WHEN_DROPPED: RemoteProcedure = RemoteProcedure {
    name: "deadlines.panics_when_dropped",
    signature: Fingerprint::of("deadlines.panics_when_dropped(u64)->u64"),
    idempotent: false,
};

const GATED: RemoteProcedure = RemoteProcedure {
    name: "deadlines.gated",
    signature: Fingerprint::of("deadlines.gated(bool)->u64"),
    idempotent: false,
};

/// The longest a slow call would run if nothing cancelled it.
const STEPS: u64 = 10_000;
const STEP: Duration = Duration::from_millis(10);

/// What the slow procedure leaves behind.
#[derive(Debug, Default)]
struct Traces {
    /// Steps taken, by every run.
    steps: AtomicU64,
    /// Runs started, and runs whose future was dropped unfinished.
    started: AtomicU64,
    dropped: AtomicU64,
    /// The time left before the caller's deadline, in ms, as the last run
    /// saw it when it started.
    remaining_ms: AtomicU64,
}

/// Marks its run dropped unless disarmed by finishing.
struct DropGuard {
    traces: Arc<Traces>,
    armed: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.armed {
            self.traces.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// `deadlines.slow(n)`: takes `n` steps of [`STEP`] (at most [`STEPS`]),
/// counting each, and returns `n`.
fn slow(traces: Arc<Traces>) -> Procedure {
    Procedure::typed(
        SLOW.name,
        SLOW.signature,
        move |(n,): (u64,), context: CallContext| {
            let traces = traces.clone();
            async move {
                traces.started.fetch_add(1, Ordering::SeqCst);
                let remaining = context.remaining().as_millis() as u64;
                traces.remaining_ms.store(remaining, Ordering::SeqCst);
                let mut guard = DropGuard {
                    traces: traces.clone(),
                    armed: true,
                };
                for _ in 0..n.min(STEPS) {
                    rt::sleep(STEP).await;
                    traces.steps.fetch_add(1, Ordering::SeqCst);
                }
                guard.armed = false;
                n
            }
        },
    )
}

/// `deadlines.remaining()`: the time left before the caller's deadline, in
/// ms, as the procedure sees it.
fn remaining() -> Procedure {
    Procedure::typed(
        REMAINING.name,
        REMAINING.signature,
        |(): (), context: CallContext| async move { context.remaining().as_millis() as u64 },
    )
}

/// Panics when dropped unfinished.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a destructor that panics");
        }
    }
}

/// `deadlines.panics_when_dropped(n)`: takes `n` steps (at most
/// [`STEPS`]) holding a [`PanicsWhenDropped`], returns `n` once done (then
/// forgetting the guard, so only a cancelled run panics).
fn panics_when_dropped() -> Procedure {
    Procedure::typed(
        PANICS_WHEN_DROPPED.name,
        PANICS_WHEN_DROPPED.signature,
        |(n,): (u64,), _| async move {
            let guard = PanicsWhenDropped;
            for _ in 0..n.min(STEPS) {
                rt::sleep(STEP).await;
            }
            std::mem::forget(guard);
            n
        },
    )
}

/// `deadlines.gated(wait)`: if `wait`, waits (at most [`STEPS`] steps)
/// until `open`; returns the time left before its caller's deadline, in
/// ms, as it saw it when it started.
fn gated(open: Arc<AtomicBool>) -> Procedure {
    Procedure::typed(
        GATED.name,
        GATED.signature,
        move |(wait,): (bool,), context: CallContext| {
            let open = open.clone();
            async move {
                let remaining = context.remaining().as_millis() as u64;
                for _ in 0..STEPS {
                    if !wait || open.load(Ordering::SeqCst) {
                        break;
                    }
                    rt::sleep(STEP).await;
                }
                remaining
            }
        },
    )
}

async fn serve(matchmaker: &Matchmaker, procedures: &[Procedure]) -> Server {
    let mut builder = Server::builder()
        .matchmaker(matchmaker.local_addr())
        .linked_procedures(false);
    for procedure in procedures {
        builder = builder.procedure(procedure.clone());
    }
    builder.start().await.expect("start a server")
}

/// Whether `steps` stays where it is for a while (many steps' worth).
async fn stopped(steps: &AtomicU64) -> bool {
    let before = steps.load(Ordering::SeqCst);
    rt::sleep(STEP * 30).await;
    steps.load(Ordering::SeqCst) == before
}

/// Reads datagrams from `socket` until the reply to xid 1; returns it as
/// sent, and how many acks came before it.
async fn reply_to(socket: &rt::UdpSocket) -> (Vec<u8>, u32) {
    let mut buffer = vec![0u8; 65_536];
    let mut acks = 0;
    for _ in 0..1_000 {
        let received = rt::timeout(Duration::from_secs(30), socket.recv_from(&mut buffer)).await;
        let (length, _) = received
            .expect("an answer within 30 s")
            .expect("receive an answer");
        match Message::decode(&buffer[..length]).expect("the answer decodes") {
            Message::Ack(ack) if ack.xid == Xid(1) => acks += 1,
            Message::Reply(reply) if reply.xid == Xid(1) => {
                return (buffer[..length].to_vec(), acks);
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    panic!("no reply among 1000 answers");
}

fn outcome(reply: &[u8]) -> Outcome {
    match Message::decode(reply).expect("a reply decodes") {
        Message::Reply(reply) => reply.outcome,
        other => panic!("not a reply: {other:?}"),
    }
}

#[test]
fn a_call_past_its_deadline_is_dropped_answered_deadline_exceeded_and_its_copies_get_that_answer() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let traces = Arc::new(Traces::default());
        let server = serve(&matchmaker, &[slow(traces.clone())]).await;

        // A call that would take STEPS steps, whose caller waits 500 ms.
        let call = Call {
            client: ClientId(0xd1),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: SLOW.name.into(),
            signature: SLOW.signature,
            deadline: Duration::from_millis(500),
            done_below: Xid(1),
            args: encode_payload(&(STEPS,)).expect("args encode").into(),
            elsewhere: Default::default(),
        }
        .encode()
        .expect("the call encodes");
        let socket = rt::UdpSocket::bind(loopback(0)).await.expect("a socket");
        socket
            .send_to(&call, server.local_addr())
            .await
            .expect("send the call");
        let (reply, acks) = reply_to(&socket).await;
        assert_eq!(outcome(&reply), Outcome::DeadlineExceeded);
        assert_eq!(acks, 1, "acknowledged once, after the ack delay");

        // By the time the answer left, the run was dropped; it takes no
        // further step.
        assert_eq!(
            traces.dropped.load(Ordering::SeqCst),
            1,
            "the run was dropped"
        );
        assert!(stopped(&traces.steps).await, "the cancelled run goes on");
        let steps = traces.steps.load(Ordering::SeqCst);
        assert!(steps < STEPS, "it ran to the end ({steps} steps)");
        let seen = traces.remaining_ms.load(Ordering::SeqCst);
        assert!(
            seen <= 500,
            "the handler saw {seen} ms left of a 500 ms deadline"
        );

        // A copy of the call after that gets the recorded answer, verbatim,
        // and runs nothing.
        socket
            .send_to(&call, server.local_addr())
            .await
            .expect("send the call again");
        let (again, acks) = reply_to(&socket).await;
        assert_eq!(again, reply, "the copy got another answer");
        assert_eq!(acks, 0);
        assert!(stopped(&traces.steps).await);
        assert_eq!(traces.started.load(Ordering::SeqCst), 1, "it ran twice");

        let stats = server.stats();
        assert_eq!(
            (stats.executed, stats.cancelled, stats.replayed),
            (1, 1, 1),
            "{stats:?}"
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_clients_call_past_its_deadline_is_outcome_unknown_and_the_server_stops_running_it() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let traces = Arc::new(Traces::default());
        let server = serve(&matchmaker, &[slow(traces.clone())]).await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(30))
            .build()
            .expect("a client");
        // Resolves the name with a roomy deadline first.
        let quick: u64 = client.call(&SLOW, &(0u64,)).await.expect("a quick call");
        assert_eq!(quick, 0);

        let short = client.with_deadline(Duration::from_secs(1));
        let result = short.call::<_, u64>(&SLOW, &(STEPS,)).await;
        // Acknowledged, then no result before the deadline: it ran, partly.
        assert!(
            matches!(result, Err(Error::OutcomeUnknown { .. })),
            "{result:?}"
        );
        let dropped = eventually(Duration::from_secs(30), STEP, || async {
            (traces.dropped.load(Ordering::SeqCst) == 1).then_some(())
        })
        .await;
        assert!(dropped.is_some(), "the server did not drop the call");
        assert!(stopped(&traces.steps).await, "the cancelled run goes on");
        let seen = traces.remaining_ms.load(Ordering::SeqCst);
        assert!(seen <= 1_000, "the handler saw {seen} ms left of 1000");
        let stats = server.stats();
        assert_eq!((stats.executed, stats.cancelled), (2, 1), "{stats:?}");
        assert_eq!(traces.started.load(Ordering::SeqCst), 2);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_procedure_sees_the_time_left_before_its_callers_deadline() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let server = serve(&matchmaker, &[remaining()]).await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .build()
            .expect("a client");
        for deadline in [Duration::from_secs(60), Duration::from_secs(600)] {
            let left: u64 = client
                .with_deadline(deadline)
                .call(&REMAINING, &())
                .await
                .expect("the call returns");
            let deadline = deadline.as_millis() as u64;
            assert!(left <= deadline, "{left} ms left of {deadline}");
            assert!(left > deadline / 2, "{left} ms left of {deadline}");
        }
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_cancelled_handler_whose_destructor_panics_still_gets_its_answer_and_gives_its_place_back() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        // One call at a time: a place not given back refuses every later one.
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(panics_when_dropped())
            .max_calls_in_flight(1)
            .start()
            .await
            .expect("start a server");
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(30))
            .build()
            .expect("a client");
        let short = client.with_deadline(Duration::from_secs(1));
        let cancelled = short.call::<_, u64>(&PANICS_WHEN_DROPPED, &(STEPS,)).await;
        assert!(
            matches!(cancelled, Err(Error::OutcomeUnknown { .. })),
            "{cancelled:?}"
        );
        let answered = eventually(Duration::from_secs(30), STEP, || async {
            (server.stats().cancelled == 1).then_some(())
        })
        .await;
        assert!(answered.is_some(), "{:?}", server.stats());
        // The place in flight came back: the next call runs.
        let next: u64 = client
            .call(&PANICS_WHEN_DROPPED, &(1u64,))
            .await
            .expect("the next call runs");
        assert_eq!(next, 1);
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_call_that_waited_out_overload_runs_with_what_is_left_of_its_deadline() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.expect("a matchmaker");
        let open = Arc::new(AtomicBool::new(false));
        // One call at a time, so a second call is refused until the first
        // is let through.
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(gated(open.clone()))
            .max_calls_in_flight(1)
            .start()
            .await
            .expect("start a server");
        let deadline = Duration::from_secs(20);
        // Short pauses between repeats (at most 50 ms, and jitter).
        let policy = RetryPolicy {
            min_timeout: Duration::from_millis(10),
            max_timeout: Duration::from_millis(50),
            ..RetryPolicy::default()
        }
        .with_deadline(deadline);
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .retry_policy(policy)
            .build()
            .expect("a client");
        let quick: u64 = client.call(&GATED, &(false,)).await.expect("resolves");
        assert!(quick > 0);

        let holder = {
            let client = client.clone();
            rt::spawn(async move { client.call::<_, u64>(&GATED, &(true,)).await })
        };
        let held = eventually(Duration::from_secs(30), STEP, || async {
            (server.stats().executed == 2).then_some(())
        })
        .await;
        assert!(held.is_some(), "the first call did not start");
        let waiting = {
            let client = client.clone();
            rt::spawn(async move { client.call::<_, u64>(&GATED, &(false,)).await })
        };
        // The waiting call is refused for two seconds at least.
        let hold = Duration::from_secs(2);
        rt::sleep(hold).await;
        let refused = server.stats().overloaded;
        assert!(refused > 0, "the second call was not refused");
        open.store(true, Ordering::SeqCst);
        holder.await.expect("the first call returns");
        let left = waiting.await.expect("the waiting call returns");
        // It began at least `hold` before it could run; the copy that ran
        // left at most one pause (50 ms, and jitter) before that, or was
        // read late by a loaded server: half of `hold` is room for both.
        let most = (deadline - hold / 2).as_millis() as u64;
        assert!(left <= most, "{left} ms left, more than {most}");
        let stats = server.stats();
        assert_eq!(stats.executed, 3, "{stats:?}");
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
