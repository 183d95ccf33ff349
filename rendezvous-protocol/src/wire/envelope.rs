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
//! note    [1, 4, client, xid, elsewhere]   only right after its call
//! outcome [0, bytes] | [1, text] | [2] | [3, uint] | [4] | [5, [uint]] | [6, text]
//!         | [7, text] | [8, uint, uint] | [9] | [10] | [11] | [12, uint]
//!         | [13, uint] | [14, uint, uint]
//! ```
//!
//! Every function takes the largest message it may write or read: a
//! datagram's [`MAX_DATAGRAM_BYTES`], or a stream's limit (`frame`).

use super::cbor::{Reader, Writer};
use super::limits::*;
use super::message::*;
use crate::signature::Fingerprint;
use std::time::Duration;

pub(super) const KIND_CALL: u64 = 0;
/// A call's elements.
pub(super) const CALL_ELEMENTS: u64 = 10;
/// A reply's elements.
pub(super) const REPLY_ELEMENTS: u64 = 6;
pub(super) const KIND_ACK: u64 = 1;
pub(super) const KIND_REPLY: u64 = 2;
pub(super) const KIND_CONFIRM: u64 = 3;
/// A call's note: never alone, only right after the call it names.
const KIND_NOTE: u64 = 4;
/// A note's elements: the frozen header and the level of `Elsewhere`.
const NOTE_ELEMENTS: u64 = 5;

pub(super) const OUTCOME_RETURN: u64 = 0;
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
const OUTCOME_OVERLOADED: u64 = 11;
const OUTCOME_WRONG_INCARNATION_UPTIME: u64 = 12;
const OUTCOME_REPLY_WAITING: u64 = 13;
const OUTCOME_MESSAGE_TOO_LARGE: u64 = 14;

/// Most protocol versions an UnsupportedVersion outcome may list.
const MAX_VERSIONS_LISTED: u64 = 16;

pub(super) fn encode_into(
    message: &Message,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), EncodeError> {
    match message {
        Message::Call(call) => encode_call(call, out, limit),
        Message::Ack(ack) => encode_ack(ack, out, limit),
        Message::Reply(reply) => encode_reply(reply, out, limit),
        Message::Confirm(confirm) => encode_confirm(confirm, out, limit),
    }
}

pub(super) fn encode_call(call: &Call, out: &mut Vec<u8>, limit: usize) -> Result<(), EncodeError> {
    let variable = call.procedure.len() + call.args.len();
    let mut w = header(
        out,
        variable,
        CALL_ELEMENTS as usize,
        KIND_CALL,
        call.client,
        call.xid,
    );
    write_call_up_to_args(&mut w, call);
    for part in call.args.parts() {
        w.raw(part);
    }
    write_note(&mut w, call);
    fits(out, limit)
}

/// A call as the bytes before its arguments' content (up to their byte
/// string's header) and those after it (its note, if any): the message is
/// `before ++ call.args ++ after`, written without copying the arguments.
pub(super) fn encode_call_around_args(
    call: &Call,
    before: &mut Vec<u8>,
    after: &mut Vec<u8>,
    limit: usize,
) -> Result<(), EncodeError> {
    let elements = CALL_ELEMENTS as usize;
    let mut w = header(
        before,
        call.procedure.len(),
        elements,
        KIND_CALL,
        call.client,
        call.xid,
    );
    write_call_up_to_args(&mut w, call);
    after.clear();
    write_note(&mut Writer::new(after), call);
    let size = before.len() + call.args.len() + after.len();
    if size > limit {
        return Err(EncodeError::TooLarge { size, limit });
    }
    Ok(())
}

/// A call's fields after the frozen header, through its arguments' byte
/// string header.
fn write_call_up_to_args(w: &mut Writer<'_>, call: &Call) {
    w.uint(call.incarnation.0);
    w.text(&call.procedure);
    w.uint(call.signature.0);
    w.uint(deadline_millis(call.deadline));
    w.uint(call.done_below.0);
    w.bytes_header(call.args.len());
}

