//! Random matchmaker payloads, built from PROTOCOL.md's description of them
//! rather than from the library's types: fields in random order, unknown
//! keys, optional fields left out.

use crate::any_message::{any_bytes, any_text, any_u64};
use crate::checks::check_payload;
use ciborium::Value;
use rendezvous_core::protocol::matchmaker::{
    Lease, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError, RegisterRequest,
    RenewRequest, Renewed, UnregisterRequest,
};
use rendezvous_core::protocol::wire::DecodeError;

pub(crate) fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

pub(crate) fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn uint(value: u64) -> Value {
    Value::Integer(value.into())
}

/// A struct: a map with text keys, in random order, sometimes with a key
/// the receiver does not know (ignored); `None` fields are left out.
fn record(rng: &mut fastrand::Rng, fields: Vec<(&str, Option<Value>)>) -> Value {
    let mut entries: Vec<(Value, Value)> = fields
        .into_iter()
        .filter_map(|(key, value)| Some((text(key), value?)))
        .collect();
    if rng.u8(0..4) == 0 {
        entries.push((text("x-future-field"), any_value(rng, 2)));
    }
    rng.shuffle(&mut entries);
    Value::Map(entries)
}

/// An optional field: left out, null, or present.
pub(crate) fn optional(
    rng: &mut fastrand::Rng,
    value: impl FnOnce(&mut fastrand::Rng) -> Value,
) -> Option<Value> {
    match rng.u8(0..3) {
        0 => None,
        1 => Some(Value::Null),
        _ => Some(value(rng)),
    }
}

/// A field with a default: left out, or present.
fn defaulted(
    rng: &mut fastrand::Rng,
    value: impl FnOnce(&mut fastrand::Rng) -> Value,
) -> Option<Value> {
    rng.bool().then(|| value(rng))
}

pub(crate) fn variant(name: &str, value: Value) -> Value {
    Value::Map(vec![(text(name), value)])
}

fn bytes_of(rng: &mut fastrand::Rng, length: usize) -> Value {
    let mut bytes = vec![0; length];
    rng.fill(&mut bytes);
    Value::Bytes(bytes)
}

fn socket_addr(rng: &mut fastrand::Rng) -> Value {
    let octets = if rng.bool() { 4 } else { 16 };
    let ip = Value::Array((0..octets).map(|_| uint(rng.u64(0..=255))).collect());
    let port = uint(rng.u64(0..=0xffff));
    variant(
        if octets == 4 { "V4" } else { "V6" },
        Value::Array(vec![ip, port]),
    )
}

fn fingerprint(rng: &mut fastrand::Rng) -> Value {
    uint(any_u64(rng))
}

pub(crate) fn name(rng: &mut fastrand::Rng) -> Value {
    Value::Text(any_text(rng, 0, 40))
}

fn list<F: FnMut(&mut fastrand::Rng) -> Value>(
    rng: &mut fastrand::Rng,
    max: usize,
    mut item: F,
) -> Value {
    Value::Array((0..rng.usize(0..=max)).map(|_| item(rng)).collect())
}

fn auth(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("timestamp_ms", Some(uint(any_u64(rng)))),
        ("nonce", Some(bytes_of(rng, 16))),
        ("mac", Some(bytes_of(rng, 32))),
    ];
    record(rng, fields)
}

pub(crate) fn token(rng: &mut fastrand::Rng) -> Value {
    bytes_of(rng, 16)
}

fn cursor(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("name", Some(name(rng))),
        ("endpoint", Some(socket_addr(rng))),
        ("lease", defaulted(rng, |rng| uint(any_u64(rng)))),
    ];
    record(rng, fields)
}

