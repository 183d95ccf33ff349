//! # rendezvous-runtime
//!
//! The one crate that names the async runtime (async-std, and async-io,
//! the reactor under it).
//!
//! Every rendezvous crate spawns tasks, sleeps and opens sockets through
//! these items. async-std is the runtime today; it is discontinued upstream
//! (RUSTSEC-2025-0052) and `smol` is its drop-in successor, so the choice is
//! kept cheap to change: replace the bodies below and nothing else.
//!
//! ## Why a crate, and not `rendezvous_core::rt`
//!
//! It was a public module of `rendezvous-core`, which put async-std's
//! `UdpSocket` and `JoinHandle` into the user's API. Users bring their own
//! executor (the proxies run under async-std, smol, futures-lite or tokio),
//! so the runtime seam is internal: `rendezvous-core` uses it privately,
//! and only the workspace's own crates that run sockets themselves (the
//! daemon, the test harness, the benchmark, the fuzz targets) depend on it.
//!
//! All of it also works when a future is driven by a plain
//! `futures_lite::future::block_on` outside any async-std task: sockets and
//! timers run on async-io's reactor thread and spawned tasks on async-std's
//! global executor, both of which start on first use.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
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
#[inline]
pub async fn sleep(duration: Duration) {
    async_io::Timer::after(duration).await;
}

/// Drives `future` to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    async_std::task::block_on(future)
}

/// Runs `future` for at most `duration`; `None` when time ran out first.
///
/// A plain struct rather than an `async` block: it adds only a timer to the
/// size of the future it wraps, and it polls the future first, so a future
/// that is already ready never arms the timer.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        duration,
        timer: None,
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        duration: Duration,
        timer: Option<async_io::Timer>,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Some(output));
        }
        let duration = *this.duration;
        let timer = this
            .timer
            .get_or_insert_with(|| async_io::Timer::after(duration));
        match Pin::new(timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
