//! A stream message with its one large byte string (a call's arguments, a
//! returned result) apart from the rest of its bytes, so that a peer moves
//! that string between the socket and a buffer of its own without copying
//! it: the sender writes the bytes around it and the string itself, the
//! receiver reads the first bytes, finds the string's header there, and
//! reads the string straight into the buffer that becomes `args` or the
//! result. The bytes on the wire are the same message (PROTOCOL.md,
//! *Streams*); only how each peer moves them differs.
//!
//! Decoding goes through the one envelope decoder: the bytes around the
//! string, with its header rewritten to an empty string's, decode as the
//! message, and the string's content is then put in its place. Every check
//! the decoder makes is made.

use super::cbor::Reader;
use super::envelope::{
    self, CALL_ELEMENTS, KIND_CALL, KIND_REPLY, OUTCOME_RETURN, REPLY_ELEMENTS, read_header,
};
use super::limits::{MAX_NAME_BYTES, PROTOCOL_VERSION};
use super::message::*;
use super::payload_bytes::Payload;

/// Byte strings shorter than this are read with their message: apart, they
/// would save less than the extra reads cost. The same size as a payload's
/// large string, which a decode takes whole: what is read into its own
/// buffer is what keeps it.
pub const SPLIT_MIN_BYTES: usize = super::item::LARGE_BYTES;

/// The most bytes a message may have before its large string's content:
/// the array and frozen header, a call's fixed fields at their widest, its
/// name at its longest, and the string's header. A receiver reads this
/// much (or the whole frame, if shorter) to find the string.
pub const SPLIT_HEAD_BYTES: usize = 72 + MAX_NAME_BYTES;

/// Where a message's large byte string lies in the message's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LargeField {
    /// The offset of the string's header.
    pub header_at: usize,
    /// The offset of its first byte of content.
    pub content_at: usize,
    /// Its length.
    pub length: usize,
}

impl LargeField {
    /// The offset just past its content.
    pub fn end(&self) -> usize {
        self.content_at + self.length
    }
}

/// The large byte string of the message whose first bytes are `head`: a
/// call's arguments or a reply's returned result, when its header is in
/// `head` and it is at least [`SPLIT_MIN_BYTES`] long. `None` for anything
/// else, including bytes that do not decode (read whole, the decoder then
/// says what is wrong with them).
pub fn large_field(head: &[u8]) -> Option<LargeField> {
    let mut r = Reader::new(head);
    let (header, elements) = read_header(&mut r).ok()?;
    if header.version != PROTOCOL_VERSION {
        return None;
    }
    match (header.kind, elements) {
        (KIND_CALL, CALL_ELEMENTS) => {
            r.uint("incarnation").ok()?;
            r.text("procedure").ok()?;
            r.uint("signature").ok()?;
            r.uint("deadline_ms").ok()?;
            r.uint("done_below").ok()?;
        }
        (KIND_REPLY, REPLY_ELEMENTS) => {
            r.uint("incarnation").ok()?;
            if r.array("outcome").ok()? != 2 || r.uint("outcome code").ok()? != OUTCOME_RETURN {
                return None;
            }
        }
        _ => return None,
    }
    let header_at = head.len() - r.remaining();
    let length = usize::try_from(r.bytes_header("large field").ok()?).ok()?;
    let content_at = head.len() - r.remaining();
    (length >= SPLIT_MIN_BYTES).then_some(LargeField {
        header_at,
        content_at,
        length,
    })
}

/// Where the first large byte string of a payload lies (the one a decode
/// by value takes, `wire::decode_payload_owned`), found in `prefix`, the
/// payload's first bytes: offsets within the payload. `None` when its
/// head is not in `prefix` (or the bytes before it are not well-formed).
/// A receiver reads that string's content into a buffer of its own, and
/// the payload's other bytes into another ([`Payload::around`]).
pub fn payload_large_field(prefix: &[u8]) -> Option<LargeField> {
    let large = super::item::first_large(prefix)?;
    Some(LargeField {
        header_at: large.head,
        content_at: large.content.start,
        length: large.content.len(),
    })
}

