//! The worked example of PROTOCOL.md, checked against the real codec.
//!
//! The hex strings below are the ones PROTOCOL.md shows; the tests also
//! assert that PROTOCOL.md still contains them, so the document cannot
//! drift from the code.

#![allow(clippy::unwrap_used)]

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::{
    EndpointInfo, Lookup, LookupRequest, MatchmakerError,
    operation::{self, Operation},
};
use rendezvous_core::protocol::wire::{
    Call, ClientId, Incarnation, Message, Outcome, Reply, Xid, decode_payload, encode_payload,
};
use rendezvous_core::server::{Procedure, ProcedureSet, Responder, ResponderConfig};
use rendezvous_runtime::{self as rt, UdpSocket};
use std::net::SocketAddr;
use std::time::Duration;

const PROTOCOL_MD: &str = include_str!("../../PROTOCOL.md");

/// `rendezvous.lookup` of `math.add`, as the client sends it.
const CALL_HEX: &str = "8a01001b0123456789abcdef01007172656e64657a766f75732e6c6f6f6b75701b6e8f5b08cde74257190bb801582381a2646e616d65686d6174682e616464697369676e61747572651b6b4cb1c577e85abb";

/// Its args payload alone.
const ARGS_HEX: &str = "81a2646e616d65686d6174682e616464697369676e61747572651b6b4cb1c577e85abb";

/// The matchmaker's reply.
const REPLY_HEX: &str = "8601021b0123456789abcdef011b59c4814f262531ac82005852a1624f6ba169656e64706f696e747381a46761646472657373a16256348284187f000001199c40697369676e61747572651b6b4cb1c577e85abb6b696e6361726e6174696f6e18ff6674746c5f6d73197148";

/// Its result payload alone.
const RESULT_HEX: &str = "a1624f6ba169656e64706f696e747381a46761646472657373a16256348284187f000001199c40697369676e61747572651b6b4cb1c577e85abb6b696e6361726e6174696f6e18ff6674746c5f6d73197148";

/// The incarnation of the matchmaker that answered (captured from a run).
const MATCHMAKER_INCARNATION: Incarnation = Incarnation(0x59c4_814f_2625_31ac);

fn math_add() -> Fingerprint {
    Fingerprint::of("math.add(i64,i64)->i64")
}

fn lookup_request() -> LookupRequest {
    LookupRequest {
        name: "math.add".to_owned(),
        signature: Some(math_add()),
        padding: None,
    }
}

fn lookup_result() -> Result<Lookup, MatchmakerError> {
    Ok(Lookup {
        endpoints: vec![EndpointInfo {
            address: "127.0.0.1:40000".parse().unwrap(),
            signature: math_add(),
            incarnation: 0x0000_0000_0000_00ff,
            ttl_ms: 29_000,
        }],
        truncated: false,
        unregistered: Vec::new(),
    })
}

fn call() -> Message {
    Message::Call(Call {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(1),
        incarnation: Incarnation::ANY,
        procedure: operation::Lookup::NAME.to_owned(),
        signature: operation::Lookup::SIGNATURE,
        deadline: Duration::from_millis(3000),
        done_below: Xid(1),
        args: encode_payload(&(lookup_request(),)).unwrap().into(),
        elsewhere: Default::default(),
    })
}

