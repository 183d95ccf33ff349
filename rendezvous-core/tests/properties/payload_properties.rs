//! Generated payloads decode in any field order and form; mutated payloads
//! are decoded or classified.

use crate::any_payload::{PAYLOADS_KINDS, encode};
use crate::checks::{check_message, hex};
use crate::items::Item;
use crate::mutations::break_item;
use crate::{PAYLOADS, SEED};
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{Call, ClientId, Incarnation, Message, Xid};
use std::time::Duration;

#[test]
fn generated_payloads_decode_in_any_order_and_form() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 3);
    for n in 0..PAYLOADS {
        let kind = PAYLOADS_KINDS[n % PAYLOADS_KINDS.len()];
        let value = (kind.generate)(&mut rng);
        let bytes = encode(&value);
        let valid = |input: &[u8]| {
            if let Err(error) = (kind.check)(input) {
                panic!(
                    "{}: a valid encoding is refused ({error}): {value:?} as {}",
                    kind.name,
                    hex(input)
                );
            }
        };
        valid(&bytes);
        // Longer heads, and indefinite lengths for any container or
        // string (PROTOCOL.md's *Reading a payload*), mean the same.
        let mut item = Item::from_bytes(&bytes);
        item.widen(&mut rng);
        valid(&item.encode());
        item.indefinite(&mut rng, n % 2 == 0, true);
        valid(&item.encode());
        // As a call's args, through the envelope first.
        let call = Call {
            client: ClientId(1),
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: kind.name.to_owned(),
            signature: Fingerprint(0),
            deadline: Duration::from_secs(1),
            done_below: Xid(0),
            args: bytes.clone().into(),
            elsewhere: Default::default(),
        };
        match check_message(&call.encode().unwrap()) {
            Ok(Message::Call(call)) => valid(&call.args.to_vec()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn mutated_payloads_are_decoded_or_classified() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 4);
    let (mut decoded, mut refused) = (0, 0);
    for n in 0..PAYLOADS {
        let kind = PAYLOADS_KINDS[n % PAYLOADS_KINDS.len()];
        let bytes = encode(&(kind.generate)(&mut rng));
        for _ in 0..2 {
            let input = break_item(&mut rng, Item::from_bytes(&bytes));
            // As its own type, and as another one.
            match (kind.check)(&input) {
                Ok(()) => decoded += 1,
                Err(_) => refused += 1,
            }
            let other = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
            let _ = (other.check)(&input);
        }
    }
    assert!(
        decoded > PAYLOADS / 10 && refused > PAYLOADS / 2,
        "{decoded} decoded, {refused} refused"
    );
}
