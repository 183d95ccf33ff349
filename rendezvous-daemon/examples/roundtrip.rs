//! A quick measurement: call latency with one call in flight, and calls per
//! second with 64 in flight, through an embedded matchmaker and server on
//! loopback. (The real benchmark, with raw-socket baselines, is
//! `rendezvous-bench`.)
//!
//! `cargo run --release -p rendezvous-daemon --example roundtrip`

use rendezvous_core::rt::{self, Instant};
use rendezvous_core::{Client, Fingerprint, Procedure, RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use std::time::Duration;

const ADD: RemoteProcedure = RemoteProcedure {
    name: "bench.add",
    signature: Fingerprint::of("bench.add(i64,i64)->i64"),
    idempotent: false,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    rt::block_on(async {
        let matchmaker = Matchmaker::bind("127.0.0.1:0".parse()?).await?;
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .procedure(Procedure::typed(
                ADD.name,
                ADD.signature,
                |(a, b): (i64, i64), _| async move { a + b },
            ))
            .start()
            .await?;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .build()?;
        let sum: i64 = client.call(&ADD, &(2, 3)).await?;
        assert_eq!(sum, 5);

        let mut samples = Vec::new();
        for i in 0..20_000i64 {
            let started = Instant::now();
            let sum: i64 = client.call(&ADD, &(i, 1)).await?;
            samples.push(started.elapsed());
            assert_eq!(sum, i + 1);
        }
        samples.sort();
        let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        println!("one in flight: p50 {:?}  p99 {:?}", p(0.5), p(0.99));

        let started = Instant::now();
        let mut total = 0u64;
        let per_task = 5_000;
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let client = client.clone();
                rt::spawn(async move {
                    for i in 0..per_task {
                        let sum: i64 = client.call(&ADD, &(i, 1)).await.expect("call");
                        assert_eq!(sum, i + 1);
                    }
                    per_task as u64
                })
            })
            .collect();
        for task in tasks {
            total += task.await;
        }
        let elapsed = started.elapsed();
        println!(
            "64 in flight: {:.0} calls/s ({total} calls in {elapsed:?})",
            total as f64 / elapsed.as_secs_f64()
        );
        println!("client: {:?}", client.stats());
        println!("server: {:?}", server.stats());
        server.shutdown().await;
        matchmaker.shutdown().await;
        rt::sleep(Duration::from_millis(10)).await;
        Ok(())
    })
}
