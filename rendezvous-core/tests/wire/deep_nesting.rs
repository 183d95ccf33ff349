//! Nesting deeper than `MAX_NESTING` is refused without exhausting the
//! stack.

use crate::cbor::{array_of, cbor, decode_err, nested_arrays, nested_maps, payload_err};
use crate::samples::sample_confirm;
use rendezvous_core::protocol::matchmaker::LookupRequest;
use rendezvous_core::protocol::wire::{
    DecodeError, Header, MAX_NESTING, Undecodable, decode_payload,
};
use serde::de::IgnoredAny;

#[test]
fn nesting_at_the_limit_is_accepted() {
    // MAX_NESTING arrays around a 0.
    assert!(decode_payload::<IgnoredAny>(&nested_arrays(MAX_NESTING)).is_ok());
}

#[test]
fn nesting_one_level_past_the_limit_is_too_deep() {
    assert_eq!(
        payload_err::<IgnoredAny>(&nested_arrays(MAX_NESTING + 1)),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
}

#[test]
fn ten_thousand_nested_arrays_are_too_deep() {
    assert_eq!(
        payload_err::<IgnoredAny>(&nested_arrays(10_000)),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
}

#[test]
fn ten_thousand_nested_maps_are_too_deep() {
    assert_eq!(
        payload_err::<IgnoredAny>(&nested_maps(10_000)),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
}

#[test]
fn ten_thousand_nested_tags_are_too_deep() {
    // 0xc6 is tag 6; tag(tag(... 0)).
    let mut payload = vec![0xc6; 10_000];
    payload.push(0x00);
    assert_eq!(
        payload_err::<IgnoredAny>(&payload),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
}

#[test]
fn deep_nesting_in_an_unknown_struct_field_is_too_deep() {
    // {"name": "x", "extra": [[[...]]], "signature": null}
    let mut payload = vec![0xa3];
    payload.extend(cbor("name"));
    payload.extend(cbor("x"));
    payload.extend(cbor("extra"));
    payload.extend(nested_arrays(10_000));
    payload.extend(cbor("signature"));
    payload.extend(cbor(&()));
    assert_eq!(
        payload_err::<LookupRequest>(&payload),
        DecodeError::TooDeep { limit: MAX_NESTING }
    );
}

#[test]
fn deep_nesting_of_the_wrong_shape_is_rejected() {
    // A LookupRequest is a map; 10_000 nested arrays are refused, whether
    // for their type or their depth, without exhausting the stack.
    let error = payload_err::<LookupRequest>(&nested_arrays(10_000));
    assert!(
        matches!(
            error,
            DecodeError::Malformed { .. } | DecodeError::TooDeep { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn deep_nesting_in_an_extra_message_element_is_malformed_with_header() {
    // [1, 3, client, xid, [[[...]]]]
    let confirm = sample_confirm();
    let datagram = array_of(&[
        cbor(&1u64),
        cbor(&3u64),
        cbor(&confirm.client.0),
        cbor(&confirm.xid.0),
        nested_arrays(10_000),
    ]);
    assert_eq!(
        decode_err(&datagram),
        Undecodable {
            header: Some(Header {
                version: 1,
                kind: 3,
                client: confirm.client,
                xid: confirm.xid
            }),
            error: DecodeError::Malformed {
                reason: "a confirm has 4 elements, this one 5".into()
            }
        }
    );
}

#[test]
fn deeply_nested_datagram_is_rejected_without_header() {
    let undecodable = decode_err(&nested_arrays(10_000));
    assert_eq!(undecodable.header, None);
    assert!(
        matches!(
            undecodable.error,
            DecodeError::Malformed { .. } | DecodeError::TooDeep { .. }
        ),
        "{undecodable:?}"
    );
}
