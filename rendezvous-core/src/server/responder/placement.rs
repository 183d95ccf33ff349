//! Where the receive loop runs: a task on the executor, or, on a thread
//! that may use one CPU only, a thread of its own blocked in `poll(2)` on
//! the socket; and moving it when that changes.
//!
//! A task waiting on a socket is woken through the reactor: the thread in
//! `epoll_wait` wakes, queues the task, and wakes an executor thread to run
//! it. On several CPUs that costs little, and the task shares the
//! executor's threads with the process's other work. On one CPU every
//! hand-off between threads is a context switch, and a thread that the
//! kernel itself wakes when the datagram arrives answers it with none in
//! between: pinned, one 32 B call in flight, 3.6 -> 2.1 context switches a
//! call, and the p50 from 1.23x-1.63x to 0.62x-0.88x the raw socket's
//! (three full bench runs each). The thread is
//! not used everywhere because on two CPUs, client and server in one
//! process, it cost a quarter of the calls per second with 64 in flight
//! (`rendezvous-bench/PROFILE.md`, "The receive loop's place").
//!
//! The CPUs a thread may use can change while it runs (`taskset -p`, a
//! cgroup's cpuset, the bench pinning itself), so a loop that serves reads
//! them again every [`CHECK_INTERVAL`] and moves when its place changed:
//! it returns from [`receive_loop`] between two datagrams and starts again
//! at the other place, with the same service (socket, reply cache, calls
//! in flight). Stopping reaches it at either place: the task is cancelled,
//! the thread's `poll` sees the stop socket hang up.

use super::receive::{Seat, receive_loop};
use super::service::Service;
use crate::rt::{self, Instant, JoinHandle};
use crate::spin::may_run_on_one_cpu_only;
use crate::sync::lock;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a loop that serves reads its thread's CPUs again.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The name of a receive loop's own thread (`tests/tests/one_cpu.rs`
/// looks for it).
const THREAD_NAME: &str = "rendezvous-recv";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    Task,
    Thread,
}

impl Place {
    /// Where a loop on the calling thread belongs. A thread of its own
    /// waits in `poll(2)`, which this crate reaches on Linux only.
    fn here(on_one_cpu: fn() -> bool) -> Place {
        if cfg!(target_os = "linux") && on_one_cpu() {
            Place::Thread
        } else {
            Place::Task
        }
    }
}

/// A running receive loop, wherever it is. Dropping it stops the loop.
#[derive(Debug)]
pub(super) struct Receiving {
    shared: Option<Arc<Shared>>,
    /// Hung up to stop a loop blocked in `poll` (the other end is
    /// `Shared::stop`).
    stop: Option<UnixStream>,
    /// Closed once the loop has ended at every place.
    ended: async_channel::Receiver<()>,
}

/// What every place of one loop shares.
#[derive(Debug)]
struct Shared {
    service: Arc<Service>,
    stop: UnixStream,
    /// Set once, by [`Receiving::signal`]: no new place is started, and a
    /// thread that never waits leaves after its datagram.
    stopping: AtomicBool,
    state: Mutex<State>,
    on_one_cpu: fn() -> bool,
    /// Dropped with the last place the loop ran at: closes `ended`.
    _ended: async_channel::Sender<()>,
}

#[derive(Debug)]
struct State {
    place: Place,
    /// The loop's task, while it is one.
    task: Option<JoinHandle<()>>,
}

impl Receiving {
    /// Starts serving `service` at the place the calling thread's CPUs
    /// call for.
    pub(super) fn start(service: Arc<Service>) -> io::Result<Receiving> {
        Receiving::start_with(service, may_run_on_one_cpu_only)
    }

    /// [`Receiving::start`], with `on_one_cpu` standing in for the
    /// affinity check (tests).
    pub(super) fn start_with(
        service: Arc<Service>,
        on_one_cpu: fn() -> bool,
    ) -> io::Result<Receiving> {
        let (stop, stop_seen) = UnixStream::pair()?;
        let (ended_tx, ended) = async_channel::bounded(1);
        let place = Place::here(on_one_cpu);
        let shared = Arc::new(Shared {
            service,
            stop: stop_seen,
            stopping: AtomicBool::new(false),
            state: Mutex::new(State { place, task: None }),
            on_one_cpu,
            _ended: ended_tx,
        });
        if let Err(error) = shared.clone().run_at(place) {
            tracing::warn!(%error, "could not start the receive loop's thread; serving from a task");
            shared.clone().run_at(Place::Task)?;
        }
        Ok(Receiving {
            shared: Some(shared),
            stop: Some(stop),
            ended,
        })
    }

