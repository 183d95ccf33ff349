//! Where a call goes after each attempt: the failover state machine.
//!
//! The client drives one call through it: an attempt at an endpoint, then
//! [`Failover::after_attempt`]; if that says to look again, a lookup, then
//! [`Failover::after_lookup`], which names the next endpoint and the pause
//! before it. The machine does no I/O, so every rule below is a unit test.
//!
//! * **Doubt is for life.** Once an attempt leaves the call possibly run at
//!   an endpoint (it went silent, it acknowledged the call, or a new
//!   incarnation answered after earlier copies went unanswered), the call
//!   stays "may have run there" until it ends. No retry, pause or re-lookup
//!   forgets it; a later attempt answered by a refusal (`WrongIncarnation`
//!   from a restarted server, say) proves nothing about the earlier copies.
//! * **A doubted call stays where it may have run**, unless the procedure
//!   is idempotent: going back there is safe (its reply cache knows the
//!   call); moving on could run it twice, so the caller gets
//!   [`Error::OutcomeUnknown`] instead.
//! * **Silence from an endpoint that unregistered** reads as a graceful
//!   exit (a server unregisters before it stops taking calls, then answers
//!   what it took): that doubt is dropped, but only when the lookup made
//!   right after the silence lists the endpoint among those that
//!   *unregistered*. An endpoint that is merely no longer listed may have
//!   let its lease expire, or been replaced by a new incarnation at its
//!   address: both say nothing about what it ran, so the doubt stays.
//! * **A restart proven after the call began clears the doubt there.** A
//!   `WrongIncarnation` that carries the answering incarnation's uptime
//!   (outcome 12) proves that every copy sent to that address reached only
//!   that incarnation when the call's first copy there is younger than
//!   the uptime (the port was not free for it before the earlier process
//!   let go of it): it refused them all, so the call ran nowhere there,
//!   and is resent at once to the incarnation that answered. When a call
//!   in doubt at an endpoint finds its address listed under another
//!   incarnation (replaced), it goes back once more to the old one (a
//!   copy naming the old incarnation cannot run at the new one) to hear
//!   that refusal, at most [`UPTIME_ASKS`] times.
//! * **Nowhere new to go** (every listed endpoint already tried): the call
//!   goes back to one after a pause, backing off by [`RetryPolicy::backoff`].

use super::endpoints::Target;
use crate::error::{Error, refusal};
use crate::requester::Failure;
use crate::retry::RetryPolicy;
use crate::wire::{Elsewhere, Incarnation, Outcome, Payload};
use std::time::Duration;

/// How many times a call in doubt goes back to a replaced endpoint to
/// learn its successor's uptime.
const UPTIME_ASKS: u32 = 3;

/// Why a call may have run at an endpoint it is leaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doubt {
    /// It went silent: the call, or only its reply, may have been lost.
    Silent,
    /// It acknowledged the call, then went silent.
    Acknowledged,
    /// It acknowledged the call and sent no reply before the deadline.
    AcknowledgedThenExpired,
    /// A new incarnation answered after earlier copies went unanswered.
    Restarted,
}

impl Doubt {
    fn error(self, procedure: &str, endpoint: Target) -> Error {
        let reason = match self {
            Doubt::Silent => "the server stopped answering, and the call may have reached it",
            Doubt::Acknowledged => "the server acknowledged the call, then stopped answering",
            Doubt::AcknowledgedThenExpired => {
                "the server acknowledged the call but sent no reply before its deadline"
            }
            Doubt::Restarted => "the server restarted while the call was outstanding",
        };
        Error::OutcomeUnknown {
            procedure: procedure.into(),
            endpoint: endpoint.address,
            reason: reason.into(),
        }
    }
}

/// What one attempt at the current endpoint came to.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) answer: Result<Outcome, Failure>,
    /// Transmissions this attempt made.
    pub(crate) transmissions: u32,
    /// Transmissions the call has made, to every endpoint.
    pub(crate) total_transmissions: u32,
    /// Whether any endpoint has acknowledged the call.
    pub(crate) acknowledged: bool,
    /// The incarnation in the header of the reply, if one came.
    pub(crate) answered_by: Option<Incarnation>,
    /// How long ago the call was first sent to this attempt's address.
    pub(crate) age: Option<Duration>,
}

