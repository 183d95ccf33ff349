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
//!
//! ## Handlers that use tokio (feature `tokio`)
//!
//! A server's handlers are polled on async-std's threads, where a tokio
//! call (a timer, a socket, `tokio::spawn`, any library built on them)
//! panics: "there is no reactor running". With the `tokio` feature, a
//! [`HandlerRuntime`] captures the tokio runtime the server is started
//! from (`Handle::try_current`) and **enters** it around every poll of a
//! handler's future, so tokio finds its runtime and registers timers and
//! sockets with that runtime's drivers, which its own threads run.
//!
//! Entered, not spawned onto: the handler's future stays where it is, so
//! (a) a call that finishes at once is still answered in the receive
//! loop's first poll, with no task and no hop to another thread, (b)
//! cancelling a call at its deadline is still dropping its future, at
//! once (a tokio task would need `abort` and run on to its next poll), and
//! (c) a panic is still caught where it happened. What entering does not
//! give: the handler is not a tokio task, so `block_in_place` and
//! `spawn_local` are unavailable in it, and tokio's cooperative budget does
//! not apply; work it spawns with `tokio::spawn` is a tokio task. A server
//! started outside any tokio runtime runs its handlers as without the
//! feature.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

mod tcp;

pub use async_std::net::UdpSocket;
pub use async_std::task::JoinHandle;
pub use std::time::Instant;
pub use tcp::{TcpListener, TcpStream};

/// The runtime a server's handlers run inside, captured when the server
/// starts: with the `tokio` feature, the tokio runtime it was started from,
/// if any (see the crate's doc); otherwise nothing, and [`enter`] and
/// [`wrap`] change nothing.
///
/// [`enter`]: HandlerRuntime::enter
/// [`wrap`]: HandlerRuntime::wrap
#[derive(Clone, Debug, Default)]
pub struct HandlerRuntime {
    #[cfg(feature = "tokio")]
    tokio: Option<tokio::runtime::Handle>,
}

impl HandlerRuntime {
    /// The runtime of the calling context (with `tokio`: the tokio runtime
    /// this runs inside, if any).
    pub fn current() -> HandlerRuntime {
        HandlerRuntime {
            #[cfg(feature = "tokio")]
            tokio: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Whether handlers run inside a tokio runtime.
    pub fn is_tokio(&self) -> bool {
        #[cfg(feature = "tokio")]
        return self.tokio.is_some();
        #[cfg(not(feature = "tokio"))]
        false
    }

    /// Runs `f` inside the runtime.
    #[inline]
    pub fn enter<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tokio")]
        let _entered = self.tokio.as_ref().map(tokio::runtime::Handle::enter);
        f()
    }

    /// `future`, polled and dropped inside the runtime: a handler cancelled
    /// at its deadline is dropped there, and its destructors (a pooled
    /// connection going back to its pool, say) may use tokio too.
    pub fn wrap<F: Future>(&self, future: F) -> InRuntime<F> {
        InRuntime {
            future: Some(future),
            runtime: self.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`HandlerRuntime::wrap`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct InRuntime<F> {
        // `None` only while it is dropped, inside the runtime.
        #[pin]
        future: Option<F>,
        runtime: HandlerRuntime,
    }

    impl<F> PinnedDrop for InRuntime<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            let mut future = this.future;
            this.runtime.enter(|| future.set(None));
        }
    }
}

impl<F: Future> Future for InRuntime<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let runtime = this.runtime;
        match this.future.as_pin_mut() {
            Some(future) => runtime.enter(|| future.poll(cx)),
            // Not reached: the future is taken only when this is dropped.
            None => Poll::Pending,
        }
    }
}

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
