//! CBOR built by hand, element by element, with ciborium and not with the
//! codec under test; the element indices of a call; and the decode and
//! round-trip checks every section uses.

use crate::samples::sample_call;
use ciborium::Value;
use rendezvous_core::protocol::wire::{
    Call, DecodeError, Header, Message, PROTOCOL_VERSION, Undecodable, decode_payload,
    encode_payload,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Encodes a value with ciborium directly, independently of the codec under test.
pub(crate) fn cbor<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).unwrap();
    out
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes a string of hex digits (as PROTOCOL.md writes them) spells.
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// The head of a CBOR item: major type and argument, in the shortest form.
fn cbor_head(major: u8, argument: u64) -> Vec<u8> {
    let m = major << 5;
    match argument {
        0..=23 => vec![m | argument as u8],
        24..=0xff => vec![m | 24, argument as u8],
        0x100..=0xffff => [&[m | 25][..], &(argument as u16).to_be_bytes()].concat(),
        0x1_0000..=0xffff_ffff => [&[m | 26][..], &(argument as u32).to_be_bytes()].concat(),
        _ => [&[m | 27][..], &argument.to_be_bytes()].concat(),
    }
}

pub(crate) const MAJOR_BYTES: u8 = 2;
pub(crate) const MAJOR_TEXT: u8 = 3;
pub(crate) const MAJOR_ARRAY: u8 = 4;

/// A definite-length CBOR array of pre-encoded elements.
pub(crate) fn array_of(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut out = cbor_head(MAJOR_ARRAY, elements.len() as u64);
    for element in elements {
        out.extend_from_slice(element);
    }
    out
}

/// A CBOR text string holding arbitrary (possibly invalid UTF-8) bytes.
pub(crate) fn raw_text(bytes: &[u8]) -> Vec<u8> {
    [cbor_head(MAJOR_TEXT, bytes.len() as u64), bytes.to_vec()].concat()
}

/// `depth` nested one-element arrays around a 0: `81 81 ... 81 00`.
pub(crate) fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut out = vec![0x81; depth];
    out.push(0x00);
    out
}

/// `depth` nested one-entry maps `{0: {0: ... {0: 0}}}`: `a1 00 a1 00 ... 00`.
pub(crate) fn nested_maps(depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * depth + 1);
    for _ in 0..depth {
        out.extend_from_slice(&[0xa1, 0x00]);
    }
    out.push(0x00);
    out
}

/// An item head of `major` declaring 2^62 bytes or elements.
pub(crate) fn huge_head(major: u8) -> Vec<u8> {
    cbor_head(major, 1 << 62)
}

// Positions in the call layout:
// [1, 0, client, xid, incarnation, procedure, signature, deadline_ms, done_below, args]
pub(crate) const VERSION: usize = 0;
pub(crate) const KIND: usize = 1;
pub(crate) const XID: usize = 3;
pub(crate) const PROCEDURE: usize = 5;
pub(crate) const DEADLINE_MS: usize = 7;
pub(crate) const ARGS: usize = 9;

/// The elements of `call` in the documented layout, each encoded separately.
pub(crate) fn call_elements(call: &Call) -> Vec<Vec<u8>> {
    vec![
        cbor(&PROTOCOL_VERSION),
        cbor(&0u64),
        cbor(&call.client.0),
        cbor(&call.xid.0),
        cbor(&call.incarnation.0),
        cbor(&call.procedure),
        cbor(&call.signature.0),
        cbor(&(call.deadline.as_millis() as u64)),
        cbor(&call.done_below.0),
        cbor(&Value::Bytes(call.args.to_vec())),
    ]
}

/// The call with element `index` replaced by `element`.
pub(crate) fn call_with(index: usize, element: Vec<u8>) -> Vec<u8> {
    let mut elements = call_elements(&sample_call());
    elements[index] = element;
    array_of(&elements)
}

/// The frozen header of `sample_call()`, written out independently.
pub(crate) fn sample_call_header() -> Header {
    let call = sample_call();
    Header {
        version: PROTOCOL_VERSION,
        kind: 0,
        client: call.client,
        xid: call.xid,
    }
}

/// Length of the frozen header `[version, kind, client, xid]` of a call's encoding.
pub(crate) fn header_len(call: &Call) -> usize {
    // The array head of 4 and of 10 elements are both one byte.
    cbor(&(PROTOCOL_VERSION, 0u64, call.client.0, call.xid.0)).len()
}

pub(crate) fn decode_err(datagram: &[u8]) -> Undecodable {
    match Message::decode(datagram) {
        Ok(message) => panic!(
            "{} decoded as {message:?}; expected an error",
            hex(datagram)
        ),
        Err(undecodable) => undecodable,
    }
}

pub(crate) fn payload_err<T: DeserializeOwned + Debug>(payload: &[u8]) -> DecodeError {
    match decode_payload::<T>(payload) {
        Ok(value) => panic!("{} decoded as {value:?}; expected an error", hex(payload)),
        Err(error) => error,
    }
}

pub(crate) fn assert_round_trips(message: Message) {
    let encoded = message.encode().unwrap();
    assert_eq!(
        Message::decode(&encoded),
        Ok(message),
        "encoding {}",
        hex(&encoded)
    );
}

pub(crate) fn assert_payload_round_trips<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    value: T,
) {
    let encoded = encode_payload(&value).unwrap();
    assert_eq!(
        decode_payload::<T>(&encoded),
        Ok(value),
        "encoding {}",
        hex(&encoded)
    );
}