/// The note after a call that says where else it went; nothing when it
/// went nowhere else.
fn write_note(w: &mut Writer<'_>, call: &Call) {
    if call.elsewhere != Elsewhere::Nowhere {
        w.array(NOTE_ELEMENTS as usize);
        w.uint(PROTOCOL_VERSION);
        w.uint(KIND_NOTE);
        w.uint(call.client.0);
        w.uint(call.xid.0);
        w.uint(elsewhere_level(call.elsewhere));
    }
}

pub(super) fn encode_ack(ack: &Ack, out: &mut Vec<u8>, limit: usize) -> Result<(), EncodeError> {
    let mut w = header(out, 0, 5, KIND_ACK, ack.client, ack.xid);
    w.uint(ack.incarnation.0);
    fits(out, limit)
}

pub(super) fn encode_reply(
    reply: &Reply,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), EncodeError> {
    let variable = match &reply.outcome {
        Outcome::Return(bytes) => bytes.len(),
        Outcome::Panicked(message) => message.len(),
        _ => 0,
    };
    let elements = REPLY_ELEMENTS as usize;
    let mut w = header(out, variable, elements, KIND_REPLY, reply.client, reply.xid);
    w.uint(reply.incarnation.0);
    write_outcome(&mut w, &reply.outcome);
    fits(out, limit)
}

/// A reply as the bytes before its result's content (through its byte
/// string's header): the message is `before ++ result`, written without
/// copying the result. A reply that returns nothing is encoded whole.
pub(super) fn encode_reply_before_result(
    reply: &Reply,
    before: &mut Vec<u8>,
    limit: usize,
) -> Result<(), EncodeError> {
    let Outcome::Return(result) = &reply.outcome else {
        return encode_reply(reply, before, limit);
    };
    let elements = REPLY_ELEMENTS as usize;
    let mut w = header(before, 0, elements, KIND_REPLY, reply.client, reply.xid);
    w.uint(reply.incarnation.0);
    w.array(2);
    w.uint(OUTCOME_RETURN);
    w.bytes_header(result.len());
    let size = before.len() + result.len();
    if size > limit {
        return Err(EncodeError::TooLarge { size, limit });
    }
    Ok(())
}

pub(super) fn encode_confirm(
    confirm: &Confirm,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), EncodeError> {
    header(out, 0, 4, KIND_CONFIRM, confirm.client, confirm.xid);
    fits(out, limit)
}

/// Room for an envelope's array, frozen header and fixed-size fields: its
/// variable-size fields (names, payloads) come on top.
const FIXED_FIELDS_BYTES: usize = 64;

/// Clears `out`, makes room for an envelope of `length` elements whose
/// strings and payloads take `variable` bytes (so it is written without
/// regrowing), and writes the array header and the frozen header.
fn header(
    out: &mut Vec<u8>,
    variable: usize,
    length: usize,
    kind: u64,
    client: ClientId,
    xid: Xid,
) -> Writer<'_> {
    out.clear();
    out.reserve(FIXED_FIELDS_BYTES + variable);
    let mut w = Writer::new(out);
    w.array(length);
    w.uint(PROTOCOL_VERSION);
    w.uint(kind);
    w.uint(client.0);
    w.uint(xid.0);
    w
}

