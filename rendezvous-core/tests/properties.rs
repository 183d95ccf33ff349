//! Properties of every decoder over structure-aware random inputs: a
//! bounded, seeded run of what `fuzz/` does at length.
//!
//! `tests/wire.rs` mutates the bytes of a few fixed samples. These tests
//! instead generate *random valid values* — messages of every kind and
//! outcome with random fields, and every matchmaker payload built from its
//! PROTOCOL.md layout (fields in random order, unknown keys, optional fields
//! left out) — and mutate them *as CBOR items*: re-encoding heads in longer
//! forms, switching to indefinite lengths, replacing, duplicating, dropping
//! or swapping items, lying about lengths, wrapping items in tags. Then:
//!
//! - every valid value decodes, and stays the same through forms the
//!   protocol accepts (longer heads everywhere; indefinite lengths in
//!   payloads), while the envelope refuses indefinite lengths as Malformed;
//! - nothing panics; every error is one PROTOCOL.md lists for that decoder,
//!   with the frozen header reported exactly when it decoded;
//! - whatever decodes re-encodes to a canonical form that decodes to the
//!   same value (a fixpoint), never longer than the datagram it came from;
//! - error replies go to calls only, and stay within the amplification
//!   bound of the datagram they answer;
//! - a decoded message holds no more memory than its datagram's length.
//!
//! The bound on *transient* allocation during decoding is checked by the
//! fuzz targets (`fuzz/`), which count every allocation with a global
//! allocator: that takes `unsafe impl GlobalAlloc`, which this workspace
//! forbids.

// Helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use ciborium::Value;
use rendezvous_core::Fingerprint;
use rendezvous_core::matchmaker::protocol::{
    Lease, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError, RegisterRequest,
    RenewRequest, Renewed, UnregisterRequest,
};
use rendezvous_core::wire::{
    Ack, Call, ClientId, Confirm, DecodeError, Incarnation, MAX_DATAGRAM_BYTES, MAX_DEADLINE,
    MAX_NAME_BYTES, MAX_NESTING, Message, Outcome, PROTOCOL_VERSION, Reply, Undecodable, Xid,
    decode_payload, encode_payload, reply_limit,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;

const SEED: u64 = 0x7072_6f70_6572_7479;
/// Messages generated; each is checked as generated and in two mutated forms.
const MESSAGES: usize = 6_000;
/// Payloads generated; each is checked as generated and in two mutated forms.
const PAYLOADS: usize = 10_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------
// CBOR as a tree of items, with the choices a encoder may make
// ---------------------------------------------------------------------------

/// How an item's head is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// The shortest form, as senders write it.
    Shortest,
    /// The argument in 1, 2, 4 or 8 bytes, where it fits (accepted from peers).
    Wide(u8),
    /// Indefinite length (strings, arrays and maps only).
    Indefinite,
}

#[derive(Clone, Debug, PartialEq)]
enum Item {
    /// Major type 0 (unsigned) or 1 (negative).
    Int {
        major: u8,
        value: u64,
        form: Form,
    },
    /// Major type 7: simple values and floats, the head's low bits and the
    /// argument bytes as they are.
    Simple {
        info: u8,
        argument: Vec<u8>,
    },
    /// Major type 2 or 3; `declared` overrides the length written.
    Bytes {
        text: bool,
        data: Vec<u8>,
        form: Form,
        declared: Option<u64>,
    },
    /// Major type 4, or 5 with keys and values alternating.
    Array {
        map: bool,
        items: Vec<Item>,
        form: Form,
        declared: Option<u64>,
    },
    Tag {
        tag: u64,
        item: Box<Item>,
    },
}

fn write_head(out: &mut Vec<u8>, major: u8, argument: u64, form: Form) {
    let major = major << 5;
    let width = match form {
        Form::Indefinite => return out.push(major | 31),
        Form::Wide(width) if width >= 8 || argument < 1 << (8 * u32::from(width)) => width,
        _ => match argument {
            0..=23 => return out.push(major | argument as u8),
            24..=0xff => 1,
            0x100..=0xffff => 2,
            0x1_0000..=0xffff_ffff => 4,
            _ => 8,
        },
    };
    let info = match width {
        1 => 24,
        2 => 25,
        4 => 26,
        _ => 27,
    };
    out.push(major | info);
    let bytes = argument.to_be_bytes();
    out.extend_from_slice(&bytes[8 - usize::from(width.min(8))..]);
}

