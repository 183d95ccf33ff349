//! What every target asserts about a decoder, whatever the input: it returns
//! (never panics), within a memory bound, a value that survives re-encoding
//! or an error classified as PROTOCOL.md says.

use crate::alloc::{Usage, measure};
use rendezvous_core::protocol::matchmaker::{
    Lease, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError, MatchmakerStatus,
    RegisterRequest, Registration, RenewRequest, Renewed, StatusRequest, UnregisterRequest,
};
use rendezvous_core::protocol::wire::{
    DecodeError, EncodeError, FRAME_HEADER_BYTES, FRAME_PEEK_BYTES, FrameError, Header,
    MAX_DATAGRAM_BYTES, MAX_NESTING, Message, Outcome, PROTOCOL_VERSION, Undecodable, decode_frame,
    Payload, SPLIT_HEAD_BYTES, decode_payload, decode_split, encode_payload, frame_length,
    large_field, payload_large_field,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::OnceLock;

/// Upper bound on the bytes the envelope decoder may hold at once for an
/// input of `len` bytes: its fields are copied out once (the procedure name,
/// the args or result, a reason), plus an error message.
pub fn envelope_bound(len: usize) -> usize {
    2 * len + 4096
}

/// What serde may preallocate for one collection from a declared length,
/// whatever the input's size (`serde::__private::size_hint::cautious`).
pub const SERDE_PREALLOCATION: usize = 1 << 20;

/// Upper bound on the bytes a payload decoder may hold at once: a typed
/// value can be larger in memory than on the wire (a one-byte `null` becomes
/// a 40-byte `Option<Point>`, and a `Vec` grows by doubling), so a constant
/// factor; plus, unless `RENDEZVOUS_FUZZ_STRICT_ALLOC=1`, what serde
/// preallocates from declared lengths at each of the nesting levels allowed.
pub fn payload_bound(len: usize) -> usize {
    let preallocation = if strict_allocation() {
        0
    } else {
        SERDE_PREALLOCATION * MAX_NESTING
    };
    64 * len + 64 * 1024 + preallocation
}

/// `RENDEZVOUS_FUZZ_STRICT_ALLOC=1`: hold payload decoders to the wire
/// module's promise, no preallocation from declared lengths tolerated.
pub fn strict_allocation() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT
        .get_or_init(|| std::env::var_os("RENDEZVOUS_FUZZ_STRICT_ALLOC").is_some_and(|v| v == "1"))
}

/// Hex, for panic messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_bounded(what: &str, input: &[u8], usage: Usage, bound: usize) {
    assert!(
        usage.peak <= bound,
        "{what}: decoding {} bytes held {} bytes at once (largest allocation {}), over the bound of {bound}; input {}",
        input.len(),
        usage.peak,
        usage.largest,
        hex(input)
    );
}

/// The frozen header `[version, kind, client, xid]` read independently of
/// the codec: a definite array head of at least 4 elements, then 4 uints.
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

/// The datagram decoder, as servers, clients and the matchmaker run it.
pub fn message(input: &[u8]) {
    let (decoded, usage) = measure(|| Message::decode(input));
    assert_bounded("Message::decode", input, usage, envelope_bound(input.len()));
    match decoded {
        Ok(message) => message_round_trips(input, message),
        Err(undecodable) => undecodable_is_classified(input, &undecodable),
    }
    batch(input);
}

