//! The matchmaker's full request path: a real `Matchmaker` on loopback.
//! A first byte of 0 to 4 calls register, renew, unregister, lookup or list
//! with the rest as its argument bytes, and the answer must be a decodable
//! `Result<_, MatchmakerError>` or BadArguments; any other first byte sends
//! the rest as a raw datagram, after which a valid lookup must still be
//! answered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rendezvous_core::protocol::matchmaker::MatchmakerError;
use rendezvous_core::protocol::matchmaker::operation::{
    List, Lookup, Operation, Register, Renew, Status, Unregister,
};
use rendezvous_core::protocol::wire::{Message, Outcome, decode_payload};
use rendezvous_daemon::{Matchmaker, MatchmakerConfig, TtlBounds};
use rendezvous_fuzz::checks::hex;
use rendezvous_fuzz::remote::{Peer, assert_no_panic};
use rendezvous_fuzz::seeds::lookup_args;
use rendezvous_runtime as rt;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

fn peer() -> &'static Mutex<Peer> {
    static PEER: OnceLock<Mutex<Peer>> = OnceLock::new();
    PEER.get_or_init(|| {
        // Short leases, so registrations made by the fuzzer do not pile up.
        let second = Duration::from_secs(1);
        let config = MatchmakerConfig {
            ttl: TtlBounds {
                default: second,
                min: second,
                max: second,
            },
            ..MatchmakerConfig::default()
        };
        let address = "127.0.0.1:0".parse().expect("an address");
        let matchmaker =
            rt::block_on(Matchmaker::bind_with(address, config)).expect("bind the matchmaker");
        let peer = Peer::new(matchmaker.local_addr());
        // Serves until the process ends.
        std::mem::forget(matchmaker);
        Mutex::new(peer)
    })
}

/// The answer is a `Result<T, MatchmakerError>`, or a refusal of the
/// arguments or of the answer's size.
fn answered<T: DeserializeOwned + Debug>(name: &str, outcome: &Outcome, args: &[u8]) {
    assert_no_panic(name, outcome, args);
    match outcome {
        Outcome::Return(bytes) => {
            let bytes = &bytes.to_vec();
            if let Err(error) = decode_payload::<Result<T, MatchmakerError>>(bytes) {
                panic!(
                    "{name}: the answer {} does not decode: {error}; args {}",
                    hex(bytes),
                    hex(args)
                );
            }
        }
        // A well-formed call to a procedure the matchmaker has.
        Outcome::NoSuchProcedure
        | Outcome::SignatureMismatch(_)
        | Outcome::WrongIncarnation
        | Outcome::WrongIncarnationUptime(_)
        | Outcome::UnsupportedVersion(_)
        | Outcome::Malformed(_)
        | Outcome::ReplyEvicted => {
            panic!("{name}: unexpected outcome {outcome:?}; args {}", hex(args))
        }
        // BadArguments, ReplyTooLarge (an answer over the reply size bound),
        // and refusals to run it now.
        _ => {}
    }
}

/// Calls operation `O` with `args` (if they fit a call) and checks the
/// answer is one of `O`'s.
fn exercise<O: Operation>(peer: &mut Peer, args: &[u8])
where
    O::Answer: Debug,
{
    if let Some(outcome) = peer.call(O::NAME, O::SIGNATURE, args) {
        answered::<O::Answer>(O::NAME, &outcome, args);
    }
}

/// The operations by selector, in the order of `seeds::MATCHMAKER_PROCEDURES`.
const OPERATIONS: [fn(&mut Peer, &[u8]); 6] = [
    exercise::<Register>,
    exercise::<Renew>,
    exercise::<Unregister>,
    exercise::<Lookup>,
    exercise::<List>,
    exercise::<Status>,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut peer = peer().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(operation) = OPERATIONS.get(usize::from(selector)) {
        operation(&mut peer, rest);
        return;
    }
    // A datagram claiming to come from the probing peer could make its
    // later calls look stale; anything else goes out as it is.
    let ours = match Message::decode(rest) {
        Ok(Message::Call(call)) => call.client == peer.client(),
        Ok(Message::Confirm(confirm)) => confirm.client == peer.client(),
        _ => false,
    };
    if !ours {
        peer.send_raw(rest);
    }
    let probe = lookup_args("fuzz.probe");
    let outcome = peer
        .call(Lookup::NAME, Lookup::SIGNATURE, &probe)
        .expect("the probe fits");
    answered::<<Lookup as Operation>::Answer>(Lookup::NAME, &outcome, &probe);
});
