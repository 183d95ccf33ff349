//! A short spin before parking, where an answer is due within microseconds.
//!
//! A ping-pong across two CPUs pays a wake-up at each hand-off: the thread
//! that waits parks, its CPU halts, and the datagram that ends the wait
//! must wake that CPU first (~20 µs on this project's VMs, more than the
//! call's own work). So before parking, a waiting socket is polled for a
//! little while (the *budget*: [`DEFAULT_SPIN`] on a client,
//! [`DEFAULT_SERVER_SPIN`] on a server): a reply (on the client) or the
//! next call (on the server) that arrives within it is read by a thread
//! that never slept. Both sides must spin for it to pay: the
//! unpinned bench, one call in flight (`--profile call`), went from ~10k
//! to ~80k calls in 2 s with 50 µs on both sides (20 µs: ~40k), and did
//! not move with either side alone (`rendezvous-bench/PROFILE.md`).
//!
//! A spin holds its CPU, so it runs only where it can pay:
//!
//! - Never on a thread that may run on one CPU only (`taskset -c 0`, or
//!   client and server pinned together): there the peer cannot run until
//!   the spinner parks, so every spin would cost its whole budget and
//!   delay the very answer it waits for. The thread's affinity is read
//!   once per [`AFFINITY_EVERY`] waits (a system call, ~0.3 µs), so a
//!   process that pins itself after starting stops spinning within a few
//!   calls.
//! - It counts as paying when it catches a datagram that was not there
//!   when it began. After [`MISSES_BEFORE_PROBING`] spins in a row that
//!   catch nothing (a server called seldom, a peer that computes for long,
//!   a machine whose other CPUs are busy), only one wait in
//!   [`PROBE_EVERY`] spins, until one catches again. Probes are frequent,
//!   and [`PROBE_STRETCH`] times as long, on purpose: in a ping-pong one
//!   side's misses make the other side miss too (its peer parked and must
//!   be woken), so once both sides probe, a probe catches only if it
//!   outlasts its peer's wake-up. A backoff that doubled the waits skipped
//!   after each miss kept them out of step (measured, calls in 2 s: ~10k
//!   against ~80k), and so did, now and then, probes of one budget (one
//!   bench row in three stayed at the sleeping figure).
//! - A client spins only for a call alone in flight: with more, replies
//!   arrive back to back and its reads find them anyway.
//!
//! `Duration::ZERO` turns it off (`ClientBuilder::spin`,
//! `ServerBuilder::spin`).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a client's call alone in flight polls its socket for the
/// reply before the thread parks (`ClientBuilder::spin`): about a wake-up
/// and a half on this project's VMs, enough for a loopback or LAN server
/// that answers without waiting on anything else. A spin saves the
/// wake-up of a sleeping CPU when the datagram comes within it (both sides
/// must spin), and holds its thread while it lasts, so it never runs on a
/// thread pinned to one CPU, and after eight spins in a row that caught
/// nothing only one wait in eight spins, until one catches. What each side
/// read so is counted in `datagrams_spun`.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How long a server's receive loop polls its socket for the next
/// datagram before the thread parks (`ServerBuilder::spin`, the daemon's
/// `--spin-micros`): three times a client's [`DEFAULT_SPIN`], because
/// what it waits for is the clients' next call, and a client with many
/// calls in flight turns a datagram of replies into its next datagram of
/// calls only after running every caller the replies woke (~100 µs for
/// 64 in flight here). Measured, 64 in flight, unpinned, calls in 1 s:
/// 137k-182k at 50 µs, 186k-223k at 150 µs (the server read 0.5-0.6 of
/// its datagrams spinning, then 0.8-0.95, and batches grew from ~18 calls
/// to ~27). Otherwise as [`DEFAULT_SPIN`].
pub const DEFAULT_SERVER_SPIN: Duration = Duration::from_micros(150);

/// Spins in a row that catch nothing before spinning becomes a probe.
pub(crate) const MISSES_BEFORE_PROBING: u32 = 8;

/// While spins do not pay, one wait in this many spins.
pub(crate) const PROBE_EVERY: u32 = 8;

/// How many budgets a probe spins: long enough to outlast a sleeping
/// peer's wake-up, so that two sides that both probe find each other.
pub(crate) const PROBE_STRETCH: u32 = 4;

/// How often (in waits) the thread's CPU affinity is read again.
pub(crate) const AFFINITY_EVERY: u32 = 16;

