//! Generated messages decode as generated in any head form; indefinite
//! lengths in the envelope are malformed; mutated messages are decoded or
//! classified.

use crate::any_message::any_message;
use crate::checks::{check_message, hex};
use crate::items::{Form, Item};
use crate::mutations::break_item;
use crate::{MESSAGES, SEED};
use rendezvous_core::protocol::wire::DecodeError;

#[test]
fn generated_messages_decode_as_generated_in_any_head_form() {
    let mut rng = fastrand::Rng::with_seed(SEED);
    for _ in 0..MESSAGES {
        let message = any_message(&mut rng);
        let bytes = message.encode().unwrap();
        assert_eq!(
            check_message(&bytes),
            Ok(message.clone()),
            "{}",
            hex(&bytes)
        );
        // Longer heads than needed are accepted, and mean the same.
        let mut item = Item::from_bytes(&bytes);
        item.widen(&mut rng);
        let wide = item.encode();
        assert_eq!(check_message(&wide), Ok(message), "{}", hex(&wide));
    }
}

#[test]
fn indefinite_lengths_in_the_envelope_are_malformed() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 1);
    for _ in 0..MESSAGES {
        let bytes = any_message(&mut rng).encode().unwrap();
        let mut item = Item::from_bytes(&bytes);
        if !item.indefinite(&mut rng, false, true) {
            continue;
        }
        let top_indefinite = matches!(
            item,
            Item::Array {
                form: Form::Indefinite,
                ..
            }
        );
        let input = item.encode();
        let undecodable = check_message(&input).unwrap_err();
        assert!(
            matches!(undecodable.error, DecodeError::Malformed { .. }),
            "{:?}: {}",
            undecodable.error,
            hex(&input)
        );
        assert_eq!(
            undecodable.header.is_some(),
            !top_indefinite,
            "{}",
            hex(&input)
        );
    }
}

#[test]
fn mutated_messages_are_decoded_or_classified() {
    let mut rng = fastrand::Rng::with_seed(SEED ^ 2);
    let (mut decoded, mut refused) = (0, 0);
    for _ in 0..MESSAGES {
        let bytes = any_message(&mut rng).encode().unwrap();
        for _ in 0..2 {
            let input = break_item(&mut rng, Item::from_bytes(&bytes));
            match check_message(&input) {
                Ok(_) => decoded += 1,
                Err(_) => refused += 1,
            }
        }
    }
    // The mutations reach both sides.
    assert!(
        decoded > MESSAGES / 10 && refused > MESSAGES / 2,
        "{decoded} decoded, {refused} refused"
    );
}
