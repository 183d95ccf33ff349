//! Admission, in one step: whether an arriving call runs, is answered from
//! the reply cache, or is refused.
//!
//! The reply cache knows a call's history (new, running, finished,
//! forgotten); [`CallsInFlight`] knows whether a new one has room to run.
//! A new call takes its place in flight at the moment the cache records it
//! as running; with no place free it is refused as overloaded and leaves no
//! trace in the cache, so its retransmission is judged afresh. Duplicates
//! are answered whatever the load: answering them runs nothing.

use crate::rt::Instant;
pub(super) use crate::server::reply_cache::Admission;
use crate::server::reply_cache::ReplyCache;
use crate::server::source::Source;
use crate::wire::Call;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The calls running now, held to a limit.
#[derive(Debug)]
pub(super) struct CallsInFlight {
    running: AtomicUsize,
    limit: usize,
}

impl CallsInFlight {
    pub(super) fn new(limit: usize) -> CallsInFlight {
        CallsInFlight {
            running: AtomicUsize::new(0),
            limit,
        }
    }

    /// Takes a place for a new call, unless all are taken.
    fn try_start(&self) -> bool {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.limit).then_some(running + 1)
            })
            .is_ok()
    }

    /// Gives back the places of `calls` that finished (their replies sent,
    /// or withheld).
    pub(super) fn finish(&self, calls: usize) {
        self.running.fetch_sub(calls, Ordering::AcqRel);
    }

    /// How many calls are running now.
    pub(super) fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

/// What `call`, from `source`, gets. [`Admission::New`] means it holds a
/// place in flight, given back with [`CallsInFlight::finish`] once it is
/// answered; [`Admission::Full`] means it is to be refused as overloaded.
pub(super) fn admit(
    cache: &mut ReplyCache,
    in_flight: &CallsInFlight,
    call: &Call,
    source: Source,
    now: Instant,
) -> Admission {
    cache.admit(
        source,
        call.client,
        call.xid,
        call.done_below,
        call.deadline,
        now,
        || in_flight.try_start(),
    )
}

/// What a call of a read-only procedure gets: nothing is looked up or
/// recorded; it runs (again, if it is a copy) when a place in flight is
/// free, else it is refused as overloaded.
pub(super) fn admit_read_only(in_flight: &CallsInFlight) -> Admission {
    if in_flight.try_start() {
        Admission::New
    } else {
        Admission::Full
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{CLIENT, call, source};
    use super::*;
    use crate::wire::Xid;
    use std::time::Duration;

    fn cache() -> ReplyCache {
        ReplyCache::new(1 << 20, Duration::from_secs(60))
    }

    #[test]
    fn a_new_call_takes_a_place_in_flight() {
        let (mut cache, in_flight) = (cache(), CallsInFlight::new(2));
        assert_eq!(
            admit(&mut cache, &in_flight, &call(1), source(), Instant::now()),
            Admission::New
        );
        assert_eq!(in_flight.running(), 1);
    }

    #[test]
    fn at_the_limit_a_new_call_is_refused_and_the_cache_keeps_no_trace() {
        let (mut cache, in_flight) = (cache(), CallsInFlight::new(1));
        let now = Instant::now();
        admit(&mut cache, &in_flight, &call(1), source(), now);
        let held = cache.bytes();
        assert_eq!(
            admit(&mut cache, &in_flight, &call(2), source(), now),
            Admission::Full
        );
        assert_eq!(cache.bytes(), held);
        assert_eq!(in_flight.running(), 1);
        // Its retransmission, once a place is free, runs.
        in_flight.finish(1);
        assert_eq!(
            admit(&mut cache, &in_flight, &call(2), source(), now),
            Admission::New
        );
    }

    #[test]
    fn at_the_limit_a_duplicate_is_still_answered() {
        let (mut cache, in_flight) = (cache(), CallsInFlight::new(1));
        let now = Instant::now();
        admit(&mut cache, &in_flight, &call(1), source(), now);
        assert_eq!(
            admit(&mut cache, &in_flight, &call(1), source(), now),
            Admission::Running
        );
        cache.complete(CLIENT, Xid(1), b"reply".to_vec().into(), now);
        assert_eq!(
            admit(&mut cache, &in_flight, &call(1), source(), now),
            Admission::Replay(b"reply".to_vec().into())
        );
        assert_eq!(in_flight.running(), 1, "duplicates take no place");
    }

    #[test]
    fn a_limit_of_zero_refuses_every_new_call() {
        let (mut cache, in_flight) = (cache(), CallsInFlight::new(0));
        assert_eq!(
            admit(&mut cache, &in_flight, &call(1), source(), Instant::now()),
            Admission::Full
        );
        assert_eq!(in_flight.running(), 0);
    }

    #[test]
    fn finished_calls_give_their_places_back() {
        let in_flight = CallsInFlight::new(3);
        assert!(in_flight.try_start() && in_flight.try_start() && in_flight.try_start());
        assert!(!in_flight.try_start());
        in_flight.finish(2);
        assert_eq!(in_flight.running(), 1);
        assert!(in_flight.try_start());
    }
}
