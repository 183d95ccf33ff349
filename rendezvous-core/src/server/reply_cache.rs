//! The reply cache: what makes execution exactly-once while a server lives.
//!
//! Calls are named by (client id, xid). The first datagram of a call admits
//! it ([`Admission::New`]) and it runs; a duplicate that arrives while it
//! runs is told [`Admission::Running`] (the server answers with an ACK); a
//! duplicate of a finished call gets the cached reply ([`Admission::Replay`]).
//! Within the retention window nothing lets a call run twice; past it, the
//! caller has given up (its deadline passed), and a datagram delayed that long
//! is refused by the client's watermark as soon as the client calls again.
//! Read-only procedures never come here (the responder runs them without
//! a record; see `Procedure::read_only`).
//!
//! Entries leave in three ways:
//! - **Confirmation.** A client's `done_below` watermark (carried by every
//!   call) forgets every entry below it and drops late duplicates of them;
//!   a `confirm` message frees one reply and leaves a small tombstone so a
//!   late duplicate is still recognised.
//! - **Retention.** An entry expires `retention` after its reply was made,
//!   or at the call's own deadline if that is later: a client never
//!   retransmits past its deadline.
//! - **Memory cap.** When what is held exceeds `capacity` bytes, the oldest
//!   replies are evicted to tombstones, the calling client's first, then
//!   those of the source holding the most; counted in
//!   [`ReplyCache::evictions`]. A duplicate of an evicted call is told its
//!   reply was lost, never run again. Only if that is not enough are the
//!   oldest tombstones dropped (counted too); the client then keeps a floor
//!   below which every call it sends is refused as evicted, so even then
//!   nothing runs twice (a call below the floor that never arrived before
//!   is refused unrun, and its caller told the outcome is unknown).
//!
//! # What is counted
//!
//! The cap is on memory really held, not on payload: [`ReplyCache::bytes`]
//! is the allocation of the clients' hash table (every bucket of its
//! capacity, with its control byte, as hashbrown lays it out), each
//! client's buffer of calls (its capacity, not its length, in entries of
//! their in-memory size), and each reply's buffers and the shared record
//! holding them, every allocation with [`ALLOCATION_OVERHEAD`] bytes for the
//! allocator's header and rounding.
//! Growth is charged before it happens: a new client whose record would
//! make the table double is refused unless the doubled table fits. The
//! table and buffers are shrunk by the sweep once mostly empty, so memory
//! charged is memory that can be given back. Measured against process
//! RSS in `tests/tests/reply_cache_memory.rs` (a responder filled to its
//! 8 MiB cap: +1.0x the cap, +7.2x when only payload was counted) and
//! `tests/tests/flood.rs` (the daemon flooded from two sources: +0.7x).
//!
//! # Client records, shared by source
//!
//! Client records (watermark, floor) are what a flood of made-up client
//! ids creates, and they cannot be evicted without risking a call running
//! twice. So the room for them is shared by source ([`source_of`]: one
//! host, 127.0.0.0/8 or an IPv6 /64 counted once): a new record from a
//! source is refused ([`Admission::Full`], answered `Overloaded`) when
//! that source's records would exceed `capacity / (sources + 1)`, where
//! `sources` counts those holding records, this one included. Every
//! source stays below its share, so there is always room left for one
//! more source's share; a flood from one source fills its own share and
//! no other's. A call from a client the cache knows is never refused for
//! room: its replies are evicted instead. Idle records leave after the
//! retention period.
//!
//! A new call the responder has no room to run (its calls-in-flight limit:
//! the `may_start` of [`ReplyCache::admit`]) is refused the same way, before
//! anything of it is recorded.
//!
//! [`source_of`]: crate::server::source_of

use crate::rt::Instant;
use crate::server::shared_reply::SharedReply;
use crate::server::source::Source;
use crate::wire::{ClientId, Xid};
use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::time::Duration;

/// Charged per heap allocation besides its contents: the allocator's
/// header and its rounding up to 16 bytes (glibc malloc).
pub(crate) const ALLOCATION_OVERHEAD: usize = 16;

