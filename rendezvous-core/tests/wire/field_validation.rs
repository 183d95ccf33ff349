//! The envelope's layout (element counts, integer and text forms) and the
//! range of each field are checked.

use crate::cbor::{
    DEADLINE_MS, KIND, PROCEDURE, array_of, call_elements, call_with, cbor, decode_err, raw_text,
    sample_call_header,
};
use crate::samples::{sample_call, sample_reply};
use ciborium::Value;
use rendezvous_core::protocol::wire::{
    Call, DecodeError, Header, MAX_DEADLINE, MAX_NAME_BYTES, Message, Outcome, Xid,
};

#[test]
fn unknown_kind_is_malformed_with_header() {
    let datagram = call_with(KIND, cbor(&9u64));
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(
        undecodable.header,
        Some(Header {
            kind: 9,
            ..sample_call_header()
        })
    );
}

#[test]
fn unknown_outcome_code_is_malformed() {
    let reply = sample_reply(Outcome::ReplyEvicted);
    let datagram = cbor(&(
        1u64,
        2u64,
        reply.client.0,
        reply.xid.0,
        reply.incarnation.0,
        (15u64,),
    ));
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert!(undecodable.header.is_some());
}

#[test]
fn call_longer_than_its_layout_is_malformed() {
    let mut elements = call_elements(&sample_call());
    elements.push(cbor(&0u64));
    let undecodable = decode_err(&array_of(&elements));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn confirm_longer_than_its_layout_is_malformed() {
    let undecodable = decode_err(&cbor(&(1u64, 3u64, 5u64, 7u64, 0u64)));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert!(undecodable.header.is_some());
}

#[test]
fn outcome_longer_than_its_layout_is_malformed() {
    // [.., [2, "extra"]]: NoSuchProcedure carries nothing.
    let datagram = cbor(&(1u64, 2u64, 5u64, 7u64, 9u64, (2u64, "extra")));
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert!(undecodable.header.is_some());
}

#[test]
fn call_shorter_than_its_layout_is_malformed() {
    let mut elements = call_elements(&sample_call());
    elements.pop();
    let undecodable = decode_err(&array_of(&elements));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

fn assert_invalid_field(datagram: &[u8], expected_field: &str) {
    let undecodable = decode_err(datagram);
    match &undecodable.error {
        DecodeError::InvalidField { field, .. } => assert_eq!(*field, expected_field),
        other => panic!("expected InvalidField {{ field: {expected_field:?} }}, got {other:?}"),
    }
    assert!(undecodable.header.is_some());
}

#[test]
fn empty_procedure_name_is_an_invalid_field() {
    assert_invalid_field(&call_with(PROCEDURE, cbor("")), "procedure");
}

#[test]
fn procedure_name_over_max_name_bytes_is_an_invalid_field() {
    let name = "a".repeat(MAX_NAME_BYTES + 1);
    assert_invalid_field(&call_with(PROCEDURE, cbor(&name)), "procedure");
}

#[test]
fn procedure_name_limit_counts_bytes_not_characters() {
    // 128 two-byte characters: 128 characters, 256 bytes.
    let name = "é".repeat(MAX_NAME_BYTES / 2 + 1);
    assert_invalid_field(&call_with(PROCEDURE, cbor(&name)), "procedure");
}

#[test]
fn procedure_name_of_max_name_bytes_is_accepted() {
    let call = Call {
        procedure: "a".repeat(MAX_NAME_BYTES),
        ..sample_call()
    };
    let datagram = array_of(&call_elements(&call));
    assert_eq!(Message::decode(&datagram), Ok(Message::Call(call)));
}

#[test]
fn xid_zero_in_a_call_is_an_invalid_field() {
    let call = Call {
        xid: Xid(0),
        ..sample_call()
    };
    assert_invalid_field(&array_of(&call_elements(&call)), "xid");
}

#[test]
fn done_below_above_the_xid_is_an_invalid_field_naming_both() {
    // The sample call is xid 42; a watermark of 43 would say it is done.
    let call = Call {
        done_below: Xid(43),
        ..sample_call()
    };
    let datagram = array_of(&call_elements(&call));
    assert_invalid_field(&datagram, "done_below");
    let reason = decode_err(&datagram).error.to_string();
    assert!(
        reason.contains("done_below 43") && reason.contains("xid 42"),
        "{reason}"
    );
    // At the xid itself, the lowest call in flight is this one: accepted.
    let at_xid = Call {
        done_below: Xid(42),
        ..sample_call()
    };
    let datagram = array_of(&call_elements(&at_xid));
    assert_eq!(Message::decode(&datagram), Ok(Message::Call(at_xid)));
}

#[test]
fn invalid_utf8_in_procedure_name_is_malformed() {
    // "a" followed by 0xc3 0x28, an invalid two-byte sequence.
    let undecodable = decode_err(&call_with(PROCEDURE, raw_text(b"a\xc3\x28")));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn incomplete_utf8_sequence_ending_procedure_name_is_malformed() {
    // "a" followed by the first byte of a two-byte sequence.
    let undecodable = decode_err(&call_with(PROCEDURE, raw_text(b"a\xc3")));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
}

#[test]
fn invalid_utf8_in_an_indefinite_length_procedure_name_is_malformed() {
    // (_ "a\xc3", "\xff")
    let name = [
        &[0x7f][..],
        &raw_text(b"a\xc3"),
        &raw_text(b"\xff"),
        &[0xff],
    ]
    .concat();
    let undecodable = decode_err(&call_with(PROCEDURE, name));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
}

#[test]
fn deadline_above_max_deadline_is_accepted() {
    // PROTOCOL.md: encoders cap deadline_ms at MAX_DEADLINE; decoders accept
    // any u64 and clamp it to MAX_DEADLINE.
    for deadline_ms in [MAX_DEADLINE.as_millis() as u64 + 1, u64::MAX] {
        let datagram = call_with(DEADLINE_MS, cbor(&deadline_ms));
        assert!(
            Message::decode(&datagram).is_ok(),
            "deadline_ms {deadline_ms}: {:?}",
            Message::decode(&datagram)
        );
    }
}

#[test]
fn decoded_deadline_above_max_deadline_is_stable_under_reencoding() {
    for deadline_ms in [MAX_DEADLINE.as_millis() as u64 + 1, u64::MAX] {
        let message = Message::decode(&call_with(DEADLINE_MS, cbor(&deadline_ms))).unwrap();
        let reencoded = message.encode().unwrap();
        assert_eq!(
            Message::decode(&reencoded),
            Ok(message),
            "deadline_ms {deadline_ms}"
        );
    }
}

#[test]
fn float_in_the_envelope_is_malformed() {
    // PROTOCOL.md: every number in the envelope is a uint.
    let undecodable = decode_err(&call_with(DEADLINE_MS, cbor(&2500.0f64)));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn bignum_in_the_envelope_is_malformed() {
    // deadline_ms as 2(h'09c4'), the bignum 2500.
    let undecodable = decode_err(&call_with(DEADLINE_MS, vec![0xc2, 0x42, 0x09, 0xc4]));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn outcome_as_a_byte_string_is_malformed() {
    // [1, 2, 5, 7, 9, h'02'] instead of [.., [2]]
    let datagram = array_of(&[
        cbor(&1u64),
        cbor(&2u64),
        cbor(&5u64),
        cbor(&7u64),
        cbor(&9u64),
        cbor(&Value::Bytes(vec![2])),
    ]);
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert!(undecodable.header.is_some());
}
