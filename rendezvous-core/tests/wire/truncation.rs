//! A truncated datagram or payload is an error, never a panic.

use crate::cbor::{decode_err, header_len, hex, payload_err, sample_call_header};
use crate::samples::{sample_call, sample_lookup, sample_messages};
use rendezvous_core::protocol::matchmaker::{Lookup, MatchmakerError};
use rendezvous_core::protocol::wire::{DecodeError, Message, Undecodable, encode_payload};
use std::panic::catch_unwind;

#[test]
fn every_strict_prefix_of_a_call_is_an_error() {
    let encoded = Message::Call(sample_call()).encode().unwrap();
    for len in 0..encoded.len() {
        let prefix = &encoded[..len];
        let result = catch_unwind(|| Message::decode(prefix));
        match result {
            Ok(Err(_)) => {}
            Ok(Ok(message)) => panic!("prefix {} decoded as {message:?}", hex(prefix)),
            Err(_) => panic!("decoding prefix {} panicked", hex(prefix)),
        }
    }
}

#[test]
fn call_cut_inside_the_body_is_truncated_with_its_header() {
    let call = sample_call();
    let encoded = Message::Call(call.clone()).encode().unwrap();
    for len in header_len(&call)..encoded.len() {
        let undecodable = decode_err(&encoded[..len]);
        assert_eq!(
            undecodable,
            Undecodable {
                header: Some(sample_call_header()),
                error: DecodeError::Truncated
            },
            "prefix of {len} bytes: {}",
            hex(&encoded[..len])
        );
    }
}

#[test]
fn call_cut_inside_the_frozen_header_is_truncated_without_header() {
    let call = sample_call();
    let encoded = Message::Call(call.clone()).encode().unwrap();
    for len in 0..header_len(&call) {
        let undecodable = decode_err(&encoded[..len]);
        assert_eq!(
            undecodable,
            Undecodable {
                header: None,
                error: DecodeError::Truncated
            },
            "prefix of {len} bytes: {}",
            hex(&encoded[..len])
        );
    }
}

#[test]
fn every_strict_prefix_of_every_message_kind_is_truncated() {
    for message in sample_messages() {
        let encoded = message.encode().unwrap();
        for len in 0..encoded.len() {
            let undecodable = decode_err(&encoded[..len]);
            assert_eq!(
                undecodable.error,
                DecodeError::Truncated,
                "prefix {} of {message:?}",
                hex(&encoded[..len])
            );
        }
    }
}

#[test]
fn every_strict_prefix_of_a_matchmaker_payload_is_truncated() {
    let payload = encode_payload(&Ok::<_, MatchmakerError>(sample_lookup())).unwrap();
    for len in 0..payload.len() {
        assert_eq!(
            payload_err::<Result<Lookup, MatchmakerError>>(&payload[..len]),
            DecodeError::Truncated,
            "prefix {}",
            hex(&payload[..len])
        );
    }
}
