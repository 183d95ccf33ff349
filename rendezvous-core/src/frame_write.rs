//! Writing one stream frame, client and server alike: its length, then a
//! message held in parts (a large byte string apart from the bytes around
//! it), each written from where it is held.
//!
//! Consecutive small parts are joined into one write, so that a small
//! message, or a large one's envelope, goes out in one segment with its
//! length: written apart, the first segment alone waits for the peer's
//! delayed ACK (tens of milliseconds) under Nagle's algorithm, and costs a
//! system call of its own without it.

use crate::wire::FRAME_HEADER_BYTES;
use futures_lite::{AsyncWrite, AsyncWriteExt};
use std::io;

/// Parts up to this size are joined with their neighbours; larger ones are
/// written as they are held. Joining a part is one copy of it.
const JOINED_BYTES: usize = 64 * 1024;

/// Writes the frame `header ++ parts…` to `stream`, and flushes it.
pub(crate) async fn write_frame(
    stream: &mut (impl AsyncWrite + Unpin),
    header: [u8; FRAME_HEADER_BYTES],
    parts: &[&[u8]],
) -> io::Result<()> {
    let mut joined = header.to_vec();
    for part in parts {
        if part.len() <= JOINED_BYTES {
            joined.extend_from_slice(part);
            continue;
        }
        if !joined.is_empty() {
            stream.write_all(&joined).await?;
            joined.clear();
        }
        stream.write_all(part).await?;
    }
    if !joined.is_empty() {
        stream.write_all(&joined).await?;
    }
    stream.flush().await
}