fn register_request(rng: &mut fastrand::Rng) -> Value {
    let procedures = list(rng, 4, |rng| {
        let fields = vec![
            ("name", Some(name(rng))),
            ("signature", Some(fingerprint(rng))),
        ];
        record(rng, fields)
    });
    let fields = vec![
        ("procedures", Some(procedures)),
        ("endpoint", Some(socket_addr(rng))),
        ("incarnation", Some(uint(any_u64(rng)))),
        ("ttl_ms", Some(uint(any_u64(rng)))),
        ("auth", optional(rng, auth)),
    ];
    record(rng, fields)
}

fn by_token(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![("token", Some(token(rng))), ("auth", optional(rng, auth))];
    record(rng, fields)
}

fn lookup_request(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("name", Some(name(rng))),
        ("signature", optional(rng, fingerprint)),
        (
            "padding",
            optional(rng, |rng| Value::Bytes(any_bytes(rng, 64))),
        ),
    ];
    record(rng, fields)
}

fn list_request(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("after", optional(rng, cursor)),
        (
            "padding",
            optional(rng, |rng| Value::Bytes(any_bytes(rng, 64))),
        ),
    ];
    record(rng, fields)
}

fn matchmaker_error(rng: &mut fastrand::Rng) -> Value {
    let fields: Vec<(&str, Option<Value>)> = match rng.u8(0..10) {
        0 => return text("UnknownLease"),
        1 => return text("Replayed"),
        2 => vec![("name", Some(name(rng)))],
        3 => vec![
            ("name", Some(name(rng))),
            ("expected", Some(fingerprint(rng))),
            ("available", Some(list(rng, 4, fingerprint))),
        ],
        4 | 5 => vec![("reason", Some(name(rng)))],
        6 => vec![
            ("request_ms", Some(uint(any_u64(rng)))),
            ("matchmaker_ms", Some(uint(any_u64(rng)))),
            ("window_ms", Some(uint(any_u64(rng)))),
        ],
        7 => vec![("peer", Some(socket_addr(rng)))],
        8 => vec![
            ("what", Some(name(rng))),
            ("limit", Some(uint(any_u64(rng)))),
        ],
        _ => vec![("needed_bytes", Some(uint(any_u64(rng))))],
    };
    let which = match fields.first().map(|(key, _)| *key) {
        Some("name") if fields.len() == 1 => "NotFound",
        Some("name") => "SignatureMismatch",
        Some("request_ms") => "StaleRequest",
        Some("peer") => "SecretRequired",
        Some("what") => "LimitReached",
        Some("needed_bytes") => "RequestTooSmall",
        _ if rng.bool() => "InvalidRequest",
        _ => "Unauthenticated",
    };
    let body = record(rng, fields);
    variant(which, body)
}

/// `Result<T, MatchmakerError>`: `{"Ok": value}` or `{"Err": error}`.
pub(crate) fn answer(
    rng: &mut fastrand::Rng,
    ok: impl FnOnce(&mut fastrand::Rng) -> Value,
) -> Value {
    if rng.u8(0..3) == 0 {
        variant("Err", matchmaker_error(rng))
    } else {
        variant("Ok", ok(rng))
    }
}

fn endpoint_info(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("address", Some(socket_addr(rng))),
        ("signature", Some(fingerprint(rng))),
        ("incarnation", Some(uint(any_u64(rng)))),
        ("ttl_ms", Some(uint(any_u64(rng)))),
    ];
    record(rng, fields)
}

fn registration(rng: &mut fastrand::Rng) -> Value {
    let fields = vec![
        ("name", Some(name(rng))),
        ("endpoint", Some(socket_addr(rng))),
        ("signature", Some(fingerprint(rng))),
        ("incarnation", Some(uint(any_u64(rng)))),
        ("ttl_ms", Some(uint(any_u64(rng)))),
    ];
    record(rng, fields)
}

