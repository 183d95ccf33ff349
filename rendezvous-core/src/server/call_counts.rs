//! How each procedure's calls ended, counted where they end (the
//! responder's `finish`): one relaxed atomic add per call, read by
//! [`Procedure::calls`](super::Procedure::calls) for `/metrics` and the
//! status page.

use crate::wire::Outcome;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many calls of one procedure ended each way, since the server
/// started. Refusals before a call runs (no such procedure, another
/// signature, overloaded) are not calls of it; see `ResponderStats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Returned a value (an `Err` the procedure returned included).
    pub returned: u64,
    /// Panicked, or their result could not be encoded.
    pub panicked: u64,
    /// Their arguments did not decode as the procedure's types.
    pub bad_arguments: u64,
    /// Ran, but their result did not fit a datagram.
    pub reply_too_large: u64,
    /// Cancelled at their caller's deadline.
    pub deadline_exceeded: u64,
}

impl CallCounts {
    /// Each count with the name `/metrics` gives its outcome.
    pub fn by_outcome(&self) -> [(&'static str, u64); 5] {
        [
            ("returned", self.returned),
            ("panicked", self.panicked),
            ("bad_arguments", self.bad_arguments),
            ("reply_too_large", self.reply_too_large),
            ("deadline_exceeded", self.deadline_exceeded),
        ]
    }

    /// Every call counted.
    pub fn total(&self) -> u64 {
        self.by_outcome().iter().map(|(_, count)| count).sum()
    }
}

/// What a call's end is named in `/metrics` and in logs.
pub(crate) fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Return(_) => "returned",
        Outcome::Panicked(_) => "panicked",
        Outcome::BadArguments(_) => "bad_arguments",
        Outcome::ReplyTooLarge { .. } => "reply_too_large",
        Outcome::DeadlineExceeded => "deadline_exceeded",
        _ => "refused",
    }
}

/// The counts as they are raised.
#[derive(Debug, Default)]
pub(crate) struct CallCounters {
    returned: AtomicU64,
    panicked: AtomicU64,
    bad_arguments: AtomicU64,
    reply_too_large: AtomicU64,
    deadline_exceeded: AtomicU64,
}

impl CallCounters {
    /// Counts a call that ended in `outcome` (one that ran).
    pub(crate) fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Return(_) => &self.returned,
            Outcome::Panicked(_) => &self.panicked,
            Outcome::BadArguments(_) => &self.bad_arguments,
            Outcome::ReplyTooLarge { .. } => &self.reply_too_large,
            Outcome::DeadlineExceeded => &self.deadline_exceeded,
            // Not the end of a call that ran.
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> CallCounts {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CallCounts {
            returned: get(&self.returned),
            panicked: get(&self.panicked),
            bad_arguments: get(&self.bad_arguments),
            reply_too_large: get(&self.reply_too_large),
            deadline_exceeded: get(&self.deadline_exceeded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_of_a_run_is_counted_under_its_own_name() {
        let counters = CallCounters::default();
        counters.count(&Outcome::Return(vec![].into()));
        counters.count(&Outcome::Return(vec![1].into()));
        counters.count(&Outcome::Panicked("boom".into()));
        counters.count(&Outcome::BadArguments("no".into()));
        counters.count(&Outcome::ReplyTooLarge { size: 2, limit: 1 });
        counters.count(&Outcome::DeadlineExceeded);
        counters.count(&Outcome::Overloaded);
        let counts = counters.read();
        assert_eq!(
            counts.by_outcome(),
            [
                ("returned", 2),
                ("panicked", 1),
                ("bad_arguments", 1),
                ("reply_too_large", 1),
                ("deadline_exceeded", 1),
            ]
        );
        assert_eq!(counts.total(), 6);
    }
}
