//! Datagram -> Message, for every kind: never a panic, memory within a
//! bound of the input's length, decoded messages stable under re-encoding,
//! undecodable ones classified as PROTOCOL.md says (with the right header
//! and a small error reply exactly when the datagram was a call).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rendezvous_fuzz::checks::message(data);
});
