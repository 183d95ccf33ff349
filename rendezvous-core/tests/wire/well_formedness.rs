//! A payload is one well-formed CBOR item, read whole: indefinite lengths
//! are accepted where PROTOCOL.md allows them, ill-formed input is refused
//! however little of it the type would have read, and the reasons name the
//! payload, not the message.

use crate::cbor::payload_err;
use rendezvous_core::protocol::matchmaker::{LeaseToken, LookupRequest, MatchmakerError};
use rendezvous_core::protocol::wire::{DecodeError, decode_payload};
use std::net::SocketAddr;

#[test]
fn an_indefinite_length_argument_tuple_decodes() {
    // [_ 2, 3]: the arguments of math.add(2, 3), as PROTOCOL.md shows them.
    assert_eq!(
        decode_payload::<(i64, i64)>(&[0x9f, 0x02, 0x03, 0xff]),
        Ok((2, 3))
    );
    // Nested, every break left for the end: [_ [_ 2, 3]].
    assert_eq!(
        decode_payload::<((i64, i64),)>(&[0x9f, 0x9f, 0x02, 0x03, 0xff, 0xff]),
        Ok(((2, 3),))
    );
    // An indefinite-length map and text: {_ "name": (_ "ma", "th.add")}.
    let mut map = vec![0xbf, 0x64];
    map.extend(b"name");
    map.extend([0x7f, 0x62]);
    map.extend(b"ma");
    map.push(0x66);
    map.extend(b"th.add");
    map.extend([0xff, 0xff]);
    let request: LookupRequest = decode_payload(&map).unwrap();
    assert_eq!(
        (request.name.as_str(), request.signature),
        ("math.add", None)
    );
}

/// Where ciborium alone refused indefinite lengths (enums, field names,
/// fixed-size arrays, byte strings read into fixed-size arrays), the
/// decoder reads them too: it hands ciborium a definite-length rewrite.
#[test]
fn indefinite_lengths_are_read_in_every_place() {
    // {_ "NotFound": {_ "name": "x"}}: an enum as an indefinite-length map.
    let mut enum_map = vec![0xbf, 0x68];
    enum_map.extend(b"NotFound");
    enum_map.extend([0xbf, 0x64]);
    enum_map.extend(b"name");
    enum_map.extend([0x61, b'x', 0xff, 0xff]);
    assert_eq!(
        decode_payload::<MatchmakerError>(&enum_map),
        Ok(MatchmakerError::NotFound { name: "x".into() })
    );
    // {(_ "na", "me"): "x"}: a field name as an indefinite-length text.
    let mut field = vec![0xa1, 0x7f, 0x62];
    field.extend(b"na");
    field.push(0x62);
    field.extend(b"me");
    field.extend([0xff, 0x61, b'x']);
    let request: LookupRequest = decode_payload(&field).unwrap();
    assert_eq!(request.name, "x");
    // (_ h'00..07' h'08..0f'): a lease token's 16 bytes in two chunks.
    let mut token = vec![0x5f, 0x48];
    token.extend(0..8u8);
    token.push(0x48);
    token.extend(8..16u8);
    token.push(0xff);
    let expected: [u8; 16] = std::array::from_fn(|i| i as u8);
    assert_eq!(
        decode_payload::<LeaseToken>(&token),
        Ok(LeaseToken(expected))
    );
    // {"V4": [_ [_ 127, 0, 0, 1], 5000]}: fixed-size arrays.
    let mut address = vec![0xa1, 0x62];
    address.extend(b"V4");
    address.extend([
        0x9f, 0x9f, 0x18, 0x7f, 0x00, 0x00, 0x01, 0xff, 0x19, 0x13, 0x88, 0xff,
    ]);
    assert_eq!(
        decode_payload::<SocketAddr>(&address),
        Ok("127.0.0.1:5000".parse().unwrap())
    );
}

#[test]
fn an_indefinite_length_tuple_without_its_break_is_truncated() {
    // [_ 2, 3 with no break: it used to run as (2, 3).
    assert_eq!(
        payload_err::<(i64, i64)>(&[0x9f, 0x02, 0x03]),
        DecodeError::Truncated
    );
    assert_eq!(
        payload_err::<((i64, i64),)>(&[0x9f, 0x9f, 0x02, 0x03, 0xff]),
        DecodeError::Truncated
    );
}

#[test]
fn more_elements_than_the_tuple_reads_are_refused_naming_the_array() {
    for payload in [
        &[0x83, 0x02, 0x03, 0x04][..],
        &[0x9f, 0x02, 0x03, 0x04, 0xff],
    ] {
        let DecodeError::Malformed { reason } = payload_err::<(i64, i64)>(payload) else {
            panic!("{payload:x?} is not Malformed");
        };
        assert!(
            reason.contains("more elements than the tuple"),
            "{payload:x?}: {reason}"
        );
    }
}

#[test]
fn bytes_after_the_item_are_trailing_payload_bytes_not_message_bytes() {
    let error = payload_err::<(i64, i64)>(&[0x82, 0x02, 0x03, 0x00]);
    assert_eq!(error, DecodeError::PayloadTrailingBytes { count: 1 });
    let text = error.to_string();
    assert!(
        text.contains("payload") && !text.contains("message"),
        "{text}"
    );
    // After an indefinite-length tuple's break, likewise.
    assert_eq!(
        payload_err::<(i64, i64)>(&[0x9f, 0x02, 0x03, 0xff, 0xff]),
        DecodeError::PayloadTrailingBytes { count: 1 }
    );
}