/// What to do with an arriving call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// First sight: run it.
    New,
    /// It is running: acknowledge.
    Running,
    /// It finished: send this reply again.
    Replay(SharedReply),
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
    Done(SharedReply),
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
    /// In xid order. Most clients have a few calls at a time, so a sorted
    /// buffer is smaller than a tree (a B-tree leaf is ~600 bytes).
    calls: VecDeque<(Xid, Entry)>,
    last_seen: Instant,
    source: Source,
}

/// What one source holds.
#[derive(Debug, Default)]
struct Usage {
    /// Its client records.
    records: usize,
    /// Everything charged to its clients: records, buffers, replies.
    bytes: usize,
}

#[derive(Debug)]
pub(crate) struct ReplyCache {
    clients: HashMap<ClientId, ClientCalls>,
    sources: HashMap<Source, Usage>,
    /// Bytes of the clients' call buffers and replies (the tables are
    /// counted from their capacity when asked).
    held: usize,
    /// Of `held`, the replies: what eviction can free.
    reply_bytes: usize,
    capacity: usize,
    retention: Duration,
    evictions: u64,
    tombstones_dropped: u64,
}

/// The buckets of a hash table of `capacity` entries, as hashbrown lays
/// it out: a power of two, of which capacity is 7/8 from 8 buckets up.
fn buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..8 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

/// The bytes of a table of `buckets` buckets of `slot` bytes: a control
/// byte each, and one group of spare ones.
fn bucket_bytes(buckets: usize, slot: usize) -> usize {
    match buckets {
        0 => 0,
        _ => buckets * (slot + 1) + 16 + ALLOCATION_OVERHEAD,
    }
}

fn table_bytes(capacity: usize, slot: usize) -> usize {
    bucket_bytes(buckets(capacity), slot)
}

/// What one more entry costs a table of `capacity` holding `len`: nothing
/// while it has room, else the doubled table that replaces it.
fn growth(len: usize, capacity: usize, slot: usize) -> usize {
    if len < capacity {
        return 0;
    }
    let grown = (buckets(capacity) * 2).max(4);
    bucket_bytes(grown, slot) - table_bytes(capacity, slot)
}

const CLIENT_SLOT: usize = size_of::<(ClientId, ClientCalls)>();
const SOURCE_SLOT: usize = size_of::<(Source, Usage)>();
const CALL_SLOT: usize = size_of::<(Xid, Entry)>();

/// What one client record is charged to its source's share: its slot in
/// the table at the table's emptiest (half full, just after doubling) and
/// a buffer of one call.
pub(crate) const RECORD_BYTES: usize =
    2 * (CLIENT_SLOT + 1) * 8 / 7 + CALL_SLOT + ALLOCATION_OVERHEAD;

fn buffer_bytes(calls: &VecDeque<(Xid, Entry)>) -> usize {
    match calls.capacity() {
        0 => 0,
        capacity => capacity * CALL_SLOT + ALLOCATION_OVERHEAD,
    }
}

/// A reply's charge: its bytes, in up to two buffers, and the shared
/// record that holds them (two counts and two `Vec`s).
fn reply_charge(reply: &SharedReply) -> usize {
    const SHARED: usize = 2 * size_of::<usize>() + 2 * size_of::<Vec<u8>>();
    reply.len() + 2 * ALLOCATION_OVERHEAD + SHARED + ALLOCATION_OVERHEAD
}

impl ReplyCache {
    pub(crate) fn new(capacity: usize, retention: Duration) -> ReplyCache {
        ReplyCache {
            clients: HashMap::new(),
            sources: HashMap::new(),
            held: 0,
            reply_bytes: 0,
            capacity,
            retention,
            evictions: 0,
            tombstones_dropped: 0,
        }
    }

