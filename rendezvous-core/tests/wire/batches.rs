//! Several messages in one datagram.

use crate::samples::{sample_call, sample_confirm};
use rendezvous_core::protocol::wire::{DecodeError, Message, Undecodable};

#[test]
fn a_batch_decodes_every_message_with_its_own_length() {
    let call = Message::Call(sample_call()).encode().unwrap();
    let confirm = Message::Confirm(sample_confirm()).encode().unwrap();
    let datagram = [call.clone(), confirm.clone(), call.clone()].concat();
    let decoded: Vec<(Message, usize)> = Message::decode_batch(&datagram)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        decoded,
        vec![
            (Message::Call(sample_call()), call.len()),
            (Message::Confirm(sample_confirm()), confirm.len()),
            (Message::Call(sample_call()), call.len()),
        ]
    );
    // A datagram of one message is a batch of one.
    assert_eq!(Message::decode_batch(&call).count(), 1);
    assert_eq!(Message::decode_batch(&[]).count(), 0);
}

#[test]
fn a_batch_stops_at_the_first_message_that_does_not_decode() {
    let call = Message::Call(sample_call()).encode().unwrap();
    let mut datagram = call.clone();
    datagram.extend_from_slice(&[0x00, 0x01]);
    datagram.extend_from_slice(&call);
    let mut batch = Message::decode_batch(&datagram);
    assert_eq!(
        batch.next(),
        Some(Ok((Message::Call(sample_call()), call.len())))
    );
    let failed = batch.next().expect("the garbage is reported");
    assert!(
        matches!(failed, Err(Undecodable { header: None, .. })),
        "{failed:?}"
    );
    assert_eq!(
        batch.rest().len(),
        2 + call.len(),
        "what the failure answers"
    );
    assert_eq!(batch.next(), None, "nothing after a failure is read");
    // As one message, the same datagram has trailing bytes.
    assert!(matches!(
        Message::decode(&datagram),
        Err(Undecodable {
            error: DecodeError::TrailingBytes { .. },
            ..
        })
    ));
}

#[test]
fn batches_fill_one_frame_except_to_loopback() {
    use rendezvous_core::protocol::wire::{MAX_BATCH_BYTES, MAX_LOOPBACK_BATCH_BYTES, batch_limit};
    let at = |text: &str| text.parse::<std::net::SocketAddr>().unwrap();
    assert_eq!(batch_limit(&at("127.0.0.1:9")), MAX_LOOPBACK_BATCH_BYTES);
    assert_eq!(batch_limit(&at("[::1]:9")), MAX_LOOPBACK_BATCH_BYTES);
    assert_eq!(
        batch_limit(&at("[::ffff:127.0.0.1]:9")),
        MAX_LOOPBACK_BATCH_BYTES
    );
    assert_eq!(batch_limit(&at("10.1.2.3:9")), MAX_BATCH_BYTES);
    assert_eq!(batch_limit(&at("[2001:db8::1]:9")), MAX_BATCH_BYTES);
    // IPv6 (40) and UDP (8) headers around it.
    const {
        assert!(
            MAX_BATCH_BYTES + 40 + 8 <= 1500,
            "a batch fits an Ethernet frame"
        )
    };
}
