//! The checks every input goes through: it decodes or is refused with an
//! error PROTOCOL.md lists, the header is reported exactly when it decoded,
//! and what decodes re-encodes to a fixpoint within its datagram's size.

use rendezvous_core::protocol::wire::{
    DecodeError, Incarnation, MAX_DATAGRAM_BYTES, MAX_NESTING, Message, Outcome, PROTOCOL_VERSION,
    Payload, Reply, Undecodable, decode_payload, decode_payload_owned, encode_payload,
    encode_payload_owned, payload_large_field, reply_limit,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
pub(crate) fn check_message(input: &[u8]) -> Result<Message, Undecodable> {
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
        DecodeError::PayloadTrailingBytes { .. } => {
            panic!("the envelope is not a payload: {}", hex(input))
        }
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
/// `input` held as a stream reader holds a payload whose first large byte
/// string it found: that string's content in one buffer, the rest in
/// another.
fn held_apart(input: &[u8]) -> Option<Payload> {
    let large = payload_large_field(input).filter(|large| large.end() <= input.len())?;
    let around = [&input[..large.content_at], &input[large.end()..]].concat();
    let content = input[large.content_at..large.end()].to_vec();
    Some(Payload::around(
        around,
        large.header_at,
        large.content_at,
        content,
    ))
}

pub(crate) fn check_payload<T>(input: &[u8]) -> Result<(), DecodeError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded = decode_payload::<T>(input);
    // Read by value (a large byte string setting its buffer apart): the
    // same value or error.
    let owned = decode_payload_owned::<T>(input.to_vec().into(), MAX_DATAGRAM_BYTES);
    assert_eq!(owned, decoded, "read by value and whole: {}", hex(input));
    // Read by value from two buffers, as a stream reads a large string
    // apart: the same again.
    if let Some(apart) = held_apart(input) {
        let owned = decode_payload_owned::<T>(apart, MAX_DATAGRAM_BYTES);
        assert_eq!(owned, decoded, "read by value apart: {}", hex(input));
    }
    match decoded {
        Ok(value) => {
            // A value may grow past a datagram when re-encoded (field
            // indexes become names); that is refused, not sent broken.
            // Encoded by value (a large byte string given away): the
            // same bytes as by reference.
            let by_value = decode_payload::<T>(input)
                .map(|again| encode_payload_owned(again, MAX_DATAGRAM_BYTES));
            assert_eq!(
                by_value.ok(),
                Some(encode_payload(&value).map(Payload::from)),
                "encoded by value: {}",
                hex(input)
            );
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
                | DecodeError::PayloadTrailingBytes { .. } => {}
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