impl Item {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Item::Int { major, value, form } => write_head(out, *major, *value, *form),
            Item::Simple { info, argument } => {
                out.push(7 << 5 | info);
                out.extend_from_slice(argument);
            }
            Item::Bytes {
                text,
                data,
                form,
                declared,
            } => {
                let major = if *text { 3 } else { 2 };
                if *form == Form::Indefinite {
                    // Chunks split at character boundaries: each chunk of a
                    // text must be valid UTF-8 on its own.
                    write_head(out, major, 0, Form::Indefinite);
                    let mut start = 0;
                    while start < data.len() {
                        let mut end = (start + 1 + data.len() / 3).min(data.len());
                        while *text && end < data.len() && (data[end] & 0xc0) == 0x80 {
                            end += 1;
                        }
                        write_head(out, major, (end - start) as u64, Form::Shortest);
                        out.extend_from_slice(&data[start..end]);
                        start = end;
                    }
                    out.push(0xff);
                } else {
                    write_head(out, major, declared.unwrap_or(data.len() as u64), *form);
                    out.extend_from_slice(data);
                }
            }
            Item::Array {
                map,
                items,
                form,
                declared,
            } => {
                let (major, length) = if *map {
                    (5, items.len() as u64 / 2)
                } else {
                    (4, items.len() as u64)
                };
                write_head(out, major, declared.unwrap_or(length), *form);
                for item in items {
                    item.write(out);
                }
                if *form == Form::Indefinite {
                    out.push(0xff);
                }
            }
            Item::Tag { tag, item } => {
                write_head(out, 6, *tag, Form::Shortest);
                item.write(out);
            }
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Parses the definite-length, well-formed CBOR that encoders write.
    fn parse(input: &mut &[u8]) -> Item {
        let (&initial, rest) = input.split_first().unwrap();
        *input = rest;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let mut take = |n: usize| {
            let (taken, rest) = input.split_at(n);
            *input = rest;
            taken.to_vec()
        };
        let width = match info {
            0..=23 => 0,
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => panic!("not encoder output: additional information {info}"),
        };
        let raw = take(width);
        if major == 7 {
            return Item::Simple {
                info,
                argument: raw,
            };
        }
        let argument = if width == 0 {
            u64::from(info)
        } else {
            raw.iter().fold(0, |v, b| v << 8 | u64::from(*b))
        };
        let form = Form::Shortest;
        match major {
            0 | 1 => Item::Int {
                major,
                value: argument,
                form,
            },
            2 | 3 => Item::Bytes {
                text: major == 3,
                data: take(argument as usize),
                form,
                declared: None,
            },
            4 | 5 => {
                let count = if major == 5 { 2 * argument } else { argument };
                Item::Array {
                    map: major == 5,
                    items: (0..count).map(|_| Item::parse(input)).collect(),
                    form,
                    declared: None,
                }
            }
            _ => Item::Tag {
                tag: argument,
                item: Box::new(Item::parse(input)),
            },
        }
    }

    fn from_bytes(bytes: &[u8]) -> Item {
        let mut input = bytes;
        let item = Item::parse(&mut input);
        assert!(input.is_empty(), "trailing bytes in {}", hex(bytes));
        item
    }

    fn children_mut(&mut self) -> Option<&mut Vec<Item>> {
        match self {
            Item::Array { items, .. } => Some(items),
            _ => None,
        }
    }