/// After an attempt: the call's end, or a new lookup.
#[derive(Debug)]
pub(crate) enum AfterAttempt {
    Return(Payload),
    Fail(Error),
    /// Look the name up again, then call [`Failover::after_lookup`].
    LookAgain,
    /// Send the call to this endpoint now, with no lookup and no pause:
    /// the incarnation that answered, proven to have run nothing of it.
    Resend(Target),
}

/// After a lookup: the call's end, or where to send it next.
#[derive(Debug)]
pub(crate) enum AfterLookup {
    Fail(Error),
    Retry { target: Target, pause: Duration },
}

/// One call's way through its endpoints.
#[derive(Debug)]
pub(crate) struct Failover<'p> {
    procedure: &'p str,
    idempotent: bool,
    policy: &'p RetryPolicy,
    /// The endpoint of the attempt just made.
    current: Target,
    /// Endpoints the call has left, to pass over while others remain.
    left_behind: Vec<Target>,
    /// Where the call may have run, and why, latest last (one entry per
    /// endpoint). An entry goes only by a proof (see the module docs).
    doubts: Vec<(Doubt, Target)>,
    /// Whether the attempt just made ended in silence.
    silent: bool,
    /// Pauses taken, for the backoff.
    pauses: u32,
    /// Times the call went back to a replaced endpoint to learn the
    /// uptime of its successor.
    uptime_asks: u32,
}

