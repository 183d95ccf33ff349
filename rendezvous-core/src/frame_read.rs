//! Reading one stream frame's message, client and server alike, with its
//! large byte string (a call's arguments, a returned result) read straight
//! from the socket into the buffer that becomes `args` or the result, not
//! into a frame buffer first and copied out (`wire::split`).
//!
//! ```text
//! frame: length | head (first SPLIT_HEAD_BYTES) ... large string ... | after
//!                 read 1   -> large_field?   read 2: into its own buffer | read 3
//! ```
//!
//! A frame whose head holds no large string is read whole and decoded as
//! before.

use crate::rt;
use crate::wire::{LargeField, Message, SPLIT_HEAD_BYTES, Undecodable, decode_split, large_field};
use futures_lite::{AsyncRead, AsyncReadExt};
use std::io;
use std::time::Duration;

/// Reads the `size`-byte message of a frame whose length is already read
/// from `stream`, each read within `read_timeout`: the message, or why its
/// bytes do not decode as one of at most `limit` bytes. The caller has
/// checked `size` against its limit (and holds room for it): this
/// allocates `size` bytes in all (and [`SPARE_BYTES`]), in at most three
/// buffers.
pub(crate) async fn read_message(
    stream: &mut (impl AsyncRead + Unpin),
    size: usize,
    limit: usize,
    read_timeout: Duration,
) -> io::Result<Result<Message, Undecodable>> {
    let mut head = vec![0u8; size.min(SPLIT_HEAD_BYTES)];
    fill(stream, &mut head, read_timeout).await?;
    let Some(field) = large_field(&head).filter(|field| apart(field, head.len(), size)) else {
        let mut whole = head;
        let read = whole.len();
        whole.resize(size, 0);
        fill(stream, &mut whole[read..], read_timeout).await?;
        return Ok(Message::decode_within(&whole, limit));
    };
    let mut content = Vec::with_capacity(field.length + SPARE_BYTES);
    content.resize(field.length, 0);
    let already = head.len() - field.content_at;
    content[..already].copy_from_slice(&head[field.content_at..]);
    fill(stream, &mut content[already..], read_timeout).await?;
    let mut after = vec![0u8; size - field.end()];
    fill(stream, &mut after, read_timeout).await?;
    head.truncate(field.content_at);
    Ok(decode_split(&head, field, content, &after, limit))
}

/// Room to spare in a large string's buffer. A `Vec<u8>` decoded from it
/// takes the buffer (`wire::decode_payload_owned`), and one encoded from
/// that `Vec` again (an echo, a result passed on) becomes a payload in it
/// with a few bytes of CBOR heads in front, which fit without growing it.
const SPARE_BYTES: usize = 32;

/// True when `field` ends within the frame and after its head, so that it
/// is read apart: the head is all before it and some of it.
fn apart(field: &LargeField, head: usize, size: usize) -> bool {
    field.content_at <= head && head < field.end() && field.end() <= size
}

/// Fills `buffer` from `stream`, each read making progress within
/// `read_timeout` (else `TimedOut`); a stream that ends first is
/// `UnexpectedEof`.
pub(crate) async fn fill(
    stream: &mut (impl AsyncRead + Unpin),
    buffer: &mut [u8],
    read_timeout: Duration,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        match rt::timeout(read_timeout, stream.read(&mut buffer[filled..])).await {
            Some(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Some(Ok(read)) => filled += read,
            Some(Err(error)) => return Err(error),
            None => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
    Ok(())
}
