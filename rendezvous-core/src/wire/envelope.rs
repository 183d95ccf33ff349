//! The CBOR form of [`Message`]: one positional array per datagram.
//!
//! Positional arrays rather than maps keep datagrams small and decoding
//! cheap; the frozen header (`[version, kind, client, xid]`) keeps them
//! evolvable. The layouts, in PROTOCOL.md's words:
//!
//! ```text
//! call    [1, 0, client, xid, incarnation, procedure, signature, deadline_ms, done_below, args]
//! ack     [1, 1, client, xid, incarnation]
//! reply   [1, 2, client, xid, incarnation, outcome]
//! confirm [1, 3, client, xid]
//! outcome [0, bytes] | [1, text] | [2] | [3, uint] | [4] | [5, [uint]] | [6, text]
//!         | [7, text] | [8, uint, uint] | [9] | [10]
//! ```

use super::*;
use serde::de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(super) const KIND_CALL: u64 = 0;
pub(super) const KIND_ACK: u64 = 1;
pub(super) const KIND_REPLY: u64 = 2;
pub(super) const KIND_CONFIRM: u64 = 3;

const OUTCOME_RETURN: u64 = 0;
const OUTCOME_PANICKED: u64 = 1;
const OUTCOME_NO_SUCH_PROCEDURE: u64 = 2;
const OUTCOME_SIGNATURE_MISMATCH: u64 = 3;
const OUTCOME_WRONG_INCARNATION: u64 = 4;
const OUTCOME_UNSUPPORTED_VERSION: u64 = 5;
const OUTCOME_MALFORMED: u64 = 6;
const OUTCOME_BAD_ARGUMENTS: u64 = 7;
const OUTCOME_REPLY_TOO_LARGE: u64 = 8;
const OUTCOME_REPLY_EVICTED: u64 = 9;
const OUTCOME_DEADLINE_EXCEEDED: u64 = 10;

pub(super) fn encode_into(message: &Message, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.clear();
    ciborium::into_writer(message, &mut *out).map_err(|error| EncodeError::Unencodable {
        reason: error.to_string(),
    })?;
    if out.len() > MAX_DATAGRAM_BYTES {
        return Err(EncodeError::TooLarge {
            size: out.len(),
            limit: MAX_DATAGRAM_BYTES,
        });
    }
    Ok(())
}

pub(super) fn decode(datagram: &[u8]) -> Result<Message, Undecodable> {
    let fail = |header, error| Err(Undecodable { header, error });
    if datagram.len() > MAX_DATAGRAM_BYTES {
        let error = DecodeError::TooLarge {
            size: datagram.len(),
            limit: MAX_DATAGRAM_BYTES,
        };
        return fail(None, error);
    }
    let header = match read_cbor::<Header>(datagram) {
        Ok((header, _)) => header,
        Err(error) => return fail(None, error),
    };
    if header.version != PROTOCOL_VERSION {
        let error = DecodeError::UnsupportedVersion {
            version: header.version,
        };
        return fail(Some(header), error);
    }
    let message = match read_cbor::<Message>(datagram) {
        Ok((_, trailing)) if trailing > 0 => {
            return fail(Some(header), DecodeError::TrailingBytes { count: trailing });
        }
        Ok((message, _)) => message,
        Err(error) => return fail(Some(header), error),
    };
    match validate(&message) {
        Ok(()) => Ok(message),
        Err(error) => fail(Some(header), error),
    }
}

/// Decodes one CBOR item from the front of `bytes`; also returns how many
/// bytes were left after it.
pub(super) fn read_cbor<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), DecodeError> {
    let mut rest = bytes;
    let value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_NESTING)
        .map_err(classify)?;
    Ok((value, rest.len()))
}

fn classify(error: ciborium::de::Error<std::io::Error>) -> DecodeError {
    use ciborium::de::Error;
    match error {
        Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated,
        Error::Io(io) => DecodeError::Malformed {
            reason: io.to_string(),
        },
        Error::Syntax(offset) => DecodeError::Malformed {
            reason: format!("invalid CBOR at byte {offset}"),
        },
        Error::Semantic(_, reason) => DecodeError::Malformed { reason },
        Error::RecursionLimitExceeded => DecodeError::TooDeep { limit: MAX_NESTING },
    }
}

