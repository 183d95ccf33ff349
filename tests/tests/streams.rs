//! The stream transport end to end, against the real daemon binary and
//! real loopback sockets: calls and results too large for a datagram go
//! over TCP, through `#[procedure]` proxies; a result too large for a
//! datagram reply is fetched over the stream and its procedure ran once; a
//! call is one call whichever transport carries its copies; a stream
//! broken mid-call leaves the call to be sent again, run once; the
//! message limits refuse with their sizes before anything runs.
//!
//! Some tests speak the protocol by hand (frames on a `TcpStream`,
//! datagrams on a `UdpSocket`) to see exactly what the server sends.

use rendezvous_core::protocol::wire::{
    Call, ClientId, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Xid, decode_payload_within,
    encode_payload, encode_payload_within, frame_header, frame_length,
};
use rendezvous_core::server::StreamConfig;
use rendezvous_core::{Client, Error, Server, ServerBuilder, State, procedure};
use rendezvous_tests::{CALL_DEADLINE, Daemon, client, run};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How many times each server's procedures ran.
#[derive(Clone, Debug, Default)]
pub struct Runs(Arc<AtomicU64>);

impl Runs {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[procedure(name = "streams.echo")]
pub async fn echo(runs: State<Runs>, data: Vec<u8>) -> Vec<u8> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    data
}

/// `n` bytes, each `fill`.
#[procedure(name = "streams.make")]
pub async fn make(runs: State<Runs>, n: u32, fill: u8) -> Vec<u8> {
    runs.0.fetch_add(1, Ordering::SeqCst);
    vec![fill; n as usize]
}

/// The length of `data`, after `ms` milliseconds.
#[procedure(name = "streams.slow_len")]
pub async fn slow_len(runs: State<Runs>, data: Vec<u8>, ms: u64) -> u64 {
    runs.0.fetch_add(1, Ordering::SeqCst);
    rendezvous_runtime::sleep(Duration::from_millis(ms)).await;
    data.len() as u64
}

/// A server of the procedures above, registered with `daemon`, counting
/// its runs; `configure` adjusts its builder.
async fn serve(
    daemon: &Daemon,
    configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (Server, Runs) {
    let runs = Runs::default();
    let builder = Server::builder()
        .matchmaker(daemon.address())
        .state(runs.clone());
    let server = configure(builder).start().await.expect("start a server");
    (server, runs)
}

/// Bytes that differ from their neighbours, so a shifted copy shows.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn large_arguments_and_results_round_trip_byte_for_byte() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b).await;
        let client = client(daemon.address());
        // The largest default message holds a 16 MiB payload less its envelope.
        for size in [100 << 10, 1 << 20, (16 << 20) - 1024] {
            let data = pattern(size);
            let back = echo::remote_with(&client, data.clone())
                .await
                .unwrap_or_else(|error| panic!("echo of {size} bytes: {error}"));
            assert!(back == data, "{size} bytes came back changed");
        }
        assert_eq!(runs.count(), 3);
        assert_eq!(
            server.stream_stats().connections,
            1,
            "the large calls went over one stream, pooled and reused"
        );
        // A small call still takes a datagram.
        let before = client.stats().datagrams;
        let small = echo::remote_with(&client, vec![1, 2, 3])
            .await
            .expect("echo");
        assert_eq!(small, [1, 2, 3]);
        assert!(client.stats().datagrams > before, "small calls stay on UDP");
        server.shutdown().await;
    });
}

#[test]
fn a_pooled_connection_the_server_closed_is_noticed_and_replaced() {
    let daemon = Daemon::start(&[]);
    run(async {
        let idle = StreamConfig {
            idle_timeout: Duration::from_millis(200),
            ..StreamConfig::default()
        };
        let (server, runs) = serve(&daemon, |b| b.stream(Some(idle))).await;
        let client = client(daemon.address());
        for round in 0..3 {
            let data = pattern(100_000 + round);
            let back = echo::remote_with(&client, data.clone())
                .await
                .expect("echo");
            assert!(back == data);
            // The server closes the idle connection the client pooled.
            connections_at_most(&server, 0).await;
        }
        assert_eq!(runs.count(), 3, "each call ran once");
        server.shutdown().await;
    });
}

#[test]
fn a_result_too_large_for_a_datagram_is_fetched_over_the_stream_and_ran_once() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b).await;
        let client = client(daemon.address());
        for (n, fill) in [(200_000u32, 7u8), (5 << 20, 9)] {
            let before = runs.count();
            let made = make::remote_with(&client, n, fill)
                .await
                .unwrap_or_else(|error| panic!("make of {n} bytes: {error}"));
            assert_eq!(made.len(), n as usize);
            assert!(made.iter().all(|&b| b == fill));
            assert_eq!(runs.count(), before + 1, "fetching ran nothing again");
        }
        server.shutdown().await;
    });
}

