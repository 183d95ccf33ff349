//! The reply cache's cap is memory: a responder filled to its cap by a
//! flood grows the process's resident memory (VmRSS of /proc/self/status)
//! by at most 1.5 times the cap (issue 13, item 4).
//!
//! A test binary of its own, with one test: RSS is the whole process's.
//! The flood is what costs the most per byte of reply: new client ids from
//! two sources (127.0.0.1 and ::1) until both are refused, each with a
//! small reply; then more calls of the clients the cache knows, until it
//! evicts (it is at its cap).

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{self, Call, ClientId, Incarnation, Message, Xid};
use rendezvous_core::server::{
    CallContext, DEFAULT_REPLY_CACHE_BYTES, Procedure, ProcedureSet, Responder, ResponderConfig,
};
use rendezvous_runtime::Instant;
use rendezvous_tests::run_with_timeout;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Datagrams at most, whatever happens.
const MAX_DATAGRAMS: u64 = 600_000;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok());
    let kib: u64 = kib.expect("VmRSS in kB");
    kib * 1024
}

fn call(client: u64, xid: u64, n: u64) -> Vec<u8> {
    Message::Call(Call {
        client: ClientId(client),
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: "memory.echo".into(),
        signature: Fingerprint::of("memory.echo"),
        deadline: Duration::from_secs(5),
        done_below: Xid(1),
        args: wire::encode_payload(&(n,))
            .expect("encode the arguments")
            .into(),
        elsewhere: Default::default(),
    })
    .encode()
    .expect("encode a call")
}

#[test]
fn a_reply_cache_filled_to_its_cap_grows_rss_by_at_most_one_and_a_half_caps() {
    const CAP: usize = DEFAULT_REPLY_CACHE_BYTES;
    run_with_timeout(Duration::from_secs(300), async {
        let mut set = ProcedureSet::new();
        set.insert(Procedure::typed(
            "memory.echo",
            Fingerprint::of("memory.echo"),
            |(n,): (u64,), _: CallContext| async move { n },
        ))
        .unwrap();
        let config = ResponderConfig {
            reply_cache_bytes: CAP,
            ..ResponderConfig::default()
        };
        let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        let responder = Responder::bind(any, set, config).await.unwrap();
        let port = responder.local_addr().port();
        let targets = [
            (
                UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ),
            (
                UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).unwrap(),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ),
        ];
        // Warm up: the first calls allocate what any responder holds.
        for (socket, to) in &targets {
            socket.send_to(&call(1, 1, 1), to).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
        let before = rss_bytes();

        let mut sent = 0u64;
        let send = |sent: &mut u64, datagram: &[u8], which: usize| {
            let (socket, to) = &targets[which];
            let _ = socket.send_to(datagram, to);
            *sent += 1;
            if *sent % 16 == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        };
        // New clients from both sources, until both are refused a while.
        let started = Instant::now();
        let mut refused_before = 0;
        let mut id = 1_000u64;
        while sent < MAX_DATAGRAMS / 2 && started.elapsed() < Duration::from_secs(60) {
            id += 1;
            send(&mut sent, &call(id, 1, id), (id % 2) as usize);
            if sent % 5_000 == 0 {
                let overloaded = responder.stats().overloaded;
                if overloaded > refused_before + 4_000 {
                    break;
                }
                refused_before = overloaded;
            }
        }
        // The clients it knows (the first of each source), more calls each,
        // until it evicts.
        let mut xid = 1;
        while responder.stats().evictions == 0
            && sent < MAX_DATAGRAMS
            && started.elapsed() < Duration::from_secs(120)
        {
            xid += 1;
            for client in 1_001..1_201u64 {
                send(&mut sent, &call(client, xid, client), (client % 2) as usize);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let stats = responder.stats();
        let after = rss_bytes();
        let growth = after.saturating_sub(before);
        eprintln!(
            "{sent} datagrams; cache holds {} of {CAP} bytes, {} evictions, {} refused; \
             VmRSS {before} -> {after} (+{growth}, {:.2} x the cap)",
            stats.reply_cache_bytes,
            stats.evictions,
            stats.overloaded,
            growth as f64 / CAP as f64
        );
        assert!(
            stats.evictions > 0 && stats.reply_cache_bytes as usize >= CAP / 10 * 8,
            "the flood did not fill the cache to its cap: {stats:?}"
        );
        assert!(
            growth <= CAP as u64 * 3 / 2,
            "VmRSS grew by {growth} bytes for a cap of {CAP}: {:.2} x",
            growth as f64 / CAP as f64
        );
        responder.shutdown().await;
    });
}