fn validate(message: &Message) -> Result<(), DecodeError> {
    if let Message::Call(call) = message {
        if call.procedure.is_empty() || call.procedure.len() > MAX_NAME_BYTES {
            return Err(DecodeError::InvalidField {
                field: "procedure",
                reason: format!(
                    "a name must be 1 to {MAX_NAME_BYTES} bytes long, this one is {}",
                    call.procedure.len()
                ),
            });
        }
        if call.xid.0 == 0 {
            return Err(DecodeError::InvalidField {
                field: "xid",
                reason: "xid 0 never names a call; number calls from 1".into(),
            });
        }
    }
    Ok(())
}

fn deadline_millis(deadline: Duration) -> u64 {
    deadline.min(MAX_DEADLINE).as_millis() as u64
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let header = self.header();
        let len = match self {
            Message::Call(_) => 10,
            Message::Ack(_) => 5,
            Message::Reply(_) => 6,
            Message::Confirm(_) => 4,
        };
        let mut array = serializer.serialize_tuple(len)?;
        array.serialize_element(&header.version)?;
        array.serialize_element(&header.kind)?;
        array.serialize_element(&header.client.0)?;
        array.serialize_element(&header.xid.0)?;
        match self {
            Message::Call(call) => {
                array.serialize_element(&call.incarnation.0)?;
                array.serialize_element(&call.procedure)?;
                array.serialize_element(&call.signature.0)?;
                array.serialize_element(&deadline_millis(call.deadline))?;
                array.serialize_element(&call.done_below.0)?;
                array.serialize_element(serde_bytes::Bytes::new(&call.args))?;
            }
            Message::Ack(ack) => array.serialize_element(&ack.incarnation.0)?,
            Message::Reply(reply) => {
                array.serialize_element(&reply.incarnation.0)?;
                array.serialize_element(&reply.outcome)?;
            }
            Message::Confirm(_) => {}
        }
        array.end()
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fn tagged<S: Serializer>(s: S, tag: u64) -> Result<S::Ok, S::Error> {
            let mut array = s.serialize_tuple(1)?;
            array.serialize_element(&tag)?;
            array.end()
        }
        fn with<S: Serializer, T: Serialize + ?Sized>(
            s: S,
            tag: u64,
            value: &T,
        ) -> Result<S::Ok, S::Error> {
            let mut array = s.serialize_tuple(2)?;
            array.serialize_element(&tag)?;
            array.serialize_element(value)?;
            array.end()
        }
        match self {
            Outcome::Return(bytes) => {
                with(serializer, OUTCOME_RETURN, serde_bytes::Bytes::new(bytes))
            }
            Outcome::Panicked(message) => with(serializer, OUTCOME_PANICKED, message),
            Outcome::NoSuchProcedure => tagged(serializer, OUTCOME_NO_SUCH_PROCEDURE),
            Outcome::SignatureMismatch(actual) => {
                with(serializer, OUTCOME_SIGNATURE_MISMATCH, &actual.0)
            }
            Outcome::WrongIncarnation => tagged(serializer, OUTCOME_WRONG_INCARNATION),
            Outcome::UnsupportedVersion(versions) => {
                with(serializer, OUTCOME_UNSUPPORTED_VERSION, versions)
            }
            Outcome::Malformed(reason) => with(serializer, OUTCOME_MALFORMED, reason),
            Outcome::BadArguments(reason) => with(serializer, OUTCOME_BAD_ARGUMENTS, reason),
            Outcome::ReplyTooLarge { size, limit } => {
                let mut array = serializer.serialize_tuple(3)?;
                array.serialize_element(&OUTCOME_REPLY_TOO_LARGE)?;
                array.serialize_element(size)?;
                array.serialize_element(limit)?;
                array.end()
            }
            Outcome::ReplyEvicted => tagged(serializer, OUTCOME_REPLY_EVICTED),
            Outcome::DeadlineExceeded => tagged(serializer, OUTCOME_DEADLINE_EXCEEDED),
        }
    }
}

/// Pulls the next array element or fails naming the field that is missing.
fn next<'de, A: SeqAccess<'de>, T: Deserialize<'de>>(
    seq: &mut A,
    field: &'static str,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom(format_args!("missing field `{field}`")))
}

