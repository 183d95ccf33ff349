//! Sample values: one of each message, every outcome, every matchmaker
//! error, and the payloads of the matchmaker protocol.

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::{
    Auth, Departed, EndpointInfo, Lease, LeaseToken, ListCursor, ListPage, ListRequest, Lookup,
    LookupRequest, MatchmakerError, ProcedureSpec, RegisterRequest, Registration, RenewRequest,
    Renewed, UnregisterRequest,
};
use rendezvous_core::protocol::wire::{
    Ack, Call, ClientId, Confirm, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Reply, Xid,
    encode_payload,
};
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) fn sample_call() -> Call {
    Call {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(42),
        incarnation: Incarnation(0xfeed_face_cafe_beef),
        procedure: "math.add".into(),
        signature: Fingerprint::of("math.add(i64,i64)->i64"),
        deadline: Duration::from_millis(2_500),
        done_below: Xid(40),
        args: encode_payload(&(2i64, 3i64)).unwrap().into(),
        elsewhere: Default::default(),
    }
}

pub(crate) fn sample_ack() -> Ack {
    Ack {
        client: ClientId(7),
        xid: Xid(u64::MAX),
        incarnation: Incarnation(0x1234),
    }
}

pub(crate) fn sample_reply(outcome: Outcome) -> Reply {
    Reply {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(42),
        incarnation: Incarnation(0xfeed_face_cafe_beef),
        outcome,
    }
}

pub(crate) fn sample_confirm() -> Confirm {
    Confirm {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(1),
    }
}

/// Every outcome variant at least once (see `outcome_variant`).
pub(crate) fn every_outcome() -> Vec<Outcome> {
    vec![
        Outcome::Return(encode_payload(&5i64).unwrap().into()),
        Outcome::Return(Vec::new().into()),
        Outcome::Panicked("attempt to divide by zero".into()),
        Outcome::NoSuchProcedure,
        Outcome::SignatureMismatch(Fingerprint::of("math.add(i32,i32)->i32")),
        Outcome::WrongIncarnation,
        Outcome::WrongIncarnationUptime(0),
        Outcome::WrongIncarnationUptime(u64::MAX),
        Outcome::UnsupportedVersion(vec![1, 2, u64::MAX]),
        Outcome::UnsupportedVersion(Vec::new()),
        Outcome::Malformed("message ends early".into()),
        Outcome::BadArguments("expected an array of 2 integers".into()),
        Outcome::ReplyTooLarge {
            size: 70_000,
            limit: MAX_DATAGRAM_BYTES as u64,
        },
        Outcome::ReplyEvicted,
        Outcome::DeadlineExceeded,
        Outcome::Overloaded,
        Outcome::ReplyWaiting { size: 5 << 20 },
        Outcome::MessageTooLarge {
            size: 20 << 20,
            limit: 16 << 20,
        },
    ]
}

/// Exhaustive on purpose: a new variant fails to compile until it is added
/// to `every_outcome`.
pub(crate) fn outcome_variant(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Return(_) => "Return",
        Outcome::Panicked(_) => "Panicked",
        Outcome::NoSuchProcedure => "NoSuchProcedure",
        Outcome::SignatureMismatch(_) => "SignatureMismatch",
        Outcome::WrongIncarnation => "WrongIncarnation",
        Outcome::WrongIncarnationUptime(_) => "WrongIncarnationUptime",
        Outcome::UnsupportedVersion(_) => "UnsupportedVersion",
        Outcome::Malformed(_) => "Malformed",
        Outcome::BadArguments(_) => "BadArguments",
        Outcome::ReplyTooLarge { .. } => "ReplyTooLarge",
        Outcome::ReplyEvicted => "ReplyEvicted",
        Outcome::DeadlineExceeded => "DeadlineExceeded",
        Outcome::Overloaded => "Overloaded",
        Outcome::ReplyWaiting { .. } => "ReplyWaiting",
        Outcome::MessageTooLarge { .. } => "MessageTooLarge",
    }
}
pub(crate) const OUTCOME_VARIANTS: usize = 15;

/// One message of every kind, the reply with every outcome.
pub(crate) fn sample_messages() -> Vec<Message> {
    let mut messages = vec![
        Message::Call(sample_call()),
        Message::Ack(sample_ack()),
        Message::Confirm(sample_confirm()),
    ];
    messages.extend(
        every_outcome()
            .into_iter()
            .map(|outcome| Message::Reply(sample_reply(outcome))),
    );
    messages
}

fn v4() -> SocketAddr {
    "127.0.0.1:40123".parse().unwrap()
}

pub(crate) fn v6() -> SocketAddr {
    "[2001:db8::1]:5000".parse().unwrap()
}

pub(crate) fn token() -> LeaseToken {
    LeaseToken(*b"0123456789abcdef")
}

pub(crate) fn sample_register_request() -> RegisterRequest {
    RegisterRequest {
        procedures: vec![
            ProcedureSpec {
                signature_text: Some("math.add(i64, i64) -> i64".into()),
                name: "math.add".into(),
                signature: Fingerprint::of("math.add(i64,i64)->i64"),
            },
            ProcedureSpec {
                signature_text: None,
                name: "math.neg".into(),
                signature: Fingerprint::of("math.neg(i64)->i64"),
            },
        ],
        endpoint: v6(),
        incarnation: u64::MAX,
        ttl_ms: 30_000,
        auth: Some(sample_auth()),
    }
}

