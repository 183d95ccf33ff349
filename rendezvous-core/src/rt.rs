//! The one module that names the async runtime.
//!
//! Everything else in rendezvous spawns tasks, sleeps and opens sockets
//! through these items. async-std is the runtime today; it is discontinued
//! upstream (RUSTSEC-2025-0052) and `smol` is its drop-in successor, so the
//! choice is kept cheap to change: replace the bodies below and nothing else.
//!
//! All of it also works when a future is driven by a plain
//! `futures_lite::future::block_on` outside any async-std task: sockets and
//! timers run on async-io's reactor thread and spawned tasks on async-std's
//! global executor, both of which start on first use.

use std::future::Future;
use std::time::Duration;

pub use async_std::net::UdpSocket;
pub use async_std::task::JoinHandle;
pub use std::time::Instant;

/// Runs `future` as a detached background task.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    async_std::task::spawn(future)
}

/// Completes after `duration`.
pub async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}

/// Drives `future` to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs `future` for at most `duration`; `None` when time ran out first.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Option<F::Output> {
    futures_lite::future::or(async { Some(future.await) }, async {
        sleep(duration).await;
        None
    })
    .await
}
