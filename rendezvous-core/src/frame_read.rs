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
//! Inside that string, a payload's own large byte string (the `Vec<u8>`
//! argument or result, whose head the frame's first bytes hold as well:
//! `wire::payload_large_field`) is read into a buffer of its own, the few
//! bytes of CBOR around it into another (`wire::Payload`): the buffer the
//! decoded `Vec<u8>` takes as it is.
//!
//! A frame whose head holds no large string is read whole and decoded as
//! before. A large string is read into its buffer's spare capacity
//! (`TcpStream::read_appending`), so that a fresh 16 MiB buffer is not
//! zeroed first only to be overwritten.

use crate::rt::{self, TcpStream};
use crate::wire::{
    LargeField, Message, Payload, SPLIT_HEAD_BYTES, Undecodable, decode_split, large_field,
    payload_large_field,
};
use futures_lite::{AsyncRead, AsyncReadExt};
use std::io;
use std::time::Duration;

/// Reads the `size`-byte message of a frame whose length is already read
/// from `stream`, each read within `read_timeout`: the message, or why its
/// bytes do not decode as one of at most `limit` bytes. The caller has
/// checked `size` against its limit (and holds room for it): this
/// allocates `size` bytes in all, in at most four buffers.
pub(crate) async fn read_message(
    mut stream: &TcpStream,
    size: usize,
    limit: usize,
    read_timeout: Duration,
) -> io::Result<Result<Message, Undecodable>> {
    let mut head = vec![0u8; size.min(SPLIT_HEAD_BYTES)];
    fill(&mut stream, &mut head, read_timeout).await?;
    let Some(field) = large_field(&head).filter(|field| apart(field, head.len(), size)) else {
        let mut whole = head;
        let read = whole.len();
        whole.resize(size, 0);
        fill(&mut stream, &mut whole[read..], read_timeout).await?;
        return Ok(Message::decode_within(&whole, limit));
    };
    let in_head = &head[field.content_at..];
    let inner = payload_large_field(in_head).filter(|inner| {
        inner.content_at <= in_head.len()
            && in_head.len() < inner.end()
            && inner.end() <= field.length
    });
    let content = match inner {
        // The payload's own large string into its own buffer, the few
        // bytes around it into another.
        Some(inner) => {
            let mut around = in_head[..inner.content_at].to_vec();
            let already = &in_head[inner.content_at..];
            let large = read_large(stream, already, inner.length, read_timeout).await?;
            let mut rest = vec![0u8; field.length - inner.end()];
            fill(&mut stream, &mut rest, read_timeout).await?;
            around.extend_from_slice(&rest);
            Payload::around(around, inner.header_at, inner.content_at, large)
        }
        None => Payload::from(read_large(stream, in_head, field.length, read_timeout).await?),
    };
    let mut after = vec![0u8; size - field.end()];
    fill(&mut stream, &mut after, read_timeout).await?;
    head.truncate(field.content_at);
    Ok(decode_split(&head, field, content, &after, limit))
}

/// Reads a large string of `length` bytes, of which `already` were read,
/// into a buffer of exactly that size, not zeroed first.
async fn read_large(
    stream: &TcpStream,
    already: &[u8],
    length: usize,
    read_timeout: Duration,
) -> io::Result<Vec<u8>> {
    let mut content = Vec::with_capacity(length);
    content.extend_from_slice(already);
    while content.len() < length {
        let most = length - content.len();
        match rt::timeout(read_timeout, stream.read_appending(&mut content, most)).await {
            Some(Ok(0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error),
            None => return Err(io::ErrorKind::TimedOut.into()),
        }
    }
    Ok(content)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Fingerprint;
    use crate::wire::{Call, ClientId, Incarnation, Xid, encode_payload_within, frame_header};
    use futures_lite::AsyncWriteExt;

    fn call(args: Vec<u8>) -> Message {
        Message::Call(Call {
            client: ClientId(3),
            xid: Xid(4),
            incarnation: Incarnation::ANY,
            procedure: "files.put".into(),
            signature: Fingerprint::of("files.put"),
            deadline: Duration::from_secs(5),
            done_below: Xid(1),
            args: args.into(),
            elsewhere: Default::default(),
        })
    }

    /// `message` sent as a frame over loopback TCP and read back.
    fn sent_and_read(message: &Message) -> Message {
        let mut bytes = Vec::new();
        message.encode_within(&mut bytes, usize::MAX).unwrap();
        rt::block_on(async {
            let listener = rt::TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let address = listener.local_addr().unwrap();
            let writer = rt::spawn(async move {
                let mut stream = TcpStream::connect(address).await.unwrap();
                let header = frame_header(bytes.len()).unwrap();
                stream
                    .write_all(&[&header[..], &bytes].concat())
                    .await
                    .unwrap();
                stream
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut header = [0u8; 4];
            fill(&mut &stream, &mut header, Duration::from_secs(5))
                .await
                .unwrap();
            let size = crate::wire::frame_length(header);
            let read = read_message(&stream, size, usize::MAX, Duration::from_secs(5));
            let message = read.await.unwrap().expect("the message decodes");
            drop(writer.await);
            message
        })
    }

    fn args(message: &Message) -> &Payload {
        match message {
            Message::Call(call) => &call.args,
            other => panic!("not a call: {other:?}"),
        }
    }

    #[test]
    fn a_large_argument_is_read_into_a_buffer_of_its_own() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
        let sent = call(
            encode_payload_within(&(serde_bytes::Bytes::new(&data), 7u8), usize::MAX).unwrap(),
        );
        let read = sent_and_read(&sent);
        assert_eq!(read, sent);
        let [before, content, after] = args(&read).parts();
        assert_eq!(content, &data[..], "the string's content alone");
        assert_eq!((before.len(), after), (1 + 5, &[7u8][..]));
    }

    #[test]
    fn a_large_argument_after_long_ones_is_read_with_its_payload() {
        let data = vec![5u8; 40_000];
        let name = "n".repeat(400);
        let payload = (name, serde_bytes::Bytes::new(&data));
        let sent = call(encode_payload_within(&payload, usize::MAX).unwrap());
        let read = sent_and_read(&sent);
        assert_eq!(read, sent);
        assert!(args(&read).as_slice().is_some(), "one buffer");
    }
}
