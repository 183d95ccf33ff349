//! The wire codec's specification, as tests.
//!
//! Every datagram is one CBOR array `[version, kind, client, xid, ...]`
//! (see `wire/envelope.rs`); call arguments and results are CBOR payloads.
//! Decoding must be total: any byte string gives a value or a specific
//! error, never a panic, a stack overflow or an allocation beyond the input.
//!
//! Malformed inputs are built by hand with ciborium directly (not with the
//! codec under test), element by element, so that any one element can be
//! replaced by arbitrary bytes.

// Helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

mod batches;
mod cbor;
mod deep_nesting;
mod enums_in_payloads;
mod field_validation;
mod huge_lengths;
mod matchmaker_round_trips;
mod message_round_trips;
mod notes;
mod oversized;
mod randomized;
mod samples;
mod trailing_bytes;
mod truncation;
mod uptime;
mod versions_and_error_replies;
mod well_formedness;
mod wrong_types;