impl<'p> Failover<'p> {
    /// A call about to make its first attempt, at `first`.
    pub(crate) fn new(
        procedure: &'p str,
        idempotent: bool,
        policy: &'p RetryPolicy,
        first: Target,
    ) -> Failover<'p> {
        Failover {
            procedure,
            idempotent,
            policy,
            current: first,
            left_behind: Vec::new(),
            doubts: Vec::new(),
            silent: false,
            pauses: 0,
            uptime_asks: 0,
        }
    }

    /// Reads an attempt at the current endpoint.
    pub(crate) fn after_attempt(&mut self, attempt: Attempt) -> AfterAttempt {
        let (name, current) = (self.procedure, self.current);
        self.silent = false;
        if let Some(next) = self.proven_restart(&attempt) {
            self.current = next;
            return AfterAttempt::Resend(next);
        }
        let doubt = match attempt.answer {
            Ok(Outcome::Return(bytes)) => return AfterAttempt::Return(bytes),
            // Earlier copies went unanswered: they may have reached the
            // incarnation this one replaced.
            Ok(Outcome::WrongIncarnation | Outcome::WrongIncarnationUptime(_))
                if attempt.transmissions > 1 =>
            {
                Some(Doubt::Restarted)
            }
            Ok(
                Outcome::WrongIncarnation
                | Outcome::WrongIncarnationUptime(_)
                | Outcome::NoSuchProcedure,
            ) => None,
            Ok(Outcome::SignatureMismatch(_)) => None,
            Ok(outcome) => return AfterAttempt::Fail(refusal(name, current.address, outcome)),
            Err(Failure::Silent) => {
                self.silent = true;
                Some(Doubt::Silent)
            }
            // Every copy ever sent to this address was refused by the
            // kernel: none reached a process there, now or before.
            Err(Failure::Refused) => {
                self.doubts.retain(|(_, t)| t.address != current.address);
                None
            }
            Err(Failure::Expired) if attempt.acknowledged => {
                return AfterAttempt::Fail(Doubt::AcknowledgedThenExpired.error(name, current));
            }
            Err(failure) => {
                return AfterAttempt::Fail(self.failure(failure, attempt.total_transmissions));
            }
        };
        let doubt = if attempt.acknowledged {
            Some(Doubt::Acknowledged)
        } else {
            doubt
        };
        if let Some(doubt) = doubt {
            self.doubts.retain(|(_, t)| *t != current);
            self.doubts.push((doubt, current));
        }
        self.left_behind.push(current);
        AfterAttempt::LookAgain
    }

    /// The incarnation to resend to at once, when `attempt` met a restart
    /// that provably happened before the call's first copy to this address
    /// (see the module docs); any doubt about that address is then gone.
    fn proven_restart(&mut self, attempt: &Attempt) -> Option<Target> {
        let Ok(Outcome::WrongIncarnationUptime(uptime_ms)) = attempt.answer else {
            return None;
        };
        let (answered_by, age) = (attempt.answered_by?, attempt.age?);
        let address = self.current.address;
        // An ack came from somewhere: keep to the rules that cover it.
        if attempt.acknowledged || age >= Duration::from_millis(uptime_ms) {
            return None;
        }
        // Copies that named the answering incarnation itself are not
        // covered: it did not refuse those.
        let next = Target {
            address,
            incarnation: answered_by,
        };
        if self.doubts.iter().any(|(_, t)| *t == next) {
            return None;
        }
        self.doubts.retain(|(_, t)| t.address != address);
        match self.latest_doubt() {
            Some((_, doubted)) if doubted != next && !self.idempotent => None,
            _ => Some(next),
        }
    }

    /// Reads the lookup made after an attempt; `pick` chooses among the
    /// endpoints found, passing over those given as its second argument
    /// while others remain; `unregistered` says whether the lookup named
    /// an endpoint among those that left gracefully; `remaining` is the
    /// call's time left.
    pub(crate) fn after_lookup(
        &mut self,
        found: Result<&[Target], Error>,
        pick: impl FnOnce(&[Target], &[Target]) -> Option<Target>,
        unregistered: impl Fn(Target) -> bool,
        remaining: Duration,
    ) -> AfterLookup {
        let name = self.procedure;
        let endpoints = match found {
            Ok(endpoints) => endpoints,
            Err(error) => {
                return AfterLookup::Fail(match self.latest_doubt() {
                    Some((doubt, target)) if !self.idempotent => doubt.error(name, target),
                    _ => error,
                });
            }
        };
        if let Some((Doubt::Silent, target)) = self.latest_doubt()
            && self.silent
            && target == self.current
            && !endpoints.contains(&target)
            && unregistered(target)
        {
            self.doubts.pop();
        }
        if let Some((_, doubted)) = self.latest_doubt()
            && !self.idempotent
            && self.uptime_asks < UPTIME_ASKS
            && endpoints
                .iter()
                .any(|t| t.address == doubted.address && t.incarnation != doubted.incarnation)
        {
            self.uptime_asks += 1;
            self.current = doubted;
            return AfterLookup::Retry {
                target: doubted,
                pause: Duration::ZERO,
            };
        }
        let Some(next) = pick(endpoints, &self.left_behind) else {
            return AfterLookup::Fail(Error::NotFound { name: name.into() });
        };
        if let Some((doubt, target)) = self.latest_doubt()
            && next != target
            && !self.idempotent
        {
            return AfterLookup::Fail(doubt.error(name, target));
        }
        let mut pause = Duration::ZERO;
        if self.left_behind.contains(&next) {
            let policy = self.policy;
            pause = policy
                .backoff(policy.min_timeout, self.pauses, policy.max_timeout)
                .min(remaining);
            self.pauses += 1;
            self.left_behind.retain(|t| *t != next);
        }
        self.current = next;
        AfterLookup::Retry {
            target: next,
            pause,
        }
    }

    /// What the call's next attempt, at `next`, tells its server of the
    /// others: the most that any standing doubt elsewhere says.
    pub(crate) fn elsewhere(&self, next: Target) -> Elsewhere {
        let level = |doubt: Doubt| match doubt {
            Doubt::Silent | Doubt::Restarted => Elsewhere::Unanswered,
            Doubt::Acknowledged | Doubt::AcknowledgedThenExpired => Elsewhere::Acknowledged,
        };
        self.doubts
            .iter()
            .filter(|(_, t)| *t != next)
            .map(|&(doubt, _)| level(doubt))
            .max()
            .unwrap_or(Elsewhere::Nowhere)
    }

    fn latest_doubt(&self) -> Option<(Doubt, Target)> {
        self.doubts.last().copied()
    }

    fn failure(&self, failure: Failure, attempts: u32) -> Error {
        let (name, endpoint) = (self.procedure, self.current.address);
        failure_error(name, endpoint, failure, attempts, self.policy.deadline)
    }
}