    /// Decides what an arriving call from `source` gets. A call seen for
    /// the first time is recorded as running only if `may_start` lets it
    /// start (the responder's limit on calls in flight, asked only then);
    /// if not, it is [`Admission::Full`] and nothing of it is recorded, so
    /// a later copy is judged afresh.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn admit(
        &mut self,
        source: Source,
        client: ClientId,
        xid: Xid,
        done_below: Xid,
        deadline: Duration,
        now: Instant,
        may_start: impl FnOnce() -> bool,
    ) -> Admission {
        if !self.clients.contains_key(&client) {
            if !self.has_room_for_a_record(source) {
                return Admission::Full;
            }
            if xid < done_below {
                return Admission::Stale;
            }
            // Only a call that starts is recorded.
            if !may_start() {
                return Admission::Full;
            }
            let mut calls = VecDeque::with_capacity(1);
            calls.push_back((
                xid,
                Entry {
                    state: State::Running,
                    expires: now + deadline,
                },
            ));
            let charge = buffer_bytes(&calls);
            self.clients.insert(
                client,
                ClientCalls {
                    done_below,
                    forgotten_below: Xid(0),
                    calls,
                    last_seen: now,
                    source,
                },
            );
            self.held += charge;
            let usage = self.sources.entry(source).or_default();
            usage.records += RECORD_BYTES;
            usage.bytes += charge + RECORD_BYTES;
            if self.bytes() > self.capacity {
                self.evict(client);
            }
            return Admission::New;
        }
        let Some(calls) = self.clients.get_mut(&client) else {
            return Admission::Full;
        };
        calls.last_seen = now;
        let before = buffer_bytes(&calls.calls);
        let mut freed = 0;
        if done_below > calls.done_below {
            freed = calls.advance(done_below);
        }
        let position = calls.calls.binary_search_by_key(&xid, |(x, _)| *x);
        let admission = match position {
            Ok(index) => match &calls.calls[index].1.state {
                State::Running => Admission::Running,
                State::Done(reply) => Admission::Replay(reply.clone()),
                State::Confirmed => Admission::Stale,
                State::Evicted => Admission::Evicted,
            },
            Err(_) if xid < calls.done_below => Admission::Stale,
            Err(_) if xid < calls.forgotten_below => Admission::Evicted,
            Err(index) => {
                if may_start() {
                    let entry = Entry {
                        state: State::Running,
                        expires: now + deadline,
                    };
                    calls.calls.insert(index, (xid, entry));
                    Admission::New
                } else {
                    Admission::Full
                }
            }
        };
        let after = buffer_bytes(&calls.calls);
        let source = calls.source;
        self.reply_bytes -= freed;
        self.recharge(source, before + freed, after);
        if admission == Admission::New && self.bytes() > self.capacity {
            self.evict(client);
        }
        admission
    }

    /// Whether a new client record from `source` is within that source's
    /// share and, evicting replies if need be, within the cap.
    fn has_room_for_a_record(&mut self, source: Source) -> bool {
        let holding = self.sources.get(&source).map_or(0, |usage| usage.records);
        let sources = self.sources.len() + usize::from(holding == 0);
        if holding + RECORD_BYTES > self.capacity / (sources + 1) {
            return false;
        }
        let mut needed = growth(self.clients.len(), self.clients.capacity(), CLIENT_SLOT)
            + CALL_SLOT
            + ALLOCATION_OVERHEAD;
        if !self.sources.contains_key(&source) {
            needed += growth(self.sources.len(), self.sources.capacity(), SOURCE_SLOT);
        }
        if self.bytes() + needed > self.capacity
            && self.bytes() + needed - self.capacity <= self.reply_bytes
        {
            // Evicting walks every client: only done when it can make room.
            self.evict_to(self.capacity.saturating_sub(needed) / 10 * 9, None);
        }
        self.bytes() + needed <= self.capacity
    }

    /// Moves `source`'s charge for a buffer from `before` to `after` bytes.
    fn recharge(&mut self, source: Source, before: usize, after: usize) {
        self.held = self.held + after - before;
        if let Some(usage) = self.sources.get_mut(&source) {
            usage.bytes = usage.bytes + after - before;
        }
    }

    /// Stores a finished call's reply.
    pub(crate) fn complete(
        &mut self,
        client: ClientId,
        xid: Xid,
        reply: SharedReply,
        now: Instant,
    ) {
        let Some(calls) = self.clients.get_mut(&client) else {
            return;
        };
        let Ok(index) = calls.calls.binary_search_by_key(&xid, |(x, _)| *x) else {
            return;
        };
        let source = calls.source;
        if xid < calls.done_below {
            let before = buffer_bytes(&calls.calls);
            calls.calls.remove(index);
            let after = buffer_bytes(&calls.calls);
            self.recharge(source, before, after);
            return;
        }
        let retention = self.retention;
        let entry = &mut calls.calls[index].1;
        let charge = reply_charge(&reply);
        entry.state = State::Done(reply);
        entry.expires = entry.expires.max(now + retention);
        self.reply_bytes += charge;
        self.recharge(source, 0, charge);
        if self.bytes() > self.capacity {
            self.evict(client);
        }
    }

    /// The client has the reply to `xid`: free it, keep a tombstone.
    pub(crate) fn confirm(&mut self, client: ClientId, xid: Xid) {
        let Some(calls) = self.clients.get_mut(&client) else {
            return;
        };
        let Ok(index) = calls.calls.binary_search_by_key(&xid, |(x, _)| *x) else {
            return;
        };
        let source = calls.source;
        let entry = &mut calls.calls[index].1;
        if let State::Done(reply) = &entry.state {
            let charge = reply_charge(reply);
            entry.state = State::Confirmed;
            self.reply_bytes -= charge;
            self.recharge(source, charge, 0);
        }
    }

    /// Forgets expired entries and idle clients, gives back the memory of
    /// tables and buffers left mostly empty, and counts again what each
    /// source holds (a walk of every client, once a sweep interval).
    pub(crate) fn sweep(&mut self, now: Instant) {
        let retention = self.retention;
        self.clients.retain(|_, calls| {
            calls
                .calls
                .retain(|(_, entry)| matches!(entry.state, State::Running) || entry.expires > now);
            let keep = !calls.calls.is_empty() || calls.last_seen + retention > now;
            if keep && calls.calls.len() * 4 <= calls.calls.capacity() {
                calls.calls.shrink_to(calls.calls.len().max(1) * 2);
            }
            keep
        });
        if self.clients.len() * 4 <= self.clients.capacity() {
            self.clients.shrink_to(self.clients.len() * 2);
        }
        self.recount();
    }

    /// Recomputes what is held, in all and by each source, from the clients.
    fn recount(&mut self) {
        self.sources.clear();
        self.held = 0;
        self.reply_bytes = 0;
        for calls in self.clients.values() {
            let replies: usize = calls.calls.iter().map(|(_, e)| e.reply_charge()).sum();
            let bytes = buffer_bytes(&calls.calls) + replies;
            self.held += bytes;
            self.reply_bytes += replies;
            let usage = self.sources.entry(calls.source).or_default();
            usage.records += RECORD_BYTES;
            usage.bytes += RECORD_BYTES + bytes;
        }
        if self.sources.len() * 4 <= self.sources.capacity() {
            self.sources.shrink_to(self.sources.len() * 2);
        }
    }

    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    pub(crate) fn tombstones_dropped(&self) -> u64 {
        self.tombstones_dropped
    }

    /// Bytes held: the tables, every client's buffer of calls and every
    /// reply, each allocation as large as it is (see the module doc).
    pub(crate) fn bytes(&self) -> usize {
        self.held
            + table_bytes(self.clients.capacity(), CLIENT_SLOT)
            + table_bytes(self.sources.capacity(), SOURCE_SLOT)
    }

    /// Brings memory down to 90% of the cap (hysteresis keeps this rare).
    fn evict(&mut self, preferred: ClientId) {
        let target = self.capacity / 10 * 9;
        self.evict_to(target, Some(preferred));
    }

    /// Evicts replies, then tombstones, until at most `target` bytes are
    /// held: `preferred`'s first, then those of the sources holding the
    /// most, each client's oldest first.
    fn evict_to(&mut self, target: usize, preferred: Option<ClientId>) {
        let mut order: Vec<(usize, ClientId)> = self
            .clients
            .iter()
            .filter(|(id, _)| Some(**id) != preferred)
            .map(|(id, calls)| {
                let held = self.sources.get(&calls.source).map_or(0, |u| u.bytes);
                (usize::MAX - held, *id)
            })
            .collect();
        order.sort_unstable();
        let order: Vec<ClientId> = preferred
            .into_iter()
            .chain(order.into_iter().map(|(_, id)| id))
            .collect();
        let tables = self.bytes() - self.held;
        for client in &order {
            if self.held + tables <= target {
                break;
            }
            let Some(calls) = self.clients.get_mut(client) else {
                continue;
            };
            let mut freed = 0;
            for (_, entry) in calls.calls.iter_mut() {
                if self.held - freed + tables <= target {
                    break;
                }
                if let State::Done(reply) = &entry.state {
                    freed += reply_charge(reply);
                    entry.state = State::Evicted;
                    self.evictions += 1;
                }
            }
            let source = calls.source;
            self.reply_bytes -= freed;
            self.recharge(source, freed, 0);
        }
        // Then tombstones, oldest first, as a last resort.
        for client in &order {
            if self.held + tables <= target {
                break;
            }
            let Some(calls) = self.clients.get_mut(client) else {
                continue;
            };
            let before = buffer_bytes(&calls.calls);
            let mut floor = calls.forgotten_below;
            let mut dropped = 0u64;
            calls.calls.retain(|(xid, entry)| {
                let tombstone = matches!(entry.state, State::Confirmed | State::Evicted);
                if tombstone {
                    dropped += 1;
                    floor = floor.max(Xid(xid.0.saturating_add(1)));
                }
                !tombstone
            });
            calls.forgotten_below = floor;
            if dropped > 0 {
                self.tombstones_dropped += dropped;
                calls.calls.shrink_to(calls.calls.len().max(1));
            }
            let after = buffer_bytes(&calls.calls);
            let source = calls.source;
            self.recharge(source, before, after);
        }
    }
}

