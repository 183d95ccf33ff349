//! The reply cache: what makes execution exactly-once while a server lives.
//!
//! Calls are named by (client id, xid). The first datagram of a call admits
//! it ([`Admission::New`]) and it runs; a duplicate that arrives while it
//! runs is told [`Admission::Running`] (the server answers with an ACK); a
//! duplicate of a finished call gets the cached reply ([`Admission::Replay`]).
//! Within the retention window nothing lets a call run twice; past it, the
//! caller has given up (its deadline passed), and a datagram delayed that long
//! is refused by the client's watermark as soon as the client calls again.
//!
//! Entries leave in three ways:
//! - **Confirmation.** A client's `done_below` watermark (carried by every
//!   call) forgets every entry below it and drops late duplicates of them;
//!   a `confirm` message frees one reply and leaves a small tombstone so a
//!   late duplicate is still recognised.
//! - **Retention.** An entry expires `retention` after its reply was made,
//!   or at the call's own deadline if that is later: a client never
//!   retransmits past its deadline.
//! - **Memory cap.** When replies exceed `capacity` bytes, the oldest replies
//!   (lowest xids, the calling client's first) are evicted to tombstones,
//!   counted in [`ReplyCache::evictions`]. A duplicate of an evicted call is
//!   told its reply was lost, never run again. Only if tombstones alone
//!   exceed the cap are the oldest of them dropped (counted too); the client
//!   then keeps a floor below which every call it sends is refused as
//!   evicted, so even then nothing runs twice (a call below the floor that
//!   never arrived before is refused unrun, and its caller told the outcome
//!   is unknown).
//!
//! Client records (watermark, floor) are charged to the cap too, since
//! client ids cost an attacker nothing to invent. A call from a client the
//! cache holds no record of, arriving when even evictions leave no room for
//! a record, is refused ([`Admission::Full`]: the server answers
//! `Overloaded`, and the client retries later), rather than growing memory
//! or dropping the records that keep other calls from running twice. Idle
//! records leave after the retention period.
//!
//! A new call the responder has no room to run (its calls-in-flight limit:
//! the `may_start` of [`ReplyCache::admit`]) is refused the same way, before
//! anything of it is recorded.

use crate::rt::Instant;
use crate::wire::{ClientId, Xid};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Bookkeeping bytes charged per entry besides its reply.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// Bytes charged per client record (the map slot, watermark, floor and the
/// empty map of its calls).
const CLIENT_RECORD_BYTES: usize = 96;

/// What to do with an arriving call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// First sight: run it.
    New,
    /// It is running: acknowledge.
    Running,
    /// It finished: send this reply again.
    Replay(Vec<u8>),
    /// The client is done with it: ignore.
    Stale,
    /// It ran but its reply was evicted: say so.
    Evicted,
    /// No room for a new call: to record its client, or (as `may_start`
    /// said) to run it. Refuse it without running; nothing is recorded.
    Full,
}

#[derive(Debug)]
enum State {
    Running,
    Done(Vec<u8>),
    Confirmed,
    Evicted,
}

#[derive(Debug)]
struct Entry {
    state: State,
    /// For running calls: the call's deadline; for finished ones: when to forget.
    expires: Instant,
}

#[derive(Debug)]
struct ClientCalls {
    done_below: Xid,
    /// Tombstones below this xid were dropped: calls below it are refused.
    forgotten_below: Xid,
    calls: BTreeMap<Xid, Entry>,
    last_seen: Instant,
}

#[derive(Debug)]
pub(crate) struct ReplyCache {
    clients: HashMap<ClientId, ClientCalls>,
    bytes: usize,
    capacity: usize,
    retention: Duration,
    evictions: u64,
    tombstones_dropped: u64,
}

impl ReplyCache {
    pub(crate) fn new(capacity: usize, retention: Duration) -> ReplyCache {
        ReplyCache {
            clients: HashMap::new(),
            bytes: 0,
            capacity,
            retention,
            evictions: 0,
            tombstones_dropped: 0,
        }
    }