/// A call of `procedure` by hand, encoded.
fn call(
    client: u64,
    xid: u64,
    procedure: &rendezvous_core::RemoteProcedure,
    args: Vec<u8>,
) -> Message {
    Message::Call(Call {
        client: ClientId(client),
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: procedure.name.into(),
        signature: procedure.signature,
        deadline: CALL_DEADLINE,
        done_below: Xid(1),
        args: args.into(),
        elsewhere: Default::default(),
    })
}

fn connect(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(server).expect("connect to the stream port");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout");
    stream
}

fn send_frame(stream: &mut TcpStream, message: &Message) {
    let mut body = Vec::new();
    message.encode_within(&mut body, 1 << 30).expect("encodes");
    stream
        .write_all(&frame_header(body.len()).expect("fits"))
        .expect("write a header");
    stream.write_all(&body).expect("write a message");
}

/// The next message on `stream`, or `None` if it closed (or timed out).
fn read_frame(stream: &mut TcpStream) -> Option<(Message, Vec<u8>)> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let mut body = vec![0u8; frame_length(header)];
    stream.read_exact(&mut body).ok()?;
    let message = Message::decode_within(&body, 1 << 30).expect("the server's frame decodes");
    Some((message, body))
}

/// The reply on `stream`, skipping acks: its outcome and its bytes.
fn reply_on(stream: &mut TcpStream) -> (Outcome, Vec<u8>) {
    loop {
        match read_frame(stream).expect("a reply before the stream closed") {
            (Message::Reply(reply), bytes) => return (reply.outcome, bytes),
            (Message::Ack(_), _) => continue,
            (other, _) => panic!("not a reply: {other:?}"),
        }
    }
}

/// Sends `message` by UDP and returns the messages of the first datagram
/// that answers it (skipping acks).
fn ask_by_datagram(server: SocketAddr, message: &Message) -> Vec<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a read timeout");
    socket
        .send_to(&message.encode().expect("fits a datagram"), server)
        .expect("send");
    let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES + 1];
    loop {
        let length = socket.recv(&mut buffer).expect("an answer");
        let messages: Vec<Message> = Message::decode_batch(&buffer[..length])
            .map_while(Result::ok)
            .map(|(message, _)| message)
            .collect();
        if !matches!(messages.as_slice(), [Message::Ack(_)]) {
            return messages;
        }
    }
}

#[test]
fn a_call_is_one_call_whichever_transport_carries_its_copies() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b).await;
        let address = server.local_addr();
        let id = 0x5eed_0000_0000_0001;

        // A small call by datagram, then the same call (same client id and
        // xid) on a stream: the stream gets the recorded reply, verbatim.
        let small = call(
            id,
            1,
            &make::PROCEDURE,
            encode_payload(&(10u32, 3u8)).unwrap(),
        );
        let by_datagram = ask_by_datagram(address, &small);
        let [Message::Reply(reply)] = by_datagram.as_slice() else {
            panic!("one reply: {by_datagram:?}");
        };
        assert_eq!(
            reply.outcome,
            Outcome::Return(
                encode_payload(&serde_bytes::Bytes::new(&[3; 10]))
                    .unwrap()
                    .into()
            )
        );
        let mut stream = connect(address);
        send_frame(&mut stream, &small);
        let (outcome, _) = reply_on(&mut stream);
        assert_eq!(
            outcome, reply.outcome,
            "the stream copy got the recorded reply"
        );
        assert_eq!(runs.count(), 1);

        // A large result to a datagram: `[8]` then `[13]`, in one datagram;
        // the same call on the stream fetches it.
        let large = call(
            id,
            2,
            &make::PROCEDURE,
            encode_payload(&(300_000u32, 5u8)).unwrap(),
        );
        let notice = ask_by_datagram(address, &large);
        let outcomes: Vec<&Outcome> = notice
            .iter()
            .map(|message| match message {
                Message::Reply(reply) => &reply.outcome,
                other => panic!("not a reply: {other:?}"),
            })
            .collect();
        let size = match outcomes.as_slice() {
            [
                Outcome::ReplyTooLarge { size, limit },
                Outcome::ReplyWaiting { size: waiting },
            ] => {
                assert_eq!(*limit, MAX_DATAGRAM_BYTES as u64);
                assert_eq!(size, waiting);
                *size
            }
            other => panic!("not the notice: {other:?}"),
        };
        send_frame(&mut stream, &large);
        let (outcome, bytes) = reply_on(&mut stream);
        assert_eq!(
            bytes.len() as u64,
            size,
            "the notice names the reply's size"
        );
        let Outcome::Return(result) = outcome else {
            panic!("not a result: {outcome:?}");
        };
        let made: serde_bytes::ByteBuf =
            decode_payload_within(&result.to_vec(), 1 << 30).expect("a byte string");
        assert_eq!(made.len(), 300_000);
        // And again by datagram: the notice again, nothing run.
        assert_eq!(ask_by_datagram(address, &large), notice);
        // A call naming another incarnation: one frame, `[12, uptime]`.
        let Message::Call(mut elsewhere) = call(
            id,
            3,
            &make::PROCEDURE,
            encode_payload(&(1u32, 1u8)).unwrap(),
        ) else {
            unreachable!()
        };
        elsewhere.incarnation = Incarnation(server.incarnation().0 ^ 1);
        send_frame(&mut stream, &Message::Call(elsewhere));
        let (outcome, _) = reply_on(&mut stream);
        assert!(
            matches!(outcome, Outcome::WrongIncarnationUptime(_)),
            "{outcome:?}"
        );
        assert_eq!(runs.count(), 2, "each call ran once");
        server.shutdown().await;
    });
}