/// Decodes a message of at most `limit` bytes read in three parts:
/// `before`, its bytes up to `field`'s content (`field` as
/// [`large_field`] found it there), `content`, the field's content, and
/// `after`, the bytes after it.
pub fn decode_split(
    before: &[u8],
    field: LargeField,
    content: Payload,
    after: &[u8],
    limit: usize,
) -> Result<Message, Undecodable> {
    // The message with an empty string where the large one is.
    let mut rest = Vec::with_capacity(field.header_at + 1 + after.len());
    rest.extend_from_slice(&before[..field.header_at]);
    rest.push(EMPTY_BYTE_STRING);
    rest.extend_from_slice(after);
    let mut message = envelope::decode(&rest, limit)?;
    match &mut message {
        Message::Call(call) => call.args = content,
        Message::Reply(Reply {
            outcome: Outcome::Return(result),
            ..
        }) => *result = content,
        // `large_field` found a call or a returned result in these bytes.
        other => unreachable!("a split message decoded as {:?}", other.header()),
    }
    Ok(message)
}

/// The CBOR of a byte string of length 0.
const EMPTY_BYTE_STRING: u8 = 0x40;

impl Call {
    /// Encodes the call as the bytes before its arguments' content (through
    /// their header) into `before` and those after it (its note, if any)
    /// into `after`, both cleared first: the message is `before ++ args ++
    /// after`, written without copying the arguments. Refuses what exceeds
    /// `limit` bytes in all.
    pub fn encode_around_args(
        &self,
        before: &mut Vec<u8>,
        after: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), EncodeError> {
        envelope::encode_call_around_args(self, before, after, limit)
    }
}