fn fits(out: &[u8], limit: usize) -> Result<(), EncodeError> {
    if out.len() > limit {
        return Err(EncodeError::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(())
}

fn write_outcome(w: &mut Writer<'_>, outcome: &Outcome) {
    match outcome {
        Outcome::Return(bytes) => {
            w.array(2);
            w.uint(OUTCOME_RETURN);
            w.bytes_header(bytes.len());
            for part in bytes.parts() {
                w.raw(part);
            }
        }
        Outcome::Panicked(message) => {
            w.array(2);
            w.uint(OUTCOME_PANICKED);
            w.text(message);
        }
        Outcome::NoSuchProcedure => {
            w.array(1);
            w.uint(OUTCOME_NO_SUCH_PROCEDURE);
        }
        Outcome::SignatureMismatch(actual) => {
            w.array(2);
            w.uint(OUTCOME_SIGNATURE_MISMATCH);
            w.uint(actual.0);
        }
        Outcome::WrongIncarnation => {
            w.array(1);
            w.uint(OUTCOME_WRONG_INCARNATION);
        }
        Outcome::WrongIncarnationUptime(uptime_ms) => {
            w.array(2);
            w.uint(OUTCOME_WRONG_INCARNATION_UPTIME);
            w.uint(*uptime_ms);
        }
        Outcome::UnsupportedVersion(versions) => {
            w.array(2);
            w.uint(OUTCOME_UNSUPPORTED_VERSION);
            w.array(versions.len());
            for version in versions {
                w.uint(*version);
            }
        }
        Outcome::Malformed(reason) => {
            w.array(2);
            w.uint(OUTCOME_MALFORMED);
            w.text(reason);
        }
        Outcome::BadArguments(reason) => {
            w.array(2);
            w.uint(OUTCOME_BAD_ARGUMENTS);
            w.text(reason);
        }
        Outcome::ReplyTooLarge { size, limit } => {
            w.array(3);
            w.uint(OUTCOME_REPLY_TOO_LARGE);
            w.uint(*size);
            w.uint(*limit);
        }
        Outcome::ReplyEvicted => {
            w.array(1);
            w.uint(OUTCOME_REPLY_EVICTED);
        }
        Outcome::DeadlineExceeded => {
            w.array(1);
            w.uint(OUTCOME_DEADLINE_EXCEEDED);
        }
        Outcome::Overloaded => {
            w.array(1);
            w.uint(OUTCOME_OVERLOADED);
        }
        Outcome::ReplyWaiting { size } => {
            w.array(2);
            w.uint(OUTCOME_REPLY_WAITING);
            w.uint(*size);
        }
        Outcome::MessageTooLarge { size, limit } => {
            w.array(3);
            w.uint(OUTCOME_MESSAGE_TOO_LARGE);
            w.uint(*size);
            w.uint(*limit);
        }
    }
}

pub(super) fn decode(datagram: &[u8], limit: usize) -> Result<Message, Undecodable> {
    let (message, length) = decode_front(datagram, limit)?;
    match datagram.len() - length {
        0 => Ok(message),
        count => Err(Undecodable {
            header: Some(message.header()),
            error: DecodeError::TrailingBytes { count },
        }),
    }
}

/// Decodes the envelope at the front of `bytes` (a datagram, or what is
/// left of one); returns it and how many bytes it took.
pub(super) fn decode_front(bytes: &[u8], limit: usize) -> Result<(Message, usize), Undecodable> {
    if bytes.len() > limit {
        let error = DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        };
        return Err(Undecodable {
            header: None,
            error,
        });
    }
    let mut r = Reader::new(bytes);
    let (header, length) = read_header(&mut r).map_err(|error| Undecodable {
        header: None,
        error,
    })?;
    let with_header = |error| Undecodable {
        header: Some(header),
        error,
    };
    if header.version != PROTOCOL_VERSION {
        let version = header.version;
        return Err(with_header(DecodeError::UnsupportedVersion { version }));
    }
    let mut message = read_body(&mut r, header, length).map_err(with_header)?;
    validate(&message).map_err(with_header)?;
    let mut taken = bytes.len() - r.remaining();
    if let Message::Call(call) = &mut message
        && let Some((elsewhere, note_bytes)) = note_after(&bytes[taken..], call)
    {
        call.elsewhere = elsewhere;
        taken += note_bytes;
    }
    Ok((message, taken))
}

/// The note at the front of `bytes`, if it is one for `call` (same client
/// and xid): what it says and the bytes it takes. Anything else is left
/// to be read as the next message of the batch (a note for another call
/// does not decode there, and ends the batch, as it does for a peer that
/// knows no notes).
fn note_after(bytes: &[u8], call: &Call) -> Option<(Elsewhere, usize)> {
    // The common case, a call alone: nothing to read (and no error made).
    if bytes.is_empty() {
        return None;
    }
    let mut r = Reader::new(bytes);
    let (header, length) = read_header(&mut r).ok()?;
    let names_call = header.version == PROTOCOL_VERSION
        && header.kind == KIND_NOTE
        && length == NOTE_ELEMENTS
        && (header.client, header.xid) == (call.client, call.xid);
    if !names_call {
        return None;
    }
    let elsewhere = match r.uint("elsewhere").ok()? {
        0 => Elsewhere::Nowhere,
        1 => Elsewhere::Unanswered,
        // Higher levels, from later peers, say more than this one knows:
        // read as the most it knows.
        _ => Elsewhere::Acknowledged,
    };
    Some((elsewhere, bytes.len() - r.remaining()))
}

fn elsewhere_level(elsewhere: Elsewhere) -> u64 {
    match elsewhere {
        Elsewhere::Nowhere => 0,
        Elsewhere::Unanswered => 1,
        Elsewhere::Acknowledged => 2,
    }
}

/// The frozen header at the front of `bytes` (which may hold only its
/// first bytes): who sent a message too large to read.
pub(super) fn decode_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    read_header(&mut Reader::new(bytes)).map(|(header, _)| header)
}

