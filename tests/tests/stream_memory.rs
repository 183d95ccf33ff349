//! A server under 64 concurrent 16 MiB calls on the stream transport holds
//! what its limits say: the bytes of stream calls being read or running
//! (until their replies are written) are capped by `max_inbound_bytes`, so
//! its peak resident memory (VmHWM of /proc/self/status, reset first)
//! grows by a small multiple of that cap, not by 64 calls' worth.
//!
//! A test binary of its own, with one test: RSS is the whole process's.
//! The callers are plain threads writing one shared 16 MiB buffer behind
//! a per-call prefix to real sockets, so the callers themselves hold one
//! copy in all; the matchmaker is the real daemon binary.
//!
//! Measured (debug build): the peak grew 313 MiB with the 128 MiB cap, and
//! 992 MiB with a cap of 2 GiB (no bound in effect), against the bound of
//! 576 MiB asserted.

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{
    Call, ClientId, Incarnation, Message, Outcome, Xid, decode_payload, frame_header, frame_length,
};
use rendezvous_core::server::{Procedure, StreamConfig};
use rendezvous_core::{RemoteProcedure, Server};
use rendezvous_tests::{Daemon, run_with_timeout};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const CALLS: usize = 64;
const PAYLOAD: usize = (16 << 20) - 1024;
/// The cap under test: 8 calls of 16 MiB.
const INBOUND: usize = 128 << 20;

const SUM: RemoteProcedure = RemoteProcedure {
    name: "memory.sum",
    signature: Fingerprint::of("memory.sum(bytes)->u64"),
    idempotent: false,
};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("a {field} line"));
    line.split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .expect("a size in kB")
}

/// The frame of a call of `memory.sum` whose args are the CBOR byte
/// string `[data]`, without `data` itself: a prefix to write before it.
fn frame_prefix(client: u64, data_len: usize) -> Vec<u8> {
    // The argument tuple: array(1), then a byte string of data_len bytes.
    let mut args_header = vec![0x81, 0x5a];
    args_header.extend((data_len as u32).to_be_bytes());
    let args_len = args_header.len() + data_len;
    let mut body = Message::Call(Call {
        client: ClientId(client),
        xid: Xid(1),
        incarnation: Incarnation::ANY,
        procedure: SUM.name.into(),
        signature: SUM.signature,
        deadline: Duration::from_secs(120),
        done_below: Xid(1),
        args: Vec::new().into(),
        elsewhere: Default::default(),
    })
    .encode()
    .expect("encodes");
    // The empty args byte string (0x40) becomes the real one's header.
    assert_eq!(body.pop(), Some(0x40));
    body.push(0x5a);
    body.extend((args_len as u32).to_be_bytes());
    body.extend(args_header);
    let mut frame = frame_header(body.len() + data_len).expect("fits").to_vec();
    frame.extend(body);
    frame
}

/// Sends one call of `data` on its own connection; returns its outcome.
fn call(server: SocketAddr, client: u64, data: &[u8]) -> Outcome {
    let mut stream = TcpStream::connect(server).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("a timeout");
    stream
        .write_all(&frame_prefix(client, data.len()))
        .expect("write the prefix");
    stream.write_all(data).expect("write the data");
    loop {
        let mut header = [0u8; 4];
        stream.read_exact(&mut header).expect("a reply frame");
        let mut body = vec![0u8; frame_length(header)];
        stream.read_exact(&mut body).expect("its body");
        match Message::decode(&body).expect("a datagram-sized answer") {
            Message::Reply(reply) => return reply.outcome,
            Message::Ack(_) => continue,
            other => panic!("not an answer: {other:?}"),
        }
    }
}

#[test]
fn sixty_four_concurrent_16_mib_calls_hold_what_the_inbound_limit_says() {
    let daemon = Daemon::start(&[]);
    let data: Arc<Vec<u8>> = Arc::new((0..PAYLOAD).map(|i| (i % 251) as u8).collect());
    let expected: u64 = data.iter().map(|&b| u64::from(b)).sum();
    let sum = Procedure::typed(
        SUM.name,
        SUM.signature,
        |(data,): (serde_bytes::ByteBuf,), _| async move {
            // Holds its argument a while, so the calls overlap.
            rendezvous_runtime::sleep(Duration::from_millis(500)).await;
            data.iter().map(|&b| u64::from(b)).sum::<u64>()
        },
    );
    let server = run_with_timeout(Duration::from_secs(60), async {
        Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(sum)
            .stream(Some(StreamConfig {
                max_inbound_bytes: INBOUND,
                ..StreamConfig::default()
            }))
            .start()
            .await
            .expect("a server")
    });
    let address = server.local_addr();
    let before = status_kib("VmRSS:") << 10;
    // Peak RSS from here on.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let callers: Vec<_> = (0..CALLS as u64)
        .map(|n| {
            let data = data.clone();
            std::thread::spawn(move || call(address, 0x3e3_0000 + n, &data))
        })
        .collect();
    for caller in callers {
        let outcome = caller.join().expect("a caller");
        let Outcome::Return(result) = outcome else {
            panic!("not a result: {outcome:?}");
        };
        assert_eq!(
            decode_payload::<u64>(&result.to_vec()).expect("a u64"),
            expected
        );
    }
    let peak = status_kib("VmHWM:") << 10;
    let grown = peak.saturating_sub(before);
    // Each call in progress holds its frame, the args copied out of it and
    // the decoded bytes: a few times the cap, with room for the rest.
    let bound = 4 * INBOUND as u64 + (64 << 20);
    let unbounded = (CALLS * PAYLOAD) as u64;
    eprintln!(
        "peak RSS grew {} MiB under {CALLS} calls of 16 MiB (bound {} MiB; unbounded they would hold {} MiB)",
        grown >> 20,
        bound >> 20,
        unbounded >> 20
    );
    assert!(grown <= bound, "peak RSS grew {grown} bytes, over {bound}");
    assert_eq!(server.stats().executed, CALLS as u64);
    run_with_timeout(Duration::from_secs(60), server.shutdown());
}
