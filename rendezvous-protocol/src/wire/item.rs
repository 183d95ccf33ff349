//! Where a payload's CBOR item ends: one pass over its bytes, before serde
//! sees them, that checks the item is well-formed (RFC 8949 §3 and its
//! Appendix F) and nested at most [`MAX_NESTING`] deep, and, for an item
//! using indefinite lengths, a second that rewrites it with definite ones.
//!
//! **Well-formedness**: ciborium decodes by type and stops once the type is
//! satisfied, so on its own it ran a call whose indefinite-length argument
//! array lacked its break (`9f 02 03` read as `(2, 3)`), and left the break
//! of a well-formed one (`9f 02 03 ff`) unread, which then looked like a
//! trailing byte. Knowing where the item really ends lets the decoder
//! refuse the first.
//!
//! **Indefinite lengths everywhere**: ciborium reads them only in some
//! places (a `Vec`, a struct, a `String`), not in others (a tuple, an enum,
//! a field name, a fixed-size byte array). Rather than document its gaps,
//! an item that uses any is handed to it rewritten with definite lengths
//! (strings' chunks joined): the same value, in the form every place
//! reads. Senders emit definite lengths, so this costs nothing in practice;
//! the rewrite is at most a few bytes per indefinite item longer than the
//! input.
//!
//! **Depth**: ciborium bounds nesting only in
//! `from_reader_with_recursion_limit`, which zeroes a 4 KiB scratch buffer
//! on every call (measured with callgrind: a quarter of a small call's
//! instructions), so this pass enforces the limit instead, counting what
//! ciborium counts (arrays, maps and tags), and the decode uses a small
//! buffer.
//!
//! What it does not check is left to the decoder, which meets every byte
//! but the breaks: text being UTF-8 (but for the chunks of an
//! indefinite-length text, each of which must be), values fitting their
//! types.

use super::cbor::Writer;
use super::limits::MAX_NESTING;

/// The initial byte of a break, which ends an indefinite-length item.
const BREAK: u8 = 0xff;

/// An open container's count of items still expected, when it has none:
/// it is of indefinite length and ends at a break.
const INDEFINITE: u64 = u64::MAX;

/// Why the front of a payload is not one well-formed CBOR item within the
/// depth limit. `at` is the offset of the offending byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flaw {
    /// Arrays, maps and tags nested more than [`MAX_NESTING`] deep.
    TooDeep,
    /// The bytes end inside the item.
    Truncated,
    /// Not well-formed CBOR (or, in an indefinite-length text, a chunk
    /// that is not UTF-8).
    IllFormed { at: usize, why: &'static str },
}

/// A well-formed item at the front of some bytes.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Item {
    /// Bytes it takes.
    pub(super) length: usize,
    /// For each indefinite-length array, map or string, in the order they
    /// open: its count of items (keys and values, for a map) or of bytes.
    sizes: Vec<u64>,
    /// The first definite-length byte string of at least
    /// [`LARGE_BYTES`], which a decode may take out whole
    /// ([`super::large_bytes`]).
    pub(super) large: Option<LargeBytes>,
}

/// A byte string this long is large: worth decoding without a copy.
pub(super) const LARGE_BYTES: usize = 16 * 1024;

/// Where a large byte string lies in an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct LargeBytes {
    /// Offset of its head.
    pub(super) head: usize,
    /// Its content.
    pub(super) content: std::ops::Range<usize>,
}

/// A container the walk is inside.
#[derive(Clone, Copy, Default)]
struct Open {
    /// Items still expected ([`INDEFINITE`]: until a break).
    left: u64,
    /// An indefinite-length map, which may end only after a value.
    map: bool,
    /// In an indefinite-length map: a key was read and its value was not.
    key_pending: bool,
    /// An indefinite-length container's index in [`Item::sizes`].
    slot: usize,
}

/// The first CBOR item in `bytes`, if it is well-formed and nests arrays,
/// maps and tags at most [`MAX_NESTING`] deep; the first flaw met
/// otherwise.
pub(super) fn item(bytes: &[u8]) -> Result<Item, Flaw> {
    match walk(bytes, false)? {
        Walked::Item(item) => Ok(item),
        Walked::Large(large) => unreachable!("a walk to the end stopped at {large:?}"),
    }
}

