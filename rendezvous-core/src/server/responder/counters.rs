//! What a responder counts as it works, and the one [`Counters::snapshot`]
//! that reads it all as [`ResponderStats`].

use crate::server::reply_cache::ReplyCache;
use crate::spin::Spin;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what a responder has done, for tests, benchmarks and operators.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// Calls whose procedure was started.
    pub executed: u64,
    /// Duplicates answered with the cached reply instead of running again.
    pub replayed: u64,
    /// Copies of calls seen before (retransmissions, or copies that
    /// crossed): of a call running (answered with an ACK), finished
    /// (`replayed`), forgotten or evicted. None of them ran anything.
    pub duplicates: u64,
    /// Separate acknowledgments sent.
    pub acks: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Replies (and, under extreme pressure, their tombstones) evicted from
    /// the reply cache by its memory cap.
    pub evictions: u64,
    /// Bytes the reply cache holds now.
    pub reply_cache_bytes: u64,
    /// New calls refused as `Overloaded` (at the calls-in-flight limit).
    pub overloaded: u64,
    /// Calls cancelled at their caller's deadline, still running (answered
    /// `DeadlineExceeded`).
    pub cancelled: u64,
    /// Answers withheld or cut because they would have exceeded
    /// [`AMPLIFICATION_FACTOR`] times the datagram that asked for them.
    ///
    /// [`AMPLIFICATION_FACTOR`]: crate::wire::AMPLIFICATION_FACTOR
    pub amplification_refused: u64,
    /// Datagrams received, and sent: several calls, or several answers,
    /// may share one.
    pub datagrams_received: u64,
    pub datagrams_sent: u64,
    /// Of the datagrams received, those read while the receive loop spun
    /// before parking (`ServerBuilder::spin`).
    pub datagrams_spun: u64,
}

/// One count, raised from the receive loop or any call's task. Relaxed:
/// a count orders nothing else.
#[derive(Debug, Default)]
pub(super) struct Counter(AtomicU64);

impl Counter {
    pub(super) fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The responder's own counts; the reply cache keeps the rest of
/// [`ResponderStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) executed: Counter,
    pub(super) replayed: Counter,
    pub(super) duplicates: Counter,
    pub(super) acks: Counter,
    pub(super) malformed: Counter,
    pub(super) overloaded: Counter,
    pub(super) cancelled: Counter,
    pub(super) amplification_refused: Counter,
    pub(super) datagrams_received: Counter,
    pub(super) datagrams_sent: Counter,
}

impl Counters {
    /// Everything counted so far, with what `cache` holds now and what
    /// `spin` read.
    pub(super) fn snapshot(&self, cache: &ReplyCache, spin: &Spin) -> ResponderStats {
        ResponderStats {
            executed: self.executed.get(),
            replayed: self.replayed.get(),
            duplicates: self.duplicates.get(),
            acks: self.acks.get(),
            malformed: self.malformed.get(),
            evictions: cache.evictions() + cache.tombstones_dropped(),
            reply_cache_bytes: cache.bytes() as u64,
            overloaded: self.overloaded.get(),
            cancelled: self.cancelled.get(),
            amplification_refused: self.amplification_refused.get(),
            datagrams_received: self.datagrams_received.get(),
            datagrams_sent: self.datagrams_sent.get(),
            datagrams_spun: spin.datagrams(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::Instant;
    use crate::wire::{ClientId, Xid};
    use std::time::Duration;

    fn bump(counter: &Counter, times: u64) {
        for _ in 0..times {
            counter.bump();
        }
    }

    #[test]
    fn a_snapshot_reads_each_count_into_its_own_field() {
        let counters = Counters::default();
        bump(&counters.executed, 1);
        bump(&counters.replayed, 2);
        bump(&counters.acks, 3);
        bump(&counters.malformed, 4);
        bump(&counters.overloaded, 5);
        bump(&counters.amplification_refused, 6);
        bump(&counters.datagrams_received, 7);
        bump(&counters.datagrams_sent, 8);
        bump(&counters.cancelled, 9);
        bump(&counters.duplicates, 10);
        let stats = counters.snapshot(
            &ReplyCache::new(1 << 20, Duration::from_secs(60)),
            &Spin::default(),
        );
        assert_eq!(
            stats,
            ResponderStats {
                executed: 1,
                replayed: 2,
                duplicates: 10,
                acks: 3,
                malformed: 4,
                evictions: 0,
                reply_cache_bytes: 0,
                overloaded: 5,
                cancelled: 9,
                amplification_refused: 6,
                datagrams_received: 7,
                datagrams_sent: 8,
                datagrams_spun: 0,
            }
        );
    }

    #[test]
    fn a_snapshot_reports_what_the_reply_cache_holds_now() {
        let mut cache = ReplyCache::new(1 << 20, Duration::from_secs(60));
        let now = Instant::now();
        cache.admit(
            crate::server::source_of(std::net::Ipv4Addr::LOCALHOST.into()),
            ClientId(1),
            Xid(1),
            Xid(1),
            Duration::from_secs(1),
            now,
            || true,
        );
        cache.complete(ClientId(1), Xid(1), b"reply".to_vec().into(), now);
        let stats = Counters::default().snapshot(&cache, &Spin::default());
        assert_eq!(stats.reply_cache_bytes, cache.bytes() as u64);
        assert!(stats.reply_cache_bytes > 0);
        assert_eq!(stats.evictions, 0);
    }
}