impl ClientCalls {
    /// Raises the watermark; returns the reply bytes freed (the buffer
    /// keeps its capacity). Running calls stay until they finish (their
    /// replies are then discarded).
    fn advance(&mut self, done_below: Xid) -> usize {
        self.done_below = done_below;
        let mut freed = 0;
        let mut running = Vec::new();
        while let Some((xid, _)) = self.calls.front() {
            if *xid >= done_below {
                break;
            }
            let Some((xid, entry)) = self.calls.pop_front() else {
                break;
            };
            if matches!(entry.state, State::Running) {
                running.push((xid, entry));
            } else {
                freed += entry.reply_charge();
            }
        }
        for call in running.into_iter().rev() {
            self.calls.push_front(call);
        }
        freed
    }
}

impl Entry {
    fn reply_charge(&self) -> usize {
        match &self.state {
            State::Done(reply) => reply_charge(reply),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::source_of;
    use std::net::Ipv6Addr;

    const C: ClientId = ClientId(7);

    /// Two sources: 127.0.0.0/8 and ::/64.
    fn a() -> Source {
        source_of(std::net::Ipv4Addr::LOCALHOST.into())
    }

    fn b() -> Source {
        source_of(Ipv6Addr::LOCALHOST.into())
    }

    /// What one client with one call (no reply) holds.
    fn one_call(cache: &ReplyCache) -> usize {
        cache.held
    }
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
            cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::New
        );
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Running
        );
    }

    #[test]
    fn duplicate_of_finished_call_gets_the_cached_reply() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"reply".to_vec().into(), now);
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Replay(b"reply".to_vec().into())
        );
    }

    #[test]
    fn watermark_forgets_replies_and_drops_late_duplicates() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"reply".to_vec().into(), now);
        assert_eq!(
            cache.admit(a(), C, Xid(2), Xid(2), DEADLINE, now, room),
            Admission::New
        );
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(2), DEADLINE, now, room),
            Admission::Stale
        );
        assert_eq!(
            cache.reply_bytes, 0,
            "the reply below the watermark is freed"
        );
        assert_eq!(cache.clients[&C].calls.len(), 1);
    }

    #[test]
    fn confirmed_reply_is_freed_and_its_duplicate_ignored() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(5), Xid(1), DEADLINE, now, room);
        cache.complete(C, Xid(5), vec![0; 1000].into(), now);
        let held = cache.bytes();
        cache.confirm(C, Xid(5));
        assert_eq!(cache.bytes(), held - reply_charge(&vec![0; 1000].into()));
        assert_eq!(cache.reply_bytes, 0);
        assert_eq!(
            cache.admit(a(), C, Xid(5), Xid(1), DEADLINE, now, room),
            Admission::Stale
        );
    }

    #[test]
    fn memory_cap_evicts_to_tombstones_never_reruns() {
        let mut cache = ReplyCache::new(10_000, Duration::from_secs(60));
        let now = Instant::now();
        for xid in 1..=100 {
            assert_eq!(
                cache.admit(a(), C, Xid(xid), Xid(1), DEADLINE, now, room),
                Admission::New
            );
            cache.complete(C, Xid(xid), vec![0; 500].into(), now);
            assert!(cache.bytes() <= 10_000, "{} bytes", cache.bytes());
        }
        assert!(cache.evictions() > 0);
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room),
            Admission::Evicted
        );
        assert_eq!(
            cache.admit(a(), C, Xid(100), Xid(1), DEADLINE, now, room),
            Admission::Replay(vec![0; 500].into())
        );
    }

    #[test]
    fn calls_below_dropped_tombstones_are_refused_not_rerun() {
        // A cap so small that even tombstones overflow it.
        let mut cache = ReplyCache::new(2_000, Duration::from_secs(60));
        let now = Instant::now();
        for xid in 1..=20 {
            cache.admit(a(), C, Xid(xid), Xid(1), DEADLINE, now, room);
            cache.complete(C, Xid(xid), b"r".to_vec().into(), now);
        }
        assert!(cache.tombstones_dropped() > 0);
        for xid in 1..=10 {
            assert_ne!(
                cache.admit(a(), C, Xid(xid), Xid(1), DEADLINE, now, room),
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
        cache.admit(a(), C, Xid(1), Xid(1), short, now, room);
        cache.complete(C, Xid(1), b"reply".to_vec().into(), now);
        cache.admit(a(), C, Xid(2), Xid(1), short, now, room);
        cache.sweep(now + Duration::from_secs(2));
        assert_eq!(cache.reply_bytes, 0, "only the running call remains");
        assert_eq!(cache.clients[&C].calls.len(), 1);
        assert_eq!(
            cache.admit(a(), C, Xid(2), Xid(1), short, now, room),
            Admission::Running
        );
    }

    #[test]
    fn a_call_finishing_below_the_watermark_is_not_kept() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room);
        cache.admit(a(), C, Xid(2), Xid(2), DEADLINE, now, room);
        cache.complete(C, Xid(1), b"late".to_vec().into(), now);
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(2), DEADLINE, now, room),
            Admission::Stale
        );
        assert_eq!(
            cache.reply_bytes, 0,
            "the reply below the watermark is freed"
        );
        assert_eq!(cache.clients[&C].calls.len(), 1);
    }

    #[test]
    fn new_clients_beyond_the_cap_are_refused_and_memory_stays_bounded() {
        let capacity = 100 * RECORD_BYTES;
        let mut cache = ReplyCache::new(capacity, Duration::from_secs(60));
        let now = Instant::now();
        let mut full = 0;
        for client in 0..10_000 {
            match cache.admit(a(), ClientId(client), Xid(1), Xid(1), DEADLINE, now, room) {
                Admission::New => {
                    cache.complete(ClientId(client), Xid(1), b"r".to_vec().into(), now)
                }
                Admission::Full => full += 1,
                other => panic!("{other:?}"),
            }
            assert!(cache.bytes() <= capacity, "{} bytes", cache.bytes());
        }
        assert!(full > 9_000, "{full} refused");
        // Known clients still get their answers; idle records age out.
        let known = cache.admit(a(), ClientId(0), Xid(1), Xid(1), DEADLINE, now, room);
        assert!(
            matches!(known, Admission::Replay(_) | Admission::Evicted),
            "{known:?}"
        );
        cache.sweep(now + Duration::from_secs(120));
        assert_eq!(cache.bytes(), 0);
        assert_eq!(
            cache.admit(a(), ClientId(20_000), Xid(1), Xid(1), DEADLINE, now, room),
            Admission::New
        );
    }

    #[test]
    fn a_new_call_refused_a_start_is_not_recorded_and_a_later_copy_runs() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room);
        let before = cache.bytes();
        assert_eq!(
            cache.admit(a(), C, Xid(2), Xid(1), DEADLINE, now, || false),
            Admission::Full
        );
        assert_eq!(cache.bytes(), before);
        assert_eq!(
            cache.admit(a(), C, Xid(2), Xid(1), DEADLINE, now, room),
            Admission::New
        );
    }

    #[test]
    fn a_duplicate_is_answered_without_asking_whether_it_may_start() {
        let mut cache = cache();
        let now = Instant::now();
        cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, room);
        let asked = || panic!("asked for a call already running");
        assert_eq!(
            cache.admit(a(), C, Xid(1), Xid(1), DEADLINE, now, asked),
            Admission::Running
        );
    }

    #[test]
    fn a_flood_of_new_clients_from_one_source_leaves_room_for_another() {
        let capacity = 64 << 10;
        let mut cache = ReplyCache::new(capacity, Duration::from_secs(60));
        let now = Instant::now();
        let mut refused = 0;
        for client in 0..10_000 {
            match cache.admit(a(), ClientId(client), Xid(1), Xid(1), DEADLINE, now, room) {
                Admission::New => {
                    cache.complete(ClientId(client), Xid(1), b"r".to_vec().into(), now)
                }
                Admission::Full => refused += 1,
                other => panic!("{other:?}"),
            }
            assert!(cache.bytes() <= capacity, "{} bytes", cache.bytes());
        }
        assert!(
            refused > 9_000,
            "the flood was refused only {refused} times"
        );
        // The other source's share (a third, with two holding records).
        let fits = capacity / 3 / RECORD_BYTES - 1;
        for client in 0..fits as u64 {
            let id = ClientId(1_000_000 + client);
            assert_eq!(
                cache.admit(b(), id, Xid(1), Xid(1), DEADLINE, now, room),
                Admission::New,
                "client {client} of the other source"
            );
            cache.complete(id, Xid(1), b"r".to_vec().into(), now);
            assert!(cache.bytes() <= capacity, "{} bytes", cache.bytes());
        }
    }

    #[test]
    fn a_table_is_charged_as_hashbrown_grows_it() {
        let mut table: HashMap<ClientId, ClientCalls> = HashMap::new();
        for n in 0..10_000u64 {
            let expected = table_bytes(table.capacity(), CLIENT_SLOT)
                + growth(table.len(), table.capacity(), CLIENT_SLOT);
            let calls = ClientCalls {
                done_below: Xid(0),
                forgotten_below: Xid(0),
                calls: VecDeque::new(),
                last_seen: Instant::now(),
                source: a(),
            };
            table.insert(ClientId(n), calls);
            assert_eq!(table_bytes(table.capacity(), CLIENT_SLOT), expected, "{n}");
        }
    }

    #[test]
    fn what_is_counted_is_what_the_tables_and_buffers_allocate() {
        let mut cache = cache();
        let now = Instant::now();
        for client in 0..1_000 {
            cache.admit(a(), ClientId(client), Xid(1), Xid(1), DEADLINE, now, room);
            cache.complete(ClientId(client), Xid(1), vec![0; 10].into(), now);
        }
        let table = cache.clients.capacity() * (CLIENT_SLOT + 1);
        let buffers = 1_000 * (CALL_SLOT + ALLOCATION_OVERHEAD);
        let replies = 1_000 * reply_charge(&vec![0; 10].into());
        assert!(
            cache.bytes() >= table + buffers + replies,
            "{}",
            cache.bytes()
        );
        assert!(one_call(&cache) == buffers + replies);
        // All idle: the sweep gives everything back, tables included.
        cache.sweep(now + Duration::from_secs(120));
        assert_eq!(cache.bytes(), 0);
        assert_eq!(cache.clients.capacity(), 0);
    }
}
