//! The one way the harness and its tests take a mutex: poisoning ignored.
//!
//! A test thread that panics while holding a lock has already failed its
//! test; the data behind the lock (a log, a tally) is still what later
//! assertions and panic messages need to read.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking it over even if a panicking thread poisoned it.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