fn reply(incarnation: Incarnation) -> Message {
    Message::Reply(Reply {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(1),
        incarnation,
        outcome: Outcome::Return(encode_payload(&lookup_result()).unwrap().into()),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_documented(text: &str) {
    assert!(
        PROTOCOL_MD.contains(text),
        "PROTOCOL.md does not contain `{text}`; update its worked example"
    );
}

#[test]
fn the_lookup_call_encodes_as_documented() {
    assert_eq!(hex(&call().encode().unwrap()), CALL_HEX);
    assert_eq!(
        hex(&encode_payload(&(lookup_request(),)).unwrap()),
        ARGS_HEX
    );
    assert_documented(CALL_HEX);
    assert_documented(ARGS_HEX);
}

#[test]
fn the_lookup_call_decodes_back() {
    assert_eq!(Message::decode(&unhex(CALL_HEX)).unwrap(), call());
    let (request,): (LookupRequest,) = decode_payload(&unhex(ARGS_HEX)).unwrap();
    assert_eq!(request, lookup_request());
}

#[test]
fn the_lookup_reply_encodes_as_documented() {
    assert_eq!(
        hex(&reply(MATCHMAKER_INCARNATION).encode().unwrap()),
        REPLY_HEX
    );
    assert_eq!(hex(&encode_payload(&lookup_result()).unwrap()), RESULT_HEX);
    assert_documented(REPLY_HEX);
    assert_documented(RESULT_HEX);
}

#[test]
fn the_lookup_reply_decodes_back() {
    let decoded = Message::decode(&unhex(REPLY_HEX)).unwrap();
    assert_eq!(decoded, reply(MATCHMAKER_INCARNATION));
    let Message::Reply(Reply {
        outcome: Outcome::Return(result),
        ..
    }) = decoded
    else {
        panic!("not a returning reply: {decoded:?}");
    };
    let result: Result<Lookup, MatchmakerError> = decode_payload(&result.to_vec()).unwrap();
    assert_eq!(result, lookup_result());
}

#[test]
fn fingerprints_in_the_document_are_the_codes() {
    let documented = [
        Fingerprint::of(""),
        Fingerprint::of("a"),
        Fingerprint::of("foobar"),
        math_add(),
        operation::Register::SIGNATURE,
        operation::Renew::SIGNATURE,
        operation::Unregister::SIGNATURE,
        operation::Lookup::SIGNATURE,
        operation::List::SIGNATURE,
    ];
    for fingerprint in documented {
        assert_documented(&fingerprint.to_string());
    }
}

#[test]
fn socket_addresses_are_maps_of_octets_and_port() {
    // ciborium is not human-readable: no "ip:port" text.
    let v4: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let v4_hex = "a16256348284187f000001199c40";
    assert_eq!(hex(&encode_payload(&v4).unwrap()), v4_hex);
    assert_documented(v4_hex);
    let v6: SocketAddr = "[::1]:5000".parse().unwrap();
    let v6_hex = "a1625636829000000000000000000000000000000001191388";
    assert_eq!(hex(&encode_payload(&v6).unwrap()), v6_hex);
    assert_documented(v6_hex);
    assert_eq!(decode_payload::<SocketAddr>(&unhex(v6_hex)).unwrap(), v6);
}

#[test]
fn a_version_it_does_not_speak_gets_unsupported_version() {
    let mut datagram = unhex(CALL_HEX);
    datagram[1] = 0x02;
    let undecodable = Message::decode(&datagram).unwrap_err();
    let reply = undecodable.error_reply(MATCHMAKER_INCARNATION).unwrap();
    assert_eq!(reply.outcome, Outcome::UnsupportedVersion(vec![1]));
    let encoded = hex(&Message::Reply(reply).encode().unwrap());
    assert_eq!(
        encoded,
        "8601021b0123456789abcdef011b59c4814f262531ac82058101"
    );
    assert_documented(&encoded);
}

#[test]
fn a_call_with_xid_0_gets_the_documented_malformed_reason() {
    let mut datagram = unhex(CALL_HEX);
    // `8a 01 00 1b <8 bytes of client id>`, then the xid.
    assert_eq!(datagram[12], 0x01);
    datagram[12] = 0x00;
    let undecodable = Message::decode(&datagram).unwrap_err();
    let reply = undecodable.error_reply(MATCHMAKER_INCARNATION).unwrap();
    assert_eq!(reply.xid, Xid(0));
    let Outcome::Malformed(reason) = reply.outcome else {
        panic!("not Malformed: {reply:?}");
    };
    assert_documented(&format!("[6, \"{reason}\"]"));
}

#[test]
fn non_shortest_integers_are_accepted_and_long_deadlines_clamped() {
    // The version as `18 01` instead of `01`.
    let mut datagram = vec![0x8a, 0x18, 0x01];
    datagram.extend_from_slice(&unhex(CALL_HEX)[2..]);
    assert_eq!(Message::decode(&datagram).unwrap(), call());
    // deadline_ms `19 0bb8` (3000) replaced by `1b` u64::MAX.
    let hex_call = CALL_HEX.replace("190bb8", "1bffffffffffffffff");
    let Message::Call(decoded) = Message::decode(&unhex(&hex_call)).unwrap() else {
        panic!("not a call");
    };
    assert_eq!(
        decoded.deadline,
        rendezvous_core::protocol::wire::MAX_DEADLINE
    );
}

/// The documented call, sent to a real responder serving a `rendezvous.lookup`
/// that returns the documented result, gets the documented reply (with the
/// responder's own incarnation).
#[test]
fn a_real_responder_answers_the_documented_call_with_the_documented_reply() {
    rt::block_on(async {
        let mut procedures = ProcedureSet::new();
        let lookup = Procedure::typed(
            operation::Lookup::NAME,
            operation::Lookup::SIGNATURE,
            |(request,): (LookupRequest,), _| async move {
                assert_eq!(request, lookup_request());
                lookup_result()
            },
        );
        procedures.insert(lookup).unwrap();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let responder = Responder::bind(localhost, procedures, ResponderConfig::default())
            .await
            .unwrap();
        let socket = UdpSocket::bind(localhost).await.unwrap();
        socket
            .send_to(&unhex(CALL_HEX), responder.local_addr())
            .await
            .unwrap();
        let mut buffer = vec![0u8; 65_536];
        let received = loop {
            let (length, _) = rt::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
                .await
                .expect("no reply within 5 s")
                .unwrap();
            match Message::decode(&buffer[..length]).unwrap() {
                Message::Ack(_) => continue,
                _ => break buffer[..length].to_vec(),
            }
        };
        assert_eq!(received, reply(responder.incarnation()).encode().unwrap());
        let Message::Reply(real) = Message::decode(&received).unwrap() else {
            panic!("not a reply");
        };
        let as_documented = Message::Reply(Reply {
            incarnation: MATCHMAKER_INCARNATION,
            ..real
        });
        assert_eq!(hex(&as_documented.encode().unwrap()), REPLY_HEX);
        responder.shutdown().await;
    });
}

/// A responder serving `math.add(i64,i64)->i64` that counts its runs; the
/// answer (ack skipped) to `call` sent raw.
fn ask_math_add(calls: &[Call]) -> (Vec<Outcome>, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    rt::block_on(async {
        let runs = Arc::new(AtomicU64::new(0));
        let counter = runs.clone();
        let mut procedures = ProcedureSet::new();
        let add = Procedure::typed("math.add", math_add(), move |(a, b): (i64, i64), _| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move { a + b }
        });
        procedures.insert(add).unwrap();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let responder = Responder::bind(localhost, procedures, ResponderConfig::default())
            .await
            .unwrap();
        let socket = UdpSocket::bind(localhost).await.unwrap();
        let mut outcomes = Vec::new();
        let mut buffer = vec![0u8; 65_536];
        for call in calls {
            let datagram = Message::Call(call.clone()).encode().unwrap();
            socket
                .send_to(&datagram, responder.local_addr())
                .await
                .unwrap();
            let reply = loop {
                let (length, _) =
                    rt::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
                        .await
                        .expect("no answer within 5 s")
                        .unwrap();
                match Message::decode(&buffer[..length]).unwrap() {
                    Message::Reply(reply) if reply.xid == call.xid => break reply,
                    _ => continue,
                }
            };
            outcomes.push(reply.outcome);
        }
        responder.shutdown().await;
        (outcomes, runs.load(Ordering::SeqCst))
    })
}

fn math_add_call(xid: u64, args: &[u8]) -> Call {
    Call {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: "math.add".into(),
        signature: math_add(),
        deadline: Duration::from_secs(3),
        done_below: Xid(1),
        args: args.to_vec().into(),
        elsewhere: Default::default(),
    }
}

/// PROTOCOL.md's *Payloads*: `9f 02 03 ff` is math.add(2, 3) and returns 5;
/// `9f 02 03` (no break) and `83 02 03 04` (a third argument) are refused
/// BadArguments, and neither runs.
#[test]
fn a_real_responder_runs_an_indefinite_length_tuple_and_refuses_an_ill_formed_one() {
    assert_documented("9f 02 03 ff");
    let (outcomes, runs) = ask_math_add(&[
        math_add_call(1, &[0x9f, 0x02, 0x03, 0xff]),
        math_add_call(2, &[0x9f, 0x02, 0x03]),
        math_add_call(3, &[0x83, 0x02, 0x03, 0x04]),
    ]);
    assert_eq!(
        outcomes[0],
        Outcome::Return(encode_payload(&5i64).unwrap().into())
    );
    for outcome in &outcomes[1..] {
        assert!(
            matches!(outcome, Outcome::BadArguments(reason) if !reason.contains("message")),
            "{outcome:?}"
        );
    }
    assert_eq!(runs, 1, "only the well-formed call ran");
}

/// A call whose `done_below` is above its own xid would declare itself
/// finished; it used to be forgotten on arrival, unanswered and unrun. It is
/// refused `[6, reason]` naming both fields (the reason PROTOCOL.md shows),
/// and the same call with a proper watermark then runs.
#[test]
fn a_call_with_done_below_above_its_xid_is_refused_malformed_and_does_not_run() {
    let above = Call {
        done_below: Xid(2),
        ..math_add_call(1, &[0x82, 0x02, 0x03])
    };
    let (outcomes, runs) = ask_math_add(&[above, math_add_call(1, &[0x82, 0x02, 0x03])]);
    let Outcome::Malformed(reason) = &outcomes[0] else {
        panic!("not Malformed: {:?}", outcomes[0]);
    };
    assert!(
        reason.contains("done_below 2") && reason.contains("xid 1"),
        "{reason}"
    );
    assert_documented(&format!("[6, \"{reason}\"]"));
    assert_eq!(
        outcomes[1],
        Outcome::Return(encode_payload(&5i64).unwrap().into())
    );
    assert_eq!(runs, 1);
}

/// PROTOCOL.md's *Payloads*: nesting past 32 levels, the argument tuple
/// being the first, is refused `[7, reason]` (BadArguments) with the reason
/// shown there, and does not run.
#[test]
fn a_too_deep_argument_tuple_is_refused_bad_arguments() {
    let mut deep = vec![0x81; 33];
    deep.push(0x00);
    let (outcomes, runs) = ask_math_add(&[math_add_call(1, &deep)]);
    let Outcome::BadArguments(reason) = &outcomes[0] else {
        panic!("not BadArguments: {:?}", outcomes[0]);
    };
    assert_documented(&format!("[7, \"{reason}\"]"));
    assert_eq!(runs, 0);
}