impl Reply {
    /// Encodes the reply as the bytes before its result's content (through
    /// its header) into `before`, cleared first: the message is `before ++
    /// result`, written without copying the result. A reply with another
    /// outcome is encoded whole into `before`. Refuses what exceeds `limit`
    /// bytes in all.
    pub fn encode_before_result(
        &self,
        before: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), EncodeError> {
        envelope::encode_reply_before_result(self, before, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::Fingerprint;
    use std::time::Duration;

    fn call(args: Vec<u8>, elsewhere: Elsewhere) -> Call {
        Call {
            client: ClientId(0x0123_4567_89ab_cdef),
            xid: Xid(7),
            incarnation: Incarnation(9),
            procedure: "files.put".into(),
            signature: Fingerprint::of("files.put(bytes)->u64"),
            deadline: Duration::from_secs(3),
            done_below: Xid(5),
            args: args.into(),
            elsewhere,
        }
    }

    /// Reads `bytes` as a receiver does: the head, then, if it finds a large
    /// field there, the field's content and the rest apart.
    fn read_apart(bytes: &[u8]) -> Result<Message, Undecodable> {
        let head = &bytes[..bytes.len().min(SPLIT_HEAD_BYTES)];
        match large_field(head).filter(|field| field.end() <= bytes.len()) {
            Some(field) => decode_split(
                &bytes[..field.content_at],
                field,
                bytes[field.content_at..field.end()].to_vec().into(),
                &bytes[field.end()..],
                usize::MAX,
            ),
            None => Message::decode_within(bytes, usize::MAX),
        }
    }

    #[test]
    fn a_reply_written_before_its_result_is_the_same_bytes_and_reads_back() {
        let result: Vec<u8> = (0..100_000u32).map(|i| (i / 3) as u8).collect();
        let reply = |outcome| Reply {
            client: ClientId(u64::MAX),
            xid: Xid(1 << 40),
            incarnation: Incarnation(3),
            outcome,
        };
        let returned = reply(Outcome::Return(result.clone().into()));
        let joined = Message::Reply(returned.clone()).encode_within_vec();
        let mut before = Vec::new();
        returned
            .encode_before_result(&mut before, usize::MAX)
            .unwrap();
        assert_eq!([&before[..], &result].concat(), joined);
        let field = large_field(&before).expect("the result is found");
        assert_eq!(
            (field.content_at, field.length),
            (before.len(), result.len())
        );
        assert_eq!(read_apart(&joined), Ok(Message::Reply(returned.clone())));
        // The limit counts the result; other outcomes are written whole.
        let size = joined.len();
        assert_eq!(
            returned.encode_before_result(&mut before, size - 1),
            Err(EncodeError::TooLarge {
                size,
                limit: size - 1
            })
        );
        let evicted = reply(Outcome::ReplyEvicted);
        evicted
            .encode_before_result(&mut before, usize::MAX)
            .unwrap();
        assert_eq!(before, Message::Reply(evicted).encode_within_vec());
    }

    impl Message {
        fn encode_within_vec(&self) -> Vec<u8> {
            let mut bytes = Vec::new();
            self.encode_within(&mut bytes, usize::MAX).unwrap();
            bytes
        }
    }

    #[test]
    fn a_large_call_written_around_its_args_is_the_same_bytes_and_reads_back() {
        for elsewhere in [Elsewhere::Nowhere, Elsewhere::Acknowledged] {
            let call = call((0..100_000u32).map(|i| i as u8).collect(), elsewhere);
            let mut joined = Vec::new();
            call.encode_within(&mut joined, usize::MAX).unwrap();
            let (mut before, mut after) = (Vec::new(), Vec::new());
            call.encode_around_args(&mut before, &mut after, usize::MAX)
                .unwrap();
            assert_eq!([&before[..], &call.args.to_vec(), &after].concat(), joined);
            let field = large_field(&before).expect("the args are found");
            assert_eq!(field.content_at, before.len());
            assert_eq!(field.length, call.args.len());
            assert_eq!(read_apart(&joined), Ok(Message::Call(call)));
        }
    }

    #[test]
    fn a_large_result_reads_back_apart() {
        let reply = Message::Reply(Reply {
            client: ClientId(1),
            xid: Xid(2),
            incarnation: Incarnation(3),
            outcome: Outcome::Return(vec![0xa5; SPLIT_MIN_BYTES].into()),
        });
        let mut bytes = Vec::new();
        reply.encode_within(&mut bytes, usize::MAX).unwrap();
        assert!(large_field(&bytes).is_some());
        assert_eq!(read_apart(&bytes), Ok(reply));
    }

    #[test]
    fn small_strings_and_other_messages_are_read_whole() {
        let small = Message::Call(call(vec![1; SPLIT_MIN_BYTES - 1], Elsewhere::Nowhere));
        let refusal = Message::Reply(Reply {
            client: ClientId(1),
            xid: Xid(2),
            incarnation: Incarnation(3),
            outcome: Outcome::Panicked("x".repeat(SPLIT_MIN_BYTES)),
        });
        for message in [small, refusal] {
            let mut bytes = Vec::new();
            message.encode_within(&mut bytes, usize::MAX).unwrap();
            assert_eq!(large_field(&bytes), None, "{:?}", message.header());
        }
    }

    #[test]
    fn a_split_message_is_checked_as_a_whole_one_is() {
        // A call with xid 0 is refused either way, for the same reason.
        let mut bad = call(vec![3; SPLIT_MIN_BYTES], Elsewhere::Nowhere);
        bad.xid = Xid(0);
        bad.done_below = Xid(0);
        let mut bytes = Vec::new();
        bad.encode_within(&mut bytes, usize::MAX).unwrap();
        assert!(large_field(&bytes).is_some());
        let whole = Message::decode_within(&bytes, usize::MAX).unwrap_err();
        assert_eq!(read_apart(&bytes).unwrap_err().error, whole.error);
        // Bytes after the message are trailing bytes, split or not.
        bytes.push(0);
        let whole = Message::decode_within(&bytes, usize::MAX).unwrap_err();
        assert_eq!(read_apart(&bytes).unwrap_err().error, whole.error);
    }

    #[test]
    fn the_longest_head_fits_the_bytes_read_first() {
        let mut widest = call(vec![0; SPLIT_MIN_BYTES], Elsewhere::Acknowledged);
        widest.client = ClientId(u64::MAX);
        widest.xid = Xid(u64::MAX);
        widest.done_below = Xid(u64::MAX);
        widest.incarnation = Incarnation(u64::MAX);
        widest.signature = Fingerprint(u64::MAX);
        widest.deadline = Duration::MAX;
        widest.procedure = "p".repeat(MAX_NAME_BYTES);
        let (mut before, mut after) = (Vec::new(), Vec::new());
        widest
            .encode_around_args(&mut before, &mut after, usize::MAX)
            .unwrap();
        assert!(before.len() <= SPLIT_HEAD_BYTES, "{}", before.len());
    }
}
