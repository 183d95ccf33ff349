//! Seed inputs for each target: valid encodings of every message kind,
//! every outcome, every matchmaker request and answer, every procedure's
//! arguments. `cargo run --example seed_corpus` writes them to `corpus/`.

use crate::procedures;
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::wire::{
    Ack, Call, ClientId, Confirm, Elsewhere, Incarnation, MAX_DEADLINE, Message, Outcome, Reply,
    Xid, encode_payload, frame_header,
};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    encode_payload(value).expect("seeds encode")
}

fn endpoints() -> [SocketAddr; 2] {
    [
        SocketAddr::from(([127, 0, 0, 1], 40000)),
        "[::1]:5000".parse().expect("an IPv6 address"),
    ]
}

// The matchmaker's types as PROTOCOL.md lays them out, written here rather
// than taken from the library so that seeds keep building while fields are
// added there (new ones are optional on the wire).

#[derive(Clone, Serialize)]
struct Spec {
    name: String,
    signature: u64,
}

#[derive(Clone, Serialize)]
struct Register {
    procedures: Vec<Spec>,
    endpoint: SocketAddr,
    incarnation: u64,
    ttl_ms: u64,
}

#[derive(Clone, Copy, Serialize)]
struct Token(#[serde(with = "serde_bytes")] [u8; 16]);

#[derive(Serialize)]
struct ByToken {
    token: Token,
}

#[derive(Serialize)]
struct LookupQuery {
    name: String,
    signature: Option<u64>,
}

#[derive(Clone, Serialize)]
struct Cursor {
    name: String,
    endpoint: SocketAddr,
}

#[derive(Serialize)]
struct ListQuery {
    after: Option<Cursor>,
}

#[derive(Serialize)]
struct Granted {
    token: Token,
    ttl_ms: u64,
}

#[derive(Serialize)]
struct Extended {
    ttl_ms: u64,
}

#[derive(Serialize)]
struct Endpoint {
    address: SocketAddr,
    signature: u64,
    incarnation: u64,
    ttl_ms: u64,
}

#[derive(Serialize)]
struct Found {
    endpoints: Vec<Endpoint>,
}

#[derive(Clone, Serialize)]
struct Entry {
    name: String,
    endpoint: SocketAddr,
    signature: u64,
    incarnation: u64,
    ttl_ms: u64,
}

#[derive(Serialize)]
struct Page {
    registrations: Vec<Entry>,
    next: Option<Cursor>,
}

#[derive(Clone, Serialize)]
enum Refusal {
    NotFound {
        name: String,
    },
    SignatureMismatch {
        name: String,
        expected: u64,
        available: Vec<u64>,
    },
    UnknownLease,
    InvalidRequest {
        reason: String,
    },
}

/// One valid argument tuple per matchmaker procedure, by selector (the
/// index in [`MATCHMAKER_PROCEDURES`]).
pub fn matchmaker_requests() -> Vec<(u8, Vec<u8>)> {
    let [v4, v6] = endpoints();
    let token = Token([0xab; 16]);
    let register = Register {
        procedures: vec![
            Spec {
                name: "math.add".into(),
                signature: Fingerprint::of("math.add(i64,i64)->i64").0,
            },
            Spec {
                name: "é".repeat(10),
                signature: u64::MAX,
            },
        ],
        endpoint: v4,
        incarnation: 42,
        ttl_ms: 1000,
    };
    let cursor = Cursor {
        name: "math.add".into(),
        endpoint: v6,
    };
    let lookup = |signature| LookupQuery {
        name: "math.add".into(),
        signature,
    };
    vec![
        (0, encode(&(register.clone(),))),
        (
            0,
            encode(&(Register {
                endpoint: v6,
                ttl_ms: 0,
                ..register
            },)),
        ),
        (1, encode(&(ByToken { token },))),
        (2, encode(&(ByToken { token },))),
        (3, encode(&(lookup(None),))),
        (3, encode(&(lookup(Some(7)),))),
        (4, encode(&(ListQuery { after: None },))),
        (
            4,
            encode(&(ListQuery {
                after: Some(cursor),
            },)),
        ),
        // `StatusRequest` has no fields: an empty map.
        (5, encode(&(std::collections::BTreeMap::<String, u8>::new(),))),
    ]
}

/// The argument tuple of a lookup of `name`, any signature.
pub fn lookup_args(name: &str) -> Vec<u8> {
    encode(&(LookupQuery {
        name: name.into(),
        signature: None,
    },))
}

/// The matchmaker's procedures: name and signature, by selector (the
/// order of the `matchmaker_daemon` target's selectors).
pub const MATCHMAKER_PROCEDURES: [(&str, Fingerprint); 6] = [
    named::<operation::Register>(),
    named::<operation::Renew>(),
    named::<operation::Unregister>(),
    named::<operation::Lookup>(),
    named::<operation::List>(),
    named::<operation::Status>(),
];

const fn named<O: Operation>() -> (&'static str, Fingerprint) {
    (O::NAME, O::SIGNATURE)
}

/// Matchmaker answers, as the client decodes them.
pub fn matchmaker_answers() -> Vec<Vec<u8>> {
    let [v4, v6] = endpoints();
    let entry = Entry {
        name: "math.add".into(),
        endpoint: v6,
        signature: 3,
        incarnation: 9,
        ttl_ms: 29_000,
    };
    let mut answers = vec![
        encode(&Ok::<_, Refusal>(Granted {
            token: Token([1; 16]),
            ttl_ms: 30_000,
        })),
        encode(&Ok::<_, Refusal>(Extended { ttl_ms: 30_000 })),
        encode(&Ok::<(), Refusal>(())),
        encode(&Ok::<_, Refusal>(Found {
            endpoints: vec![Endpoint {
                address: v4,
                signature: 3,
                incarnation: 1,
                ttl_ms: 5,
            }],
        })),
        encode(&Ok::<_, Refusal>(Page {
            registrations: vec![entry.clone(), entry],
            next: Some(Cursor {
                name: "math.add".into(),
                endpoint: v6,
            }),
        })),
        encode(&Ok::<_, Refusal>(Page {
            registrations: vec![],
            next: None,
        })),
    ];
    let refusals = [
        Refusal::NotFound { name: "x".into() },
        Refusal::SignatureMismatch {
            name: "x".into(),
            expected: 1,
            available: vec![2, u64::MAX],
        },
        Refusal::UnknownLease,
        Refusal::InvalidRequest {
            reason: "why".into(),
        },
    ];
    answers.extend(refusals.iter().map(|e| encode(&Err::<(), _>(e.clone()))));
    answers
}

fn every_outcome() -> Vec<Outcome> {
    vec![
        Outcome::Return(encode(&5i64).into()),
        Outcome::Panicked("boom".into()),
        Outcome::NoSuchProcedure,
        Outcome::SignatureMismatch(Fingerprint(9)),
        Outcome::WrongIncarnation,
        Outcome::WrongIncarnationUptime(1_500),
        Outcome::UnsupportedVersion(vec![1, 2]),
        Outcome::Malformed("bad".into()),
        Outcome::BadArguments("args".into()),
        Outcome::ReplyTooLarge {
            size: 70_000,
            limit: 65_507,
        },
        Outcome::ReplyEvicted,
        Outcome::DeadlineExceeded,
        Outcome::ReplyWaiting { size: 300_000 },
        Outcome::MessageTooLarge {
            size: 20 << 20,
            limit: 16 << 20,
        },
    ]
}

/// One message of every kind, replies with every outcome, calls carrying
/// every matchmaker request.
pub fn messages() -> Vec<Message> {
    let call = Call {
        client: ClientId(0x1234_5678_9abc_def0),
        xid: Xid(1),
        incarnation: Incarnation::ANY,
        procedure: "math.add".into(),
        signature: Fingerprint::of("math.add(i64,i64)->i64"),
        deadline: Duration::from_secs(10),
        done_below: Xid(1),
        args: encode(&(2i64, 3i64)).into(),
        elsewhere: Default::default(),
    };
    let mut messages = vec![
        Message::Call(call.clone()),
        Message::Call(Call {
            deadline: MAX_DEADLINE,
            xid: Xid(u64::MAX),
            ..call.clone()
        }),
        // With its note (PROTOCOL.md, "Notes").
        Message::Call(Call {
            elsewhere: Elsewhere::Acknowledged,
            ..call.clone()
        }),
        Message::Ack(Ack {
            client: call.client,
            xid: Xid(7),
            incarnation: Incarnation(99),
        }),
        Message::Confirm(Confirm {
            client: call.client,
            xid: Xid(7),
        }),
    ];
    messages.extend(every_outcome().into_iter().map(|outcome| {
        Message::Reply(Reply {
            client: call.client,
            xid: Xid(7),
            incarnation: Incarnation(99),
            outcome,
        })
    }));
    messages.extend(matchmaker_requests().into_iter().map(|(selector, args)| {
        let (name, signature) = MATCHMAKER_PROCEDURES[usize::from(selector)];
        Message::Call(Call {
            procedure: name.into(),
            signature,
            args: args.into(),
            ..call.clone()
        })
    }));
    messages
}

/// The seeds of each target, by target name.
pub fn all() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let datagrams: Vec<Vec<u8>> = messages()
        .iter()
        .map(|m| m.encode().expect("seed messages encode"))
        .collect();
    let mut payloads: Vec<Vec<u8>> = matchmaker_requests()
        .into_iter()
        .map(|(_, args)| args)
        .collect();
    payloads.extend(matchmaker_answers());
    let selected = |pairs: Vec<(u8, Vec<u8>)>| -> Vec<Vec<u8>> {
        pairs
            .into_iter()
            .map(|(selector, bytes)| [vec![selector], bytes].concat())
            .collect()
    };
    // Stream bytes: a limit (2 bytes), then frames of every seed message,
    // one alone and all back to back.
    let framed = |message: &Vec<u8>| {
        let mut frame = frame_header(message.len()).expect("small").to_vec();
        frame.extend(message);
        frame
    };
    let mut streams: Vec<Vec<u8>> = datagrams
        .iter()
        .map(|d| [vec![0xff, 0xff], framed(d)].concat())
        .collect();
    streams.push(
        [
            vec![0xff, 0xff],
            datagrams.iter().flat_map(framed).collect(),
        ]
        .concat(),
    );
    streams.push([vec![0x00, 0x10], framed(&datagrams[0])].concat());
    let mut daemon = selected(matchmaker_requests());
    daemon.extend(datagrams.iter().map(|d| [vec![5], d.clone()].concat()));
    vec![
        ("message", datagrams),
        ("matchmaker_payloads", payloads),
        ("procedure_args", selected(procedures::sample_args())),
        ("procedure_server", selected(procedures::sample_args())),
        ("matchmaker_daemon", daemon),
        ("stream_frames", streams),
    ]
}
