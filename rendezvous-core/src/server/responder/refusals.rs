//! Logging refusals (`Overloaded`) without letting a flood flood the log:
//! at most one line per [`LOG_INTERVAL`], naming the source of the call
//! that got it and how many were refused since the last line.

use crate::rt::Instant;
use std::time::Duration;

/// At most one line about refusals this often.
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// When the last line was written, and the refusals since.
#[derive(Debug, Default)]
pub(super) struct RefusalLog {
    last_line: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    /// A refusal at `now`: `Some(suppressed)` if a line may be written
    /// (mentioning the `suppressed` ones since the last line), `None` if
    /// it is counted instead.
    pub(super) fn note(&mut self, now: Instant) -> Option<u64> {
        match self.last_line {
            Some(last) if now < last + LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_line = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_a_count_of_the_rest() {
        let mut log = RefusalLog::default();
        let start = Instant::now();
        assert_eq!(log.note(start), Some(0));
        for i in 1..=50 {
            assert_eq!(log.note(start + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(log.note(start + LOG_INTERVAL), Some(50));
        assert_eq!(log.note(start + LOG_INTERVAL), None);
    }
}