#[test]
fn a_stream_broken_mid_call_leaves_the_call_to_be_sent_again_and_run_once() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b).await;
        let address = server.local_addr();
        let data = pattern(200_000);
        let slow = call(
            0x5eed_0000_0000_0002,
            1,
            &slow_len::PROCEDURE,
            encode_payload_within(&(serde_bytes::Bytes::new(&data), 300u64), 1 << 30).unwrap(),
        );
        // The call, then the connection gone before its reply.
        let mut first = connect(address);
        send_frame(&mut first, &slow);
        drop(first);
        // The same call on a new connection: acknowledged while it runs,
        // or answered from the record; it runs once either way.
        let mut second = connect(address);
        send_frame(&mut second, &slow);
        let (outcome, _) = reply_on(&mut second);
        assert_eq!(
            outcome,
            Outcome::Return(encode_payload(&200_000u64).unwrap().into())
        );
        assert_eq!(runs.count(), 1);
        server.shutdown().await;
    });
}

#[test]
fn message_limits_refuse_with_their_sizes_before_anything_runs() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b.max_message_bytes(200_000)).await;
        // The client's own limit: refused before anything is sent.
        let small_client = Client::builder()
            .matchmaker(daemon.address())
            .max_message_bytes(100_000)
            .build()
            .expect("a client");
        let sent = small_client.stats();
        match echo::remote_with(&small_client, vec![0; 150_000]).await {
            Err(error @ Error::PayloadTooLarge { .. }) => {
                let Error::PayloadTooLarge { what, size, limit } = &error else {
                    unreachable!()
                };
                assert_eq!((*what, *limit), ("arguments", 100_000));
                assert!(*size > 150_000, "{size}");
                let text = error.to_string();
                assert!(text.contains("ClientBuilder::max_message_bytes"), "{text}");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        assert_eq!(small_client.stats(), sent, "nothing was sent");

        // The server's limit: the call is refused by its frame's length
        // and does not run.
        let client = client(daemon.address());
        match echo::remote_with(&client, vec![0; 300_000]).await {
            Err(Error::PayloadTooLarge { what, size, limit }) => {
                assert_eq!((what, limit), ("call", 200_000));
                assert!(size > 300_000, "{size}");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        // A result over it: the procedure ran, its result is refused.
        match make::remote_with(&client, 300_000, 1).await {
            Err(Error::PayloadTooLarge { what, limit, .. }) => {
                assert_eq!((what, limit), ("result", 200_000));
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
        assert_eq!(runs.count(), 1, "only make ran");
        // Under the limits, the same client and server carry large calls.
        let back = echo::remote_with(&client, pattern(150_000))
            .await
            .expect("echo");
        assert!(back == pattern(150_000));
        server.shutdown().await;
    });
}

/// Stream limits small enough to exceed in a test.
fn tight() -> StreamConfig {
    StreamConfig {
        max_connections_per_source: 8,
        read_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(2),
        ..StreamConfig::default()
    }
}

/// Whether the server closed `stream` (a read gives end of file or a
/// reset) before the read timeout set on it.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => !matches!(
            error.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// The length of `message` encoded: what its frame announces.
fn encoded_length(message: &Message) -> u64 {
    let mut body = Vec::new();
    message.encode_within(&mut body, 1 << 30).expect("encodes");
    body.len() as u64
}

/// Waits until the server holds at most `most` stream connections.
async fn connections_at_most(server: &Server, most: usize) {
    let settled = rendezvous_tests::eventually(
        Duration::from_secs(30),
        Duration::from_millis(20),
        || async { (server.stream_stats().connections <= most).then_some(()) },
    )
    .await;
    assert!(settled.is_some(), "still open: {:?}", server.stream_stats());
}

/// A large call through the client works: the server serves others.
async fn still_serves(client: &Client) {
    let data = pattern(100 << 10);
    let back = echo::remote_with(client, data.clone())
        .await
        .expect("a large call is served");
    assert!(back == data);
}

#[test]
fn hostile_streams_are_cut_off_and_others_are_served() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, _runs) = serve(&daemon, |b| b.stream(Some(tight()))).await;
        let address = server.local_addr();
        let client = client(daemon.address());

        // A header, then a stall: closed after the read timeout.
        let mut stalled = connect(address);
        stalled.write_all(&frame_header(1000).unwrap()).unwrap();
        stalled.write_all(&[0x8a, 0x01]).unwrap();
        still_serves(&client).await;
        assert!(closed_by_server(&mut stalled), "a stalled frame is cut off");

        // Garbage: closed at once.
        let mut garbage = connect(address);
        garbage
            .write_all(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff])
            .unwrap();
        assert!(closed_by_server(&mut garbage), "garbage is cut off");
        still_serves(&client).await;

        // A frame over the limit, announced: refused by its header, the
        // call named from its first bytes, and the connection kept in step.
        let mut huge = connect(address);
        let oversized = call(
            0x5eed_0000_0000_0003,
            1,
            &echo::PROCEDURE,
            vec![0; 20 << 20],
        );
        send_frame(&mut huge, &oversized);
        let (outcome, _) = reply_on(&mut huge);
        assert_eq!(
            outcome,
            Outcome::MessageTooLarge {
                size: encoded_length(&oversized),
                limit: 16 << 20
            }
        );
        let after = call(
            0x5eed_0000_0000_0003,
            2,
            &make::PROCEDURE,
            encode_payload(&(3u32, 1u8)).unwrap(),
        );
        send_frame(&mut huge, &after);
        assert!(matches!(reply_on(&mut huge).0, Outcome::Return(_)));
        drop(huge);

        // Many connections from one source: those over its limit are
        // closed at once; the others stay, and others are served.
        let many: Vec<TcpStream> = (0..40).map(|_| connect(address)).collect();
        let refused = rendezvous_tests::eventually(
            Duration::from_secs(20),
            Duration::from_millis(20),
            || async { (server.stream_stats().refused >= 32).then_some(()) },
        )
        .await;
        assert!(refused.is_some(), "{:?}", server.stream_stats());
        assert!(
            server.stream_stats().connections <= 8,
            "{:?}",
            server.stream_stats()
        );
        // UDP calls from that source still run meanwhile.
        assert_eq!(
            make::remote_with(&client, 4, 2)
                .await
                .expect("a small call"),
            [2; 4]
        );
        drop(many);
        connections_at_most(&server, 1).await;
        still_serves(&client).await;
        server.shutdown().await;
    });
}

