//! The unstructured baseline: random bytes are decoded or classified, and
//! anything over the datagram limit is refused before decoding.

use crate::any_message::any_bytes;
use crate::any_payload::PAYLOADS_KINDS;
use crate::checks::check_message;
use crate::{MESSAGES, SEED};
use rendezvous_core::protocol::wire::{DecodeError, MAX_DATAGRAM_BYTES};

#[test]
fn random_bytes_are_decoded_or_classified() {
    // The unstructured baseline, biased towards what CBOR heads look like.
    let mut rng = fastrand::Rng::with_seed(SEED ^ 5);
    for _ in 0..MESSAGES {
        let mut input = any_bytes(&mut rng, 64);
        if let Some(first) = input.first_mut() {
            *first = 0x80 | rng.u8(0..0x20);
        }
        let _ = check_message(&input);
        let kind = PAYLOADS_KINDS[rng.usize(..PAYLOADS_KINDS.len())];
        let _ = (kind.check)(&input);
    }
    // Over the datagram limit: refused before decoding, with no header.
    let huge = vec![0x80; MAX_DATAGRAM_BYTES + 1];
    let undecodable = check_message(&huge).unwrap_err();
    assert_eq!(undecodable.header, None);
    assert!(matches!(undecodable.error, DecodeError::TooLarge { .. }));
    for kind in PAYLOADS_KINDS {
        assert!(matches!(
            (kind.check)(&huge),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
