//! The matchmaker protocol's payloads round-trip, and decode whatever the
//! order of their fields, unknown fields included.

use crate::cbor::{assert_payload_round_trips, cbor, hex, payload_err};
use crate::samples::{
    MATCHMAKER_ERROR_VARIANTS, every_matchmaker_error, matchmaker_error_variant, sample_auth,
    sample_cursor, sample_lookup, sample_register_request, sample_registration, token, v6,
};
use ciborium::Value;
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::{
    Lease, ListCursor, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError, RenewRequest,
    Renewed, UnregisterRequest,
};
use rendezvous_core::protocol::wire::{DecodeError, decode_payload, encode_payload};
use std::collections::BTreeSet;
use std::net::SocketAddr;

#[test]
fn register_request_round_trips() {
    assert_payload_round_trips(sample_register_request());
}

#[test]
fn lease_round_trips() {
    assert_payload_round_trips(Lease {
        token: token(),
        ttl_ms: 30_000,
    });
}

#[test]
fn renew_request_round_trips() {
    assert_payload_round_trips(RenewRequest {
        token: token(),
        auth: Some(sample_auth()),
    });
}

#[test]
fn renewed_round_trips() {
    assert_payload_round_trips(Renewed { ttl_ms: u64::MAX });
}

#[test]
fn unregister_request_round_trips() {
    assert_payload_round_trips(UnregisterRequest {
        token: token(),
        auth: None,
    });
}

#[test]
fn lookup_request_with_signature_round_trips() {
    assert_payload_round_trips(LookupRequest {
        name: "math.add".into(),
        signature: Some(Fingerprint::of("math.add(i64,i64)->i64")),
        padding: None,
    });
}

#[test]
fn lookup_request_without_signature_round_trips() {
    assert_payload_round_trips(LookupRequest {
        name: "math.add".into(),
        signature: None,
        padding: Some(vec![0; 300].into()),
    });
}

#[test]
fn lookup_round_trips() {
    assert_payload_round_trips(sample_lookup());
}

#[test]
fn list_request_with_cursor_round_trips() {
    assert_payload_round_trips(ListRequest {
        after: Some(ListCursor {
            name: "math.add".into(),
            endpoint: v6(),
            lease: 7,
        }),
        padding: None,
    });
}

#[test]
fn list_request_without_cursor_round_trips() {
    assert_payload_round_trips(ListRequest {
        after: None,
        padding: None,
    });
}

#[test]
fn list_page_round_trips() {
    assert_payload_round_trips(ListPage {
        registrations: vec![sample_registration()],
        next: Some(sample_cursor()),
        stale: false,
    });
}

#[test]
fn stale_list_page_round_trips() {
    assert_payload_round_trips(ListPage {
        registrations: vec![sample_registration()],
        next: None,
        stale: true,
    });
}

#[test]
fn last_list_page_round_trips() {
    assert_payload_round_trips(ListPage {
        registrations: Vec::new(),
        next: None,
        stale: false,
    });
}

#[test]
fn registration_round_trips() {
    assert_payload_round_trips(sample_registration());
}

#[test]
fn every_matchmaker_error_round_trips() {
    for error in every_matchmaker_error() {
        assert_payload_round_trips(error);
    }
}

#[test]
fn sample_matchmaker_errors_cover_every_variant() {
    let covered: BTreeSet<_> = every_matchmaker_error()
        .iter()
        .map(matchmaker_error_variant)
        .collect();
    assert_eq!(covered.len(), MATCHMAKER_ERROR_VARIANTS);
}

#[test]
fn ok_lookup_result_round_trips() {
    assert_payload_round_trips(Ok::<Lookup, MatchmakerError>(sample_lookup()));
}

#[test]
fn err_lookup_result_round_trips() {
    for error in every_matchmaker_error() {
        assert_payload_round_trips(Err::<Lookup, MatchmakerError>(error));
    }
}

#[test]
fn matchmaker_argument_tuple_round_trips() {
    assert_payload_round_trips((LookupRequest {
        name: "math.add".into(),
        signature: None,
        padding: None,
    },));
}

#[test]
fn ipv4_endpoint_encodes_as_documented() {
    let address: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    assert_eq!(
        hex(&encode_payload(&address).unwrap()),
        "a16256348284187f000001199c40"
    );
}

#[test]
fn ipv6_endpoint_encodes_as_documented() {
    let address: SocketAddr = "[::1]:5000".parse().unwrap();
    assert_eq!(
        hex(&encode_payload(&address).unwrap()),
        "a1625636829000000000000000000000000000000001191388"
    );
}

#[test]
fn no_arguments_encode_as_null() {
    assert_eq!(encode_payload(&()).unwrap(), [0xf6]);
}

/// `LookupRequest` as a map with the given entries, keys and values pre-encoded.
fn lookup_request_map(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut payload = vec![0xa0 | entries.len() as u8];
    for (key, value) in entries {
        payload.extend(cbor(key));
        payload.extend_from_slice(value);
    }
    payload
}

#[test]
fn struct_fields_decode_in_any_order() {
    let payload = lookup_request_map(&[("signature", cbor(&7u64)), ("name", cbor("math.add"))]);
    assert_eq!(
        decode_payload::<LookupRequest>(&payload),
        Ok(LookupRequest {
            name: "math.add".into(),
            signature: Some(Fingerprint(7)),
            padding: None,
        })
    );
}

#[test]
fn unknown_struct_fields_are_ignored() {
    let payload = lookup_request_map(&[
        ("name", cbor("math.add")),
        ("colour", cbor(&[1u64, 2, 3])),
        ("signature", cbor(&())),
    ]);
    assert_eq!(
        decode_payload::<LookupRequest>(&payload),
        Ok(LookupRequest {
            name: "math.add".into(),
            signature: None,
            padding: None,
        })
    );
}

#[test]
fn missing_option_field_reads_as_none() {
    let payload = lookup_request_map(&[("name", cbor("math.add"))]);
    assert_eq!(
        decode_payload::<LookupRequest>(&payload),
        Ok(LookupRequest {
            name: "math.add".into(),
            signature: None,
            padding: None,
        })
    );
}

#[test]
fn missing_required_field_is_malformed() {
    let payload = lookup_request_map(&[("signature", cbor(&()))]);
    let error = payload_err::<LookupRequest>(&payload);
    assert!(matches!(error, DecodeError::Malformed { .. }), "{error:?}");
}

#[test]
fn lease_token_of_15_bytes_is_malformed() {
    // {"token": h'00..' (15 bytes)}
    let mut payload = vec![0xa1];
    payload.extend(cbor("token"));
    payload.extend(cbor(&Value::Bytes(vec![0; 15])));
    let error = payload_err::<RenewRequest>(&payload);
    assert!(matches!(error, DecodeError::Malformed { .. }), "{error:?}");
}
