//! The test relay itself: it must forward faithfully by default, route
//! replies to the right client, and apply its faults as configured.

use rendezvous_runtime::{self as rt, UdpSocket};
use rendezvous_tests::{Relay, RelayConfig, eventually, run};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A UDP echo server: answers each datagram with `echo:` + the datagram.
async fn echo_server() -> (SocketAddr, rt::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let address = socket.local_addr().expect("echo server address");
    let task = rt::spawn(async move {
        let mut buffer = vec![0u8; 65_536];
        while let Ok((length, from)) = socket.recv_from(&mut buffer).await {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buffer[..length]);
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (address, task)
}

/// A sink: collects every datagram it receives.
async fn sink() -> (SocketAddr, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind the sink");
    let address = socket.local_addr().expect("sink address");
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    rt::spawn(async move {
        let mut buffer = vec![0u8; 65_536];
        while let Ok((length, _)) = socket.recv_from(&mut buffer).await {
            store
                .lock()
                .expect("sink lock")
                .push(buffer[..length].to_vec());
        }
    });
    (address, received)
}

/// Receives one datagram, or `None` after `wait`.
async fn receive(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buffer = vec![0u8; 65_536];
    let (length, _) = rt::timeout(wait, socket.recv_from(&mut buffer))
        .await?
        .ok()?;
    Some(buffer[..length].to_vec())
}

/// Sends `count` numbered datagrams, pacing them so loopback drops none.
async fn send_numbered(socket: &UdpSocket, to: SocketAddr, count: u32) {
    for n in 0..count {
        socket
            .send_to(&n.to_be_bytes(), to)
            .await
            .expect("send a numbered datagram");
        if n % 10 == 9 {
            rt::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn numbers(datagrams: &[Vec<u8>]) -> Vec<u32> {
    datagrams
        .iter()
        .map(|d| u32::from_be_bytes(d[..4].try_into().expect("a numbered datagram")))
        .collect()
}

#[test]
fn a_faithful_relay_routes_each_reply_to_its_own_client() {
    run(async {
        let (server, _task) = echo_server().await;
        let relay = Relay::start(server, RelayConfig::default()).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for i in 0..20 {
            for (socket, label) in [(&a, "a"), (&b, "b")] {
                let message = format!("{label}{i}");
                socket
                    .send_to(message.as_bytes(), relay.local_addr())
                    .await
                    .unwrap();
                let reply = receive(socket, Duration::from_secs(10)).await;
                assert_eq!(reply, Some(format!("echo:{message}").into_bytes()));
            }
        }
        // The relay counts a datagram once it has sent it, which may be
        // just after the client received it.
        let stats = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async {
                let stats = relay.stats();
                (stats.forwarded == 80).then_some(stats)
            },
        )
        .await
        .unwrap_or_else(|| panic!("{:?}", relay.stats()));
        assert_eq!(
            (stats.dropped, stats.duplicated, stats.reordered),
            (0, 0, 0)
        );
    });
}

#[test]
fn a_relay_dropping_everything_forwards_nothing() {
    run(async {
        let (server, received) = sink().await;
        let relay = Relay::start(
            server,
            RelayConfig {
                drop: 1.0,
                ..RelayConfig::default()
            },
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        send_numbered(&client, relay.local_addr(), 100).await;
        let counted = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { (relay.stats().dropped == 100).then_some(()) },
        )
        .await;
        assert!(counted.is_some(), "{:?}", relay.stats());
        assert_eq!(relay.stats().forwarded, 0);
        assert!(received.lock().unwrap().is_empty());
    });
}

#[test]
fn drops_follow_the_configured_probability() {
    run(async {
        let (server, _) = sink().await;
        let relay = Relay::start(
            server,
            RelayConfig {
                seed: 1,
                drop: 0.3,
                ..RelayConfig::default()
            },
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        send_numbered(&client, relay.local_addr(), 1_000).await;
        let stats = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async {
                let stats = relay.stats();
                (stats.dropped + stats.forwarded == 1_000).then_some(stats)
            },
        )
        .await
        .unwrap_or_else(|| panic!("not all datagrams handled: {:?}", relay.stats()));
        assert!((200..400).contains(&stats.dropped), "{stats:?}");
    });
}

#[test]
fn duplication_sends_each_datagram_twice() {
    run(async {
        let (server, received) = sink().await;
        let relay = Relay::start(
            server,
            RelayConfig {
                duplicate: 1.0,
                ..RelayConfig::default()
            },
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        send_numbered(&client, relay.local_addr(), 50).await;
        let all = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { (received.lock().unwrap().len() == 100).then_some(()) },
        )
        .await;
        assert!(all.is_some(), "{:?}", relay.stats());
        let mut got = numbers(&received.lock().unwrap());
        got.sort();
        let expected: Vec<u32> = (0..50).flat_map(|n| [n, n]).collect();
        assert_eq!(got, expected);
        assert_eq!(relay.stats().duplicated, 50);
    });
}

#[test]
fn reordering_delivers_every_datagram_but_not_in_order() {
    run(async {
        let (server, received) = sink().await;
        let relay = Relay::start(
            server,
            RelayConfig {
                seed: 3,
                reorder: 0.3,
                max_delay: Duration::from_millis(20),
                ..RelayConfig::default()
            },
        )
        .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        send_numbered(&client, relay.local_addr(), 200).await;
        let all = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { (received.lock().unwrap().len() == 200).then_some(()) },
        )
        .await;
        assert!(all.is_some(), "{:?}", relay.stats());
        let got = numbers(&received.lock().unwrap());
        let distinct: BTreeSet<u32> = got.iter().copied().collect();
        assert_eq!(distinct.len(), 200, "every datagram, once");
        assert!(got.windows(2).any(|w| w[0] > w[1]), "nothing was reordered");
        assert!(relay.stats().reordered > 0);
    });
}

#[test]
fn a_stopped_relay_forwards_nothing_more() {
    run(async {
        let (server, _task) = echo_server().await;
        let relay = Relay::start(server, RelayConfig::default()).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"before", relay.local_addr()).await.unwrap();
        assert_eq!(
            receive(&client, Duration::from_secs(10)).await,
            Some(b"echo:before".to_vec())
        );
        relay.stop();
        let _ = client.send_to(b"after", relay.local_addr()).await;
        assert_eq!(receive(&client, Duration::from_millis(300)).await, None);
        let counted = eventually(
            Duration::from_secs(10),
            Duration::from_millis(10),
            || async { (relay.stats().forwarded == 2).then_some(()) },
        )
        .await;
        assert!(counted.is_some(), "{:?}", relay.stats());
    });
}

#[test]
fn only_loopback_targets_are_accepted() {
    let error = Relay::start("192.0.2.1:9".parse().unwrap(), RelayConfig::default()).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}