    /// Paths (child indexes from the root) of every item.
    fn paths(&self) -> Vec<Vec<usize>> {
        let mut paths = vec![vec![]];
        match self {
            Item::Array { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    paths.extend(item.paths().into_iter().map(|mut p| {
                        p.insert(0, i);
                        p
                    }));
                }
            }
            Item::Tag { item, .. } => {
                // A tag's content is not addressed separately.
                let _ = item;
            }
            _ => {}
        }
        paths
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut Item {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => self.children_mut().unwrap()[i].at_mut(rest),
        }
    }

    /// Rewrites every head in a longer form (some at random), keeping the meaning.
    fn widen(&mut self, rng: &mut fastrand::Rng) {
        let wide = |rng: &mut fastrand::Rng| {
            if rng.bool() {
                Form::Wide([1, 2, 4, 8][rng.usize(..4)])
            } else {
                Form::Shortest
            }
        };
        match self {
            Item::Int { form, .. } | Item::Bytes { form, .. } => *form = wide(rng),
            Item::Array { form, items, .. } => {
                *form = wide(rng);
                for item in items {
                    item.widen(rng);
                }
            }
            Item::Tag { item, .. } => item.widen(rng),
            Item::Simple { .. } => {}
        }
    }

    /// Switches containers, and strings if `strings`, to indefinite
    /// lengths (some at random, `everywhere` all); true if any was switched.
    fn indefinite(&mut self, rng: &mut fastrand::Rng, everywhere: bool, strings: bool) -> bool {
        let mut switched = false;
        match self {
            Item::Bytes { form, .. } => {
                if strings && (everywhere || rng.bool()) {
                    *form = Form::Indefinite;
                    switched = true;
                }
            }
            Item::Array { form, items, .. } => {
                if everywhere || rng.bool() {
                    *form = Form::Indefinite;
                    switched = true;
                }
                for item in items {
                    switched |= item.indefinite(rng, everywhere, strings);
                }
            }
            Item::Tag { item, .. } => switched |= item.indefinite(rng, everywhere, strings),
            Item::Int { .. } | Item::Simple { .. } => {}
        }
        switched
    }
}

impl Item {
    /// Switches to indefinite lengths (some at random, `everywhere` all)
    /// what ciborium reads in either form: structs (maps with field-name
    /// keys), sequences (the `Vec` fields) and text values (the `String`
    /// fields). Not enums (one-entry maps), tuples and fixed-size arrays
    /// (an argument tuple, a socket address), field and variant names, or
    /// byte strings read as fixed-size arrays (a lease token): those it
    /// refuses when indefinite, though PROTOCOL.md says only "it accepts
    /// indefinite lengths".
    fn indefinite_payload(&mut self, rng: &mut fastrand::Rng, everywhere: bool) {
        const SEQUENCES: [&str; 4] = ["procedures", "endpoints", "registrations", "available"];
        const STRINGS: [&str; 3] = ["name", "reason", "what"];
        let Item::Array {
            map, items, form, ..
        } = self
        else {
            if let Item::Tag { item, .. } = self {
                item.indefinite_payload(rng, everywhere);
            }
            return;
        };
        let key = |item: &Item| match item {
            Item::Bytes {
                text: true, data, ..
            } => std::str::from_utf8(data).ok().map(str::to_owned),
            _ => None,
        };
        let is_struct = *map
            && items
                .first()
                .and_then(key)
                .is_some_and(|k| k.starts_with(|c: char| c.is_ascii_lowercase()));
        if is_struct && (everywhere || rng.bool()) {
            *form = Form::Indefinite;
        }
        if is_struct {
            for pair in items.chunks_mut(2) {
                let field = key(&pair[0]).unwrap_or_default();
                if let [_, value] = pair {
                    let eligible = match value {
                        Item::Array { map: false, .. } => SEQUENCES.contains(&field.as_str()),
                        Item::Bytes { text: true, .. } => STRINGS.contains(&field.as_str()),
                        _ => false,
                    };
                    if let Item::Array { form, .. } | Item::Bytes { form, .. } = value
                        && eligible
                        && (everywhere || rng.bool())
                    {
                        *form = Form::Indefinite;
                    }
                }
            }
        }
        for item in items {
            item.indefinite_payload(rng, everywhere);
        }
    }
}

// ---------------------------------------------------------------------------
// Random values
// ---------------------------------------------------------------------------

/// Integers of every encoded width, edges included.
fn any_u64(rng: &mut fastrand::Rng) -> u64 {
    match rng.u8(0..8) {
        0 => 0,
        1 => rng.u64(0..24),
        2 => rng.u64(24..=0xff),
        3 => rng.u64(0x100..=0xffff),
        4 => rng.u64(0x1_0000..=0xffff_ffff),
        5 => u64::MAX - rng.u64(0..3),
        6 => 1 << rng.u32(0..64),
        _ => rng.u64(..),
    }
}

