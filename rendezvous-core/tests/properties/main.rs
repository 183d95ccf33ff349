//! Properties of every decoder over structure-aware random inputs: a
//! bounded, seeded run of what `fuzz/` does at length.
//!
//! `tests/wire/` mutates the bytes of a few fixed samples. These tests
//! instead generate *random valid values* — messages of every kind and
//! outcome with random fields, and every matchmaker payload built from its
//! PROTOCOL.md layout (fields in random order, unknown keys, optional fields
//! left out) — and mutate them *as CBOR items*: re-encoding heads in longer
//! forms, switching to indefinite lengths, replacing, duplicating, dropping
//! or swapping items, lying about lengths, wrapping items in tags. Then:
//!
//! - every valid value decodes, and stays the same through forms the
//!   protocol accepts (longer heads everywhere; indefinite lengths in
//!   payloads), while the envelope refuses indefinite lengths as Malformed;
//! - nothing panics; every error is one PROTOCOL.md lists for that decoder,
//!   with the frozen header reported exactly when it decoded;
//! - whatever decodes re-encodes to a canonical form that decodes to the
//!   same value (a fixpoint), never longer than the datagram it came from;
//! - error replies go to calls only, and stay within the amplification
//!   bound of the datagram they answer;
//! - a decoded message holds no more memory than its datagram's length.
//!
//! The bound on *transient* allocation during decoding is checked by the
//! fuzz targets (`fuzz/`), which count every allocation with a global
//! allocator: that takes `unsafe impl GlobalAlloc`, which this workspace
//! forbids.

// Helpers outside `#[test]` functions unwrap too: a failure there is a test failure.
#![allow(clippy::unwrap_used)]

/// Seeds every property's generator (each with its own variation).
pub(crate) const SEED: u64 = 0x7072_6f70_6572_7479;
/// Messages generated; each is checked as generated and in two mutated forms.
pub(crate) const MESSAGES: usize = 6_000;
/// Payloads generated; each is checked as generated and in two mutated forms.
pub(crate) const PAYLOADS: usize = 10_000;

mod any_message;
mod any_payload;
mod checks;
mod items;
mod message_properties;
mod mutations;
mod payload_properties;
mod random_bytes;