/// Fails if the array has elements beyond the layout.
fn end<'de, A: SeqAccess<'de>>(seq: &mut A, what: &str) -> Result<(), A::Error> {
    match seq.next_element::<IgnoredAny>()? {
        None => Ok(()),
        Some(_) => Err(de::Error::custom(format_args!(
            "{what} has more elements than its layout"
        ))),
    }
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array starting [version, kind, client, xid]")
            }
            // Reads the frozen prefix only; the rest is the full decoder's job.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Header, A::Error> {
                Ok(Header {
                    version: next(&mut seq, "version")?,
                    kind: next(&mut seq, "kind")?,
                    client: ClientId(next(&mut seq, "client")?),
                    xid: Xid(next(&mut seq, "xid")?),
                })
            }
        }
        deserializer.deserialize_seq(HeaderVisitor)
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MessageVisitor;
        impl<'de> Visitor<'de> for MessageVisitor {
            type Value = Message;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rendezvous message array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Message, A::Error> {
                let _version: u64 = next(&mut seq, "version")?;
                let kind: u64 = next(&mut seq, "kind")?;
                let client = ClientId(next(&mut seq, "client")?);
                let xid = Xid(next(&mut seq, "xid")?);
                let message = match kind {
                    KIND_CALL => Message::Call(Call {
                        client,
                        xid,
                        incarnation: Incarnation(next(&mut seq, "incarnation")?),
                        procedure: next(&mut seq, "procedure")?,
                        signature: Fingerprint(next(&mut seq, "signature")?),
                        deadline: Duration::from_millis(next(&mut seq, "deadline_ms")?),
                        done_below: Xid(next(&mut seq, "done_below")?),
                        args: next::<_, serde_bytes::ByteBuf>(&mut seq, "args")?.into_vec(),
                    }),
                    KIND_ACK => Message::Ack(Ack {
                        client,
                        xid,
                        incarnation: Incarnation(next(&mut seq, "incarnation")?),
                    }),
                    KIND_REPLY => Message::Reply(Reply {
                        client,
                        xid,
                        incarnation: Incarnation(next(&mut seq, "incarnation")?),
                        outcome: next(&mut seq, "outcome")?,
                    }),
                    KIND_CONFIRM => Message::Confirm(Confirm { client, xid }),
                    other => {
                        return Err(de::Error::custom(format_args!(
                            "unknown message kind {other}; kinds are 0 (call), 1 (ack), 2 (reply), 3 (confirm)"
                        )));
                    }
                };
                end(&mut seq, "message")?;
                Ok(message)
            }
        }
        deserializer.deserialize_seq(MessageVisitor)
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OutcomeVisitor;
        impl<'de> Visitor<'de> for OutcomeVisitor {
            type Value = Outcome;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an outcome array [code, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Outcome, A::Error> {
                let code: u64 = next(&mut seq, "outcome code")?;
                let outcome = match code {
                    OUTCOME_RETURN => Outcome::Return(
                        next::<_, serde_bytes::ByteBuf>(&mut seq, "result")?.into_vec(),
                    ),
                    OUTCOME_PANICKED => Outcome::Panicked(next(&mut seq, "panic message")?),
                    OUTCOME_NO_SUCH_PROCEDURE => Outcome::NoSuchProcedure,
                    OUTCOME_SIGNATURE_MISMATCH => {
                        Outcome::SignatureMismatch(Fingerprint(next(&mut seq, "signature")?))
                    }
                    OUTCOME_WRONG_INCARNATION => Outcome::WrongIncarnation,
                    OUTCOME_UNSUPPORTED_VERSION => {
                        Outcome::UnsupportedVersion(next(&mut seq, "supported versions")?)
                    }
                    OUTCOME_MALFORMED => Outcome::Malformed(next(&mut seq, "reason")?),
                    OUTCOME_BAD_ARGUMENTS => Outcome::BadArguments(next(&mut seq, "reason")?),
                    OUTCOME_REPLY_TOO_LARGE => Outcome::ReplyTooLarge {
                        size: next(&mut seq, "size")?,
                        limit: next(&mut seq, "limit")?,
                    },
                    OUTCOME_REPLY_EVICTED => Outcome::ReplyEvicted,
                    OUTCOME_DEADLINE_EXCEEDED => Outcome::DeadlineExceeded,
                    other => {
                        return Err(de::Error::custom(format_args!(
                            "unknown outcome code {other}"
                        )));
                    }
                };
                end(&mut seq, "outcome")?;
                Ok(outcome)
            }
        }
        deserializer.deserialize_seq(OutcomeVisitor)
    }
}

