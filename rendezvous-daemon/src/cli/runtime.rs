//! The one place the binary names the async runtime (through
//! `rendezvous-runtime`, the workspace's runtime seam), so changing it
//! touches this file only.

use std::future::Future;

/// Runs `future` to completion on the runtime, blocking this thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    rendezvous_runtime::block_on(future)
}

/// Installs the Ctrl-C / SIGTERM handler; the future it returns completes
/// when the process is asked to stop. Fails if a handler is already
/// installed or the OS refuses one.
pub fn interruption() -> Result<impl Future<Output = ()>, String> {
    let (stop, stopped) = async_std::channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    })
    .map_err(|error| format!("could not install the signal handler: {error}"))?;
    Ok(async move {
        let _ = stopped.recv().await;
    })
}
