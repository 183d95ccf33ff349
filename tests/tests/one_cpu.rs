//! A server whose process comes to run on one CPU moves its receive loop
//! to a thread of its own (`rendezvous-core/src/server/responder/
//! placement.rs`), and back to a task when it may use more; its calls are
//! answered throughout.
//!
//! The real daemon binary as the matchmaker; a server and a client in
//! this process, which the test pins and unpins as a whole (as `taskset
//! -p` or the bench would): it is the only test of this binary, since the
//! CPUs are the whole process's.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use rendezvous_core::server::CallContext;
use rendezvous_core::{Client, Fingerprint, Procedure, RemoteProcedure, Server};
use rendezvous_tests::daemon::Daemon;
use rendezvous_tests::run;
use std::time::{Duration, Instant};

const ECHO: RemoteProcedure = RemoteProcedure {
    name: "cpus.echo",
    signature: Fingerprint::of("cpus.echo(u64)->u64"),
    idempotent: false,
};

/// The name the responder gives the receive loop's own thread.
const THREAD_NAME: &str = "rendezvous-recv";

/// Puts every thread of this process on `cpus`.
fn run_every_thread_on(cpus: &CpuSet) {
    let threads = std::fs::read_dir("/proc/self/task").expect("list this process's threads");
    for thread in threads.flatten() {
        let Some(tid) = thread.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may have ended since the listing (ESRCH).
        let _ = sched_setaffinity(Pid::from_raw(tid), cpus);
    }
}

/// How many of this process's threads carry `name`.
fn threads_named(name: &str) -> usize {
    let threads = std::fs::read_dir("/proc/self/task").expect("list this process's threads");
    threads
        .flatten()
        .filter(|thread| {
            std::fs::read_to_string(thread.path().join("comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .count()
}

/// Calls `echo` until `threads_named(THREAD_NAME)` is `wanted` (boundedly),
/// checking every answer; how many calls that took.
async fn call_until_receive_threads(client: &Client, wanted: usize, from: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = from;
    while threads_named(THREAD_NAME) != wanted && Instant::now() < deadline {
        let answer: u64 = client.call(&ECHO, &(n,)).await.expect("a call");
        assert_eq!(answer, n);
        n += 1;
        rendezvous_runtime::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        threads_named(THREAD_NAME),
        wanted,
        "the receive loop did not move"
    );
    n
}

#[test]
fn the_receive_loop_follows_the_cpus_of_its_process() {
    let started_with = sched_getaffinity(Pid::from_raw(0)).expect("read this process's CPUs");
    let cpus: Vec<usize> = (0..CpuSet::count())
        .filter(|&cpu| started_with.is_set(cpu).unwrap_or(false))
        .collect();
    let mut one = CpuSet::new();
    one.set(cpus[0]).expect("a CPU of this process");
    let daemon = Daemon::start(&[]);
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(Procedure::typed(
                ECHO.name,
                ECHO.signature,
                |(n,): (u64,), _: CallContext| async move { n },
            ))
            .start()
            .await
            .expect("start a server");
        let client = Client::builder()
            .matchmaker(daemon.address())
            .build()
            .expect("a client");
        let mut n = 0;
        if cpus.len() > 1 {
            n = call_until_receive_threads(&client, 0, n).await;
        }
        run_every_thread_on(&one);
        n = call_until_receive_threads(&client, 1, n).await;
        run_every_thread_on(&started_with);
        if cpus.len() > 1 {
            n = call_until_receive_threads(&client, 0, n).await;
        }
        assert_eq!(server.stats().executed, n, "each call ran once");
        server.shutdown().await;
    });
}
