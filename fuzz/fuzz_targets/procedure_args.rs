//! Argument decoding in `#[procedure]` handlers, in process: the first byte
//! picks a procedure (integers, text, bytes, structs, enums, options,
//! collections, `Result`s), the rest are its argument bytes, decoded as its
//! generated handler decodes them, then the function runs and its result is
//! encoded. Never a panic, memory bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&selector, args)) = data.split_first() {
        rendezvous_fuzz::procedures::run_in_process(selector, args);
    }
});