pub(crate) fn sample_auth() -> Auth {
    Auth {
        timestamp_ms: 1_700_000_000_000,
        nonce: *b"nonce, 16 bytes.",
        mac: [0xa5; 32],
    }
}

pub(crate) fn sample_lookup() -> Lookup {
    Lookup {
        endpoints: vec![
            EndpointInfo {
                address: v4(),
                signature: Fingerprint::of("math.add(i64,i64)->i64"),
                incarnation: 9,
                ttl_ms: 29_000,
            },
            EndpointInfo {
                address: v6(),
                signature: Fingerprint::of("math.add(i64,i64)->i64"),
                incarnation: 10,
                ttl_ms: 0,
            },
        ],
        truncated: true,
        unregistered: vec![Departed {
            address: v4(),
            incarnation: 7,
        }],
    }
}

pub(crate) fn sample_registration() -> Registration {
    Registration {
        name: "math.add".into(),
        endpoint: v4(),
        signature: Fingerprint::of("math.add(i64,i64)->i64"),
        signature_text: Some("math.add(i64, i64) -> i64".into()),
        incarnation: 3,
        ttl_ms: 12_345,
    }
}

pub(crate) fn sample_cursor() -> ListCursor {
    ListCursor {
        name: "math.add".into(),
        endpoint: v4(),
        lease: 42,
    }
}

/// Every matchmaker error variant at least once (see `matchmaker_error_variant`).
pub(crate) fn every_matchmaker_error() -> Vec<MatchmakerError> {
    vec![
        MatchmakerError::NotFound {
            name: "math.add".into(),
        },
        MatchmakerError::SignatureMismatch {
            name: "math.add".into(),
            expected: Fingerprint::of("math.add(i64,i64)->i64"),
            available: vec![Fingerprint(1), Fingerprint(u64::MAX)],
            available_texts: vec![(Fingerprint(1), "math.add(u64, u64) -> u64".into())],
        },
        MatchmakerError::UnknownLease,
        MatchmakerError::InvalidRequest {
            reason: "empty name".into(),
        },
        MatchmakerError::Unauthenticated {
            reason: "the MAC does not match".into(),
        },
        MatchmakerError::StaleRequest {
            request_ms: 1,
            matchmaker_ms: u64::MAX,
            window_ms: 30_000,
        },
        MatchmakerError::Replayed,
        MatchmakerError::SecretRequired { peer: v6() },
        MatchmakerError::LimitReached {
            what: "registrations".into(),
            limit: 65_536,
        },
        MatchmakerError::RequestTooSmall { needed_bytes: 420 },
        MatchmakerError::StoreUnavailable {
            reason: "etcd at http://127.0.0.1:2379 did not answer".into(),
        },
    ]
}

/// Exhaustive on purpose, like `outcome_variant`.
pub(crate) fn matchmaker_error_variant(error: &MatchmakerError) -> &'static str {
    match error {
        MatchmakerError::NotFound { .. } => "NotFound",
        MatchmakerError::SignatureMismatch { .. } => "SignatureMismatch",
        MatchmakerError::UnknownLease => "UnknownLease",
        MatchmakerError::InvalidRequest { .. } => "InvalidRequest",
        MatchmakerError::Unauthenticated { .. } => "Unauthenticated",
        MatchmakerError::StaleRequest { .. } => "StaleRequest",
        MatchmakerError::Replayed => "Replayed",
        MatchmakerError::SecretRequired { .. } => "SecretRequired",
        MatchmakerError::LimitReached { .. } => "LimitReached",
        MatchmakerError::RequestTooSmall { .. } => "RequestTooSmall",
        MatchmakerError::StoreUnavailable { .. } => "StoreUnavailable",
    }
}
pub(crate) const MATCHMAKER_ERROR_VARIANTS: usize = 11;

/// Encodings of matchmaker values, as payloads and as one-element argument tuples.
pub(crate) fn sample_payloads() -> Vec<Vec<u8>> {
    let mut payloads = vec![
        encode_payload(&sample_register_request()).unwrap(),
        encode_payload(&(sample_register_request(),)).unwrap(),
        encode_payload(&Lease {
            token: token(),
            ttl_ms: 30_000,
        })
        .unwrap(),
        encode_payload(&(RenewRequest {
            token: token(),
            auth: Some(sample_auth()),
        },))
        .unwrap(),
        encode_payload(&Renewed { ttl_ms: 1 }).unwrap(),
        encode_payload(&(UnregisterRequest {
            token: token(),
            auth: None,
        },))
        .unwrap(),
        encode_payload(&(LookupRequest {
            name: "math.add".into(),
            signature: Some(Fingerprint(7)),
            padding: Some(vec![0; 40].into()),
        },))
        .unwrap(),
        encode_payload(&LookupRequest {
            name: "math.add".into(),
            signature: None,
            padding: None,
        })
        .unwrap(),
        encode_payload(&Ok::<_, MatchmakerError>(sample_lookup())).unwrap(),
        encode_payload(&(ListRequest {
            after: Some(sample_cursor()),
            padding: Some(vec![0; 300].into()),
        },))
        .unwrap(),
        encode_payload(&Ok::<_, MatchmakerError>(ListPage {
            registrations: vec![sample_registration(), sample_registration()],
            next: Some(sample_cursor()),
            stale: false,
        }))
        .unwrap(),
        encode_payload(&Ok::<(), MatchmakerError>(())).unwrap(),
    ];
    for error in every_matchmaker_error() {
        payloads.push(encode_payload(&Err::<Lookup, _>(error)).unwrap());
    }
    payloads
}