#[test]
fn a_peer_that_never_reads_its_replies_is_cut_off() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, _runs) = serve(&daemon, |b| b.stream(Some(tight()))).await;
        let address = server.local_addr();
        let client = client(daemon.address());
        let mut deaf = connect(address);
        // Calls whose replies, 1 MiB each, are never read: far more than
        // the socket buffers and the connection's queue hold.
        for xid in 1..=64 {
            let args = encode_payload(&(1u32 << 20, 4u8)).unwrap();
            let message = call(0x5eed_0000_0000_0004, xid, &make::PROCEDURE, args);
            let mut body = Vec::new();
            message.encode_within(&mut body, 1 << 30).unwrap();
            let mut frame = frame_header(body.len()).unwrap().to_vec();
            frame.extend(body);
            if deaf.write_all(&frame).is_err() {
                break;
            }
        }
        connections_at_most(&server, 0).await;
        still_serves(&client).await;
        server.shutdown().await;
    });
}

#[test]
fn a_server_killed_mid_call_on_the_stream_leaves_the_outcome_unknown() {
    let daemon = Daemon::start(&[]);
    run(async {
        let (server, runs) = serve(&daemon, |b| b).await;
        let client = client(daemon.address()).with_deadline(Duration::from_secs(4));
        let calling = rendezvous_runtime::spawn({
            let client = client.clone();
            async move { slow_len::remote_with(&client, pattern(200_000), 10_000).await }
        });
        let started = rendezvous_tests::eventually(
            Duration::from_secs(20),
            Duration::from_millis(10),
            || async { (runs.count() == 1).then_some(()) },
        )
        .await;
        assert!(started.is_some(), "the call did not start");
        // Past the ACK delay: the client has heard it runs.
        rendezvous_runtime::sleep(Duration::from_millis(300)).await;
        server.abort().await;
        match calling.await {
            Err(Error::OutcomeUnknown { .. }) => {}
            other => panic!("expected OutcomeUnknown, got {other:?}"),
        }
        assert_eq!(runs.count(), 1, "it ran at most once");
    });
}