/// Stream bytes: a limit (the first 2 bytes, big-endian), then frames.
/// Read frame by frame as a server reads them, `decode_frame` never
/// panics, allocates nothing for a frame it does not read whole (over the
/// limit, or not all there) and holds at most 2 × input + 4 KiB; a frame
/// is refused exactly when its length is over the limit, incomplete
/// exactly when the bytes end inside it; a decoded message is the one
/// its body decodes to alone, re-encodes within the limit to a frame no
/// longer than it came in, and its peeked header (the first
/// `FRAME_PEEK_BYTES` of the body) is its own.
pub fn stream_frames(input: &[u8]) {
    let Some((limit, mut rest)) = input.split_first_chunk::<2>() else {
        return;
    };
    let limit = usize::from(u16::from_be_bytes(*limit));
    loop {
        let (decoded, usage) = measure(|| decode_frame(rest, limit));
        assert_bounded("decode_frame", rest, usage, envelope_bound(rest.len()));
        let announced = rest
            .first_chunk::<FRAME_HEADER_BYTES>()
            .map(|header| frame_length(*header));
        match decoded {
            Ok(None) => {
                assert!(
                    announced
                        .is_none_or(|size| size <= limit && rest.len() < FRAME_HEADER_BYTES + size),
                    "a whole frame reported incomplete: {}",
                    hex(input)
                );
                return;
            }
            Err(FrameError::TooLarge { size, limit: said }) => {
                assert_eq!(
                    (Some(size), said),
                    (announced, limit),
                    "input {}",
                    hex(input)
                );
                assert!(size > limit, "refused within the limit: {}", hex(input));
                return;
            }
            Err(FrameError::Undecodable(undecodable)) => {
                let size = announced.expect("a header was read");
                let body = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + size];
                read_apart_agrees(body, limit, input);
                assert_eq!(
                    Message::decode_within(body, limit).err(),
                    Some(undecodable),
                    "input {}",
                    hex(input)
                );
                return;
            }
            Ok(Some((message, taken))) => {
                let size = announced.expect("a header was read");
                assert_eq!(taken, FRAME_HEADER_BYTES + size, "input {}", hex(input));
                let body = &rest[FRAME_HEADER_BYTES..taken];
                read_apart_agrees(body, limit, input);
                assert_eq!(
                    Message::decode_within(body, limit).ok().as_ref(),
                    Some(&message)
                );
                let peeked = Header::decode_front(&body[..body.len().min(FRAME_PEEK_BYTES)]);
                assert_eq!(peeked.ok(), Some(message.header()), "input {}", hex(input));
                let mut again = Vec::new();
                message
                    .encode_within(&mut again, limit)
                    .unwrap_or_else(|error| {
                        panic!(
                            "{message:?} does not re-encode: {error}; input {}",
                            hex(input)
                        )
                    });
                assert!(
                    again.len() <= size,
                    "re-encoding grew: input {}",
                    hex(input)
                );
                rest = &rest[taken..];
            }
        }
    }
}

/// A frame's message read as a peer reads a large one (its large byte
/// string apart: `split`) is what it is read whole, or fails the same way.
fn read_apart_agrees(body: &[u8], limit: usize, input: &[u8]) {
    let head = &body[..body.len().min(SPLIT_HEAD_BYTES)];
    let Some(field) = large_field(head).filter(|field| field.end() <= body.len()) else {
        return;
    };
    let content = &body[field.content_at..field.end()];
    let whole = Message::decode_within(body, limit).map_err(|undecodable| undecodable.error);
    let read_with = |payload: Payload| {
        decode_split(
            &body[..field.content_at],
            field,
            payload,
            &body[field.end()..],
            limit,
        )
        .map_err(|undecodable| undecodable.error)
    };
    assert_eq!(read_with(content.to_vec().into()), whole, "input {}", hex(input));
    // And with the payload's own large string in a buffer of its own, as
    // the stream reader holds it when it finds that string's head.
    if let Some(inner) = payload_large_field(content).filter(|inner| inner.end() <= content.len()) {
        let around = [&content[..inner.content_at], &content[inner.end()..]].concat();
        let large = content[inner.content_at..inner.end()].to_vec();
        let payload = Payload::around(around, inner.header_at, inner.content_at, large);
        assert_eq!(read_with(payload), whole, "input {} (payload apart)", hex(input));
    }
}

/// Read as a batch, the datagram's messages tile its front: each decoded
/// message took exactly the bytes its own encoding could, the lengths add
/// up, and decoding stops at the first failure.
fn batch(input: &[u8]) {
    let mut messages = Message::decode_batch(input);
    let mut taken = 0;
    while let Some(message) = messages.next() {
        match message {
            Ok((message, length)) => {
                assert!(
                    length > 0,
                    "an empty message in a batch: input {}",
                    hex(input)
                );
                let alone = Message::decode(&input[taken..taken + length]);
                assert_eq!(alone.as_ref().ok(), Some(&message), "input {}", hex(input));
                taken += length;
            }
            Err(_) => {
                assert_eq!(
                    messages.rest().len(),
                    input.len() - taken,
                    "input {}",
                    hex(input)
                );
                assert!(
                    messages.next().is_none(),
                    "read past a failure: {}",
                    hex(input)
                );
                return;
            }
        }
    }
    assert_eq!(
        taken,
        input.len(),
        "a batch left bytes unread: {}",
        hex(input)
    );
}

