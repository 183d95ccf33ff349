//! The client's endpoint cache: where each procedure lives, as the
//! matchmaker last said.
//!
//! Entries live for the shortest lease TTL the matchmaker reported, so a
//! steady stream of calls costs no matchmaker traffic. An expired entry
//! whose refresh finds nothing, or gets no answer, is used again for a
//! moment: a restarted matchmaker forgets servers until their next renewal,
//! and calls should not fail in between. Concurrent misses for
//! one name share one lookup. An endpoint that went silent or refused a call
//! is *suspect* for a while: calls prefer the others, and the entry that
//! listed it is looked up again.

use crate::error::Error;
use crate::matchmaker::MatchmakerClient;
use crate::matchmaker::protocol::{Departed, EndpointInfo};
use crate::rt::Instant;
use crate::signature::Fingerprint;
use crate::sync::lock;
use crate::wire::Incarnation;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an expired entry is used again when its refresh finds nothing
/// or gets no answer; then the client looks again.
const STALE_GRACE: Duration = Duration::from_secs(1);

/// How long a suspect endpoint is passed over when others exist.
const SUSPECT_FOR: Duration = Duration::from_secs(5);

/// How long a lookup's word that an endpoint unregistered is remembered.
const UNREGISTERED_FOR: Duration = Duration::from_secs(60);

/// One endpoint as calls address it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub address: SocketAddr,
    pub incarnation: Incarnation,
}

type Key = (String, Fingerprint);
type Endpoints = Arc<[Target]>;

#[derive(Debug)]
enum Slot {
    Ready {
        endpoints: Endpoints,
        fetched: Instant,
        expires: Instant,
    },
    Resolving(Arc<Resolution>),
}

enum Step {
    Hit(Endpoints),
    Wait(Arc<Resolution>),
    /// Look up; the expired endpoints, if any, to fall back on.
    Resolve(
        Arc<Resolution>,
        async_channel::Sender<()>,
        Option<Endpoints>,
    ),
}

/// A lookup in progress; waiters learn its result when `done` closes.
#[derive(Debug)]
struct Resolution {
    result: Mutex<Option<Result<Endpoints, Error>>>,
    done: async_channel::Receiver<()>,
}

#[derive(Debug)]
pub(crate) struct EndpointCache {
    slots: Mutex<HashMap<Key, Slot>>,
    suspects: Mutex<HashMap<Target, Instant>>,
    /// Endpoints that lookups said unregistered (left gracefully), and
    /// when they said it.
    unregistered: Mutex<HashMap<Target, Instant>>,
    lookups: AtomicU64,
    /// Where this client's picks start: random, so that fresh clients
    /// spread over a name's endpoints instead of all taking the first.
    rotation: AtomicUsize,
}

impl Default for EndpointCache {
    fn default() -> EndpointCache {
        EndpointCache {
            slots: Mutex::default(),
            suspects: Mutex::default(),
            unregistered: Mutex::default(),
            lookups: AtomicU64::new(0),
            rotation: AtomicUsize::new(crate::random::u64() as usize),
        }
    }
}

impl EndpointCache {
    /// Matchmaker lookups made so far.
    pub(crate) fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The endpoints of `name`, from the cache or from one shared lookup.
    pub(crate) async fn resolve(
        &self,
        name: &str,
        signature: Fingerprint,
        matchmaker: &MatchmakerClient,
    ) -> Result<Endpoints, Error> {
        let key = (name.to_owned(), signature);
        loop {
            let waiting = match self.step(&key) {
                Step::Hit(endpoints) => return Ok(endpoints),
                Step::Wait(resolution) => resolution,
                Step::Resolve(resolution, finished, stale) => {
                    let mut guard = ResolvingGuard {
                        cache: self,
                        key: &key,
                        resolution: &resolution,
                        _finished: finished,
                        settled: false,
                    };
                    let result = match (self.lookup(name, signature, matchmaker).await, stale) {
                        // A restarted matchmaker that servers have not yet
                        // registered with again, or one that does not
                        // answer: the endpoints it named before are still
                        // the best guess (calls carry their incarnation).
                        (
                            Err(Error::NotFound { .. } | Error::MatchmakerUnreachable { .. }),
                            Some(stale),
                        ) => Ok((stale, STALE_GRACE)),
                        (result, _) => result,
                    };
                    guard.settle(&result);
                    return result.map(|(endpoints, _)| endpoints);
                }
            };
            let _ = waiting.done.recv().await;
            if let Some(result) = lock(&waiting.result).clone() {
                return result;
            }
            // The resolver was cancelled before it finished: try again.
        }
    }

    /// Under the lock: a fresh entry, a lookup to join, or one to make.
    fn step(&self, key: &Key) -> Step {
        let mut slots = lock(&self.slots);
        match slots.get(key) {
            Some(Slot::Ready {
                endpoints, expires, ..
            }) if *expires > Instant::now() => Step::Hit(endpoints.clone()),
            Some(Slot::Resolving(resolution)) => Step::Wait(resolution.clone()),
            previous => {
                let stale = match previous {
                    Some(Slot::Ready { endpoints, .. }) => Some(endpoints.clone()),
                    _ => None,
                };
                let (finished, done) = async_channel::bounded::<()>(1);
                let resolution = Arc::new(Resolution {
                    result: Mutex::new(None),
                    done,
                });
                slots.insert(key.clone(), Slot::Resolving(resolution.clone()));
                Step::Resolve(resolution, finished, stale)
            }
        }
    }

