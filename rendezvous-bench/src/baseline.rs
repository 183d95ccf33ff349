//! The baseline: a raw async-std UDP echo, no encoding, no bookkeeping.

use crate::measure::BenchError;
use rendezvous_runtime::{self as rt, Instant, UdpSocket};
use std::net::SocketAddr;
use std::time::Duration;

/// An echo server task; clients ping it with datagrams of a given size.
pub struct Echo {
    address: SocketAddr,
    task: rt::JoinHandle<()>,
}

impl Echo {
    pub async fn start() -> Result<Echo, BenchError> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let address = socket.local_addr()?;
        let task = rt::spawn(async move {
            let mut buffer = vec![0u8; 65_536];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                let _ = socket.send_to(&buffer[..length], peer).await;
            }
        });
        Ok(Echo { address, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub async fn stop(self) {
        self.task.cancel().await;
    }
}

/// Round trips of `size` bytes on a socket of its own until `deadline`;
/// returns each one's duration.
pub async fn sample(
    server: SocketAddr,
    size: usize,
    deadline: Instant,
) -> Result<Vec<Duration>, BenchError> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let ping = vec![7u8; size];
    let mut pong = vec![0u8; 65_536];
    let mut samples = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        socket.send_to(&ping, server).await?;
        socket.recv_from(&mut pong).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Round trips of `size` bytes on a socket of its own until `deadline`;
/// returns how many.
pub async fn count(server: SocketAddr, size: usize, deadline: Instant) -> Result<u64, BenchError> {
    Ok(sample(server, size, deadline).await?.len() as u64)
}
