//! Datagrams of another protocol version, and which undecodable datagrams
//! get an error reply (only a call whose header could be read).

use crate::cbor::{PROCEDURE, VERSION, call_with, cbor, decode_err, sample_call_header};
use crate::samples::sample_call;
use rendezvous_core::protocol::wire::{
    DecodeError, Header, Incarnation, MAX_DATAGRAM_BYTES, Message, Outcome, Reply, Undecodable,
};

fn version_2_call() -> Vec<u8> {
    call_with(VERSION, cbor(&2u64))
}

#[test]
fn call_of_version_2_is_unsupported_with_header() {
    assert_eq!(
        decode_err(&version_2_call()),
        Undecodable {
            header: Some(Header {
                version: 2,
                ..sample_call_header()
            }),
            error: DecodeError::UnsupportedVersion { version: 2 }
        }
    );
}

#[test]
fn message_of_version_2_is_unsupported_whatever_its_body() {
    // A future version may lay out the rest of the array freely.
    let datagram = cbor(&(2u64, 0u64, 5u64, 7u64, "future", [1.5f64]));
    assert_eq!(
        decode_err(&datagram).error,
        DecodeError::UnsupportedVersion { version: 2 }
    );
}

#[test]
fn error_reply_to_an_unsupported_version_lists_the_supported_versions() {
    let call = sample_call();
    let incarnation = Incarnation(99);
    assert_eq!(
        decode_err(&version_2_call()).error_reply(incarnation),
        Some(Reply {
            client: call.client,
            xid: call.xid,
            incarnation,
            outcome: Outcome::UnsupportedVersion(vec![1]),
        })
    );
}

#[test]
fn error_reply_to_a_malformed_call_is_a_malformed_outcome() {
    let call = sample_call();
    let reply = decode_err(&call_with(PROCEDURE, cbor(&7u64)))
        .error_reply(Incarnation(99))
        .unwrap();
    assert_eq!((reply.client, reply.xid), (call.client, call.xid));
    assert_eq!(reply.incarnation, Incarnation(99));
    assert!(
        matches!(reply.outcome, Outcome::Malformed(_)),
        "{:?}",
        reply.outcome
    );
}

#[test]
fn non_call_with_a_bad_body_gets_no_error_reply() {
    // An ack whose incarnation is text.
    let datagram = cbor(&(1u64, 1u64, 5u64, 7u64, "incarnation"));
    let undecodable = decode_err(&datagram);
    assert_eq!(undecodable.header.map(|header| header.kind), Some(1));
    assert_eq!(undecodable.error_reply(Incarnation(99)), None);
}

#[test]
fn non_call_of_an_unsupported_version_gets_no_error_reply() {
    let datagram = cbor(&(2u64, 2u64, 5u64, 7u64));
    assert_eq!(decode_err(&datagram).error_reply(Incarnation(99)), None);
}

#[test]
fn oversized_datagram_gets_no_error_reply() {
    let mut datagram = Message::Call(sample_call()).encode().unwrap();
    datagram.resize(MAX_DATAGRAM_BYTES + 1, 0);
    assert_eq!(decode_err(&datagram).error_reply(Incarnation(99)), None);
}

#[test]
fn datagram_without_header_gets_no_error_reply() {
    assert_eq!(decode_err(&cbor(&1u64)).error_reply(Incarnation(99)), None);
}