    /// Where the loop runs now.
    #[cfg(test)]
    pub(super) fn place(&self) -> Option<Place> {
        let shared = self.shared.as_ref()?;
        Some(lock(&shared.state).place)
    }

    /// Stops the loop and waits until it has ended (and let go of the
    /// service, so of the socket).
    pub(super) async fn stop(mut self) {
        if let Some(task) = self.signal() {
            task.cancel().await;
        }
        self.shared = None;
        let _ = self.ended.recv().await;
    }

    /// Tells the loop to stop: no new place, the thread's `poll` woken;
    /// the task, if it is one, to cancel.
    fn signal(&mut self) -> Option<JoinHandle<()>> {
        let shared = self.shared.as_ref()?;
        // Set before the lock is taken: a move that takes it later sees it.
        shared.stopping.store(true, Ordering::Release);
        let task = lock(&shared.state).task.take();
        self.stop = None;
        task
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        if let Some(task) = self.signal() {
            rt::spawn(task.cancel());
        }
    }
}

impl Shared {
    /// Starts the loop at `place`, unless it was stopped.
    fn run_at(self: Arc<Shared>, place: Place) -> io::Result<()> {
        let mut state = lock(&self.state);
        if self.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        let shared = self.clone();
        match place {
            Place::Task => state.task = Some(rt::spawn(shared.as_task())),
            Place::Thread => {
                std::thread::Builder::new()
                    .name(THREAD_NAME.into())
                    .spawn(move || shared.on_thread())?;
                // The task this moves from, if any, returns now.
                state.task = None;
            }
        }
        state.place = place;
        Ok(())
    }

    async fn as_task(self: Arc<Shared>) {
        let mut seat = TaskSeat {
            on_one_cpu: self.on_one_cpu,
            next_check: Instant::now() + CHECK_INTERVAL,
        };
        loop {
            receive_loop(&self.service, &mut seat).await;
            match self.clone().run_at(Place::Thread) {
                Ok(()) => return,
                // Serving on as a task beats not serving; it stays one.
                Err(error) => {
                    tracing::warn!(%error, "could not start the receive loop's thread; serving on from a task");
                    seat.on_one_cpu = || false;
                }
            }
        }
    }

    #[cfg(target_os = "linux")]
    fn on_thread(self: Arc<Shared>) {
        let mut seat = ThreadSeat {
            stop: &self.stop,
            stopping: &self.stopping,
            on_one_cpu: self.on_one_cpu,
            next_check: Instant::now() + CHECK_INTERVAL,
        };
        futures_lite::future::block_on(receive_loop(&self.service, &mut seat));
        if !self.stopping.load(Ordering::Acquire) {
            // Spawning a task does not fail.
            let _ = self.clone().run_at(Place::Task);
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn on_thread(self: Arc<Shared>) {
        unreachable!("Place::here never picks a thread off Linux")
    }
}

/// Whether it is time to read the CPUs again, and if so whether the loop
/// belongs elsewhere than `place`.
fn elsewhere(
    place: Place,
    on_one_cpu: fn() -> bool,
    next_check: &mut Instant,
    now: Instant,
) -> bool {
    if now < *next_check {
        return false;
    }
    *next_check = now + CHECK_INTERVAL;
    Place::here(on_one_cpu) != place
}

/// A task: waits on the reactor; cancelled to stop.
struct TaskSeat {
    on_one_cpu: fn() -> bool,
    next_check: Instant,
}

impl Seat for TaskSeat {
    async fn receive(
        &mut self,
        service: &Service,
        buffer: &mut [u8],
    ) -> Option<io::Result<(usize, SocketAddr)>> {
        Some(service.receive(buffer).await)
    }

    fn leave(&mut self, now: Instant) -> bool {
        elsewhere(Place::Task, self.on_one_cpu, &mut self.next_check, now)
    }
}

/// A thread of its own: blocks in `poll` on the socket and the stop
/// socket.
#[cfg(target_os = "linux")]
struct ThreadSeat<'s> {
    stop: &'s UnixStream,
    stopping: &'s AtomicBool,
    on_one_cpu: fn() -> bool,
    next_check: Instant,
}

#[cfg(target_os = "linux")]
impl Seat for ThreadSeat<'_> {
    async fn receive(
        &mut self,
        service: &Service,
        buffer: &mut [u8],
    ) -> Option<io::Result<(usize, SocketAddr)>> {
        service.receive_blocking(buffer, self.stop)
    }