/// The error for an attempt that got no answer, where no doubt applies.
pub(crate) fn failure_error(
    procedure: &str,
    endpoint: std::net::SocketAddr,
    failure: Failure,
    attempts: u32,
    deadline: Duration,
) -> Error {
    match failure {
        Failure::Expired | Failure::Silent => Error::DeadlineExceeded {
            procedure: procedure.into(),
            endpoint,
            attempts,
            deadline,
        },
        Failure::Refused => Error::io(
            format!(
                "could not reach `{procedure}` at {endpoint}: nothing listens there (port unreachable)"
            ),
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        ),
        Failure::TooLarge { size, limit } => Error::PayloadTooLarge {
            what: "arguments",
            size,
            limit,
        },
        Failure::Io(error) => {
            Error::io(format!("could not send `{procedure}` to {endpoint}"), error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn target(port: u16, incarnation: u64) -> Target {
        Target {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            incarnation: Incarnation(incarnation),
        }
    }

    /// The incarnation looked up, and the one that replaced it at its address.
    fn old() -> Target {
        target(7000, 1)
    }

    fn new() -> Target {
        target(7000, 2)
    }

    /// Another server of the same procedure.
    fn other() -> Target {
        target(7001, 3)
    }

    fn attempt(answer: Result<Outcome, Failure>, transmissions: u32) -> Attempt {
        Attempt {
            answer,
            transmissions,
            total_transmissions: transmissions,
            acknowledged: false,
            answered_by: Some(new().incarnation),
            age: Some(Duration::from_millis(500)),
        }
    }

    /// `[4]` with the uptime of `new()`, to a call first sent to its
    /// address `age_ms` ago.
    fn refused_by_new(uptime_ms: u64, age_ms: u64, transmissions: u32) -> Attempt {
        Attempt {
            age: Some(Duration::from_millis(age_ms)),
            ..attempt(
                Ok(Outcome::WrongIncarnationUptime(uptime_ms)),
                transmissions,
            )
        }
    }

    fn silent() -> Attempt {
        attempt(Err(Failure::Silent), 4)
    }

    /// The first endpoint not passed over, else the first.
    fn first_fresh(endpoints: &[Target], avoid: &[Target]) -> Option<Target> {
        endpoints
            .iter()
            .find(|t| !avoid.contains(t))
            .or(endpoints.first())
            .copied()
    }

    /// A lookup that names nobody as unregistered.
    fn look(failover: &mut Failover<'_>, found: &[Target]) -> AfterLookup {
        failover.after_lookup(Ok(found), first_fresh, |_| false, Duration::from_secs(10))
    }

    /// A lookup that names `gone` as unregistered.
    fn look_unregistered(
        failover: &mut Failover<'_>,
        found: &[Target],
        gone: Target,
    ) -> AfterLookup {
        failover.after_lookup(
            Ok(found),
            first_fresh,
            |t| t == gone,
            Duration::from_secs(10),
        )
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    /// Whether the call, looked up with `found` again and again, never
    /// leaves `at` and ends `OutcomeUnknown` there: going back to `at`
    /// (to hear a successor's uptime) meets a refusal that proves nothing.
    fn ends_unknown_at(failover: &mut Failover<'_>, found: &[Target], at: Target) -> bool {
        for _ in 0..=UPTIME_ASKS {
            match look(failover, found) {
                AfterLookup::Retry { target, .. } if target == at => {
                    failover.after_attempt(attempt(Ok(Outcome::WrongIncarnation), 1));
                }
                next => return is_unknown_at(&next, at),
            }
        }
        false
    }

    fn is_unknown_at(next: &AfterLookup, at: Target) -> bool {
        matches!(next, AfterLookup::Fail(Error::OutcomeUnknown { endpoint, .. }) if *endpoint == at.address)
    }

    #[test]
    fn a_reply_ends_the_call() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(attempt(Ok(Outcome::Return(vec![1].into())), 1));
        assert!(matches!(after, AfterAttempt::Return(bytes) if bytes == [1]));
    }

    #[test]
    fn a_refusal_that_proves_nothing_ran_moves_the_call_on() {
        let policy = policy();
        for refusal in [Outcome::NoSuchProcedure, Outcome::WrongIncarnation] {
            let mut failover = Failover::new("p", false, &policy, old());
            let after = failover.after_attempt(attempt(Ok(refusal), 1));
            assert!(matches!(after, AfterAttempt::LookAgain));
            let next = look(&mut failover, &[old(), other()]);
            assert!(
                matches!(next, AfterLookup::Retry { target, pause } if target == other() && pause.is_zero())
            );
        }
    }

    #[test]
    fn any_other_outcome_is_the_callers_error() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(attempt(Ok(Outcome::Panicked("boom".into())), 1));
        assert!(matches!(
            after,
            AfterAttempt::Fail(Error::ProcedurePanicked { .. })
        ));
    }

    #[test]
    fn a_silent_endpoint_still_listed_keeps_a_non_idempotent_call() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        assert!(matches!(
            failover.after_attempt(silent()),
            AfterAttempt::LookAgain
        ));
        assert!(is_unknown_at(
            &look(&mut failover, &[old(), other()]),
            old()
        ));
    }

    #[test]
    fn an_idempotent_call_moves_on_from_a_silent_endpoint() {
        let policy = policy();
        let mut failover = Failover::new("p", true, &policy, old());
        failover.after_attempt(silent());
        let next = look(&mut failover, &[old(), other()]);
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == other()));
    }

    /// What a moved call tells its next server (`CallContext::elsewhere`):
    /// the most any standing doubt at *another* endpoint says; going back
    /// to the doubted one tells it nothing (its reply cache knows the call).
    #[test]
    fn a_moved_call_tells_its_next_server_the_strongest_doubt_elsewhere() {
        let policy = policy();
        let mut failover = Failover::new("p", true, &policy, old());
        assert_eq!(failover.elsewhere(old()), Elsewhere::Nowhere);
        failover.after_attempt(silent());
        assert_eq!(failover.elsewhere(other()), Elsewhere::Unanswered);
        assert_eq!(failover.elsewhere(old()), Elsewhere::Nowhere);
        look(&mut failover, &[old(), other()]);
        let acknowledged = Attempt {
            acknowledged: true,
            ..silent()
        };
        failover.after_attempt(acknowledged);
        // Silent at `old`, acknowledged at `other`: each is elsewhere to the other.
        assert_eq!(failover.elsewhere(old()), Elsewhere::Acknowledged);
        assert_eq!(failover.elsewhere(other()), Elsewhere::Unanswered);
        assert_eq!(failover.elsewhere(new()), Elsewhere::Acknowledged);
        // Every copy to `old`'s address refused: nothing ran there.
        look(&mut failover, &[old(), other()]);
        failover.after_attempt(attempt(Err(Failure::Refused), 1));
        assert_eq!(failover.elsewhere(other()), Elsewhere::Nowhere);
    }

    #[test]
    fn a_silent_endpoint_that_unregistered_left_gracefully() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        let next = look_unregistered(&mut failover, &[other()], old());
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == other()));
    }

    /// Issue 13, item 0's residual: an endpoint no longer listed because
    /// its lease expired (or a new incarnation replaced it) may have run
    /// the call before it died.
    #[test]
    fn a_silent_endpoint_merely_no_longer_listed_keeps_its_doubt() {
        let policy = policy();
        for found in [vec![other()], vec![new(), other()]] {
            let mut failover = Failover::new("p", false, &policy, old());
            failover.after_attempt(silent());
            assert!(ends_unknown_at(&mut failover, &found, old()));
        }
        // Another endpoint's graceful exit is not this one's.
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        let next = look_unregistered(&mut failover, &[other()], target(7000, 9));
        assert!(is_unknown_at(&next, old()));
    }

    /// Issue 13, item 1(a): a restart older than the call's first copy at
    /// that address: nothing of the call reached the old process, so it
    /// goes to the new incarnation at once, even after lost copies.
    #[test]
    fn a_refusal_from_an_incarnation_older_than_the_call_resends_it_there() {
        let policy = policy();
        for transmissions in [1, 3] {
            let mut failover = Failover::new("p", false, &policy, old());
            let after = failover.after_attempt(refused_by_new(2_000, 400, transmissions));
            assert!(
                matches!(after, AfterAttempt::Resend(target) if target == new()),
                "{after:?}"
            );
        }
    }

    #[test]
    fn a_proven_restart_clears_the_doubt_of_an_earlier_silence_at_that_address() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        look(&mut failover, &[old()]);
        let after = failover.after_attempt(refused_by_new(5_000, 1_200, 1));
        assert!(matches!(after, AfterAttempt::Resend(target) if target == new()));
        // And the call is free of it: a later refusal moves it on.
        let after = failover.after_attempt(attempt(Ok(Outcome::NoSuchProcedure), 1));
        assert!(matches!(after, AfterAttempt::LookAgain));
        let next = look(&mut failover, &[other()]);
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == other()));
    }

    /// A call that went silent at the old incarnation, while the lookup
    /// lists the new one at the same address: it goes back to the old one
    /// to hear the new one's uptime, which may clear it.
    #[test]
    fn a_call_in_doubt_at_a_replaced_endpoint_asks_its_successor_for_the_uptime() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        for _ in 0..UPTIME_ASKS {
            let next = look(&mut failover, &[new(), other()]);
            assert!(
                matches!(next, AfterLookup::Retry { target, pause } if target == old() && pause.is_zero()),
                "{next:?}"
            );
            // The answer is lost, or proves nothing.
            failover.after_attempt(refused_by_new(100, 900, 1));
        }
        assert!(is_unknown_at(
            &look(&mut failover, &[new(), other()]),
            old()
        ));

        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        look(&mut failover, &[new()]);
        let after = failover.after_attempt(refused_by_new(2_000, 900, 2));
        assert!(matches!(after, AfterAttempt::Resend(target) if target == new()));
    }

    /// Issue 13, item 1(c): every copy refused (port unreachable): the
    /// call ran nowhere there, so it moves on, even from an earlier doubt
    /// at that address.
    #[test]
    fn a_call_whose_every_copy_was_refused_moves_on() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(attempt(Err(Failure::Refused), 1));
        assert!(matches!(after, AfterAttempt::LookAgain));
        let next = look(&mut failover, &[old(), other()]);
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == other()));

        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        look(&mut failover, &[old()]);
        failover.after_attempt(attempt(Err(Failure::Refused), 1));
        let next = look(&mut failover, &[old(), other()]);
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == other()));
    }

    #[test]
    fn a_restart_younger_than_the_call_proves_nothing() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(refused_by_new(300, 900, 2));
        assert!(matches!(after, AfterAttempt::LookAgain));
        assert!(ends_unknown_at(&mut failover, &[new()], old()));
        // A single copy answered proves it ran nowhere, as `[4]` does.
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(refused_by_new(300, 900, 1));
        let next = look(&mut failover, &[new()]);
        assert!(matches!(next, AfterLookup::Retry { target, .. } if target == new()));
    }

    #[test]
    fn a_proven_restart_does_not_clear_a_doubt_about_the_incarnation_that_answered() {
        // The call went silent at the new incarnation itself (which may
        // have run it), then a copy naming the old one was refused by it.
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, new());
        failover.after_attempt(silent());
        look(&mut failover, &[new()]);
        let after = failover.after_attempt(refused_by_new(5_000, 1_000, 1));
        assert!(!matches!(after, AfterAttempt::Resend(_)), "{after:?}");
        assert!(is_unknown_at(&look(&mut failover, &[other()]), new()));
    }

    #[test]
    fn an_acknowledged_call_is_not_resent_on_an_uptime() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(Attempt {
            acknowledged: true,
            ..refused_by_new(5_000, 100, 1)
        });
        assert!(!matches!(after, AfterAttempt::Resend(_)), "{after:?}");
    }

    #[test]
    fn going_back_to_the_only_endpoint_pauses_and_backs_off() {
        let policy = RetryPolicy {
            jitter: 0.0,
            ..policy()
        };
        let mut failover = Failover::new("p", false, &policy, old());
        let mut pauses = Vec::new();
        for _ in 0..3 {
            failover.after_attempt(silent());
            match look(&mut failover, &[old()]) {
                AfterLookup::Retry { target, pause } => {
                    assert_eq!(target, old());
                    pauses.push(pause);
                }
                other => panic!("expected a retry at the same endpoint, got {other:?}"),
            }
        }
        assert_eq!(
            pauses,
            [
                policy.min_timeout,
                policy.min_timeout * 2,
                policy.min_timeout * 4
            ]
        );
    }

    /// Issue 13, item 0: the copy that the old incarnation ran went
    /// unanswered; the lookup still lists only the old incarnation, so the
    /// call goes back after a pause, and its first copy there is answered
    /// `WrongIncarnation` by the new one. The doubt from the silence
    /// survives the pause, the re-lookup and the refusal.
    #[test]
    fn a_doubt_survives_a_pause_a_relookup_and_a_refusal_from_the_new_incarnation() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        assert!(
            matches!(look(&mut failover, &[old()]), AfterLookup::Retry { target, .. } if target == old())
        );
        let refused = failover.after_attempt(attempt(Ok(Outcome::WrongIncarnation), 1));
        assert!(matches!(refused, AfterAttempt::LookAgain));
        assert!(ends_unknown_at(&mut failover, &[old(), new()], old()));
    }

    #[test]
    fn a_doubt_is_not_dropped_once_a_later_attempt_was_answered() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        look(&mut failover, &[old()]);
        failover.after_attempt(attempt(Ok(Outcome::WrongIncarnation), 1));
        // The old lease is gone now, but that proves nothing: the silence
        // was not followed by a graceful exit the client saw.
        assert!(ends_unknown_at(&mut failover, &[new()], old()));
    }

    #[test]
    fn a_new_incarnation_answering_after_unanswered_copies_is_a_restart() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(attempt(Ok(Outcome::WrongIncarnation), 2));
        assert!(ends_unknown_at(&mut failover, &[new()], old()));
    }

    #[test]
    fn an_acknowledged_call_stays_even_when_its_endpoint_is_unlisted() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(Attempt {
            acknowledged: true,
            ..silent()
        });
        assert!(is_unknown_at(&look(&mut failover, &[other()]), old()));
    }

    #[test]
    fn an_acknowledged_call_at_its_deadline_is_of_unknown_outcome() {
        let policy = policy();
        let mut failover = Failover::new("p", true, &policy, old());
        let after = failover.after_attempt(Attempt {
            acknowledged: true,
            ..attempt(Err(Failure::Expired), 3)
        });
        assert!(matches!(
            after,
            AfterAttempt::Fail(Error::OutcomeUnknown { .. })
        ));
    }

    #[test]
    fn an_unacknowledged_call_at_its_deadline_exceeded_it() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        let after = failover.after_attempt(attempt(Err(Failure::Expired), 5));
        assert!(matches!(
            after,
            AfterAttempt::Fail(Error::DeadlineExceeded { attempts: 5, .. })
        ));
    }

    #[test]
    fn a_failed_lookup_reports_the_doubt_of_a_non_idempotent_call() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(silent());
        let unreachable = Error::MatchmakerUnreachable { addresses: vec![] };
        let next = failover.after_lookup(
            Err(unreachable.clone()),
            first_fresh,
            |_| false,
            Duration::from_secs(1),
        );
        assert!(is_unknown_at(&next, old()));

        let mut failover = Failover::new("p", true, &policy, old());
        failover.after_attempt(silent());
        let next = failover.after_lookup(
            Err(unreachable),
            first_fresh,
            |_| true,
            Duration::from_secs(1),
        );
        assert!(matches!(
            next,
            AfterLookup::Fail(Error::MatchmakerUnreachable { .. })
        ));
    }

    #[test]
    fn nothing_to_pick_is_not_found() {
        let policy = policy();
        let mut failover = Failover::new("p", false, &policy, old());
        failover.after_attempt(attempt(Ok(Outcome::NoSuchProcedure), 1));
        let next = failover.after_lookup(Ok(&[]), first_fresh, |_| false, Duration::from_secs(1));
        assert!(matches!(next, AfterLookup::Fail(Error::NotFound { .. })));
    }
}
