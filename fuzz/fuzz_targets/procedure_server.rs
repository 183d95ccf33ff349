//! The generated handlers themselves, on a real server: the procedures'
//! `__procedure()`s served by a `Responder` on loopback. The first byte
//! picks a procedure, the rest are the args of a call to it. Every call must
//! be answered, never with a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rendezvous_core::server::{ProcedureSet, Responder, ResponderConfig};
use rendezvous_fuzz::procedures::{NAMES, generated};
use rendezvous_fuzz::remote::{Peer, assert_no_panic};
use rendezvous_runtime as rt;
use std::sync::{Mutex, OnceLock};

struct Harness {
    peer: Peer,
    procedures: Vec<rendezvous_core::Procedure>,
}

fn harness() -> &'static Mutex<Harness> {
    static HARNESS: OnceLock<Mutex<Harness>> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let procedures = generated();
        let mut set = ProcedureSet::new();
        for (procedure, name) in procedures.iter().zip(NAMES) {
            assert_eq!(procedure.name(), name);
            set.insert(procedure.clone()).expect("distinct names");
        }
        let address = "127.0.0.1:0".parse().expect("an address");
        let responder = rt::block_on(Responder::bind(address, set, ResponderConfig::default()))
            .expect("bind the server");
        let peer = Peer::new(responder.local_addr());
        // Serves until the process ends.
        std::mem::forget(responder);
        Mutex::new(Harness { peer, procedures })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, args)) = data.split_first() else {
        return;
    };
    let mut harness = harness().lock().unwrap_or_else(|p| p.into_inner());
    let procedure = &harness.procedures[usize::from(selector) % NAMES.len()];
    let (name, signature) = (procedure.name().to_owned(), procedure.signature());
    if let Some(outcome) = harness.peer.call(&name, signature, args) {
        assert_no_panic(&name, &outcome, args);
    }
});