/// Text of at most `max_bytes` bytes of UTF-8, multi-byte characters included.
fn any_text(rng: &mut fastrand::Rng, min_bytes: usize, max_bytes: usize) -> String {
    let target = rng.usize(min_bytes..=max_bytes);
    let mut text = String::new();
    loop {
        let c = match rng.u8(0..5) {
            0 => 'é',
            1 => '€',
            2 => '😀',
            3 => rng.char(..),
            _ => rng.alphanumeric(),
        };
        if text.len() + c.len_utf8() > target {
            break;
        }
        text.push(c);
    }
    while text.len() < min_bytes {
        text.push('x');
    }
    text
}

fn any_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0; rng.usize(0..=max)];
    rng.fill(&mut bytes);
    bytes
}

fn any_outcome(rng: &mut fastrand::Rng) -> Outcome {
    let outcome = match rng.u8(0..12) {
        0 => Outcome::Return(any_bytes(rng, 64)),
        1 => Outcome::Panicked(any_text(rng, 0, 64)),
        2 => Outcome::NoSuchProcedure,
        3 => Outcome::SignatureMismatch(Fingerprint(any_u64(rng))),
        4 => Outcome::WrongIncarnation,
        5 => Outcome::UnsupportedVersion((0..rng.usize(0..=16)).map(|_| any_u64(rng)).collect()),
        6 => Outcome::Malformed(any_text(rng, 0, 64)),
        7 => Outcome::BadArguments(any_text(rng, 0, 64)),
        8 => Outcome::ReplyTooLarge {
            size: any_u64(rng),
            limit: any_u64(rng),
        },
        9 => Outcome::ReplyEvicted,
        10 => Outcome::DeadlineExceeded,
        _ => Outcome::Overloaded,
    };
    // Exhaustive on purpose: a new outcome fails to compile until it is
    // generated above.
    match &outcome {
        Outcome::Return(_)
        | Outcome::Panicked(_)
        | Outcome::NoSuchProcedure
        | Outcome::SignatureMismatch(_)
        | Outcome::WrongIncarnation
        | Outcome::UnsupportedVersion(_)
        | Outcome::Malformed(_)
        | Outcome::BadArguments(_)
        | Outcome::ReplyTooLarge { .. }
        | Outcome::ReplyEvicted
        | Outcome::DeadlineExceeded
        | Outcome::Overloaded => {}
    }
    outcome
}

/// A valid message of a random kind with random fields; a call's args are
/// random bytes or a valid matchmaker payload.
fn any_message(rng: &mut fastrand::Rng) -> Message {
    let client = ClientId(any_u64(rng));
    let xid = Xid(any_u64(rng).max(1));
    match rng.u8(0..4) {
        0 => Message::Call(Call {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
            procedure: any_text(rng, 1, MAX_NAME_BYTES),
            signature: Fingerprint(any_u64(rng)),
            deadline: Duration::from_millis(rng.u64(0..=MAX_DEADLINE.as_millis() as u64)),
            done_below: Xid(any_u64(rng)),
            args: if rng.bool() {
                any_bytes(rng, 128)
            } else {
                let kind = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
                encode(&(kind.generate)(rng))
            },
        }),
        1 => Message::Ack(Ack {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
        }),
        2 => Message::Reply(Reply {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
            outcome: any_outcome(rng),
        }),
        _ => Message::Confirm(Confirm { client, xid }),
    }
}

// Matchmaker payloads, built from PROTOCOL.md's description of them rather
// than from the library's types.

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