    fn leave(&mut self, now: Instant) -> bool {
        // A loop that never waits (datagrams back to back) still stops.
        self.stopping.load(Ordering::Acquire)
            || elsewhere(Place::Thread, self.on_one_cpu, &mut self.next_check, now)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::super::config::ResponderConfig;
    use super::super::testing::{call, listener, math_add, outcome, received};
    use super::*;
    use crate::wire::{Call, Message, Outcome, Xid};
    use std::net::UdpSocket;

    fn service() -> Arc<Service> {
        let set = math_add(|args| async { args });
        Arc::new(Service::on_loopback(set, ResponderConfig::default()))
    }

    /// A client socket that waits long for answers (a loaded machine).
    fn client() -> UdpSocket {
        let client = listener();
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        client
    }

    /// Sends call `xid` with `args` and returns the outcome of its answer.
    fn ask(service: &Service, client: &UdpSocket, xid: u64, args: &[u8]) -> Outcome {
        let call = Call {
            args: args.to_vec().into(),
            xid: Xid(xid),
            ..call(xid)
        };
        let datagram = Message::Call(call).encode().expect("encode a call");
        client
            .send_to(&datagram, service.local_addr)
            .expect("send a call");
        outcome(&received(client))
    }

    /// Waits (boundedly) until nothing but `service`'s owner holds it: the
    /// loop let go of the socket.
    fn released(service: &Arc<Service>) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while Arc::strong_count(service) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        Arc::strong_count(service) == 1
    }

    /// On one CPU a thread of its own, elsewhere a task: at either place
    /// the loop answers (a duplicate from the reply cache, not run again),
    /// and stopping ends it (a thread blocked in `poll` too) and lets go
    /// of the service.
    #[test]
    fn the_loop_answers_and_stops_at_either_place() {
        for (on_one_cpu, place) in [
            ((|| true) as fn() -> bool, Place::Thread),
            (|| false, Place::Task),
        ] {
            let service = service();
            let receiving = Receiving::start_with(service.clone(), on_one_cpu).unwrap();
            assert_eq!(receiving.place(), Some(place));
            let client = client();
            for _ in 0..2 {
                let answer = ask(&service, &client, 1, b"one");
                assert_eq!(answer, Outcome::Return(b"one".to_vec().into()), "{place:?}");
            }
            assert_eq!(service.stats().executed, 1, "{place:?}");
            let stopped = rt::block_on(rt::timeout(Duration::from_secs(20), receiving.stop()));
            assert!(stopped.is_some(), "the loop did not stop ({place:?})");
            assert!(
                released(&service),
                "the loop still holds the service ({place:?})"
            );
        }
    }

    #[test]
    fn a_dropped_loop_stops_at_either_place() {
        for on_one_cpu in [(|| true) as fn() -> bool, || false] {
            let service = service();
            let receiving = Receiving::start_with(service.clone(), on_one_cpu).unwrap();
            let client = client();
            assert_eq!(
                ask(&service, &client, 1, b"x"),
                Outcome::Return(b"x".to_vec().into())
            );
            drop(receiving);
            assert!(released(&service), "the loop still holds the service");
        }
    }

    static ONE_CPU: AtomicBool = AtomicBool::new(false);

    fn one_cpu() -> bool {
        ONE_CPU.load(Ordering::Relaxed)
    }

    /// Asks calls (each a new xid from `next`) until the loop is at
    /// `place`, boundedly; every call is answered meanwhile.
    fn ask_until(
        service: &Service,
        client: &UdpSocket,
        next: &mut u64,
        receiving: &Receiving,
        place: Place,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while receiving.place() != Some(place) && std::time::Instant::now() < deadline {
            *next += 1;
            let args = next.to_be_bytes();
            assert_eq!(
                ask(service, client, *next, &args),
                Outcome::Return(args.to_vec().into())
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(receiving.place(), Some(place), "the loop did not move");
    }

    /// The CPUs change under a running loop (the bench pins and unpins
    /// itself): it moves, and one service goes on answering throughout,
    /// each call run once.
    #[test]
    fn the_loop_moves_when_its_cpus_change_and_keeps_its_calls() {
        ONE_CPU.store(false, Ordering::Relaxed);
        let service = service();
        let receiving = Receiving::start_with(service.clone(), one_cpu).unwrap();
        let client = client();
        let mut next = 0;
        ask_until(&service, &client, &mut next, &receiving, Place::Task);
        ONE_CPU.store(true, Ordering::Relaxed);
        ask_until(&service, &client, &mut next, &receiving, Place::Thread);
        // Call 1, run at the task, is a duplicate at the thread.
        assert_eq!(
            ask(&service, &client, 1, b"again"),
            Outcome::Return(1u64.to_be_bytes().to_vec().into())
        );
        ONE_CPU.store(false, Ordering::Relaxed);
        ask_until(&service, &client, &mut next, &receiving, Place::Task);
        assert_eq!(service.stats().executed, next);
        rt::block_on(receiving.stop());
        assert!(released(&service), "the loop still holds the service");
    }
}
