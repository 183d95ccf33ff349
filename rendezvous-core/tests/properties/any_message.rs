//! Random messages of every kind and outcome, their fields of every encoded
//! width.

use crate::any_payload::{PAYLOADS_KINDS, encode};
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{
    Ack, Call, ClientId, Confirm, Incarnation, MAX_DEADLINE, MAX_NAME_BYTES, Message, Outcome,
    Reply, Xid,
};
use std::time::Duration;

/// Integers of every encoded width, edges included.
pub(crate) fn any_u64(rng: &mut fastrand::Rng) -> u64 {
    match rng.u8(0..8) {
        0 => 0,
        1 => rng.u64(0..24),
        2 => rng.u64(24..=0xff),
        3 => rng.u64(0x100..=0xffff),
        4 => rng.u64(0x1_0000..=0xffff_ffff),
        5 => u64::MAX - rng.u64(0..3),
        6 => 1 << rng.u32(0..64),
        _ => rng.u64(..),
    }
}

/// Text of at most `max_bytes` bytes of UTF-8, multi-byte characters included.
pub(crate) fn any_text(rng: &mut fastrand::Rng, min_bytes: usize, max_bytes: usize) -> String {
    let target = rng.usize(min_bytes..=max_bytes);
    let mut text = String::new();
    loop {
        let c = match rng.u8(0..5) {
            0 => 'é',
            1 => '€',
            2 => '😀',
            3 => rng.char(..),
            _ => rng.alphanumeric(),
        };
        if text.len() + c.len_utf8() > target {
            break;
        }
        text.push(c);
    }
    while text.len() < min_bytes {
        text.push('x');
    }
    text
}

pub(crate) fn any_bytes(rng: &mut fastrand::Rng, max: usize) -> Vec<u8> {
    let mut bytes = vec![0; rng.usize(0..=max)];
    rng.fill(&mut bytes);
    bytes
}

fn any_outcome(rng: &mut fastrand::Rng) -> Outcome {
    let outcome = match rng.u8(0..15) {
        0 => Outcome::Return(any_bytes(rng, 64).into()),
        1 => Outcome::Panicked(any_text(rng, 0, 64)),
        2 => Outcome::NoSuchProcedure,
        3 => Outcome::SignatureMismatch(Fingerprint(any_u64(rng))),
        4 => Outcome::WrongIncarnation,
        5 => Outcome::UnsupportedVersion((0..rng.usize(0..=16)).map(|_| any_u64(rng)).collect()),
        6 => Outcome::Malformed(any_text(rng, 0, 64)),
        7 => Outcome::BadArguments(any_text(rng, 0, 64)),
        8 => Outcome::ReplyTooLarge {
            size: any_u64(rng),
            limit: any_u64(rng),
        },
        9 => Outcome::ReplyEvicted,
        10 => Outcome::DeadlineExceeded,
        11 => Outcome::WrongIncarnationUptime(any_u64(rng)),
        12 => Outcome::ReplyWaiting { size: any_u64(rng) },
        13 => Outcome::MessageTooLarge {
            size: any_u64(rng),
            limit: any_u64(rng),
        },
        _ => Outcome::Overloaded,
    };
    // Exhaustive on purpose: a new outcome fails to compile until it is
    // generated above.
    match &outcome {
        Outcome::Return(_)
        | Outcome::Panicked(_)
        | Outcome::NoSuchProcedure
        | Outcome::SignatureMismatch(_)
        | Outcome::WrongIncarnation
        | Outcome::WrongIncarnationUptime(_)
        | Outcome::UnsupportedVersion(_)
        | Outcome::Malformed(_)
        | Outcome::BadArguments(_)
        | Outcome::ReplyTooLarge { .. }
        | Outcome::ReplyEvicted
        | Outcome::DeadlineExceeded
        | Outcome::ReplyWaiting { .. }
        | Outcome::MessageTooLarge { .. }
        | Outcome::Overloaded => {}
    }
    outcome
}

/// A valid message of a random kind with random fields; a call's args are
/// random bytes or a valid matchmaker payload.
pub(crate) fn any_message(rng: &mut fastrand::Rng) -> Message {
    let client = ClientId(any_u64(rng));
    let xid = Xid(any_u64(rng).max(1));
    match rng.u8(0..4) {
        0 => Message::Call(Call {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
            procedure: any_text(rng, 1, MAX_NAME_BYTES),
            signature: Fingerprint(any_u64(rng)),
            deadline: Duration::from_millis(rng.u64(0..=MAX_DEADLINE.as_millis() as u64)),
            done_below: Xid(rng.u64(..=xid.0)),
            args: if rng.bool() {
                any_bytes(rng, 128).into()
            } else {
                let kind = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
                encode(&(kind.generate)(rng)).into()
            },
            // A note would follow as a second CBOR item; these properties
            // take a message as one (notes: tests/wire/notes.rs).
            elsewhere: Default::default(),
        }),
        1 => Message::Ack(Ack {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
        }),
        2 => Message::Reply(Reply {
            client,
            xid,
            incarnation: Incarnation(any_u64(rng)),
            outcome: any_outcome(rng),
        }),
        _ => Message::Confirm(Confirm { client, xid }),
    }
}
