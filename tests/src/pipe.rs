//! A child process's output pipe read to its end on a thread of its own,
//! keeping the tail as text: for the daemon's, etcd's and the fault
//! server's stdout and stderr, which panic messages quote.

use crate::sync::lock;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Most text kept per pipe (the tail).
pub(crate) const KEEP_BYTES: usize = 64 * 1024;

/// Reads `pipe` to its end on a thread, keeping the last [`KEEP_BYTES`] as
/// text; the thread ends when the pipe closes.
pub(crate) fn collect(pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let thread = collect_into(pipe, text.clone());
    (text, thread)
}

/// Like [`collect`], appending to `sink` (one log across restarts).
pub(crate) fn collect_into(
    mut pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(count @ 1..) = pipe.read(&mut buffer) {
            let mut text = lock(&sink);
            text.push_str(&String::from_utf8_lossy(&buffer[..count]));
            if text.len() > KEEP_BYTES {
                let mut cut = text.len() - KEEP_BYTES;
                while !text.is_char_boundary(cut) {
                    cut += 1;
                }
                text.drain(..cut);
            }
        }
    })
}
