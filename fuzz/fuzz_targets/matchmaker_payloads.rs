//! Matchmaker payloads: every argument tuple the daemon decodes
//! (`(RegisterRequest,)`, `(RenewRequest,)`, ...) and every answer the
//! client decodes (`Result<Lease, MatchmakerError>`, ...). Never a panic,
//! memory bounded, decoded values stable under re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rendezvous_fuzz::checks::matchmaker_payloads(data);
});
