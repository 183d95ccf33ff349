//! The tarpc side of `rendezvous-bench`: tarpc 0.38's `add(i32, i32)`,
//! bincode over one TCP connection (`serde_transport::tcp`), client and
//! server on one multi-threaded tokio runtime of their own, as a tarpc user
//! would run it (every request in a task of its own, tarpc's default).
//! `TCP_NODELAY` is set on both ends, as a latency-minded user would.
//!
//! The bench itself runs on async-std; each measurement here is a task on
//! the tokio runtime, awaited through its join handle, so the measured loop
//! is pure tokio.

use futures::StreamExt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::{client, context};

/// The compared service: two integers there, one back.
#[tarpc::service]
pub trait Add {
    async fn add(a: i32, b: i32) -> i32;
}

#[derive(Clone, Debug)]
struct Adder;

impl Add for Adder {
    async fn add(self, _: context::Context, a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
}

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A tarpc server and a client connected to it, on their own runtime.
pub struct Tarpc {
    runtime: tokio::runtime::Runtime,
    client: AddClient,
}

impl std::fmt::Debug for Tarpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tarpc").finish_non_exhaustive()
    }
}

impl Tarpc {
    /// Starts the runtime, the server (one connection accepted) and the
    /// client, and makes one call.
    pub fn start() -> Result<Tarpc, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let client = runtime.block_on(async {
            let mut listener = tarpc::serde_transport::tcp::listen(
                SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                Bincode::default,
            )
            .await?;
            let address = listener.local_addr();
            tokio::spawn(async move {
                if let Some(Ok(transport)) = listener.next().await {
                    let _ = transport.get_ref().set_nodelay(true);
                    BaseChannel::with_defaults(transport)
                        .execute(Adder.serve())
                        .for_each(|request| async {
                            tokio::spawn(request);
                        })
                        .await;
                }
            });
            let transport = tarpc::serde_transport::tcp::connect(address, Bincode::default).await?;
            transport.get_ref().set_nodelay(true)?;
            let client = AddClient::new(client::Config::default(), transport).spawn();
            let sum = client.add(context::current(), 2, 3).await?;
            if sum != 5 {
                return Err(io::Error::other(format!("tarpc add(2, 3) returned {sum}")).into());
            }
            Ok::<_, Error>(client)
        })?;
        Ok(Tarpc { runtime, client })
    }

    /// A handle that makes calls, for as many tasks as want one.
    pub fn caller(&self) -> Caller {
        Caller {
            runtime: self.runtime.handle().clone(),
            client: self.client.clone(),
        }
    }

    /// Stops the runtime without waiting for its tasks (the server's
    /// connection task never ends by itself).
    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}

/// Makes calls on a [`Tarpc`]'s client, each loop a task on its runtime.
#[derive(Clone, Debug)]
pub struct Caller {
    runtime: tokio::runtime::Handle,
    client: AddClient,
}

impl Caller {
    /// Calls `add` one after another until `deadline`; each call's
    /// duration.
    pub async fn sample(self, deadline: Instant) -> Result<Vec<Duration>, Error> {
        let client = self.client;
        self.runtime
            .spawn(async move {
                let mut samples = Vec::new();
                let mut i = 0i32;
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let sum = client.add(context::current(), i, 1).await?;
                    if sum != i.wrapping_add(1) {
                        return Err(format!("tarpc add({i}, 1) returned {sum}").into());
                    }
                    samples.push(started.elapsed());
                    i = i.wrapping_add(1);
                }
                Ok(samples)
            })
            .await?
    }

    /// Calls `add` one after another until `deadline`; how many.
    pub async fn count(self, deadline: Instant) -> Result<u64, Error> {
        Ok(self.sample(deadline).await?.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comparison really calls tarpc over TCP: answers arrive, and are
    /// checked, from a loop on tarpc's own runtime.
    #[test]
    fn calls_round_trip_over_tcp_from_any_executor() {
        let tarpc = Tarpc::start().expect("start tarpc");
        let deadline = Instant::now() + Duration::from_millis(100);
        let samples =
            futures::executor::block_on(tarpc.caller().sample(deadline)).expect("tarpc calls");
        assert!(!samples.is_empty());
        tarpc.stop();
    }
}