/// Re-encoding a decoded message gives a datagram no longer than the input
/// (the writer uses shortest forms; the reader accepts longer ones) that
/// decodes to the same message and re-encodes to itself.
fn message_round_trips(input: &[u8], message: Message) {
    let encoded = message.encode().unwrap_or_else(|error| {
        panic!(
            "decoded {message:?} does not re-encode: {error}; input {}",
            hex(input)
        )
    });
    assert!(
        encoded.len() <= input.len(),
        "re-encoding grew {} bytes to {}: input {}",
        input.len(),
        encoded.len(),
        hex(input)
    );
    let again = Message::decode(&encoded).unwrap_or_else(|error| {
        panic!(
            "re-encoded {message:?} does not decode: {error:?}; input {}",
            hex(input)
        )
    });
    assert_eq!(
        again,
        message,
        "round trip changed the message; input {}",
        hex(input)
    );
    assert_eq!(
        again.encode().ok(),
        Some(encoded),
        "encoding is not a fixpoint; input {}",
        hex(input)
    );
    assert_eq!(again.header().version, PROTOCOL_VERSION);
}

/// The error agrees with PROTOCOL.md's table, the header with an independent
/// reading, and the error reply (if any) is small, encodable and addressed
/// to the call's sender.
fn undecodable_is_classified(input: &[u8], undecodable: &Undecodable) {
    let error = &undecodable.error;
    let _ = error.to_string();
    let header = undecodable.header;
    match error {
        DecodeError::TooLarge { size, limit } => {
            assert_eq!((*size, *limit), (input.len(), MAX_DATAGRAM_BYTES));
            assert!(
                header.is_none(),
                "TooLarge with a header; input {}",
                hex(input)
            );
        }
        DecodeError::TooDeep { .. } => {
            panic!("the envelope counts no nesting; input {}", hex(input))
        }
        DecodeError::PayloadTrailingBytes { .. } => {
            panic!("the envelope is not a payload; input {}", hex(input))
        }
        DecodeError::UnsupportedVersion { version } => {
            let header = header.unwrap_or_else(|| {
                panic!("UnsupportedVersion without header; input {}", hex(input))
            });
            assert_eq!(header.version, *version);
            assert_ne!(*version, PROTOCOL_VERSION);
        }
        DecodeError::TrailingBytes { count } => {
            assert!(
                header.is_some(),
                "TrailingBytes without header; input {}",
                hex(input)
            );
            assert!(*count > 0 && *count < input.len());
        }
        DecodeError::InvalidField { .. } => {
            assert!(
                header.is_some_and(|h| h.is_call()),
                "InvalidField outside a call; input {}",
                hex(input)
            );
        }
        DecodeError::Truncated | DecodeError::Malformed { .. } => {}
    }
    if let Some(header) = header {
        assert!(!matches!(error, DecodeError::TooLarge { .. }));
        assert_eq!(
            independent_header(input),
            Some([header.version, header.kind, header.client.0, header.xid.0]),
            "the header reported is not the one the datagram starts with; input {}",
            hex(input)
        );
    } else if !matches!(error, DecodeError::TooLarge { .. }) {
        // Without a header the error lies in the header itself.
        assert_eq!(
            independent_header(input),
            None,
            "{error}: header withheld; input {}",
            hex(input)
        );
    }
    let reply = undecodable.error_reply(rendezvous_core::protocol::wire::Incarnation(7));
    match (reply, header) {
        (Some(reply), Some(header)) => {
            assert!(
                header.is_call(),
                "an error reply to a non-call; input {}",
                hex(input)
            );
            assert_eq!((reply.client, reply.xid), (header.client, header.xid));
            let expected_unsupported = matches!(error, DecodeError::UnsupportedVersion { .. });
            match &reply.outcome {
                Outcome::UnsupportedVersion(versions) => {
                    assert!(expected_unsupported);
                    assert_eq!(versions, &[PROTOCOL_VERSION]);
                }
                Outcome::Malformed(_) => assert!(!expected_unsupported),
                other => panic!("error reply with outcome {other:?}; input {}", hex(input)),
            }
            // Never an amplifier: an error reply is small whatever the input.
            let bytes = rendezvous_core::protocol::wire::Message::Reply(reply.clone())
                .encode()
                .unwrap_or_else(|e| {
                    panic!("error reply does not encode: {e}; input {}", hex(input))
                });
            assert!(
                bytes.len() <= 512,
                "error reply of {} bytes; input {}",
                bytes.len(),
                hex(input)
            );
            assert_eq!(Message::decode(&bytes), Ok(Message::Reply(reply)));
        }
        (Some(_), None) => panic!("an error reply without a header; input {}", hex(input)),
        (None, Some(header)) => {
            assert!(
                !header.is_call(),
                "a call's error got no reply; input {}",
                hex(input)
            );
        }
        (None, None) => {}
    }
}