/// The frozen header and the array's declared length.
pub(super) fn read_header(r: &mut Reader<'_>) -> Result<(Header, u64), DecodeError> {
    let length = r.array("message")?;
    if length < 4 {
        return Err(DecodeError::Malformed {
            reason: format!("a message array has at least 4 elements, this one {length}"),
        });
    }
    let header = Header {
        version: r.uint("version")?,
        kind: r.uint("kind")?,
        client: ClientId(r.uint("client")?),
        xid: Xid(r.uint("xid")?),
    };
    Ok((header, length))
}

fn read_body(r: &mut Reader<'_>, header: Header, length: u64) -> Result<Message, DecodeError> {
    let (client, xid) = (header.client, header.xid);
    let (expected, kind) = match header.kind {
        KIND_CALL => (CALL_ELEMENTS, "call"),
        KIND_ACK => (5, "ack"),
        KIND_REPLY => (REPLY_ELEMENTS, "reply"),
        KIND_CONFIRM => (4, "confirm"),
        KIND_NOTE => {
            return Err(DecodeError::Malformed {
                reason: "a note (kind 4) stands only right after the call it names (same client and xid), in the same datagram".into(),
            });
        }
        other => {
            return Err(DecodeError::Malformed {
                reason: format!(
                    "unknown message kind {other}; kinds are 0 (call), 1 (ack), 2 (reply), 3 (confirm), 4 (a call's note)"
                ),
            });
        }
    };
    if length != expected {
        return Err(DecodeError::Malformed {
            reason: format!("a {kind} has {expected} elements, this one {length}"),
        });
    }
    Ok(match header.kind {
        KIND_CALL => Message::Call(Call {
            client,
            xid,
            incarnation: Incarnation(r.uint("incarnation")?),
            procedure: r.text("procedure")?.to_owned(),
            signature: Fingerprint(r.uint("signature")?),
            deadline: Duration::from_millis(r.uint("deadline_ms")?).min(MAX_DEADLINE),
            done_below: Xid(r.uint("done_below")?),
            args: r.bytes("args")?.into(),
            elsewhere: Elsewhere::Nowhere,
        }),
        KIND_ACK => Message::Ack(Ack {
            client,
            xid,
            incarnation: Incarnation(r.uint("incarnation")?),
        }),
        KIND_REPLY => Message::Reply(Reply {
            client,
            xid,
            incarnation: Incarnation(r.uint("incarnation")?),
            outcome: read_outcome(r)?,
        }),
        _ => Message::Confirm(Confirm { client, xid }),
    })
}

