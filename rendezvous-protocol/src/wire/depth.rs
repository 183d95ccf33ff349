//! How deeply a payload nests, found by one pass over its bytes before
//! serde sees them.
//!
//! ciborium bounds nesting only in `from_reader_with_recursion_limit`,
//! which zeroes a 4 KiB scratch buffer on every call: the largest single
//! cost of decoding a small payload (measured with callgrind: a quarter of
//! a small call's instructions). This pass enforces [`MAX_NESTING`] instead,
//! counting what ciborium counts (arrays, maps and tags), so the decode can
//! use a small scratch buffer.
//!
//! It is lenient by design: on bytes it cannot read it stops and answers
//! "not too deep", leaving the error to the decoder, whose own limit (256)
//! still keeps the stack safe.

use super::limits::MAX_NESTING;

/// An open container of indefinite length: it ends at a break (0xff).
const INDEFINITE: u64 = u64::MAX;

const BREAK: u8 = 0xff;

/// Whether the first CBOR item in `bytes` has containers (arrays, maps,
/// tags) nested more than [`MAX_NESTING`] deep.
pub(super) fn too_deep(bytes: &[u8]) -> bool {
    // Items each open container still expects.
    let mut open = [0u64; MAX_NESTING];
    let mut depth = 0;
    let mut at = 0;
    loop {
        let Some(&initial) = bytes.get(at) else {
            return false;
        };
        at += 1;
        let complete = if initial == BREAK {
            if depth == 0 || open[depth - 1] != INDEFINITE {
                return false;
            }
            depth -= 1;
            true
        } else {
            let (major, info) = (initial >> 5, initial & 0x1f);
            let Some((argument, after)) = argument(bytes, at, info) else {
                return false;
            };
            at = after;
            match major {
                0 | 1 | 7 if argument.is_some() => true,
                2 | 3 => {
                    let Some(after) = skip_string(bytes, at, major, argument) else {
                        return false;
                    };
                    at = after;
                    true
                }
                4..=6 => {
                    let expected = match (major, argument) {
                        (4, Some(count)) => count,
                        (5, Some(pairs)) => pairs.saturating_mul(2),
                        (6, Some(_tag)) => 1,
                        (4 | 5, None) => INDEFINITE,
                        _ => return false,
                    };
                    if depth == MAX_NESTING {
                        return true;
                    }
                    if expected == 0 {
                        true
                    } else {
                        open[depth] = expected;
                        depth += 1;
                        false
                    }
                }
                _ => return false,
            }
        };
        if complete {
            // Count the item against its container, closing those it fills.
            loop {
                if depth == 0 {
                    return false;
                }
                let expected = &mut open[depth - 1];
                if *expected == INDEFINITE {
                    break;
                }
                *expected -= 1;
                if *expected > 0 {
                    break;
                }
                depth -= 1;
            }
        }
    }
}

/// The argument of an item whose initial byte had `info`, read at `at`:
/// `Some((None, at))` for an indefinite length; `None` if unreadable.
fn argument(bytes: &[u8], at: usize, info: u8) -> Option<(Option<u64>, usize)> {
    match info {
        0..=23 => Some((Some(u64::from(info)), at)),
        24..=27 => {
            let width = 1usize << (info - 24);
            let field = bytes.get(at..at.checked_add(width)?)?;
            let value = field
                .iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
            Some((Some(value), at + width))
        }
        31 => Some((None, at)),
        _ => None,
    }
}

/// Skips a text or byte string's content (all its chunks, if indefinite).
fn skip_string(bytes: &[u8], at: usize, major: u8, length: Option<u64>) -> Option<usize> {
    let skip = |at: usize, length: u64| {
        let end = at.checked_add(usize::try_from(length).ok()?)?;
        (end <= bytes.len()).then_some(end)
    };
    match length {
        Some(length) => skip(at, length),
        None => {
            let mut at = at;
            loop {
                let initial = *bytes.get(at)?;
                if initial == BREAK {
                    return Some(at + 1);
                }
                if initial >> 5 != major {
                    return None;
                }
                let (length, after) = argument(bytes, at + 1, initial & 0x1f)?;
                at = skip(after, length?)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            0x83, 0x43, 0x81, 0x81, 0x81, 0x7f, 0x61, 0x81, 0xff, 0x81, 0x00,
        ];
        assert!(!too_deep(&strings));
    }

    #[test]
    fn only_the_first_item_is_read_and_garbage_is_left_to_the_decoder() {
        let mut first_then_deep = vec![0x00];
        first_then_deep.extend(nested(0x81, 100, &[]));
        assert!(!too_deep(&first_then_deep));
        for garbage in [
            &[][..],
            &[0x1c],
            &[0x81],
            &[0x5a, 0xff],
            &[0xff],
            &[0x7f, 0x41],
        ] {
            assert!(!too_deep(garbage), "{garbage:x?}");
        }
    }

    /// A random CBOR item nesting about `depth` containers of every kind,
    /// with scalars and strings beside them.
    fn item(rng: &mut fastrand::Rng, depth: usize, out: &mut Vec<u8>) {
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
                    item(rng, depth - 1, out);
                }
            }
            1 => {
                out.push(0x9f);
                for _ in 0..siblings {
                    item(rng, depth - 1, out);
                }
                out.push(0xff);
            }
            2 => {
                out.extend([0xa1, 0x00]);
                item(rng, depth - 1, out);
            }
            _ => {
                out.push(0xc6);
                item(rng, depth - 1, out);
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
            item(&mut rng, depth, &mut bytes);
            let limited: Result<IgnoredAny, _> =
                ciborium::de::from_reader_with_recursion_limit(bytes.as_slice(), MAX_NESTING);
            let decoder_too_deep =
                matches!(limited, Err(ciborium::de::Error::RecursionLimitExceeded));
            assert!(limited.is_ok() || decoder_too_deep, "{limited:?}");
            assert_eq!(too_deep(&bytes), decoder_too_deep, "{bytes:x?}");
        }
    }
}
