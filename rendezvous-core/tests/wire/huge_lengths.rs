//! A length declared far beyond the input (2^62) is an error, and nothing
//! is allocated for it.

use crate::cbor::{
    ARGS, MAJOR_ARRAY, MAJOR_BYTES, MAJOR_TEXT, call_with, cbor, decode_err, huge_head,
    payload_err, sample_call_header,
};
use rendezvous_core::protocol::wire::{DecodeError, Undecodable};
use serde::de::IgnoredAny;

#[test]
fn byte_string_declaring_2_pow_62_bytes_is_truncated() {
    let payload = [huge_head(MAJOR_BYTES), vec![1, 2, 3]].concat();
    assert_eq!(
        payload_err::<serde_bytes::ByteBuf>(&payload),
        DecodeError::Truncated
    );
    assert_eq!(payload_err::<Vec<u8>>(&payload), DecodeError::Truncated);
    assert_eq!(payload_err::<IgnoredAny>(&payload), DecodeError::Truncated);
}

#[test]
fn text_declaring_2_pow_62_bytes_is_truncated() {
    let payload = [huge_head(MAJOR_TEXT), b"abc".to_vec()].concat();
    assert_eq!(payload_err::<String>(&payload), DecodeError::Truncated);
    assert_eq!(payload_err::<IgnoredAny>(&payload), DecodeError::Truncated);
}

#[test]
fn array_declaring_2_pow_62_elements_is_truncated() {
    let payload = [huge_head(MAJOR_ARRAY), vec![1, 2, 3]].concat();
    assert_eq!(payload_err::<Vec<u64>>(&payload), DecodeError::Truncated);
    assert_eq!(payload_err::<IgnoredAny>(&payload), DecodeError::Truncated);
}

#[test]
fn call_args_declaring_2_pow_62_bytes_are_truncated_with_header() {
    let mut datagram = call_with(ARGS, huge_head(MAJOR_BYTES));
    datagram.extend_from_slice(&[1, 2, 3]);
    assert_eq!(
        decode_err(&datagram),
        Undecodable {
            header: Some(sample_call_header()),
            error: DecodeError::Truncated
        }
    );
}

#[test]
fn supported_versions_declaring_2_pow_62_elements_are_malformed() {
    // [1, 2, 5, 7, 9, [5, <2^62 elements: 1, 2, 3>]]
    let mut datagram = cbor(&(1u64, 2u64, 5u64, 7u64, 9u64));
    datagram[0] = 0x86;
    datagram.extend_from_slice(&[0x82, 0x05]);
    datagram.extend(huge_head(MAJOR_ARRAY));
    datagram.extend_from_slice(&[1, 2, 3]);
    assert!(
        matches!(decode_err(&datagram).error, DecodeError::Malformed { ref reason } if reason.contains("supported versions")),
        "{:?}",
        decode_err(&datagram)
    );
}
