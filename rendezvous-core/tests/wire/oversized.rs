//! Names, payloads and datagrams over their limits are refused.

use crate::cbor::{decode_err, payload_err};
use crate::samples::sample_call;
use rendezvous_core::protocol::wire::{
    Call, DecodeError, EncodeError, MAX_DATAGRAM_BYTES, Message, Undecodable, encode_payload,
};
use serde::de::IgnoredAny;

#[test]
fn datagram_over_the_limit_is_too_large_without_header() {
    // A valid call padded with trailing zeros: the size alone decides.
    let mut datagram = Message::Call(sample_call()).encode().unwrap();
    datagram.resize(MAX_DATAGRAM_BYTES + 1, 0);
    assert_eq!(
        decode_err(&datagram),
        Undecodable {
            header: None,
            error: DecodeError::TooLarge {
                size: MAX_DATAGRAM_BYTES + 1,
                limit: MAX_DATAGRAM_BYTES
            }
        }
    );
}

#[test]
fn payload_over_the_limit_is_too_large() {
    let payload = vec![0; MAX_DATAGRAM_BYTES + 1];
    assert_eq!(
        payload_err::<IgnoredAny>(&payload),
        DecodeError::TooLarge {
            size: MAX_DATAGRAM_BYTES + 1,
            limit: MAX_DATAGRAM_BYTES
        }
    );
}

#[test]
fn encoding_a_call_with_args_of_max_datagram_bytes_is_too_large() {
    let call = Call {
        args: vec![0; MAX_DATAGRAM_BYTES].into(),
        ..sample_call()
    };
    match Message::Call(call).encode() {
        Err(EncodeError::TooLarge { size, limit }) => {
            assert!(size > MAX_DATAGRAM_BYTES, "size {size}");
            assert_eq!(limit, MAX_DATAGRAM_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn encoding_a_call_one_byte_over_the_limit_is_too_large() {
    let mut call = Call {
        args: Vec::new().into(),
        ..sample_call()
    };
    let empty_len = Message::Call(call.clone()).encode().unwrap().len();
    call.args = vec![0; MAX_DATAGRAM_BYTES - (empty_len - 1) - 3 + 1].into();
    assert_eq!(
        Message::Call(call).encode(),
        Err(EncodeError::TooLarge {
            size: MAX_DATAGRAM_BYTES + 1,
            limit: MAX_DATAGRAM_BYTES
        })
    );
}

#[test]
fn encoding_a_payload_over_the_limit_is_too_large() {
    let bytes = serde_bytes::ByteBuf::from(vec![0; MAX_DATAGRAM_BYTES]);
    assert!(
        matches!(
            encode_payload(&bytes),
            Err(EncodeError::TooLarge {
                limit: MAX_DATAGRAM_BYTES,
                ..
            })
        ),
        "{:?}",
        encode_payload(&bytes).map(|payload| payload.len())
    );
}