fn text(s: &str) -> Value {
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
fn optional(
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

fn variant(name: &str, value: Value) -> Value {
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

fn name(rng: &mut fastrand::Rng) -> Value {
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

fn token(rng: &mut fastrand::Rng) -> Value {
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
fn answer(rng: &mut fastrand::Rng, ok: impl FnOnce(&mut fastrand::Rng) -> Value) -> Value {
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
fn any_value(rng: &mut fastrand::Rng, depth: usize) -> Value {
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
struct PayloadKind {
    name: &'static str,
    generate: fn(&mut fastrand::Rng) -> Value,
    check: fn(&[u8]) -> Result<(), DecodeError>,
}

fn tuple(value: Value) -> Value {
    Value::Array(vec![value])
}

const PAYLOADS_KINDS: [PayloadKind; 10] = [
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

// ---------------------------------------------------------------------------
// Mutations that break the meaning
// ---------------------------------------------------------------------------

/// A random item, its integers of every width.
fn any_item(rng: &mut fastrand::Rng) -> Item {
    match rng.u8(0..4) {
        0 => Item::Int {
            major: rng.u8(0..2),
            value: any_u64(rng),
            form: Form::Shortest,
        },
        1 => Item::Simple {
            info: [20, 21, 22, 23, 25, 26, 27, 24][rng.usize(..8)],
            argument: Vec::new(),
        }
        .with_argument(),
        _ => Item::from_bytes(&encode(&any_value(rng, 2))),
    }
}

impl Item {
    /// Gives a float or one-byte simple value the argument bytes its head announces.
    fn with_argument(self) -> Item {
        match self {
            Item::Simple { info, .. } => Item::Simple {
                info,
                argument: vec![0x3c; [0, 1, 2, 4, 8][(info.saturating_sub(23) as usize).min(4)]],
            },
            other => other,
        }
    }
}

/// One to three changes at random places of the tree; returns its encoding,
/// sometimes cut short or with bytes added.
fn break_item(rng: &mut fastrand::Rng, mut root: Item) -> Vec<u8> {
    for _ in 0..rng.usize(1..=3) {
        let paths = root.paths();
        let path = &paths[rng.usize(..paths.len())];
        let node = root.at_mut(path);
        match rng.u8(0..9) {
            0 | 1 => *node = any_item(rng),
            2 => {
                // A declared length that lies.
                let lie = |rng: &mut fastrand::Rng, actual: u64| match rng.u8(0..4) {
                    0 => actual.saturating_add(1),
                    1 => actual.saturating_sub(1),
                    2 => 1 << 62,
                    _ => u64::MAX,
                };
                match node {
                    Item::Bytes { data, declared, .. } => {
                        *declared = Some(lie(rng, data.len() as u64))
                    }
                    Item::Array {
                        items,
                        declared,
                        map,
                        ..
                    } => {
                        let actual = if *map { items.len() / 2 } else { items.len() } as u64;
                        *declared = Some(lie(rng, actual));
                    }
                    Item::Int { value, .. } => *value = lie(rng, *value),
                    _ => {}
                }
            }
            3 => {
                if let Some(items) = node.children_mut()
                    && !items.is_empty()
                {
                    let i = rng.usize(..items.len());
                    if rng.bool() {
                        items.remove(i);
                    } else {
                        let copy = items[i].clone();
                        items.insert(i, copy);
                    }
                }
            }
            4 => {
                if let Some(items) = node.children_mut()
                    && items.len() >= 2
                {
                    let (i, j) = (rng.usize(..items.len()), rng.usize(..items.len()));
                    items.swap(i, j);
                }
            }
            5 => {
                // Tags: bignums, embedded CBOR, self-described, unassigned.
                let tag = [2, 3, 24, 55799, 1, 0xffff_ffff][rng.usize(..6)];
                let inner = std::mem::replace(
                    node,
                    Item::Simple {
                        info: 22,
                        argument: vec![],
                    },
                );
                *node = Item::Tag {
                    tag,
                    item: Box::new(inner),
                };
            }
            6 => match node {
                Item::Int { major, .. } => *major ^= 1,
                Item::Bytes { text, .. } => *text = !*text,
                Item::Array { map, items, .. } => {
                    *map = !*map;
                    if *map && items.len() % 2 == 1 {
                        items.push(Item::Simple {
                            info: 22,
                            argument: vec![],
                        });
                    }
                }
                _ => {}
            },
            7 => {
                if let Item::Bytes { data, text, .. } = node {
                    // Invalid UTF-8 in text, or anything in bytes.
                    if *text || rng.bool() {
                        data.push(0xff);
                    }
                    data.extend(any_bytes(rng, 3));
                }
            }
            _ => {
                let _ = node.indefinite(rng, false, true);
            }
        }
    }
    let mut bytes = root.encode();
    match rng.u8(0..6) {
        0 => bytes.truncate(rng.usize(..=bytes.len())),
        1 => bytes.extend(any_bytes(rng, 3).into_iter().chain([0xff])),
        _ => {}
    }
    bytes
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// The frozen header, read independently of the codec.
fn independent_header(input: &[u8]) -> Option<[u64; 4]> {
    fn head(input: &mut &[u8], major: u8) -> Option<u64> {
        let (&initial, rest) = input.split_first()?;
        if initial >> 5 != major {
            return None;
        }
        let width = match initial & 0x1f {
            small @ 0..=23 => {
                *input = rest;
                return Some(u64::from(small));
            }
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return None,
        };
        let argument = rest.get(..width)?;
        *input = &rest[width..];
        Some(argument.iter().fold(0, |v, b| v << 8 | u64::from(*b)))
    }
    if input.len() > MAX_DATAGRAM_BYTES {
        return None;
    }
    let mut rest = input;
    if head(&mut rest, 4)? < 4 {
        return None;
    }
    Some([
        head(&mut rest, 0)?,
        head(&mut rest, 0)?,
        head(&mut rest, 0)?,
        head(&mut rest, 0)?,
    ])
}

/// Bytes a decoded message holds on the heap.
fn retained(message: &Message) -> usize {
    match message {
        Message::Call(call) => call.procedure.capacity() + call.args.capacity(),
        Message::Reply(reply) => match &reply.outcome {
            Outcome::Return(bytes) => bytes.capacity(),
            Outcome::Panicked(text) | Outcome::Malformed(text) | Outcome::BadArguments(text) => {
                text.capacity()
            }
            Outcome::UnsupportedVersion(versions) => versions.capacity() * 8,
            _ => 0,
        },
        Message::Ack(_) | Message::Confirm(_) => 0,
    }
}

/// Decodes a datagram and checks everything that must hold of the result.
fn check_message(input: &[u8]) -> Result<Message, Undecodable> {
    let decoded = Message::decode(input);
    match &decoded {
        Ok(message) => {
            // The listed versions are u64s in memory, one byte each at least
            // on the wire, and at most 16 of them.
            assert!(
                retained(message) <= input.len() + 16 * 8,
                "a message of {} bytes holds {} bytes: {}",
                input.len(),
                retained(message),
                hex(input)
            );
            let encoded = message.encode().unwrap();
            assert!(
                encoded.len() <= input.len(),
                "re-encoding grew {}",
                hex(input)
            );
            let again = Message::decode(&encoded).unwrap();
            assert_eq!(&again, message, "round trip of {}", hex(input));
            assert_eq!(
                again.encode().unwrap(),
                encoded,
                "not a fixpoint: {}",
                hex(input)
            );
        }
        Err(undecodable) => check_undecodable(input, undecodable),
    }
    decoded
}

fn check_undecodable(input: &[u8], undecodable: &Undecodable) {
    let (error, header) = (&undecodable.error, undecodable.header);
    let _ = error.to_string();
    match error {
        DecodeError::TooLarge { .. } => assert!(input.len() > MAX_DATAGRAM_BYTES),
        DecodeError::TooDeep { .. } => panic!("the envelope counts no nesting: {}", hex(input)),
        DecodeError::UnsupportedVersion { version } => {
            assert_eq!(header.map(|h| h.version), Some(*version), "{}", hex(input));
            assert_ne!(*version, PROTOCOL_VERSION);
        }
        DecodeError::TrailingBytes { count } => {
            assert!(header.is_some() && *count > 0, "{}", hex(input));
        }
        DecodeError::InvalidField { .. } => {
            assert!(header.is_some_and(|h| h.is_call()), "{}", hex(input));
        }
        DecodeError::Truncated | DecodeError::Malformed { .. } => {}
    }
    // The header is reported exactly when the datagram starts with one.
    let expected = independent_header(input);
    assert_eq!(
        header.map(|h| [h.version, h.kind, h.client.0, h.xid.0]),
        expected,
        "{error}: {}",
        hex(input)
    );
    // Error replies: to calls only, addressed to their sender, and never
    // more than the amplification bound of the datagram they answer.
    let incarnation = Incarnation(0x5eed);
    let is_call = header.is_some_and(|h| h.is_call());
    let full = undecodable.error_reply(incarnation);
    assert_eq!(full.is_some(), is_call, "{error}: {}", hex(input));
    let within = undecodable.error_reply_within(incarnation, input.len());
    if let Some(reply) = &within {
        let header = header.unwrap();
        assert_eq!((reply.client, reply.xid), (header.client, header.xid));
        let bytes = Message::Reply(reply.clone()).encode().unwrap();
        assert!(
            bytes.len() <= reply_limit(input.len()),
            "an error reply of {} bytes to {} bytes: {}",
            bytes.len(),
            input.len(),
            hex(input)
        );
        assert_eq!(Message::decode(&bytes), Ok(Message::Reply(reply.clone())));
        match (&reply.outcome, error) {
            (Outcome::UnsupportedVersion(v), DecodeError::UnsupportedVersion { .. }) => {
                assert_eq!(v, &[PROTOCOL_VERSION]);
            }
            (Outcome::Malformed(reason), other) => {
                assert!(
                    other.to_string().starts_with(reason.as_str()),
                    "{}",
                    hex(input)
                );
            }
            (outcome, error) => panic!("{outcome:?} answers {error}: {}", hex(input)),
        }
    } else if let Some(reply) = full {
        // Withheld only when even the shortest answer would be too large.
        let shortest = Message::Reply(Reply {
            outcome: Outcome::Malformed(String::new()),
            ..reply
        })
        .encode()
        .unwrap();
        assert!(
            shortest.len() > reply_limit(input.len())
                || matches!(error, DecodeError::UnsupportedVersion { .. }),
            "no error reply to a call of {} bytes: {}",
            input.len(),
            hex(input)
        );
    }
}

/// Decodes a payload as `T` and checks everything that must hold of the result.
fn check_payload<T>(input: &[u8]) -> Result<(), DecodeError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match decode_payload::<T>(input) {
        Ok(value) => {
            // A value may grow past a datagram when re-encoded (field
            // indexes become names); that is refused, not sent broken.
            if let Ok(encoded) = encode_payload(&value) {
                let again = decode_payload::<T>(&encoded).unwrap();
                assert_eq!(again, value, "round trip of {}", hex(input));
                assert_eq!(
                    encode_payload(&again).unwrap(),
                    encoded,
                    "not a fixpoint: {}",
                    hex(input)
                );
            }
            Ok(())
        }
        Err(error) => {
            let _ = error.to_string();
            match &error {
                DecodeError::Truncated
                | DecodeError::Malformed { .. }
                | DecodeError::TrailingBytes { .. } => {}
                DecodeError::TooDeep { limit } => assert_eq!(*limit, MAX_NESTING),
                DecodeError::TooLarge { size, .. } => assert!(*size > MAX_DATAGRAM_BYTES),
                other => panic!(
                    "a payload error only envelopes give: {other}: {}",
                    hex(input)
                ),
            }
            Err(error)
        }
    }
}

// ---------------------------------------------------------------------------
// The properties
// ---------------------------------------------------------------------------

#[test]
fn generated_messages_decode_as_generated_in_any_head_form() {
    let mut rng = fastrand::Rng::with_seed(SEED);
    for _ in 0..MESSAGES {
        let message = any_message(&mut rng);
        let bytes = message.encode().unwrap();
        assert_eq!(
            check_message(&bytes),
            Ok(message.clone()),
            "{}",
            hex(&bytes)
        );
        // Longer heads than needed are accepted, and mean the same.
        let mut item = Item::from_bytes(&bytes);
        item.widen(&mut rng);
        let wide = item.encode();
        assert_eq!(check_message(&wide), Ok(message), "{}", hex(&wide));
    }
}

#[test]
fn indefinite_lengths_in_the_envelope_are_malformed() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 1);
    for _ in 0..MESSAGES {
        let bytes = any_message(&mut rng).encode().unwrap();
        let mut item = Item::from_bytes(&bytes);
        if !item.indefinite(&mut rng, false, true) {
            continue;
        }
        let top_indefinite = matches!(
            item,
            Item::Array {
                form: Form::Indefinite,
                ..
            }
        );
        let input = item.encode();
        let undecodable = check_message(&input).unwrap_err();
        assert!(
            matches!(undecodable.error, DecodeError::Malformed { .. }),
            "{:?}: {}",
            undecodable.error,
            hex(&input)
        );
        assert_eq!(
            undecodable.header.is_some(),
            !top_indefinite,
            "{}",
            hex(&input)
        );
    }
}

#[test]
fn mutated_messages_are_decoded_or_classified() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 2);
    let (mut decoded, mut refused) = (0, 0);
    for _ in 0..MESSAGES {
        let bytes = any_message(&mut rng).encode().unwrap();
        for _ in 0..2 {
            let input = break_item(&mut rng, Item::from_bytes(&bytes));
            match check_message(&input) {
                Ok(_) => decoded += 1,
                Err(_) => refused += 1,
            }
        }
    }
    // The mutations reach both sides.
    assert!(
        decoded > MESSAGES / 10 && refused > MESSAGES / 2,
        "{decoded} decoded, {refused} refused"
    );
}

#[test]
fn generated_payloads_decode_in_any_order_and_form() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 3);
    for n in 0..PAYLOADS {
        let kind = PAYLOADS_KINDS[n % PAYLOADS_KINDS.len()];
        let value = (kind.generate)(&mut rng);
        let bytes = encode(&value);
        let valid = |input: &[u8]| {
            if let Err(error) = (kind.check)(input) {
                panic!(
                    "{}: a valid encoding is refused ({error}): {value:?} as {}",
                    kind.name,
                    hex(input)
                );
            }
        };
        valid(&bytes);
        // Longer heads, and (ciborium's leniency) indefinite lengths where
        // it reads them, mean the same.
        let mut item = Item::from_bytes(&bytes);
        item.widen(&mut rng);
        valid(&item.encode());
        item.indefinite_payload(&mut rng, n % 2 == 0);
        valid(&item.encode());
        // As a call's args, through the envelope first.
        let call = Call {
            client: ClientId(1),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: kind.name.to_owned(),
            signature: Fingerprint(0),
            deadline: Duration::from_secs(1),
            done_below: Xid(0),
            args: bytes.clone(),
        };
        match check_message(&call.encode().unwrap()) {
            Ok(Message::Call(call)) => valid(&call.args),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn mutated_payloads_are_decoded_or_classified() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 4);
    let (mut decoded, mut refused) = (0, 0);
    for n in 0..PAYLOADS {
        let kind = PAYLOADS_KINDS[n % PAYLOADS_KINDS.len()];
        let bytes = encode(&(kind.generate)(&mut rng));
        for _ in 0..2 {
            let input = break_item(&mut rng, Item::from_bytes(&bytes));
            // As its own type, and as another one.
            match (kind.check)(&input) {
                Ok(()) => decoded += 1,
                Err(_) => refused += 1,
            }
            let other = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
            let _ = (other.check)(&input);
        }
    }
    assert!(
        decoded > PAYLOADS / 10 && refused > PAYLOADS / 2,
        "{decoded} decoded, {refused} refused"
    );
}

#[test]
fn random_bytes_are_decoded_or_classified() {
    // The unstructured baseline, biased towards what CBOR heads look like.
    let mut rng = fastrand::Rng::with_seed(SEED ^ 5);
    for _ in 0..MESSAGES {
        let mut input = any_bytes(&mut rng, 64);
        if let Some(first) = input.first_mut() {
            *first = 0x80 | rng.u8(0..0x20);
        }
        let _ = check_message(&input);
        let kind = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
        let _ = (kind.check)(&input);
    }
    // Over the datagram limit: refused before decoding, with no header.
    let huge = vec![0x80; MAX_DATAGRAM_BYTES + 1];
    let undecodable = check_message(&huge).unwrap_err();
    assert_eq!(undecodable.header, None);
    assert!(matches!(undecodable.error, DecodeError::TooLarge { .. }));
    for kind in PAYLOADS_KINDS {
        assert!(matches!(
            (kind.check)(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