    /// Decides what an arriving call gets. A call seen for the first time
    /// is recorded as running only if `may_start` lets it start (the
    /// responder's limit on calls in flight, asked only then); if not, it
    /// is [`Admission::Full`] and nothing of it is recorded, so a later copy
    /// is judged afresh.
    pub(crate) fn admit(
        &mut self,
        client: ClientId,
        xid: Xid,
        done_below: Xid,
        deadline: Duration,
        now: Instant,
        may_start: impl FnOnce() -> bool,
    ) -> Admission {
        if !self.clients.contains_key(&client) {
            // Evicting walks every client: only worth it if entries, not
            // records alone, hold the memory (else a flood of new client
            // ids would cost a walk per datagram and free nothing).
            let records = self.clients.len() * CLIENT_RECORD_BYTES;
            if self.bytes + CLIENT_RECORD_BYTES > self.capacity && self.bytes > records {
                self.evict(client);
            }
            if self.bytes + CLIENT_RECORD_BYTES > self.capacity {
                return Admission::Full;
            }
            self.bytes += CLIENT_RECORD_BYTES;
        }
        let calls = self.clients.entry(client).or_insert_with(|| ClientCalls {
            done_below: Xid(0),
            forgotten_below: Xid(0),
            calls: BTreeMap::new(),
            last_seen: now,
        });
        calls.last_seen = now;
        if done_below > calls.done_below {
            self.bytes -= calls.advance(done_below);
        }
        let admission = match calls.calls.get(&xid) {
            Some(entry) => match &entry.state {
                State::Running => Admission::Running,
                State::Done(reply) => Admission::Replay(reply.clone()),
                State::Confirmed => Admission::Stale,
                State::Evicted => Admission::Evicted,
            },
            None if xid < calls.done_below => Admission::Stale,
            None if xid < calls.forgotten_below => Admission::Evicted,
            None => {
                if !may_start() {
                    return Admission::Full;
                }
                let entry = Entry {
                    state: State::Running,
                    expires: now + deadline,
                };
                calls.calls.insert(xid, entry);
                self.bytes += ENTRY_OVERHEAD_BYTES;
                Admission::New
            }
        };
        if admission == Admission::New && self.bytes > self.capacity {
            self.evict(client);
        }
        admission
    }

    /// Stores a finished call's reply.
    pub(crate) fn complete(&mut self, client: ClientId, xid: Xid, reply: &[u8], now: Instant) {
        let Some(calls) = self.clients.get_mut(&client) else {
            return;
        };
        let below_watermark = xid < calls.done_below;
        let Some(entry) = calls.calls.get_mut(&xid) else {
            return;
        };
        if below_watermark {
            calls.calls.remove(&xid);
            self.bytes -= ENTRY_OVERHEAD_BYTES;
            return;
        }
        entry.state = State::Done(reply.to_vec());
        entry.expires = entry.expires.max(now + self.retention);
        self.bytes += reply.len();
        if self.bytes > self.capacity {
            self.evict(client);
        }
    }

    /// The client has the reply to `xid`: free it, keep a tombstone.
    pub(crate) fn confirm(&mut self, client: ClientId, xid: Xid) {
        let entry = self
            .clients
            .get_mut(&client)
            .and_then(|calls| calls.calls.get_mut(&xid));
        if let Some(entry) = entry
            && let State::Done(reply) = &entry.state
        {
            self.bytes -= reply.len();
            entry.state = State::Confirmed;
        }
    }

