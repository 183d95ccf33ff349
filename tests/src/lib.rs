//! Support for rendezvous's end-to-end tests: the real daemon binary as a
//! child process ([`Daemon`]), a real etcd for the daemon's shared store
//! ([`etcd::Etcd`]), a lossy UDP relay to put between peers ([`Relay`]), and
//! [`run`] to drive an async test body with an overall timeout, so that no
//! test can hang; and what most tests start with: [`loopback`] addresses and
//! a [`client`] with a deadline only a hang reaches.
//!
//! Everything here binds loopback addresses only: on ephemeral ports, and
//! etcd on free ports below the ephemeral range (see [`etcd`]).
//!
//! ```no_run
//! use rendezvous_tests::{Daemon, run};
//!
//! let daemon = Daemon::start(&["--min-ttl", "1s"]);
//! run(async {
//!     let client = daemon.client().await;
//!     assert!(client.lookup("math.add", None).await.is_err());
//! });
//! ```

pub mod chromium;
mod client;
pub mod daemon;
pub mod etcd;
pub mod fault_server;
mod front;
pub mod gate;
pub mod http;
pub mod math_server;
mod net;
pub mod netns;
mod pipe;
pub mod relay;
pub mod secret;
pub mod sync;

pub use client::{CALL_DEADLINE, client, client_of};
pub use daemon::{CliOutput, Daemon};
pub use math_server::MathServer;
pub use net::{free_address, loopback};
pub use relay::{Relay, RelayConfig, RelayStats};
pub use secret::SecretFile;

use rendezvous_runtime as rt;
use std::future::Future;
use std::time::Duration;

/// The most an async test body may take under [`run`]; far beyond what any
/// test needs, so reaching it means a hang, not a slow machine.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Drives `future` to completion on this thread, panicking if it takes longer
/// than [`TEST_TIMEOUT`].
pub fn run<F: Future>(future: F) -> F::Output {
    run_with_timeout(TEST_TIMEOUT, future)
}

/// Like [`run`], with another overall limit.
pub fn run_with_timeout<F: Future>(limit: Duration, future: F) -> F::Output {
    // On the heap: test bodies are large futures in debug builds, and the
    // test thread's stack is small.
    let future = Box::pin(future);
    rt::block_on(async {
        match rt::timeout(limit, future).await {
            Some(output) => output,
            None => panic!(
                "the test body did not finish within {limit:?}: something hangs \
                 (a request that never completes, or a loop that never ends)"
            ),
        }
    })
}

/// Calls `check` every `interval` until it yields `Some`, for at most `limit`;
/// `None` if it never did. For conditions that become true eventually (an
/// expiry, a restart), so a test asserts the outcome and never a duration.
pub async fn eventually<T, F, Fut>(limit: Duration, interval: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = rt::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if rt::Instant::now() >= deadline {
            return None;
        }
        rt::sleep(interval).await;
    }
}
