//! Writes every target's seed inputs to `corpus/<target>/seed-<n>`, after
//! checking that each passes its target's checks and that the matchmaker
//! seeds decode as the library's types.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`

use rendezvous_core::protocol::matchmaker::*;
use rendezvous_core::protocol::wire::decode_payload;
use rendezvous_fuzz::{checks, procedures, seeds};
use std::path::Path;

fn main() -> std::io::Result<()> {
    for (selector, args) in seeds::matchmaker_requests() {
        let decodes = match selector {
            0 => decode_payload::<(RegisterRequest,)>(&args).is_ok(),
            1 => decode_payload::<(RenewRequest,)>(&args).is_ok(),
            2 => decode_payload::<(UnregisterRequest,)>(&args).is_ok(),
            3 => decode_payload::<(LookupRequest,)>(&args).is_ok(),
            _ => decode_payload::<(ListRequest,)>(&args).is_ok(),
        };
        assert!(
            decodes,
            "request seed {} does not decode",
            checks::hex(&args)
        );
    }
    for answer in seeds::matchmaker_answers() {
        let decodes = decode_payload::<Result<Lease, MatchmakerError>>(&answer).is_ok()
            || decode_payload::<Result<Renewed, MatchmakerError>>(&answer).is_ok()
            || decode_payload::<Result<(), MatchmakerError>>(&answer).is_ok()
            || decode_payload::<Result<Lookup, MatchmakerError>>(&answer).is_ok()
            || decode_payload::<Result<ListPage, MatchmakerError>>(&answer).is_ok();
        assert!(
            decodes,
            "answer seed {} does not decode",
            checks::hex(&answer)
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for (target, seeds) in seeds::all() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (n, seed) in seeds.iter().enumerate() {
            match target {
                "message" => checks::message(seed),
                "stream_frames" => checks::stream_frames(seed),
                "matchmaker_payloads" => checks::matchmaker_payloads(seed),
                "procedure_args" => procedures::run_in_process(seed[0], &seed[1..]),
                _ => {}
            }
            std::fs::write(dir.join(format!("seed-{n:03}")), seed)?;
        }
        println!("{}: {} seeds", dir.display(), seeds.len());
    }
    Ok(())
}
