//! Every message decodes to what was encoded, and encodes as the documented
//! array.

use crate::cbor::{array_of, assert_round_trips, call_elements, cbor, hex};
use crate::samples::{
    OUTCOME_VARIANTS, every_outcome, outcome_variant, sample_ack, sample_call, sample_confirm,
    sample_reply,
};
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{
    Call, ClientId, Confirm, Incarnation, MAX_DATAGRAM_BYTES, MAX_DEADLINE, MAX_NAME_BYTES,
    Message, Outcome, Xid,
};
use std::collections::BTreeSet;
use std::time::Duration;

#[test]
fn call_round_trips() {
    assert_round_trips(Message::Call(sample_call()));
}

#[test]
fn call_with_extreme_field_values_round_trips() {
    assert_round_trips(Message::Call(Call {
        client: ClientId(u64::MAX),
        xid: Xid(u64::MAX),
        incarnation: Incarnation::ANY,
        procedure: "é".repeat(MAX_NAME_BYTES / 2) + "x",
        signature: Fingerprint(u64::MAX),
        deadline: MAX_DEADLINE,
        done_below: Xid(0),
        args: Vec::new().into(),
        elsewhere: Default::default(),
    }));
    assert_round_trips(Message::Call(Call {
        deadline: Duration::ZERO,
        ..sample_call()
    }));
}

#[test]
fn ack_round_trips() {
    assert_round_trips(Message::Ack(sample_ack()));
}

#[test]
fn reply_round_trips_with_every_outcome() {
    for outcome in every_outcome() {
        assert_round_trips(Message::Reply(sample_reply(outcome)));
    }
}

#[test]
fn sample_outcomes_cover_every_variant() {
    let covered: BTreeSet<_> = every_outcome().iter().map(outcome_variant).collect();
    assert_eq!(covered.len(), OUTCOME_VARIANTS);
}

#[test]
fn confirm_round_trips() {
    assert_round_trips(Message::Confirm(sample_confirm()));
}

#[test]
fn confirm_encodes_as_the_documented_array() {
    let confirm = Message::Confirm(Confirm {
        client: ClientId(5),
        xid: Xid(7),
    });
    // [1, 3, 5, 7]
    assert_eq!(hex(&confirm.encode().unwrap()), "8401030507");
}

#[test]
fn call_encodes_as_the_documented_array() {
    let call = sample_call();
    assert_eq!(
        Message::Call(call.clone()).encode().unwrap(),
        array_of(&call_elements(&call))
    );
}

#[test]
fn ack_and_reply_encode_as_the_documented_arrays() {
    let ack = sample_ack();
    let expected = cbor(&(1u64, 1u64, ack.client.0, ack.xid.0, ack.incarnation.0));
    assert_eq!(Message::Ack(ack).encode().unwrap(), expected);

    let reply = sample_reply(Outcome::ReplyTooLarge {
        size: 70_000,
        limit: 65_507,
    });
    let expected = cbor(&(
        1u64,
        2u64,
        reply.client.0,
        reply.xid.0,
        reply.incarnation.0,
        (8u64, 70_000u64, 65_507u64),
    ));
    assert_eq!(Message::Reply(reply).encode().unwrap(), expected);
}

#[test]
fn call_deadline_above_max_deadline_is_encoded_as_max_deadline() {
    let call = Call {
        deadline: MAX_DEADLINE * 2,
        ..sample_call()
    };
    let decoded = Message::decode(&Message::Call(call.clone()).encode().unwrap()).unwrap();
    assert_eq!(
        decoded,
        Message::Call(Call {
            deadline: MAX_DEADLINE,
            ..call
        })
    );
}

#[test]
fn encode_into_replaces_the_buffer_contents() {
    let mut out = vec![0xff; 100];
    let message = Message::Confirm(sample_confirm());
    message.encode_into(&mut out).unwrap();
    assert_eq!(out, message.encode().unwrap());
}

#[test]
fn call_of_exactly_max_datagram_bytes_round_trips() {
    let mut call = Call {
        args: Vec::new().into(),
        ..sample_call()
    };
    let empty_len = Message::Call(call.clone()).encode().unwrap().len();
    // Empty args have a one-byte head; 256..=65535 bytes a three-byte one.
    call.args = vec![0xa5; MAX_DATAGRAM_BYTES - (empty_len - 1) - 3].into();
    let encoded = Message::Call(call.clone()).encode().unwrap();
    assert_eq!(encoded.len(), MAX_DATAGRAM_BYTES);
    assert_eq!(Message::decode(&encoded), Ok(Message::Call(call)));
}
