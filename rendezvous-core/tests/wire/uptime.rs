//! Outcome 12, `[12, uptime_ms]`: the uptime that follows a
//! `WrongIncarnation` in the same datagram (PROTOCOL.md, Outcomes). The
//! bytes are the document's worked example.

use crate::cbor::{hex, unhex};
use rendezvous_core::protocol::wire::{ClientId, Incarnation, Message, Outcome, Reply, Xid};

fn reply(outcome: Outcome) -> Message {
    Message::Reply(Reply {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(1),
        incarnation: Incarnation(0xff),
        outcome,
    })
}

/// The refusal a restarted server sends: `[4]`, then `[12, 1500]`.
const PAIR: &str = concat!(
    "8601021b0123456789abcdef0118ff8104",
    "8601021b0123456789abcdef0118ff820c1905dc",
);

#[test]
fn the_uptime_refusal_round_trips_with_the_documented_bytes() {
    let first = reply(Outcome::WrongIncarnation).encode().unwrap();
    let second = reply(Outcome::WrongIncarnationUptime(1_500))
        .encode()
        .unwrap();
    assert_eq!(hex(&[first.clone(), second.clone()].concat()), PAIR);
    assert_eq!(
        Message::decode(&second).unwrap(),
        reply(Outcome::WrongIncarnationUptime(1_500))
    );
    let both: Vec<Message> = Message::decode_batch(&[first, second].concat())
        .map(|m| m.unwrap().0)
        .collect();
    assert_eq!(
        both,
        [
            reply(Outcome::WrongIncarnation),
            reply(Outcome::WrongIncarnationUptime(1_500))
        ]
    );
}

/// A peer that does not know code 12 reads the pair as a batch whose
/// second message does not decode: it has read `[4]` and stops, as
/// every version-1 decoder does. Shown here with code 15, which this
/// decoder does not know either.
#[test]
fn a_peer_without_code_12_still_reads_the_wrong_incarnation_first() {
    let mut datagram = reply(Outcome::WrongIncarnation).encode().unwrap();
    // `[15, 1500]` in place of `[12, 1500]`.
    let mut unknown = reply(Outcome::WrongIncarnationUptime(1_500))
        .encode()
        .unwrap();
    let code = unknown.len() - 4;
    assert_eq!(unknown[code], 0x0c);
    unknown[code] = 0x0f;
    datagram.extend(unknown);
    let mut batch = Message::decode_batch(&datagram);
    assert_eq!(
        batch.next().unwrap().unwrap().0,
        reply(Outcome::WrongIncarnation)
    );
    assert!(batch.next().unwrap().is_err());
    assert!(batch.next().is_none());
}

#[test]
fn an_uptime_without_its_field_or_with_two_is_malformed() {
    for bad in [
        "8601021b0123456789abcdef0118ff810c",
        "8601021b0123456789abcdef0118ff830c0101",
        "8601021b0123456789abcdef0118ff820c60",
    ] {
        assert!(Message::decode(&unhex(bad)).is_err(), "{bad} decoded");
    }
}
