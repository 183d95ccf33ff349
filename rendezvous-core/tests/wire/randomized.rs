//! Randomized robustness: mutated and random inputs are decoded or
//! classified, never a panic.

use crate::cbor::{assert_round_trips, hex};
use crate::samples::{sample_call, sample_messages, sample_payloads};
use rendezvous_core::protocol::matchmaker::{
    Lease, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError, RegisterRequest,
    Registration, RenewRequest, Renewed, UnregisterRequest,
};
use rendezvous_core::protocol::wire::{
    Call, MAX_DEADLINE, Message, decode_payload, encode_payload,
};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};

const FUZZ_SEED: u64 = 0x7265_6e64_657a_766f;
const FUZZ_CASES: usize = 20_000;

/// Bytes that mean something to a CBOR decoder: heads announcing 1 to 8
/// length bytes, indefinite lengths, breaks, tags, simple values, floats.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x3b, 0x40, 0x58, 0x5b, 0x5f, 0x60, 0x78,
    0x7b, 0x7f, 0x80, 0x81, 0x98, 0x9b, 0x9f, 0xa0, 0xa1, 0xbb, 0xbf, 0xc0, 0xc2, 0xc3, 0xd8, 0xf4,
    0xf5, 0xf6, 0xf7, 0xf9, 0xfa, 0xfb, 0xff,
];

/// Messages whose encodings the fuzzer mutates: every kind, calls carrying
/// matchmaker arguments, a call at the longest deadline.
fn fuzz_messages() -> Vec<Message> {
    let mut messages = sample_messages();
    for args in sample_payloads() {
        messages.push(Message::Call(Call {
            args: args.into(),
            ..sample_call()
        }));
    }
    messages.push(Message::Call(Call {
        deadline: MAX_DEADLINE,
        procedure: "é".repeat(20),
        ..sample_call()
    }));
    messages
}

/// Valid encodings to mutate: the fuzz messages and matchmaker payloads.
fn fuzz_corpus() -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = fuzz_messages()
        .iter()
        .map(|message| message.encode().unwrap())
        .collect();
    corpus.extend(sample_payloads());
    corpus
}

fn mutate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut input = corpus[rng.usize(..corpus.len())].clone();
    for _ in 0..rng.usize(1..=4) {
        let len = input.len();
        match rng.u8(0..7) {
            0 if len > 0 => input[rng.usize(..len)] ^= 1 << rng.u8(0..8),
            1 => input.insert(rng.usize(..=len), rng.u8(..)),
            2 => input.insert(
                rng.usize(..=len),
                INTERESTING[rng.usize(..INTERESTING.len())],
            ),
            3 if len > 0 => {
                input.remove(rng.usize(..len));
            }
            4 => input.truncate(rng.usize(..=len)),
            5 => {
                let other = &corpus[rng.usize(..corpus.len())];
                input.truncate(rng.usize(..=len));
                input.extend_from_slice(&other[rng.usize(..=other.len())..]);
            }
            6 if len > 0 => input[rng.usize(..len)] = INTERESTING[rng.usize(..INTERESTING.len())],
            _ => {}
        }
    }
    input
}

/// The same `FUZZ_CASES` inputs on every run: a quarter random byte
/// strings of 0 to 2047 bytes, the rest mutated valid encodings.
fn fuzz_inputs() -> impl Iterator<Item = Vec<u8>> {
    let corpus = fuzz_corpus();
    let mut rng = fastrand::Rng::with_seed(FUZZ_SEED);
    (0..FUZZ_CASES).map(move |_| {
        if rng.u8(0..4) == 0 {
            let mut bytes = vec![0; rng.usize(0..2048)];
            rng.fill(&mut bytes);
            bytes
        } else {
            mutate(&mut rng, &corpus)
        }
    })
}

fn decodes<T: DeserializeOwned>(input: &[u8]) {
    let _ = decode_payload::<T>(input);
}

/// Checks that a decoded payload survives re-encoding.
fn stable<T: Serialize + DeserializeOwned + PartialEq + Debug>(input: &[u8]) {
    if let Ok(value) = decode_payload::<T>(input) {
        let reencoded = encode_payload(&value).unwrap();
        assert_eq!(
            decode_payload::<T>(&reencoded),
            Ok(value),
            "input {}",
            hex(input)
        );
    }
}

type Check = fn(&[u8]);

/// One check per payload type the matchmaker protocol decodes.
macro_rules! payload_checks {
    ($check:ident) => {
        [
            $check::<RegisterRequest> as Check,
            $check::<(RegisterRequest,)>,
            $check::<Lease>,
            $check::<RenewRequest>,
            $check::<(RenewRequest,)>,
            $check::<Renewed>,
            $check::<UnregisterRequest>,
            $check::<(UnregisterRequest,)>,
            $check::<LookupRequest>,
            $check::<(LookupRequest,)>,
            $check::<Lookup>,
            $check::<ListRequest>,
            $check::<(ListRequest,)>,
            $check::<ListPage>,
            $check::<Registration>,
            $check::<MatchmakerError>,
            $check::<Result<Lease, MatchmakerError>>,
            $check::<Result<Renewed, MatchmakerError>>,
            $check::<Result<(), MatchmakerError>>,
            $check::<Result<Lookup, MatchmakerError>>,
            $check::<Result<ListPage, MatchmakerError>>,
        ]
    };
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let checks = payload_checks!(decodes);
    for input in fuzz_inputs() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(Message::Call(call)) = Message::decode(&input) {
                for check in &checks {
                    check(&call.args.to_vec());
                }
            }
            decodes::<IgnoredAny>(&input);
            for check in &checks {
                check(&input);
            }
        }));
        assert!(outcome.is_ok(), "decoding {} panicked", hex(&input));
    }
}

#[test]
fn random_and_mutated_messages_are_stable_under_reencoding() {
    for input in fuzz_inputs() {
        if let Ok(message) = Message::decode(&input) {
            let reencoded = message
                .encode()
                .unwrap_or_else(|error| panic!("input {}: {error}", hex(&input)));
            assert_eq!(
                Message::decode(&reencoded),
                Ok(message),
                "input {}",
                hex(&input)
            );
        }
    }
}

#[test]
fn random_and_mutated_payloads_are_stable_under_reencoding() {
    let checks = payload_checks!(stable);
    for input in fuzz_inputs() {
        for check in &checks {
            check(&input);
        }
    }
}

#[test]
fn fuzz_messages_round_trip() {
    // Guards the fuzzer: mutations start from valid encodings.
    for message in fuzz_messages() {
        assert_round_trips(message);
    }
}