    /// Forgets expired entries and idle clients.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let retention = self.retention;
        let mut freed = 0;
        self.clients.retain(|_, calls| {
            calls.calls.retain(|_, entry| {
                let keep = matches!(entry.state, State::Running) || entry.expires > now;
                if !keep {
                    freed += entry.charge();
                }
                keep
            });
            let keep = !calls.calls.is_empty() || calls.last_seen + retention > now;
            if !keep {
                freed += CLIENT_RECORD_BYTES;
            }
            keep
        });
        self.bytes -= freed;
    }

    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    pub(crate) fn tombstones_dropped(&self) -> u64 {
        self.tombstones_dropped
    }

    /// Bytes charged: replies plus per-entry bookkeeping.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Brings memory down to 90% of the cap (hysteresis keeps this rare).
    fn evict(&mut self, preferred: ClientId) {
        let target = self.capacity / 10 * 9;
        // Replies first, the offending client's oldest first, then everyone's.
        let mut order: Vec<ClientId> = vec![preferred];
        order.extend(self.clients.keys().copied().filter(|c| *c != preferred));
        for client in &order {
            let Some(calls) = self.clients.get_mut(client) else {
                continue;
            };
            for entry in calls.calls.values_mut() {
                if self.bytes <= target {
                    return;
                }
                if let State::Done(reply) = &entry.state {
                    self.bytes -= reply.len();
                    entry.state = State::Evicted;
                    self.evictions += 1;
                }
            }
        }
        // Then tombstones, oldest first, as a last resort.
        for client in &order {
            let Some(calls) = self.clients.get_mut(client) else {
                continue;
            };
            while self.bytes > target {
                let oldest = calls
                    .calls
                    .iter()
                    .find(|(_, e)| matches!(e.state, State::Confirmed | State::Evicted))
                    .map(|(xid, _)| *xid);
                let Some(xid) = oldest else { break };
                calls.calls.remove(&xid);
                calls.forgotten_below = calls.forgotten_below.max(Xid(xid.0.saturating_add(1)));
                self.bytes -= ENTRY_OVERHEAD_BYTES;
                self.tombstones_dropped += 1;
            }
        }
    }
}

impl ClientCalls {
    /// Raises the watermark; returns the bytes freed. Running calls stay
    /// until they finish (their replies are then discarded).
    fn advance(&mut self, done_below: Xid) -> usize {
        self.done_below = done_below;
        // Popped from the front in place: splitting the map would allocate
        // a node on every call.
        let mut freed = 0;
        let mut running = Vec::new();
        while let Some(first) = self.calls.first_entry() {
            if *first.key() >= done_below {
                break;
            }
            let (xid, entry) = first.remove_entry();
            if matches!(entry.state, State::Running) {
                running.push((xid, entry));
            } else {
                freed += entry.charge();
            }
        }
        self.calls.extend(running);
        freed
    }
}

impl Entry {
    fn charge(&self) -> usize {
        ENTRY_OVERHEAD_BYTES
            + match &self.state {
                State::Done(reply) => reply.len(),
                _ => 0,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ClientId = ClientId(7);
    const DEADLINE: Duration = Duration::from_secs(10);

    /// Every new call may start.
    fn room() -> bool {
        true
    }

    fn cache() -> ReplyCache {
        ReplyCache::new(1 << 20, Duration::from_secs(60))
    }

    #[test]
    fn first_sight_runs_and_a_duplicate_while_running_is_acked() {
        let mut cache = cache();
        let now = Instant::now();
        assert_eq!(
            cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::New
        );
        assert_eq!(
            cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Running
        );
    }

    #[test]
    fn duplicate_of_finished_call_gets_the_cached_reply() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"reply", now);
        assert_eq!(
            cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Replay(b"reply".to_vec())
        );
    }