fn read_outcome(r: &mut Reader<'_>) -> Result<Outcome, DecodeError> {
    let length = r.array("outcome")?;
    let code = if length == 0 {
        return Err(DecodeError::Malformed {
            reason: "an outcome array holds at least its code".into(),
        });
    } else {
        r.uint("outcome code")?
    };
    let (expected, outcome) = match code {
        OUTCOME_RETURN => (2, Outcome::Return(r.bytes("result")?.into())),
        OUTCOME_PANICKED => (2, Outcome::Panicked(r.text("panic message")?.to_owned())),
        OUTCOME_NO_SUCH_PROCEDURE => (1, Outcome::NoSuchProcedure),
        OUTCOME_SIGNATURE_MISMATCH => (
            2,
            Outcome::SignatureMismatch(Fingerprint(r.uint("signature")?)),
        ),
        OUTCOME_WRONG_INCARNATION => (1, Outcome::WrongIncarnation),
        OUTCOME_WRONG_INCARNATION_UPTIME => {
            (2, Outcome::WrongIncarnationUptime(r.uint("uptime_ms")?))
        }
        OUTCOME_UNSUPPORTED_VERSION => {
            let count = r.array("supported versions")?;
            if count > MAX_VERSIONS_LISTED {
                return Err(DecodeError::Malformed {
                    reason: format!(
                        "{count} supported versions listed; at most {MAX_VERSIONS_LISTED}"
                    ),
                });
            }
            let versions = (0..count)
                .map(|_| r.uint("supported version"))
                .collect::<Result<_, _>>()?;
            (2, Outcome::UnsupportedVersion(versions))
        }
        OUTCOME_MALFORMED => (2, Outcome::Malformed(r.text("reason")?.to_owned())),
        OUTCOME_BAD_ARGUMENTS => (2, Outcome::BadArguments(r.text("reason")?.to_owned())),
        OUTCOME_REPLY_TOO_LARGE => (
            3,
            Outcome::ReplyTooLarge {
                size: r.uint("size")?,
                limit: r.uint("limit")?,
            },
        ),
        OUTCOME_REPLY_EVICTED => (1, Outcome::ReplyEvicted),
        OUTCOME_DEADLINE_EXCEEDED => (1, Outcome::DeadlineExceeded),
        OUTCOME_OVERLOADED => (1, Outcome::Overloaded),
        OUTCOME_REPLY_WAITING => (
            2,
            Outcome::ReplyWaiting {
                size: r.uint("size")?,
            },
        ),
        OUTCOME_MESSAGE_TOO_LARGE => (
            3,
            Outcome::MessageTooLarge {
                size: r.uint("size")?,
                limit: r.uint("limit")?,
            },
        ),
        other => {
            return Err(DecodeError::Malformed {
                reason: format!("unknown outcome code {other}"),
            });
        }
    };
    if length != expected {
        return Err(DecodeError::Malformed {
            reason: format!("outcome {code} has {expected} elements, this one {length}"),
        });
    }
    Ok(outcome)
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
        // A watermark above the call's own xid would declare the call itself
        // finished: the server would forget it on arrival and never run it.
        if call.done_below > call.xid {
            return Err(DecodeError::InvalidField {
                field: "done_below",
                reason: format!(
                    "done_below {} is above the call's xid {}; it is at most the xid",
                    call.done_below.0, call.xid.0
                ),
            });
        }
    }
    Ok(())
}

fn deadline_millis(deadline: Duration) -> u64 {
    deadline.min(MAX_DEADLINE).as_millis() as u64
}
