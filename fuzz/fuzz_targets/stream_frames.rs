//! Stream bytes -> frames -> messages, as a server reads a connection:
//! never a panic, nothing allocated for a frame not read whole, memory
//! within a bound of the input's length, refusals exactly by the length
//! header, decoded messages stable under re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rendezvous_fuzz::checks::stream_frames(data);
});