/// Where the first large byte string of the item that `prefix` starts
/// lies, when its head is in `prefix` and every byte before it is
/// well-formed: the one [`Item::large`] of the whole item names. `None`
/// otherwise (the item may still have one, further on).
pub(super) fn first_large(prefix: &[u8]) -> Option<LargeBytes> {
    match walk(prefix, true) {
        Ok(Walked::Large(large)) => Some(large),
        _ => None,
    }
}

/// How a walk over an item ended.
enum Walked {
    Item(Item),
    /// Stopped at the head of its first large byte string.
    Large(LargeBytes),
}

/// The walk of [`item`], stopping at the first large byte string's head
/// if `stop_at_large`.
fn walk(bytes: &[u8], stop_at_large: bool) -> Result<Walked, Flaw> {
    let mut open = [Open::default(); MAX_NESTING];
    let mut depth: usize = 0;
    let mut sizes = Vec::new();
    let mut large = None;
    let mut at = 0;
    loop {
        let start = at;
        let initial = *bytes.get(at).ok_or(Flaw::Truncated)?;
        at += 1;
        if initial == BREAK {
            match depth.checked_sub(1).map(|top| open[top]) {
                Some(top) if top.left == INDEFINITE && !top.key_pending => depth -= 1,
                Some(top) if top.left == INDEFINITE => {
                    return Err(ill_formed(
                        start,
                        "an indefinite-length map ends after a key, before its value",
                    ));
                }
                _ => {
                    return Err(ill_formed(
                        start,
                        "a break (0xff) outside an indefinite-length array or map",
                    ));
                }
            }
        } else {
            let (major, info) = (initial >> 5, initial & 0x1f);
            let argument;
            (argument, at) = read_argument(bytes, at, info)?;
            let container = match (major, argument) {
                (0 | 1, Some(_)) => None,
                (0 | 1 | 6, None) => {
                    return Err(ill_formed(
                        start,
                        "an integer or a tag cannot have an indefinite length",
                    ));
                }
                (2 | 3, Some(length))
                    if stop_at_large && major == 2 && length >= LARGE_BYTES as u64 =>
                {
                    let length = usize::try_from(length).map_err(|_| Flaw::Truncated)?;
                    return Ok(Walked::Large(LargeBytes {
                        head: start,
                        content: at..at.saturating_add(length),
                    }));
                }
                (2 | 3, length) => {
                    let content = at;
                    at = skip_string(bytes, at, major, length, &mut sizes)?;
                    if major == 2 && length.is_some() && at - content >= LARGE_BYTES {
                        large.get_or_insert(LargeBytes {
                            head: start,
                            content: content..at,
                        });
                    }
                    None
                }
                (4, Some(count)) => Some((count, false)),
                (5, Some(pairs)) => Some((pairs.saturating_mul(2), false)),
                (4, None) => Some((INDEFINITE, false)),
                (5, None) => Some((INDEFINITE, true)),
                (6, Some(_tag)) => Some((1, false)),
                (_, Some(simple)) if info == 24 && simple < 32 => {
                    return Err(ill_formed(
                        start,
                        "a simple value below 32 takes one byte, not two",
                    ));
                }
                // Simple values and floats.
                _ => None,
            };
            if let Some((left, map)) = container {
                if depth == MAX_NESTING {
                    return Err(Flaw::TooDeep);
                }
                if left > 0 {
                    let slot = sizes.len();
                    if left == INDEFINITE {
                        sizes.push(0);
                    }
                    open[depth] = Open {
                        left,
                        map,
                        key_pending: false,
                        slot,
                    };
                    depth += 1;
                    continue;
                }
            }
        }
        // An item is complete: count it against its container, closing
        // those it fills.
        loop {
            let Some(top) = depth.checked_sub(1) else {
                return Ok(Walked::Item(Item {
                    length: at,
                    sizes,
                    large,
                }));
            };
            let container = &mut open[top];
            if container.left == INDEFINITE {
                container.key_pending = container.map && !container.key_pending;
                if let Some(size) = sizes.get_mut(container.slot) {
                    *size += 1;
                }
                break;
            }
            container.left -= 1;
            if container.left > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

impl Item {
    /// Whether it uses an indefinite length anywhere.
    pub(super) fn has_indefinite_lengths(&self) -> bool {
        !self.sizes.is_empty()
    }

    /// The item (the front of `bytes`, which [`item`] read) written with
    /// definite lengths only: breaks dropped, each indefinite-length
    /// container's head given its count, each indefinite-length string's
    /// chunks joined. Everything else is copied as it is.
    pub(super) fn with_definite_lengths(&self, bytes: &[u8]) -> Vec<u8> {
        // A definite head is at most 9 bytes where the indefinite one and
        // its break took 2.
        let mut out = Vec::with_capacity(self.length + 7 * self.sizes.len());
        let mut sizes = self.sizes.iter().copied();
        let mut at = 0;
        while let Some(&initial) = bytes.get(at).filter(|_| at < self.length) {
            if initial == BREAK {
                at += 1;
                continue;
            }
            let (major, info) = (initial >> 5, initial & 0x1f);
            let Ok((argument, after)) = read_argument(bytes, at + 1, info) else {
                break;
            };
            match (major, argument) {
                (2 | 3, Some(length)) => {
                    let end = after.saturating_add(length as usize);
                    out.extend_from_slice(bytes.get(at..end).unwrap_or_default());
                    at = end;
                }
                (2 | 3, None) => {
                    Writer::new(&mut out).head(major, sizes.next().unwrap_or(0));
                    at = after;
                    // Each chunk: a definite string of this type, or the break.
                    while let Some(&chunk) = bytes.get(at).filter(|b| **b != BREAK) {
                        let Ok((Some(length), content)) =
                            read_argument(bytes, at + 1, chunk & 0x1f)
                        else {
                            break;
                        };
                        let end = content.saturating_add(length as usize);
                        out.extend_from_slice(bytes.get(content..end).unwrap_or_default());
                        at = end;
                    }
                    at += 1;
                }
                (4 | 5, None) => {
                    let count = sizes.next().unwrap_or(0);
                    let count = if major == 5 { count / 2 } else { count };
                    Writer::new(&mut out).head(major, count);
                    at = after;
                }
                _ => {
                    out.extend_from_slice(bytes.get(at..after).unwrap_or_default());
                    at = after;
                }
            }
        }
        out
    }
}

fn ill_formed(at: usize, why: &'static str) -> Flaw {
    Flaw::IllFormed { at, why }
}

/// The argument of an item whose initial byte had `info`, read at `at`
/// (`None` for an indefinite length), and the offset after it.
fn read_argument(bytes: &[u8], at: usize, info: u8) -> Result<(Option<u64>, usize), Flaw> {
    match info {
        0..=23 => Ok((Some(u64::from(info)), at)),
        24..=27 => {
            let width = 1usize << (info - 24);
            let field = bytes.get(at..at + width).ok_or(Flaw::Truncated)?;
            let value = field
                .iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
            Ok((Some(value), at + width))
        }
        31 => Ok((None, at)),
        _ => Err(ill_formed(
            at - 1,
            "reserved additional information (28 to 30)",
        )),
    }
}

/// Skips a text or byte string's content: all its chunks, if of indefinite
/// length, each a definite-length string of the same major type (and, for
/// text, UTF-8 on its own), whose total length it records in `sizes`.
fn skip_string(
    bytes: &[u8],
    at: usize,
    major: u8,
    length: Option<u64>,
    sizes: &mut Vec<u64>,
) -> Result<usize, Flaw> {
    let skip = |at: usize, length: u64| {
        let end = usize::try_from(length)
            .ok()
            .and_then(|length| at.checked_add(length));
        end.filter(|end| *end <= bytes.len()).ok_or(Flaw::Truncated)
    };
    let Some(length) = length else {
        let slot = sizes.len();
        sizes.push(0);
        let mut at = at;
        loop {
            let initial = *bytes.get(at).ok_or(Flaw::Truncated)?;
            if initial == BREAK {
                return Ok(at + 1);
            }
            let (chunk_length, content) = read_argument(bytes, at + 1, initial & 0x1f)?;
            let length = match chunk_length {
                Some(length) if initial >> 5 == major => length,
                _ => {
                    return Err(ill_formed(
                        at,
                        "a chunk of an indefinite-length string is not a definite-length string of its type",
                    ));
                }
            };
            let end = skip(content, length)?;
            if major == 3
                && std::str::from_utf8(bytes.get(content..end).unwrap_or_default()).is_err()
            {
                return Err(ill_formed(
                    at,
                    "a chunk of an indefinite-length text is not UTF-8",
                ));
            }
            if let Some(size) = sizes.get_mut(slot) {
                *size += length;
            }
            at = end;
        }
    };
    skip(at, length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn too_deep(bytes: &[u8]) -> bool {
        item(bytes) == Err(Flaw::TooDeep)
    }

    fn item_length(bytes: &[u8]) -> Result<usize, Flaw> {
        item(bytes).map(|item| item.length)
    }

    fn nested(open: u8, levels: usize, close: &[u8]) -> Vec<u8> {
        let mut bytes = vec![open; levels];
        bytes.push(0x00);
        for _ in 0..levels {
            bytes.extend_from_slice(close);
        }
        bytes
    }

    #[test]
    fn counts_arrays_maps_and_tags_to_the_limit() {
        for (open, close) in [(0x81, &[][..]), (0x9f, &[0xff][..]), (0xc6, &[][..])] {
            assert!(!too_deep(&nested(open, MAX_NESTING, close)), "{open:#x}");
            assert!(too_deep(&nested(open, MAX_NESTING + 1, close)), "{open:#x}");
        }
        // {0: {0: ... 0}}: a map's value nests one level per map.
        let mut maps = Vec::new();
        for _ in 0..=MAX_NESTING {
            maps.extend([0xa1, 0x00]);
        }
        maps.push(0x00);
        assert!(too_deep(&maps));
        assert!(!too_deep(&maps[2..]));
    }

    #[test]
    fn siblings_do_not_add_up_and_strings_are_skipped() {
        // [[..32..], [..32..]] is 33 deep; [bytes(3), text(indefinite), [0]] is 2.
        let mut two = vec![0x82];
        two.extend(nested(0x81, MAX_NESTING - 1, &[]));
        two.extend(nested(0x81, MAX_NESTING - 1, &[]));
        assert!(!too_deep(&two));
        let strings = [
            0x83, 0x43, 0x81, 0x81, 0x81, 0x7f, 0x61, 0x61, 0xff, 0x81, 0x00,
        ];
        assert_eq!(item_length(&strings), Ok(strings.len()));
    }

    #[test]
    fn only_the_first_item_is_read() {
        let mut first_then_deep = vec![0x00];
        first_then_deep.extend(nested(0x81, 100, &[]));
        assert_eq!(item_length(&first_then_deep), Ok(1));
        // [_ 2, 3] with its break is 4 bytes; what follows is not its.
        assert_eq!(item_length(&[0x9f, 0x02, 0x03, 0xff, 0x00]), Ok(4));
        // {_ "a": 1}, (_ h'01' h'02'), 2.5 as a half float, simple 32.
        assert_eq!(item_length(&[0xbf, 0x61, b'a', 0x01, 0xff]), Ok(5));
        assert_eq!(item_length(&[0x5f, 0x41, 1, 0x41, 2, 0xff]), Ok(6));
        assert_eq!(item_length(&[0xf9, 0x41, 0x00]), Ok(3));
        assert_eq!(item_length(&[0xf8, 0x20]), Ok(2));
    }

    #[test]
    fn an_item_cut_short_is_truncated() {
        for cut in [
            &[][..],
            &[0x81],
            &[0x9f, 0x02, 0x03],
            &[0x5a, 0xff],
            &[0x19, 0x01],
            &[0x7f, 0x61],
            &[0x7f, 0x61, b'a'],
            &[0xa1, 0x00],
        ] {
            assert_eq!(item_length(cut), Err(Flaw::Truncated), "{cut:x?}");
        }
    }

    #[test]
    fn ill_formed_items_are_refused_where_they_go_wrong() {
        for (bytes, at) in [
            (&[0xff][..], 0),
            (&[0x82, 0x01, 0xff], 2),
            (&[0x1c], 0),
            (&[0x81, 0x3e], 1),
            (&[0x1f], 0),
            (&[0xdf, 0x00], 0),
            (&[0xf8, 0x1f], 0),
            (&[0x7f, 0x41, 0x00, 0xff], 1),
            (&[0x5f, 0x5f, 0xff, 0xff], 1),
            (&[0xbf, 0x00, 0xff], 2),
            // "é" split across two chunks: neither is UTF-8.
            (&[0x7f, 0x61, 0xc3, 0x61, 0xa9, 0xff], 1),
        ] {
            assert!(
                matches!(item_length(bytes), Err(Flaw::IllFormed { at: found, .. }) if found == at),
                "{bytes:x?}: {:?}",
                item_length(bytes)
            );
        }
    }

    fn rewritten(bytes: &[u8]) -> Vec<u8> {
        let item = item(bytes).expect("well-formed");
        assert!(item.has_indefinite_lengths(), "{bytes:x?}");
        let out = item.with_definite_lengths(bytes);
        let again = super::item(&out).expect("the rewrite is well-formed");
        assert!(!again.has_indefinite_lengths(), "{out:x?}");
        assert_eq!(again.length, out.len());
        out
    }

    #[test]
    fn the_rewrite_has_definite_lengths_and_the_same_items() {
        for (from, to) in [
            (&[0x9f, 0x02, 0x03, 0xff][..], &[0x82, 0x02, 0x03][..]),
            (&[0xbf, 0x61, b'a', 0x01, 0xff], &[0xa1, 0x61, b'a', 0x01]),
            (&[0x5f, 0x41, 1, 0x41, 2, 0xff], &[0x42, 1, 2]),
            (
                &[0x7f, 0x61, b'a', 0x62, b'b', b'c', 0xff],
                &[0x63, b'a', b'b', b'c'],
            ),
            (&[0x9f, 0x9f, 0xff, 0x5f, 0xff, 0xff], &[0x82, 0x80, 0x40]),
            (
                &[0xc1, 0x9f, 0xf9, 0x3e, 0x00, 0x18, 0x20, 0xff],
                &[0xc1, 0x82, 0xf9, 0x3e, 0x00, 0x18, 0x20],
            ),
            (
                &[0x82, 0x43, 1, 2, 3, 0xbf, 0xff],
                &[0x82, 0x43, 1, 2, 3, 0xa0],
            ),
        ] {
            assert_eq!(rewritten(from), to, "{from:x?}");
        }
        // 24 elements: the count needs a second byte.
        let mut long = vec![0x9f];
        long.extend([0x00; 24]);
        long.push(0xff);
        let mut definite = vec![0x98, 24];
        definite.extend([0x00; 24]);
        assert_eq!(rewritten(&long), definite);
    }

    /// A random CBOR item nesting about `depth` containers of every kind,
    /// with scalars and strings beside them.
    fn random_item(rng: &mut fastrand::Rng, depth: usize, out: &mut Vec<u8>) {
        if depth == 0 {
            match rng.u8(0..4) {
                0 => out.push(rng.u8(0..24)),
                1 => out.extend([0x19, 0x12, 0x34]),
                2 => out.extend([0x43, 1, 2, 3]),
                _ => out.extend([0x7f, 0x61, b'a', 0xff]),
            }
            return;
        }
        let siblings = rng.usize(1..3);
        match rng.u8(0..4) {
            0 => {
                out.push(0x80 | siblings as u8);
                for _ in 0..siblings {
                    random_item(rng, depth - 1, out);
                }
            }
            1 => {
                out.push(0x9f);
                for _ in 0..siblings {
                    random_item(rng, depth - 1, out);
                }
                out.push(0xff);
            }
            2 => {
                out.extend([0xa1, 0x00]);
                random_item(rng, depth - 1, out);
            }
            _ => {
                out.push(0xc6);
                random_item(rng, depth - 1, out);
            }
        }
    }

    #[test]
    fn agrees_with_the_decoders_own_limit() {
        use serde::de::IgnoredAny;
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2_000 {
            let mut bytes = Vec::new();
            let depth = rng.usize(0..MAX_NESTING + 4);
            random_item(&mut rng, depth, &mut bytes);
            let limited: Result<IgnoredAny, _> =
                ciborium::de::from_reader_with_recursion_limit(bytes.as_slice(), MAX_NESTING);
            let decoder_too_deep =
                matches!(limited, Err(ciborium::de::Error::RecursionLimitExceeded));
            assert!(limited.is_ok() || decoder_too_deep, "{limited:?}");
            assert_eq!(too_deep(&bytes), decoder_too_deep, "{bytes:x?}");
            // The rewrite, where there is one, is the same value.
            if let Ok(found) = item(&bytes)
                && found.has_indefinite_lengths()
            {
                let value = |bytes: &[u8]| -> ciborium::Value {
                    ciborium::de::from_reader(bytes).expect("a value")
                };
                let definite = found.with_definite_lengths(&bytes);
                assert_eq!(value(&definite), value(&bytes), "{bytes:x?}");
            }
        }
    }
}
