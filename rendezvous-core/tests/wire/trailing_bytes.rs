//! Bytes after a complete message are an error.

use crate::cbor::{decode_err, payload_err, sample_call_header};
use crate::samples::{sample_call, sample_lookup};
use rendezvous_core::protocol::matchmaker::Lookup;
use rendezvous_core::protocol::wire::{DecodeError, Message, Undecodable, encode_payload};

#[test]
fn message_followed_by_one_byte_is_trailing_bytes() {
    let mut datagram = Message::Call(sample_call()).encode().unwrap();
    datagram.push(0x00);
    assert_eq!(
        decode_err(&datagram),
        Undecodable {
            header: Some(sample_call_header()),
            error: DecodeError::TrailingBytes { count: 1 }
        }
    );
}

#[test]
fn payload_followed_by_one_byte_is_trailing_bytes() {
    let mut payload = encode_payload(&sample_lookup()).unwrap();
    payload.push(0x00);
    assert_eq!(
        payload_err::<Lookup>(&payload),
        DecodeError::PayloadTrailingBytes { count: 1 }
    );
}
