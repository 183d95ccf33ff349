//! The wire protocol: message types and their CBOR codec.
//!
//! Every message is one CBOR array whose first four elements are frozen for
//! all protocol versions: `[version, kind, client, xid, ...]`. A datagram
//! carries one message, or several back to back (a batch: a CBOR sequence,
//! RFC 8742) when a peer has many for the same address. A peer can
//! therefore answer a message of a version it does not speak with an
//! [`Outcome::UnsupportedVersion`] reply that the sender will match to its
//! call. PROTOCOL.md specifies every field; this module is its executable
//! form.
//!
//! Decoding is total and bounded: any byte string gives a [`Message`] or an
//! [`Undecodable`] naming what was wrong, never a panic. Datagrams are capped
//! at [`MAX_DATAGRAM_BYTES`], payload nesting at [`MAX_NESTING`], names at
//! [`MAX_NAME_BYTES`]. The envelope decoder allocates no more than the
//! input's own length. The payload decoder can transiently allocate up to
//! 1 MiB per nested collection whose declared length exceeds the input (serde
//! preallocates from the declared length, capped at 1 MiB): bounded, freed
//! at once, and a known item to remove (fuzz/README.md).
//!
//! The envelope is a strict CBOR subset read and written by hand (`cbor`):
//! definite lengths, unsigned integers, text, bytes, exact array lengths.
//! Payloads go through serde and ciborium (`payload`).
//!
//! Call arguments and results travel as opaque CBOR byte strings (payloads),
//! encoded and decoded with [`encode_payload`] and [`decode_payload`].
//!
//! The files, each standing only on those listed before it: `limits` (the
//! numbers), `payload_bytes` (a payload's bytes, in one buffer or two),
//! `message` (the types), `cbor` (the envelope's CBOR subset),
//! `item` (where a payload's CBOR item ends: well-formed, not too deep),
//! `envelope` (messages to bytes and back), `large_bytes` (a payload's large
//! byte string decoded and encoded without a copy), `payload` (arguments and results
//! through serde), `codec` (the
//! messages' own methods and batches), `frame` (a message on a stream:
//! its length first), `split` (a stream message's large byte string moved
//! apart from the rest). This file only re-exports.

mod cbor;
mod codec;
mod envelope;
mod frame;
mod item;
mod large_bytes;
mod limits;
mod message;
mod payload;
mod payload_bytes;
mod split;

pub use codec::Batch;
pub use frame::*;
pub use large_bytes::{Placed, give_large, take_placed};
pub use limits::*;
pub use message::*;
pub use payload::{
    decode_payload, decode_payload_owned, decode_payload_within, encode_payload,
    encode_payload_owned, encode_payload_within,
};
pub use payload_bytes::Payload;
pub use split::{
    LargeField, SPLIT_HEAD_BYTES, SPLIT_MIN_BYTES, decode_split, large_field, payload_large_field,
};