    #[test]
    fn watermark_forgets_replies_and_drops_late_duplicates() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"reply", now);
        assert_eq!(
            cache.admit(C, Xid(2), Xid(2), DEADLINE, now, room),
            Admission::New
        );
        assert_eq!(
            cache.admit(C, Xid(1), Xid(2), DEADLINE, now, room),
            Admission::Stale
        );
        assert_eq!(cache.bytes(), CLIENT_RECORD_BYTES + ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn confirmed_reply_is_freed_and_its_duplicate_ignored() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(5), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(5), &[0; 1000], now);
        cache.confirm(C, Xid(5));
        assert_eq!(cache.bytes(), CLIENT_RECORD_BYTES + ENTRY_OVERHEAD_BYTES);
        assert_eq!(
            cache.admit(C, Xid(5), Xid(1), DEADLINE, now, room),
            Admission::Stale
        );
    }

    #[test]
    fn memory_cap_evicts_to_tombstones_never_reruns() {
        let mut cache = ReplyCache::new(10_000, Duration::from_secs(60));
        let now = Instant::now();
        for xid in 1..=100 {
            assert_eq!(
                cache.admit(C, Xid(xid), Xid(1), DEADLINE, now, room),
                Admission::New
            );
            cache.complete(C, Xid(xid), &[0; 500], now);
            assert!(cache.bytes() <= 10_000, "{} bytes", cache.bytes());
        }
        assert!(cache.evictions() > 0);
        assert_eq!(
            cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Evicted
        );
        assert_eq!(
            cache.admit(C, Xid(100), Xid(1), DEADLINE, now, room),
            Admission::Replay(vec![0; 500])
        );
    }

    #[test]
    fn calls_below_dropped_tombstones_are_refused_not_rerun() {
        // A cap so small that even tombstones overflow it.
        let mut cache = ReplyCache::new(
            CLIENT_RECORD_BYTES + 4 * ENTRY_OVERHEAD_BYTES,
            Duration::from_secs(60),
        );
        let now = Instant::now();
        for xid in 1..=20 {
            cache.admit(C, Xid(xid), Xid(1), DEADLINE, now, room);
            cache.complete(C, Xid(xid), b"r", now);
        }
        assert!(cache.tombstones_dropped() > 0);
        for xid in 1..=10 {
            assert_ne!(
                cache.admit(C, Xid(xid), Xid(1), DEADLINE, now, room),
                Admission::New,
                "xid {xid}"
            );
        }
    }

    #[test]
    fn entries_expire_after_retention_but_running_calls_stay() {
        let mut cache = ReplyCache::new(1 << 20, Duration::from_secs(1));
        let now = Instant::now();
        let short = Duration::from_millis(10);
        cache.admit(C, Xid(1), Xid(1), short, now, room);
        cache.complete(C, Xid(1), b"reply", now);
        cache.admit(C, Xid(2), Xid(1), short, now, room);
        cache.sweep(now + Duration::from_secs(2));
        assert_eq!(
            cache.bytes(),
            CLIENT_RECORD_BYTES + ENTRY_OVERHEAD_BYTES,
            "only the running call remains"
        );
        assert_eq!(
            cache.admit(C, Xid(2), Xid(1), short, now, room),
            Admission::Running
        );
    }

    #[test]
    fn a_call_finishing_below_the_watermark_is_not_kept() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.admit(C, Xid(2), Xid(2), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"late", now);
        assert_eq!(
            cache.admit(C, Xid(1), Xid(2), DEADLINE, now, room),
            Admission::Stale
        );
        assert_eq!(cache.bytes(), CLIENT_RECORD_BYTES + ENTRY_OVERHEAD_BYTES);
    }

    #[test]
    fn new_clients_beyond_the_cap_are_refused_and_memory_stays_bounded() {
        let capacity = 100 * CLIENT_RECORD_BYTES;
        let mut cache = ReplyCache::new(capacity, Duration::from_secs(60));
        let now = Instant::now();
        let mut full = 0;
        for client in 0..10_000 {
            match cache.admit(ClientId(client), Xid(1), Xid(1), DEADLINE, now, room) {
                Admission::New => cache.complete(ClientId(client), Xid(1), b"r", now),
                Admission::Full => full += 1,
                other => panic!("{other:?}"),
            }
            assert!(cache.bytes() <= capacity, "{} bytes", cache.bytes());
        }
        assert!(full > 9_000, "{full} refused");
        // Known clients still get their answers; idle records age out.
        assert_eq!(
            cache.admit(ClientId(0), Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Evicted
        );
        cache.sweep(now + Duration::from_secs(120));
        assert_eq!(cache.bytes(), 0);
        assert_eq!(
            cache.admit(ClientId(20_000), Xid(1), Xid(1), DEADLINE, now, room),
            Admission::New
        );
    }

    #[test]
    fn a_new_call_refused_a_start_is_not_recorded_and_a_later_copy_runs() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room);
        let before = cache.bytes();
        assert_eq!(
            cache.admit(C, Xid(2), Xid(1), DEADLINE, now, || false),
            Admission::Full
        );
        assert_eq!(cache.bytes(), before);
        assert_eq!(
            cache.admit(C, Xid(2), Xid(1), DEADLINE, now, room),
            Admission::New
        );
    }

    #[test]
    fn a_duplicate_is_answered_without_asking_whether_it_may_start() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(C, Xid(1), Xid(1), DEADLINE, now, room);
        let asked = || panic!("asked for a call already running");
        assert_eq!(
            cache.admit(C, Xid(1), Xid(1), DEADLINE, now, asked),
            Admission::Running
        );
    }
}
