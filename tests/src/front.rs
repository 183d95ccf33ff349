//! What the [relay](crate::relay) and the [gate](crate::gate) share: a
//! loopback socket that clients send to in the target's place, one upstream
//! socket per client, and tasks that all end when the front is stopped.

use rendezvous_runtime::{self as rt, UdpSocket};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The largest datagram forwarded (the largest UDP payload).
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// A front bound on `127.0.0.1:0`, with the channel that stops its tasks:
/// closing `stop` ends every [`receive`] on `stopped`.
pub(crate) struct Front {
    pub(crate) local_addr: SocketAddr,
    pub(crate) socket: Arc<UdpSocket>,
    pub(crate) stop: async_std::channel::Sender<()>,
    pub(crate) stopped: async_std::channel::Receiver<()>,
}

impl Front {
    /// Binds a front for `target`, which must be a loopback address: `what`
    /// (the relay, the gate) forwards to nothing else.
    pub(crate) fn bind(target: SocketAddr, what: &str) -> io::Result<Front> {
        if !target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the {what} only forwards to loopback addresses, not {target}"),
            ));
        }
        let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let local_addr = socket.local_addr()?;
        let (stop, stopped) = async_std::channel::bounded(1);
        Ok(Front {
            local_addr,
            socket: Arc::new(UdpSocket::from(socket)),
            stop,
            stopped,
        })
    }
}

/// A new upstream socket for one client, on loopback; `None` if none could
/// be bound (that client's datagram is then dropped).
pub(crate) async fn upstream_socket() -> Option<Arc<UdpSocket>> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .ok()
        .map(Arc::new)
}

/// Receives from `socket` until `stopped` closes; `None` then.
pub(crate) async fn receive(
    socket: &UdpSocket,
    buffer: &mut [u8],
    stopped: &async_std::channel::Receiver<()>,
) -> Option<(usize, SocketAddr)> {
    loop {
        let received =
            futures_lite::future::or(async { Some(socket.recv_from(buffer).await) }, async {
                let _ = stopped.recv().await;
                None
            })
            .await?;
        match received {
            Ok(received) => return Some(received),
            // ICMP errors (a peer's port closed) surface here; keep going.
            Err(_) => rt::sleep(Duration::from_millis(1)).await,
        }
    }
}