/// How long to poll a socket before parking, and whether it has paid
/// lately. Shared by the waits of one socket; relaxed atomics, since a
/// stale count only moves one spin.
#[derive(Debug)]
pub(crate) struct Spin {
    budget_micros: AtomicU32,
    /// Spins in a row that caught nothing.
    misses: AtomicU32,
    /// Waits so far (wrapping): the clock of probes and affinity reads.
    waits: AtomicU32,
    /// Whether the last thread to wait may run on one CPU only.
    one_cpu: AtomicBool,
    /// How that is found out (tests stand in for the real check).
    on_one_cpu: fn() -> bool,
    /// Datagrams read by spinning.
    read: AtomicU64,
}

impl Default for Spin {
    fn default() -> Spin {
        Spin::new(DEFAULT_SPIN)
    }
}

impl Spin {
    pub(crate) fn new(budget: Duration) -> Spin {
        let spin = Spin {
            budget_micros: AtomicU32::new(0),
            misses: AtomicU32::new(0),
            waits: AtomicU32::new(0),
            one_cpu: AtomicBool::new(false),
            on_one_cpu: may_run_on_one_cpu_only,
            read: AtomicU64::new(0),
        };
        spin.set_budget(budget);
        spin
    }

    /// Datagrams read by spinning so far.
    pub(crate) fn datagrams(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    pub(crate) fn set_budget(&self, budget: Duration) {
        let micros = u32::try_from(budget.as_micros()).unwrap_or(u32::MAX);
        self.budget_micros.store(micros, Ordering::Relaxed);
    }

    /// Polls `socket` (non-blocking) for up to the budget: `Some` with
    /// what a receive gave (a datagram, or an error other than "would
    /// block"), `None` when nothing came, or when this wait does not spin.
    pub(crate) fn receive(
        &self,
        socket: &UdpSocket,
        buffer: &mut [u8],
    ) -> Option<io::Result<(usize, SocketAddr)>> {
        let micros = self.budget_micros.load(Ordering::Relaxed);
        if micros == 0 {
            return None;
        }
        let waits = self.waits.load(Ordering::Relaxed);
        self.waits.store(waits.wrapping_add(1), Ordering::Relaxed);
        if waits % AFFINITY_EVERY == 0 {
            self.one_cpu.store((self.on_one_cpu)(), Ordering::Relaxed);
        }
        let misses = self.misses.load(Ordering::Relaxed);
        let probing = misses >= MISSES_BEFORE_PROBING;
        if self.one_cpu.load(Ordering::Relaxed) || (probing && waits % PROBE_EVERY != 0) {
            return None;
        }
        let stretch = if probing { PROBE_STRETCH } else { 1 };
        let until = Instant::now() + Duration::from_micros(u64::from(micros)) * stretch;
        let mut waited = false;
        loop {
            match socket.recv_from(buffer) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                received => {
                    if received.is_ok() {
                        self.read.fetch_add(1, Ordering::Relaxed);
                    }
                    // Found at once, it says nothing about spinning.
                    if waited {
                        self.misses.store(0, Ordering::Relaxed);
                    }
                    return Some(received);
                }
            }
            if Instant::now() >= until {
                break;
            }
            waited = true;
            std::hint::spin_loop();
        }
        self.misses
            .store(misses.saturating_add(1), Ordering::Relaxed);
        None
    }
}

