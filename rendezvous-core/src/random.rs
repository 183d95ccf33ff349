//! Unpredictable identifiers from the operating system's random source.

/// A random u64 (client ids, incarnations). Falls back to fastrand, which is
/// seeded from std's per-process random keys, only if the OS source fails.
pub(crate) fn u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| fastrand::u64(..))
}
