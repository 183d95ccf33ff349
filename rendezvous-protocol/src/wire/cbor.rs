//! The strict CBOR subset of the envelope: unsigned integers, text, bytes and
//! definite-length arrays, read from and written to byte slices directly.
//!
//! The envelope is decoded by hand rather than through serde because serde's
//! CBOR decoder is lenient where a protocol must not be (it accepts a byte
//! string where an array is required, an array of small integers where a
//! byte string is, a bignum or any tagged value where an integer is) and
//! because this is the hot path of every call: reading fields in place costs
//! no visitor indirection and no allocation but the payload's own.

use super::message::DecodeError;

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;

/// Reads fields front to back; every error names the field.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub(super) fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub(super) fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(MAJOR_UNSIGNED, field)
    }

    /// An array header; returns its length.
    pub(super) fn array(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(MAJOR_ARRAY, field)
    }

    pub(super) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let length = self.expect(MAJOR_BYTES, field)?;
        self.take(length)
    }

    /// A byte string's header alone; returns its length (its content may
    /// not be here: `split` reads it apart).
    pub(super) fn bytes_header(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.expect(MAJOR_BYTES, field)
    }

    pub(super) fn text(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let length = self.expect(MAJOR_TEXT, field)?;
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes).map_err(|_| malformed(field, "text is not valid UTF-8"))
    }

    fn take(&mut self, length: u64) -> Result<&'a [u8], DecodeError> {
        if length > self.bytes.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        let (taken, rest) = self.bytes.split_at(length as usize);
        self.bytes = rest;
        Ok(taken)
    }

    /// One item header of major type `major`; returns its argument.
    fn expect(&mut self, major: u8, field: &'static str) -> Result<u64, DecodeError> {
        let (&initial, rest) = self.bytes.split_first().ok_or(DecodeError::Truncated)?;
        self.bytes = rest;
        let found = initial >> 5;
        if found != major {
            return Err(malformed(
                field,
                &format!("expected {}, found {}", name(major), name(found)),
            ));
        }
        let width = match initial & 0x1f {
            small @ 0..=23 => return Ok(u64::from(small)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            31 => return Err(malformed(field, "indefinite lengths are not allowed here")),
            _ => return Err(malformed(field, "reserved additional information")),
        };
        let argument = self.take(width)?;
        Ok(argument
            .iter()
            .fold(0u64, |value, byte| value << 8 | u64::from(*byte)))
    }
}

fn name(major: u8) -> &'static str {
    match major {
        0 => "an unsigned integer",
        1 => "a negative integer",
        2 => "a byte string",
        3 => "a text string",
        4 => "an array",
        5 => "a map",
        6 => "a tagged item",
        _ => "a float or simple value",
    }
}

fn malformed(field: &'static str, reason: &str) -> DecodeError {
    DecodeError::Malformed {
        reason: format!("field `{field}`: {reason}"),
    }
}

/// Appends items in shortest form.
pub(super) struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer { out }
    }

    pub(super) fn uint(&mut self, value: u64) {
        self.header(MAJOR_UNSIGNED, value);
    }

    pub(super) fn array(&mut self, length: usize) {
        self.header(MAJOR_ARRAY, length as u64);
    }

    /// A byte string's header alone: its content follows, by [`Self::raw`]
    /// or written apart (`split`).
    pub(super) fn bytes_header(&mut self, length: usize) {
        self.header(MAJOR_BYTES, length as u64);
    }

    /// Bytes as they are: the content of a string whose header is written.
    pub(super) fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(super) fn text(&mut self, value: &str) {
        self.header(MAJOR_TEXT, value.len() as u64);
        self.out.extend_from_slice(value.as_bytes());
    }

    /// An item head of major type `major`: a length, a count or a value.
    pub(super) fn head(&mut self, major: u8, argument: u64) {
        self.header(major, argument);
    }

    fn header(&mut self, major: u8, argument: u64) {
        let major = major << 5;
        match argument {
            0..=23 => self.out.push(major | argument as u8),
            24..=0xff => self.out.extend_from_slice(&[major | 24, argument as u8]),
            0x100..=0xffff => {
                self.out.push(major | 25);
                self.out.extend_from_slice(&(argument as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(major | 26);
                self.out.extend_from_slice(&(argument as u32).to_be_bytes());
            }
            _ => {
                self.out.push(major | 27);
                self.out.extend_from_slice(&argument.to_be_bytes());
            }
        }
    }
}
