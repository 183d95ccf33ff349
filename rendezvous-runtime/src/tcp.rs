//! TCP on async-io's reactor directly, rather than through async-std's
//! wrappers of the same sockets, for one read they cannot do:
//! [`TcpStream::read_appending`] reads into a `Vec`'s spare capacity.
//!
//! `AsyncRead` reads into initialized bytes only, so a fresh buffer for a
//! 16 MiB byte string is zeroed before the socket fills it: measured with
//! perf, 12% of a 16 MiB echo's cycles. `std`'s `read_to_end` reads a
//! socket into uninitialized capacity (it knows the kernel writes every
//! byte it reports), and async-io runs it when the socket is readable.
//! Everything else is async-io's `Async` as it is.

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A TCP listener.
#[derive(Debug)]
pub struct TcpListener(Async<std::net::TcpListener>);

impl TcpListener {
    /// Binds `address` (port 0: any free one).
    pub fn bind(address: SocketAddr) -> io::Result<TcpListener> {
        Async::<std::net::TcpListener>::bind(address).map(TcpListener)
    }

    /// Takes a bound `std` listener, made non-blocking.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Async::new(listener).map(TcpListener)
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.0.accept().await?;
        Ok((TcpStream(stream), peer))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

/// A TCP connection: `AsyncRead` and `AsyncWrite`, by value or by
/// reference (so one task may read while another writes).
#[derive(Debug)]
pub struct TcpStream(Async<std::net::TcpStream>);

impl TcpStream {
    /// Connects to `address`.
    pub async fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        Async::<std::net::TcpStream>::connect(address)
            .await
            .map(TcpStream)
    }

    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.get_ref().set_nodelay(nodelay)
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// Reads at most `most` bytes onto the end of `buffer`, into its spare
    /// capacity without zeroing it first (reserve what is expected: more
    /// grows the `Vec`), waiting until some arrive; how many, 0 only at
    /// the end of the stream (or for `most` 0).
    pub async fn read_appending(&self, buffer: &mut Vec<u8>, most: usize) -> io::Result<usize> {
        let most = u64::try_from(most).unwrap_or(u64::MAX);
        self.0
            .read_with(|stream| {
                let before = buffer.len();
                // Appends until `most`, the end, or a read that would
                // block; what it read stays appended even then.
                let read = Read::take(stream, most).read_to_end(buffer);
                match read {
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        match buffer.len() - before {
                            0 => Err(error),
                            some => Ok(some),
                        }
                    }
                    Err(error) => Err(error),
                    Ok(read) => Ok(read),
                }
            })
            .await
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncWrite for &TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.0).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::AsyncWriteExt;

    #[test]
    fn read_appending_fills_spare_capacity_and_stops_at_its_bound() {
        crate::block_on(async {
            let listener = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let address = listener.local_addr().unwrap();
            let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let writer = {
                let sent = sent.clone();
                crate::spawn(async move {
                    let mut stream = TcpStream::connect(address).await.unwrap();
                    stream.write_all(&sent).await.unwrap();
                })
            };
            let (stream, _) = listener.accept().await.unwrap();
            // Everything but the last 10 bytes, then those.
            let mut buffer = Vec::with_capacity(sent.len());
            while buffer.len() < sent.len() - 10 {
                let most = sent.len() - 10 - buffer.len();
                let read = stream.read_appending(&mut buffer, most).await.unwrap();
                assert!(read > 0 && read <= most, "read {read} of at most {most}");
            }
            assert_eq!(buffer.len(), sent.len() - 10);
            while buffer.len() < sent.len() {
                let most = sent.len() - buffer.len();
                stream.read_appending(&mut buffer, most).await.unwrap();
            }
            assert_eq!(buffer, sent);
            writer.await;
            // The writer is gone: the end of the stream reads as 0.
            assert_eq!(stream.read_appending(&mut buffer, 1).await.unwrap(), 0);
            assert_eq!(buffer, sent);
        });
    }
}