    async fn lookup(
        &self,
        name: &str,
        signature: Fingerprint,
        matchmaker: &MatchmakerClient,
    ) -> Result<(Endpoints, Duration), Error> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = matchmaker.lookup_answer(name, Some(signature)).await?;
        if found.endpoints.is_empty() {
            return Err(Error::NotFound {
                name: name.to_owned(),
            });
        }
        self.note_unregistered(&found.unregistered);
        let found = found.endpoints;
        let ttl = found.iter().map(|e| e.ttl_ms).min().unwrap_or(0);
        let endpoints = found.iter().map(target).collect();
        Ok((endpoints, Duration::from_millis(ttl)))
    }

    /// Forgets the endpoints of `name` if they were fetched before `failed_at`
    /// (a later lookup already reflects the failure).
    pub(crate) fn invalidate(&self, name: &str, signature: Fingerprint, failed_at: Instant) {
        let key = (name.to_owned(), signature);
        let mut slots = lock(&self.slots);
        if let Some(Slot::Ready { fetched, .. }) = slots.get(&key)
            && *fetched <= failed_at
        {
            slots.remove(&key);
        }
    }

    fn note_unregistered(&self, gone: &[Departed]) {
        let now = Instant::now();
        let mut unregistered = lock(&self.unregistered);
        unregistered.retain(|_, at| now.saturating_duration_since(*at) < UNREGISTERED_FOR);
        for departed in gone {
            let target = Target {
                address: departed.address,
                incarnation: Incarnation(departed.incarnation),
            };
            unregistered.insert(target, now);
        }
    }

    /// Whether a lookup said lately that `target` unregistered: it left
    /// gracefully (not merely expired, or replaced at its address).
    pub(crate) fn unregistered(&self, target: Target) -> bool {
        lock(&self.unregistered).contains_key(&target)
    }

    /// Passes over `target` for a while when others exist.
    pub(crate) fn suspect(&self, target: Target) {
        let now = Instant::now();
        let mut suspects = lock(&self.suspects);
        suspects.retain(|_, until| *until > now);
        suspects.insert(target, now + SUSPECT_FOR);
    }

    /// Picks an endpoint, rotating over the healthy ones; avoids `avoid`
    /// and suspects while anything else remains.
    pub(crate) fn pick(&self, endpoints: &[Target], avoid: &[Target]) -> Option<Target> {
        let now = Instant::now();
        let suspects = lock(&self.suspects);
        let healthy = |t: &&Target| !avoid.contains(t) && suspects.get(t).is_none_or(|u| *u <= now);
        let fresh = |t: &&Target| !avoid.contains(t);
        let tiers: [&dyn Fn(&&Target) -> bool; 3] = [&healthy, &fresh, &|_| true];
        let turn = self.rotation.fetch_add(1, Ordering::Relaxed);
        // Counted, then walked again: no list to allocate on every call.
        tiers.iter().find_map(|tier| {
            let candidates = endpoints.iter().filter(tier).count();
            let chosen = turn.checked_rem(candidates)?;
            endpoints.iter().filter(tier).nth(chosen).copied()
        })
    }
}

fn target(endpoint: &EndpointInfo) -> Target {
    Target {
        address: endpoint.address,
        incarnation: Incarnation(endpoint.incarnation),
    }
}

/// Installs a lookup's result and wakes its waiters; if the resolving call
/// is dropped first, clears the slot so the next caller looks up again.
struct ResolvingGuard<'a> {
    cache: &'a EndpointCache,
    key: &'a Key,
    resolution: &'a Arc<Resolution>,
    /// Dropped with the guard, which closes the channel and wakes waiters.
    _finished: async_channel::Sender<()>,
    settled: bool,
}

impl ResolvingGuard<'_> {
    fn settle(&mut self, result: &Result<(Endpoints, Duration), Error>) {
        let now = Instant::now();
        let mut slots = lock(&self.cache.slots);
        match result {
            Ok((endpoints, ttl)) => {
                slots.insert(
                    self.key.clone(),
                    Slot::Ready {
                        endpoints: endpoints.clone(),
                        fetched: now,
                        expires: now + *ttl,
                    },
                );
            }
            Err(_) => {
                slots.remove(self.key);
            }
        }
        *lock(&self.resolution.result) = Some(result.clone().map(|(endpoints, _)| endpoints));
        self.settled = true;
    }
}

impl Drop for ResolvingGuard<'_> {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut slots = lock(&self.cache.slots);
        if let Some(Slot::Resolving(current)) = slots.get(self.key)
            && Arc::ptr_eq(current, self.resolution)
        {
            slots.remove(self.key);
        }
    }
}
