//! The baseline for large payloads: a raw async-std TCP echo of one
//! length-prefixed buffer per round trip, no encoding, no bookkeeping,
//! against which the rendezvous stream transport is measured.

use crate::measure::BenchError;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rendezvous_runtime::{self as rt, Instant, TcpListener, TcpStream};
use std::net::SocketAddr;
use std::time::Duration;

/// A TCP echo server task: each connection's buffers come straight back.
pub struct TcpEcho {
    address: SocketAddr,
    task: rt::JoinHandle<()>,
}

impl TcpEcho {
    pub async fn start() -> Result<TcpEcho, BenchError> {
        let listener = TcpListener::bind(([127, 0, 0, 1], 0).into())?;
        let address = listener.local_addr()?;
        let task = rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                rt::spawn(echo(stream));
            }
        });
        Ok(TcpEcho { address, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub async fn stop(self) {
        self.task.cancel().await;
    }
}

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buffer = Vec::new();
    loop {
        let mut header = [0u8; 4];
        if stream.read_exact(&mut header).await.is_err() {
            return;
        }
        buffer.resize(u32::from_be_bytes(header) as usize, 0);
        if stream.read_exact(&mut buffer).await.is_err()
            || stream.write_all(&header).await.is_err()
            || stream.write_all(&buffer).await.is_err()
        {
            return;
        }
    }
}

/// Round trips of `size` bytes on one connection until `deadline`; returns
/// each one's duration.
pub async fn sample(
    server: SocketAddr,
    size: usize,
    deadline: Instant,
) -> Result<Vec<Duration>, BenchError> {
    let mut stream = TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let ping = vec![7u8; size];
    let mut pong = vec![0u8; size];
    let header = (size as u32).to_be_bytes();
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        stream.write_all(&header).await?;
        stream.write_all(&ping).await?;
        let mut back = [0u8; 4];
        stream.read_exact(&mut back).await?;
        stream.read_exact(&mut pong).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