#[test]
fn ill_formed_payloads_are_malformed_naming_the_byte() {
    for (payload, at) in [
        // A break in a definite-length array.
        (&[0x82, 0x02, 0xff][..], 2),
        // Reserved additional information 28.
        (&[0x82, 0x02, 0x1c], 2),
        // An indefinite-length integer.
        (&[0x82, 0x02, 0x1f], 2),
        // A byte chunk in an indefinite-length text.
        (&[0x81, 0x7f, 0x41, 0x61, 0xff], 2),
        // An indefinite-length map closed after a key.
        (&[0x81, 0xbf, 0x61, 0x61, 0xff], 4),
    ] {
        let DecodeError::Malformed { reason } = payload_err::<(String,)>(payload) else {
            panic!("{payload:x?} is not Malformed");
        };
        assert!(
            reason.contains("not well-formed") && reason.contains(&format!("at byte {at}")),
            "{payload:x?}: {reason}"
        );
    }
}

#[test]
fn a_truncated_payload_does_not_call_itself_a_message() {
    let text = payload_err::<(i64, i64)>(&[0x82, 0x02]).to_string();
    assert!(!text.contains("message"), "{text}");
}

/// PROTOCOL.md's list of what a payload decoder accepts beyond the
/// canonical form (ciborium's reads through serde), pinned so that the list
/// cannot drift from the code: each gives the value its sender meant.
#[test]
fn the_documented_lenient_reads_hold() {
    use serde_bytes::ByteBuf;
    // Integers and lengths not in shortest form: 18 05 is 5.
    assert_eq!(decode_payload::<u64>(&[0x18, 0x05]), Ok(5));
    // A tag before an item is skipped: 1(5) is 5.
    assert_eq!(decode_payload::<u64>(&[0xc1, 0x05]), Ok(5));
    // A bignum (tag 2 or 3 around bytes) is an integer, if it fits: 2(h'05').
    assert_eq!(decode_payload::<i64>(&[0xc2, 0x41, 0x05]), Ok(5));
    assert_eq!(decode_payload::<i64>(&[0xc3, 0x41, 0x05]), Ok(-6));
    // An array of small integers where bytes are expected, and the reverse.
    assert_eq!(
        decode_payload::<ByteBuf>(&[0x82, 0x01, 0x02]),
        Ok(ByteBuf::from(vec![1, 2]))
    );
    assert_eq!(
        decode_payload::<Vec<u8>>(&[0x42, 0x01, 0x02]),
        Ok(vec![1, 2])
    );
    let mut token = vec![0x90];
    token.extend(0..16u8);
    let expected: [u8; 16] = std::array::from_fn(|i| i as u8);
    assert_eq!(
        decode_payload::<LeaseToken>(&token),
        Ok(LeaseToken(expected))
    );
    // undefined (f7) is null.
    assert_eq!(decode_payload::<Option<u8>>(&[0xf7]), Ok(None));
    // Half and single floats are f64.
    assert_eq!(decode_payload::<f64>(&[0xf9, 0x3e, 0x00]), Ok(1.5));
    assert_eq!(
        decode_payload::<f32>(&[0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
        Ok(1.5)
    );
    // A byte-string key names a struct field as a text key does.
    let mut bytes_key = vec![0xa1, 0x44];
    bytes_key.extend(b"name");
    bytes_key.push(0x68);
    bytes_key.extend(b"math.add");
    let request: LookupRequest = decode_payload(&bytes_key).unwrap();
    assert_eq!(request.name, "math.add");
    // What it refuses: text that is not UTF-8, an integer for a float, a float for an integer, an
    // array for a struct, a value past its type's range.
    assert!(decode_payload::<f64>(&[0x01]).is_err());
    assert!(decode_payload::<i64>(&[0xf9, 0x3e, 0x00]).is_err());
    assert!(decode_payload::<LookupRequest>(&[0x82, 0x61, 0x61, 0xf6]).is_err());
    assert!(decode_payload::<u8>(&[0x19, 0x01, 0x00]).is_err());
    assert!(decode_payload::<String>(&[0x61, 0xff]).is_err());
}

/// PROTOCOL.md's *Payloads*: the argument tuple is the first level, so a
/// one-argument procedure's argument may nest 31 levels more.
#[test]
fn the_argument_tuple_is_the_first_level_of_nesting() {
    use crate::cbor::nested_arrays;
    type Deep = Vec<serde::de::IgnoredAny>;
    // (Deep,) around 31 more arrays: 32 in all.
    let mut at_limit = vec![0x81];
    at_limit.extend(nested_arrays(31));
    assert!(decode_payload::<(Deep,)>(&at_limit).is_ok());
    let mut past = vec![0x81];
    past.extend(nested_arrays(32));
    assert_eq!(
        payload_err::<(Deep,)>(&past),
        DecodeError::TooDeep { limit: 32 }
    );
}
