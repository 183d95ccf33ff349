//! The note after a call, `[1, 4, client, xid, elsewhere]`: what the
//! caller knows of the call's attempts at other servers (PROTOCOL.md,
//! "Notes"). The bytes are the document's worked example.

use crate::cbor::{hex, unhex};
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::wire::{
    Call, ClientId, Elsewhere, Incarnation, Message, Reply, Xid,
};
use std::time::Duration;

fn call(elsewhere: Elsewhere) -> Call {
    Call {
        client: ClientId(0x0123_4567_89ab_cdef),
        xid: Xid(1),
        incarnation: Incarnation::ANY,
        procedure: "a".into(),
        signature: Fingerprint(7),
        deadline: Duration::from_millis(3_000),
        done_below: Xid(1),
        args: vec![0x80].into(),
        elsewhere,
    }
}

/// The call alone: what `Elsewhere::Nowhere` sends, byte for byte as before notes.
const CALL: &str = "8a01001b0123456789abcdef0100616107190bb8014180";
/// `[1, 4, 0x0123456789abcdef, 1, 2]`: acknowledged elsewhere.
const NOTE: &str = "8501041b0123456789abcdef0102";

#[test]
fn a_call_told_nothing_carries_no_note() {
    assert_eq!(hex(&call(Elsewhere::Nowhere).encode().unwrap()), CALL);
}

#[test]
fn a_note_follows_its_call_with_the_documented_bytes_and_round_trips() {
    let bytes = call(Elsewhere::Acknowledged).encode().unwrap();
    assert_eq!(hex(&bytes), format!("{CALL}{NOTE}"));
    for elsewhere in [Elsewhere::Unanswered, Elsewhere::Acknowledged] {
        let encoded = call(elsewhere).encode().unwrap();
        assert_eq!(
            Message::decode(&encoded).unwrap(),
            Message::Call(call(elsewhere))
        );
        // A stream frame holds the pair as one message too.
        assert_eq!(
            Message::decode_within(&encoded, 1 << 20).unwrap(),
            Message::Call(call(elsewhere))
        );
        // In a batch, the call and its note are one message, of both sizes.
        let mut batch = Message::decode_batch(&encoded);
        assert_eq!(
            batch.next().unwrap().unwrap(),
            (Message::Call(call(elsewhere)), encoded.len())
        );
        assert!(batch.next().is_none());
    }
}

/// A later peer may send levels this one does not know: they say more, so
/// they read as the most this one knows.
#[test]
fn a_level_above_the_known_ones_reads_as_acknowledged() {
    let mut bytes = unhex(CALL);
    bytes.extend(unhex("8501041b0123456789abcdef0118ff"));
    assert_eq!(
        Message::decode(&bytes).unwrap(),
        Message::Call(call(Elsewhere::Acknowledged))
    );
}

/// A note that names another call, or stands alone, does not decode: it
/// ends the batch there, as it does for a peer that knows no notes, and
/// being no call it gets no answer.
#[test]
fn a_note_for_another_call_or_alone_is_undecodable_and_unanswered() {
    let other_xid = "8501041b0123456789abcdef0202";
    let mut bytes = unhex(CALL);
    bytes.extend(unhex(other_xid));
    let mut batch = Message::decode_batch(&bytes);
    assert_eq!(
        batch.next().unwrap().unwrap().0,
        Message::Call(call(Elsewhere::Nowhere))
    );
    let undecodable = batch.next().unwrap().unwrap_err();
    assert!(
        undecodable
            .error
            .to_string()
            .contains("right after the call it names"),
        "{}",
        undecodable.error
    );
    assert_eq!(undecodable.error_reply(Incarnation(9)), None);

    let alone = Message::decode(&unhex(NOTE)).unwrap_err();
    assert_eq!(alone.error_reply(Incarnation(9)), None::<Reply>);
}

/// What a version-1 peer that knows no notes does with a call and its
/// note: reads the call, meets a message it cannot decode, and stops,
/// answering nothing for it (it is no call). Shown with kind 5, which
/// this decoder does not know either.
#[test]
fn a_peer_without_notes_reads_the_call_and_stops() {
    let mut bytes = unhex(CALL);
    bytes.extend(unhex("8501051b0123456789abcdef0102"));
    let mut batch = Message::decode_batch(&bytes);
    assert_eq!(
        batch.next().unwrap().unwrap().0,
        Message::Call(call(Elsewhere::Nowhere))
    );
    let undecodable = batch.next().unwrap().unwrap_err();
    assert_eq!(undecodable.error_reply(Incarnation(9)), None);
    assert!(batch.next().is_none());
}
