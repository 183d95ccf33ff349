//! An element of the wrong CBOR type is malformed; the header is reported
//! when it could be read.

use crate::cbor::{
    ARGS, DEADLINE_MS, PROCEDURE, XID, array_of, call_elements, call_with, cbor, decode_err,
    payload_err, sample_call_header,
};
use crate::samples::sample_call;
use ciborium::Value;
use rendezvous_core::protocol::matchmaker::LookupRequest;
use rendezvous_core::protocol::wire::DecodeError;

#[test]
fn procedure_name_as_an_integer_is_malformed() {
    let undecodable = decode_err(&call_with(PROCEDURE, cbor(&7u64)));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn args_as_an_array_is_malformed() {
    // [.., args: [1, 2, 3]] instead of h'010203'
    let undecodable = decode_err(&call_with(ARGS, cbor(&[1u8, 2, 3])));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn args_as_an_array_of_non_bytes_is_malformed() {
    let undecodable = decode_err(&call_with(ARGS, cbor(&["not", "bytes"])));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn deadline_as_text_is_malformed() {
    let undecodable = decode_err(&call_with(DEADLINE_MS, cbor("soon")));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, Some(sample_call_header()));
}

#[test]
fn top_level_map_is_malformed_without_header() {
    let datagram = cbor(&Value::Map(vec![(Value::from(0u64), Value::from(1u64))]));
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, None);
}

#[test]
fn top_level_integer_is_malformed_without_header() {
    let undecodable = decode_err(&cbor(&1u64));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, None);
}

#[test]
fn top_level_byte_string_is_malformed_without_header() {
    // h'01030507', the bytes of the confirm [1, 3, 5, 7], is not an array.
    let undecodable = decode_err(&cbor(&Value::Bytes(vec![1, 3, 5, 7])));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, None);
}

#[test]
fn header_field_of_the_wrong_type_is_malformed_without_header() {
    // [1, 0, client, "42", ...]: the xid is text.
    let mut elements = call_elements(&sample_call());
    elements[XID] = cbor("42");
    let undecodable = decode_err(&array_of(&elements));
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, None);
}

#[test]
fn negative_client_id_is_malformed_without_header() {
    let datagram = cbor(&(1u64, 3u64, -5i64, 7u64));
    let undecodable = decode_err(&datagram);
    assert!(
        matches!(undecodable.error, DecodeError::Malformed { .. }),
        "{undecodable:?}"
    );
    assert_eq!(undecodable.header, None);
}

#[test]
fn payload_of_the_wrong_shape_is_malformed() {
    let error = payload_err::<LookupRequest>(&cbor(&5u64));
    assert!(matches!(error, DecodeError::Malformed { .. }), "{error:?}");
}
