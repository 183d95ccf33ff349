//! Logging refusals without letting a flood of them flood the log.
//!
//! Anyone can send the matchmaker requests it will refuse, as fast as their
//! link allows; a line per refusal would let them fill a disk. So each kind
//! of refusal writes at most one line per [`LOG_INTERVAL`], and the next
//! line of that kind (or the periodic [`RefusalLog::flush`]) says how many
//! were suppressed meanwhile.

use crate::gatekeeper::RefusalKind;
use rendezvous_runtime::Instant;
use std::collections::BTreeMap;
use std::time::Duration;

/// At most one line per kind of refusal this often.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// A kind of refusal: the gatekeeper's, or a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refused {
    Auth(RefusalKind),
    Limit,
}

impl Refused {
    pub fn describe(self) -> &'static str {
        match self {
            Refused::Auth(kind) => kind.describe(),
            Refused::Limit => "a registration limit reached",
        }
    }
}

#[derive(Debug)]
struct Kind {
    last_line: Instant,
    suppressed: u64,
}

/// Per kind: when its last line was written and how many were not.
#[derive(Debug, Default)]
pub struct RefusalLog {
    kinds: BTreeMap<Refused, Kind>,
}

impl RefusalLog {
    /// A refusal of `kind` happened at `now`: `Some(suppressed)` if a line
    /// may be written for it (mentioning the `suppressed` ones since the
    /// last line), `None` if it is counted instead.
    pub fn note(&mut self, kind: Refused, now: Instant) -> Option<u64> {
        match self.kinds.get_mut(&kind) {
            Some(entry) if now < entry.last_line + LOG_INTERVAL => {
                entry.suppressed += 1;
                None
            }
            Some(entry) => {
                entry.last_line = now;
                Some(std::mem::take(&mut entry.suppressed))
            }
            None => {
                let entry = Kind {
                    last_line: now,
                    suppressed: 0,
                };
                self.kinds.insert(kind, entry);
                Some(0)
            }
        }
    }

    /// The kinds whose suppressed refusals are due a line (their last line
    /// is [`LOG_INTERVAL`] old), with their counts, which restart from 0.
    pub fn flush(&mut self, now: Instant) -> Vec<(Refused, u64)> {
        let mut due = Vec::new();
        for (kind, entry) in &mut self.kinds {
            if entry.suppressed > 0 && now >= entry.last_line + LOG_INTERVAL {
                entry.last_line = now;
                due.push((*kind, std::mem::take(&mut entry.suppressed)));
            }
        }
        self.kinds
            .retain(|_, entry| entry.suppressed > 0 || now < entry.last_line + LOG_INTERVAL);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_MAC: Refused = Refused::Auth(RefusalKind::BadMac);

    #[test]
    fn one_line_per_second_per_kind_with_a_count_of_the_rest() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.note(BAD_MAC, start), Some(0));
        for i in 1..=99 {
            let now = start + Duration::from_millis(i * 5);
            assert_eq!(log.note(BAD_MAC, now), None);
        }
        assert_eq!(
            log.note(Refused::Limit, start),
            Some(0),
            "kinds are separate"
        );
        assert_eq!(log.note(BAD_MAC, start + LOG_INTERVAL), Some(99));
    }

    #[test]
    fn flush_reports_suppressed_refusals_once_their_second_has_passed() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        log.note(BAD_MAC, start);
        log.note(BAD_MAC, start);
        log.note(BAD_MAC, start);
        assert!(log.flush(start + Duration::from_millis(500)).is_empty());
        assert_eq!(log.flush(start + LOG_INTERVAL), vec![(BAD_MAC, 2)]);
        assert!(log.flush(start + 3 * LOG_INTERVAL).is_empty());
    }
}