/// Whether the calling thread may run on one CPU only (where a spin only
/// keeps its peer from running). Unknown counts as more than one.
#[cfg(target_os = "linux")]
pub(crate) fn may_run_on_one_cpu_only() -> bool {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let Ok(cpus) = sched_getaffinity(Pid::from_raw(0)) else {
        return false;
    };
    let allowed = (0..CpuSet::count()).filter(|&cpu| cpus.is_set(cpu).unwrap_or(false));
    allowed.take(2).count() < 2
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn may_run_on_one_cpu_only() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// A spin that takes its threads as free to spin, however the test
    /// runner is pinned.
    fn free(budget: Duration) -> Spin {
        Spin {
            on_one_cpu: || false,
            ..Spin::new(budget)
        }
    }

    /// Which of `waits` waits on an idle socket spin (each such spin
    /// misses, and counts its miss), by the wait counter.
    fn spinning_waits(spin: &Spin, socket: &UdpSocket, waits: u32) -> Vec<u32> {
        let mut spun = Vec::new();
        for _ in 0..waits {
            let wait = spin.waits.load(Ordering::Relaxed);
            let misses = spin.misses.load(Ordering::Relaxed);
            assert!(spin.receive(socket, &mut [0; 16]).is_none());
            if spin.misses.load(Ordering::Relaxed) > misses {
                spun.push(wait);
            }
        }
        spun
    }

    /// Waits without spinning until the next wait is a probe.
    fn until_a_probe(spin: &Spin, socket: &UdpSocket) {
        while spin.waits.load(Ordering::Relaxed) % PROBE_EVERY != 0 {
            assert!(spin.receive(socket, &mut [0; 16]).is_none());
        }
    }

    /// Sends `hi` to `to` from `from` after 20 ms.
    fn send_later(from: UdpSocket, to: SocketAddr) -> std::thread::JoinHandle<UdpSocket> {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            from.send_to(b"hi", to).unwrap();
            from
        })
    }

    #[test]
    fn a_datagram_that_comes_while_it_spins_is_read() {
        let (a, b) = pair();
        let sender = send_later(b, a.local_addr().unwrap());
        let spin = free(Duration::from_secs(30));
        let mut buffer = [0; 16];
        let (length, from) = spin
            .receive(&a, &mut buffer)
            .expect("read")
            .expect("a datagram");
        let b = sender.join().unwrap();
        assert_eq!(&buffer[..length], b"hi");
        assert_eq!(from, b.local_addr().unwrap());
        assert_eq!(spin.misses.load(Ordering::Relaxed), 0);
        assert_eq!(spin.datagrams(), 1, "counted");
    }

    #[test]
    fn spins_that_catch_nothing_become_probes_and_a_catch_ends_that() {
        let (a, b) = pair();
        let spin = free(Duration::from_micros(1));
        let spun = spinning_waits(&spin, &a, 40);
        let expected: Vec<u32> = (0..40)
            .filter(|&wait| wait <= MISSES_BEFORE_PROBING || wait % PROBE_EVERY == 0)
            .collect();
        assert_eq!(spun, expected, "every wait until the misses, then probes");

        // A probe that catches a datagram sent while it spins ends it.
        until_a_probe(&spin, &a);
        let sender = send_later(b, a.local_addr().unwrap());
        spin.set_budget(Duration::from_secs(30));
        assert!(
            spin.receive(&a, &mut [0; 16]).is_some(),
            "the probe reads it"
        );
        sender.join().unwrap();
        spin.set_budget(Duration::from_micros(1));
        assert_eq!(
            spinning_waits(&spin, &a, 3).len(),
            3,
            "spins every wait again"
        );
    }

    #[test]
    fn a_datagram_found_at_once_does_not_count_as_a_catch() {
        let (a, b) = pair();
        let spin = free(Duration::from_micros(1));
        spinning_waits(&spin, &a, MISSES_BEFORE_PROBING);
        until_a_probe(&spin, &a);
        // Queued before the wait: found on the first read, with no spin.
        b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(spin.receive(&a, &mut [0; 16]).is_some());
        assert_eq!(spin.misses.load(Ordering::Relaxed), MISSES_BEFORE_PROBING);
    }

    #[test]
    fn a_zero_budget_never_reads() {
        let (a, b) = pair();
        b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let spin = free(Duration::ZERO);
        assert!(spin.receive(&a, &mut [0; 16]).is_none());
        assert_eq!(spin.datagrams(), 0);
    }

    /// On a thread pinned to one CPU a spin never reads, even with a
    /// datagram waiting: the peer it waits for could not run meanwhile.
    /// A spin made before the thread was pinned stops within
    /// [`AFFINITY_EVERY`] waits.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_on_one_cpu_never_spins() {
        use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
        use nix::unistd::Pid;
        let (a, b) = pair();
        let pinned = std::thread::spawn(move || {
            let made_before = Spin::new(Duration::from_micros(1));
            assert!(made_before.receive(&a, &mut [0; 16]).is_none());
            let allowed = sched_getaffinity(Pid::from_raw(0)).unwrap();
            let first = (0..CpuSet::count())
                .find(|&cpu| allowed.is_set(cpu).unwrap())
                .unwrap();
            let mut one = CpuSet::new();
            one.set(first).unwrap();
            sched_setaffinity(Pid::from_raw(0), &one).unwrap();
            assert!(may_run_on_one_cpu_only());
            for _ in 1..AFFINITY_EVERY {
                assert!(made_before.receive(&a, &mut [0; 16]).is_none());
            }
            let made_after = Spin::new(Duration::from_secs(30));
            b.send_to(b"hi", a.local_addr().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let spins = [&made_before, &made_after];
            (0..3).all(|_| {
                spins
                    .iter()
                    .all(|spin| spin.receive(&a, &mut [0; 16]).is_none())
            })
        });
        assert!(pinned.join().unwrap(), "a pinned thread read the socket");
    }
}