/// A random CBOR value of at most `depth` levels, for unknown fields and
/// for replacing items.
pub(crate) fn any_value(rng: &mut fastrand::Rng, depth: usize) -> Value {
    match rng.u8(0..if depth == 0 { 7 } else { 10 }) {
        0 => uint(any_u64(rng)),
        1 => Value::Integer((-1 - i128::from(any_u64(rng))).try_into().unwrap()),
        2 => Value::Bytes(any_bytes(rng, 20)),
        3 => Value::Text(any_text(rng, 0, 20)),
        4 => Value::Bool(rng.bool()),
        5 => Value::Null,
        6 => Value::Float(f64::from(rng.f32()) * 1e6),
        7 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| any_value(rng, depth - 1))
                .collect(),
        ),
        8 => Value::Map(
            (0..rng.usize(0..3))
                .map(|_| (any_value(rng, 0), any_value(rng, depth - 1)))
                .collect(),
        ),
        _ => Value::Tag(rng.u64(0..=60), Box::new(any_value(rng, depth - 1))),
    }
}

/// One payload type the matchmaker or its clients decode: a generator of
/// valid encodings and the check of a decoder for it.
#[derive(Clone, Copy)]
pub(crate) struct PayloadKind {
    pub(crate) name: &'static str,
    pub(crate) generate: fn(&mut fastrand::Rng) -> Value,
    pub(crate) check: fn(&[u8]) -> Result<(), DecodeError>,
}

pub(crate) fn tuple(value: Value) -> Value {
    Value::Array(vec![value])
}

pub(crate) const PAYLOADS_KINDS: [PayloadKind; 10] = [
    PayloadKind {
        name: "(RegisterRequest,)",
        generate: |rng| tuple(register_request(rng)),
        check: check_payload::<(RegisterRequest,)>,
    },
    PayloadKind {
        name: "(RenewRequest,)",
        generate: |rng| tuple(by_token(rng)),
        check: check_payload::<(RenewRequest,)>,
    },
    PayloadKind {
        name: "(UnregisterRequest,)",
        generate: |rng| tuple(by_token(rng)),
        check: check_payload::<(UnregisterRequest,)>,
    },
    PayloadKind {
        name: "(LookupRequest,)",
        generate: |rng| tuple(lookup_request(rng)),
        check: check_payload::<(LookupRequest,)>,
    },
    PayloadKind {
        name: "(ListRequest,)",
        generate: |rng| tuple(list_request(rng)),
        check: check_payload::<(ListRequest,)>,
    },
    PayloadKind {
        name: "Result<Lease, MatchmakerError>",
        generate: |rng| {
            answer(rng, |rng| {
                let fields = vec![
                    ("token", Some(token(rng))),
                    ("ttl_ms", Some(uint(any_u64(rng)))),
                ];
                record(rng, fields)
            })
        },
        check: check_payload::<Result<Lease, MatchmakerError>>,
    },
    PayloadKind {
        name: "Result<Renewed, MatchmakerError>",
        generate: |rng| {
            answer(rng, |rng| {
                let fields = vec![("ttl_ms", Some(uint(any_u64(rng))))];
                record(rng, fields)
            })
        },
        check: check_payload::<Result<Renewed, MatchmakerError>>,
    },
    PayloadKind {
        name: "Result<(), MatchmakerError>",
        generate: |rng| answer(rng, |_| Value::Null),
        check: check_payload::<Result<(), MatchmakerError>>,
    },
    PayloadKind {
        name: "Result<Lookup, MatchmakerError>",
        generate: |rng| {
            answer(rng, |rng| {
                let fields = vec![
                    ("endpoints", Some(list(rng, 4, endpoint_info))),
                    ("truncated", defaulted(rng, |rng| Value::Bool(rng.bool()))),
                ];
                record(rng, fields)
            })
        },
        check: check_payload::<Result<Lookup, MatchmakerError>>,
    },
    PayloadKind {
        name: "Result<ListPage, MatchmakerError>",
        generate: |rng| {
            answer(rng, |rng| {
                let fields = vec![
                    ("registrations", Some(list(rng, 4, registration))),
                    ("next", optional(rng, cursor)),
                ];
                record(rng, fields)
            })
        },
        check: check_payload::<Result<ListPage, MatchmakerError>>,
    },
];
