//! A message on a stream (TCP): its length, 4 bytes big-endian, then
//! exactly one version-1 message, the same CBOR envelope a datagram
//! carries. The length comes first so that a receiver refuses an
//! over-limit message by its first 4 bytes, before reading or allocating
//! any of it (PROTOCOL.md, *Streams*).

use super::limits::MAX_FRAME_BYTES;
use super::message::{DecodeError, Message, Undecodable};

/// The bytes of a frame's length.
pub const FRAME_HEADER_BYTES: usize = 4;

/// The first bytes of an over-limit message a receiver reads, without
/// reading the rest, to name the call it refuses: the frozen header at its
/// widest (an array header, two small uints, two 9-byte uints) fits.
pub const FRAME_PEEK_BYTES: usize = 32;

/// The header of a frame whose message is `length` bytes; `None` when the
/// length does not fit the 4 bytes.
pub fn frame_header(length: usize) -> Option<[u8; FRAME_HEADER_BYTES]> {
    u32::try_from(length).ok().map(u32::to_be_bytes)
}

/// The length a frame header announces.
pub fn frame_length(header: [u8; FRAME_HEADER_BYTES]) -> usize {
    u32::from_be_bytes(header) as usize
}

/// Why a stream's bytes are not a frame the receiver accepts.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum FrameError {
    /// The length is over the receiver's limit: the message is not read.
    #[error("a stream message of {size} bytes exceeds this peer's {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    /// The message did not decode.
    #[error("{}", .0.error)]
    Undecodable(Undecodable),
}

/// Reads the first frame of `bytes`, a stream's bytes so far, accepting
/// messages of at most `limit` bytes: `Ok(None)` while the frame is not
/// all there, else the message and the bytes the frame took. A receiver
/// reading a socket does the same in two reads (the header, then exactly
/// the length); this form is what the fuzz target drives.
pub fn decode_frame(bytes: &[u8], limit: usize) -> Result<Option<(Message, usize)>, FrameError> {
    let Some((header, rest)) = bytes.split_first_chunk::<FRAME_HEADER_BYTES>() else {
        return Ok(None);
    };
    let size = frame_length(*header);
    if size > limit.min(MAX_FRAME_BYTES) {
        return Err(FrameError::TooLarge { size, limit });
    }
    let Some(body) = rest.get(..size) else {
        return Ok(None);
    };
    match Message::decode_within(body, limit) {
        Ok(message) => Ok(Some((message, FRAME_HEADER_BYTES + size))),
        Err(undecodable) => Err(FrameError::Undecodable(undecodable)),
    }
}

impl From<FrameError> for DecodeError {
    fn from(error: FrameError) -> DecodeError {
        match error {
            FrameError::TooLarge { size, limit } => DecodeError::TooLarge { size, limit },
            FrameError::Undecodable(undecodable) => undecodable.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ClientId, Confirm, Xid};

    fn confirm() -> Message {
        Message::Confirm(Confirm {
            client: ClientId(0x0123_4567_89ab_cdef),
            xid: Xid(1),
        })
    }

    #[test]
    fn a_frame_is_its_length_then_its_message() {
        let body = confirm().encode().unwrap();
        let mut frame = frame_header(body.len()).unwrap().to_vec();
        frame.extend(&body);
        assert_eq!(hex(&frame), "0000000d8401031b0123456789abcdef01");
        assert_eq!(decode_frame(&frame, 100), Ok(Some((confirm(), 17))));
        // Cut anywhere: not yet a frame, and not an error.
        for cut in 0..frame.len() {
            assert_eq!(decode_frame(&frame[..cut], 100), Ok(None), "{cut}");
        }
    }

    #[test]
    fn an_over_limit_frame_is_refused_by_its_header_alone() {
        let header = frame_header(1 << 30).unwrap();
        assert_eq!(
            decode_frame(&header, 1 << 20),
            Err(FrameError::TooLarge {
                size: 1 << 30,
                limit: 1 << 20
            })
        );
    }

    #[test]
    fn a_frame_that_does_not_decode_says_why() {
        let frame = [0, 0, 0, 2, 0x84, 0x01];
        let Err(FrameError::Undecodable(undecodable)) = decode_frame(&frame, 100) else {
            panic!("decoded");
        };
        assert_eq!(undecodable.error, DecodeError::Truncated);
    }

    /// PROTOCOL.md's worked bytes of *Streams*, from the real encoder.
    #[test]
    fn the_worked_bytes_of_protocol_md_are_what_is_sent() {
        use crate::signature::Fingerprint;
        use crate::wire::{Call, Incarnation, Outcome, Reply};
        use std::time::Duration;
        let protocol = include_str!("../../../PROTOCOL.md");
        let client = ClientId(0x0123_4567_89ab_cdef);
        let call = Message::Call(Call {
            client,
            xid: Xid(1),
            incarnation: Incarnation::ANY,
            procedure: "math.add".into(),
            signature: Fingerprint::of("math.add(i64,i64)->i64"),
            deadline: Duration::from_millis(3000),
            done_below: Xid(1),
            args: vec![0x82, 0x02, 0x03].into(),
            elsewhere: Default::default(),
        });
        let body = call.encode().unwrap();
        let framed = hex(&frame_header(body.len()).unwrap());
        assert!(protocol.contains(&format!("{framed}  ")), "{framed}");
        assert!(protocol.contains(&hex(&body)), "{}", hex(&body));
        let reply = |outcome| {
            hex(&Message::Reply(Reply {
                client,
                xid: Xid(1),
                incarnation: Incarnation(0xff),
                outcome,
            })
            .encode()
            .unwrap())
        };
        for outcome in [
            Outcome::ReplyTooLarge {
                size: 300_000,
                limit: 65_507,
            },
            Outcome::ReplyWaiting { size: 300_000 },
            Outcome::MessageTooLarge {
                size: 20_971_570,
                limit: 16 << 20,
            },
        ] {
            let bytes = reply(outcome.clone());
            assert!(protocol.contains(&bytes), "{outcome:?}: {bytes}");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