/// One payload type: decoding is bounded, and a decoded value re-encodes
/// (unless its canonical form no longer fits a datagram) to bytes that
/// decode to it and re-encode to themselves.
pub fn payload<T>(input: &[u8])
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let (decoded, usage) = measure(|| decode_payload::<T>(input));
    let what = std::any::type_name::<T>();
    assert_bounded(what, input, usage, payload_bound(input.len()));
    match decoded {
        Ok(value) => {
            let encoded = match encode_payload(&value) {
                Ok(encoded) => encoded,
                // Field names replacing field indexes can grow a value past
                // a datagram: then it is refused, not sent broken.
                Err(EncodeError::TooLarge { .. }) => return,
                Err(error) => panic!(
                    "{what}: decoded {value:?} does not re-encode: {error}; input {}",
                    hex(input)
                ),
            };
            let again = decode_payload::<T>(&encoded).unwrap_or_else(|error| {
                panic!(
                    "{what}: re-encoded {value:?} does not decode: {error}; input {}",
                    hex(input)
                )
            });
            assert_eq!(
                again,
                value,
                "{what}: round trip changed the value; input {}",
                hex(input)
            );
            assert_eq!(
                encode_payload(&again).ok(),
                Some(encoded),
                "{what}: not a fixpoint; input {}",
                hex(input)
            );
        }
        Err(error) => {
            let _ = error.to_string();
            match error {
                DecodeError::Truncated
                | DecodeError::Malformed { .. }
                | DecodeError::PayloadTrailingBytes { .. } => {}
                DecodeError::TooDeep { limit } => assert_eq!(limit, MAX_NESTING),
                DecodeError::TooLarge { size, .. } => {
                    assert!(size > MAX_DATAGRAM_BYTES && size == input.len())
                }
                other => panic!(
                    "{what}: a payload error the decoder never gives: {other:?}; input {}",
                    hex(input)
                ),
            }
        }
    }
}

/// Every payload the matchmaker decodes (its argument tuples) and every
/// answer a matchmaker client decodes.
pub fn matchmaker_payloads(input: &[u8]) {
    // What the daemon decodes: one-element argument tuples.
    payload::<(RegisterRequest,)>(input);
    payload::<(RenewRequest,)>(input);
    payload::<(UnregisterRequest,)>(input);
    payload::<(LookupRequest,)>(input);
    payload::<(ListRequest,)>(input);
    payload::<(StatusRequest,)>(input);
    // What `MatchmakerClient` decodes.
    payload::<Result<Lease, MatchmakerError>>(input);
    payload::<Result<Renewed, MatchmakerError>>(input);
    payload::<Result<(), MatchmakerError>>(input);
    payload::<Result<Lookup, MatchmakerError>>(input);
    payload::<Result<ListPage, MatchmakerError>>(input);
    payload::<Result<MatchmakerStatus, MatchmakerError>>(input);
    // Their parts, bare.
    payload::<RegisterRequest>(input);
    payload::<ListPage>(input);
    payload::<Registration>(input);
    payload::<MatchmakerError>(input);
}
