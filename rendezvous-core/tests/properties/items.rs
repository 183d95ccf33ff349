//! CBOR as a tree of items, with the choices an encoder may make: longer
//! heads, indefinite lengths; read from bytes and written back.

use crate::checks::hex;
use std::fmt::Debug;

/// How an item's head is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// The shortest form, as senders write it.
    Shortest,
    /// The argument in 1, 2, 4 or 8 bytes, where it fits (accepted from peers).
    Wide(u8),
    /// Indefinite length (strings, arrays and maps only).
    Indefinite,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Item {
    /// Major type 0 (unsigned) or 1 (negative).
    Int {
        major: u8,
        value: u64,
        form: Form,
    },
    /// Major type 7: simple values and floats, the head's low bits and the
    /// argument bytes as they are.
    Simple {
        info: u8,
        argument: Vec<u8>,
    },
    /// Major type 2 or 3; `declared` overrides the length written.
    Bytes {
        text: bool,
        data: Vec<u8>,
        form: Form,
        declared: Option<u64>,
    },
    /// Major type 4, or 5 with keys and values alternating.
    Array {
        map: bool,
        items: Vec<Item>,
        form: Form,
        declared: Option<u64>,
    },
    Tag {
        tag: u64,
        item: Box<Item>,
    },
}

fn write_head(out: &mut Vec<u8>, major: u8, argument: u64, form: Form) {
    let major = major << 5;
    let width = match form {
        Form::Indefinite => return out.push(major | 31),
        Form::Wide(width) if width >= 8 || argument < 1 << (8 * u32::from(width)) => width,
        _ => match argument {
            0..=23 => return out.push(major | argument as u8),
            24..=0xff => 1,
            0x100..=0xffff => 2,
            0x1_0000..=0xffff_ffff => 4,
            _ => 8,
        },
    };
    let info = match width {
        1 => 24,
        2 => 25,
        4 => 26,
        _ => 27,
    };
    out.push(major | info);
    let bytes = argument.to_be_bytes();
    out.extend_from_slice(&bytes[8 - usize::from(width.min(8))..]);
}

impl Item {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Item::Int { major, value, form } => write_head(out, *major, *value, *form),
            Item::Simple { info, argument } => {
                out.push(7 << 5 | info);
                out.extend_from_slice(argument);
            }
            Item::Bytes {
                text,
                data,
                form,
                declared,
            } => {
                let major = if *text { 3 } else { 2 };
                if *form == Form::Indefinite {
                    // Chunks split at character boundaries: each chunk of a
                    // text must be valid UTF-8 on its own.
                    write_head(out, major, 0, Form::Indefinite);
                    let mut start = 0;
                    while start < data.len() {
                        let mut end = (start + 1 + data.len() / 3).min(data.len());
                        while *text && end < data.len() && (data[end] & 0xc0) == 0x80 {
                            end += 1;
                        }
                        write_head(out, major, (end - start) as u64, Form::Shortest);
                        out.extend_from_slice(&data[start..end]);
                        start = end;
                    }
                    out.push(0xff);
                } else {
                    write_head(out, major, declared.unwrap_or(data.len() as u64), *form);
                    out.extend_from_slice(data);
                }
            }
            Item::Array {
                map,
                items,
                form,
                declared,
            } => {
                let (major, length) = if *map {
                    (5, items.len() as u64 / 2)
                } else {
                    (4, items.len() as u64)
                };
                write_head(out, major, declared.unwrap_or(length), *form);
                for item in items {
                    item.write(out);
                }
                if *form == Form::Indefinite {
                    out.push(0xff);
                }
            }
            Item::Tag { tag, item } => {
                write_head(out, 6, *tag, Form::Shortest);
                item.write(out);
            }
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Parses the definite-length, well-formed CBOR that encoders write.
    fn parse(input: &mut &[u8]) -> Item {
        let (&initial, rest) = input.split_first().unwrap();
        *input = rest;
        let (major, info) = (initial >> 5, initial & 0x1f);
        let mut take = |n: usize| {
            let (taken, rest) = input.split_at(n);
            *input = rest;
            taken.to_vec()
        };
        let width = match info {
            0..=23 => 0,
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => panic!("not encoder output: additional information {info}"),
        };
        let raw = take(width);
        if major == 7 {
            return Item::Simple {
                info,
                argument: raw,
            };
        }
        let argument = if width == 0 {
            u64::from(info)
        } else {
            raw.iter().fold(0, |v, b| v << 8 | u64::from(*b))
        };
        let form = Form::Shortest;
        match major {
            0 | 1 => Item::Int {
                major,
                value: argument,
                form,
            },
            2 | 3 => Item::Bytes {
                text: major == 3,
                data: take(argument as usize),
                form,
                declared: None,
            },
            4 | 5 => {
                let count = if major == 5 { 2 * argument } else { argument };
                Item::Array {
                    map: major == 5,
                    items: (0..count).map(|_| Item::parse(input)).collect(),
                    form,
                    declared: None,
                }
            }
            _ => Item::Tag {
                tag: argument,
                item: Box::new(Item::parse(input)),
            },
        }
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Item {
        let mut input = bytes;
        let item = Item::parse(&mut input);
        assert!(input.is_empty(), "trailing bytes in {}", hex(bytes));
        item
    }

    pub(crate) fn children_mut(&mut self) -> Option<&mut Vec<Item>> {
        match self {
            Item::Array { items, .. } => Some(items),
            _ => None,
        }
    }

    /// Paths (child indexes from the root) of every item.
    pub(crate) fn paths(&self) -> Vec<Vec<usize>> {
        let mut paths = vec![vec![]];
        match self {
            Item::Array { items, .. } => {
                for (i, item) in items.iter().enumerate() {
                    paths.extend(item.paths().into_iter().map(|mut p| {
                        p.insert(0, i);
                        p
                    }));
                }
            }
            Item::Tag { item, .. } => {
                // A tag's content is not addressed separately.
                let _ = item;
            }
            _ => {}
        }
        paths
    }

    pub(crate) fn at_mut(&mut self, path: &[usize]) -> &mut Item {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => self.children_mut().unwrap()[i].at_mut(rest),
        }
    }

    /// Rewrites every head in a longer form (some at random), keeping the meaning.
    pub(crate) fn widen(&mut self, rng: &mut fastrand::Rng) {
        let wide = |rng: &mut fastrand::Rng| {
            if rng.bool() {
                Form::Wide([1, 2, 4, 8][rng.usize(..4)])
            } else {
                Form::Shortest
            }
        };
        match self {
            Item::Int { form, .. } | Item::Bytes { form, .. } => *form = wide(rng),
            Item::Array { form, items, .. } => {
                *form = wide(rng);
                for item in items {
                    item.widen(rng);
                }
            }
            Item::Tag { item, .. } => item.widen(rng),
            Item::Simple { .. } => {}
        }
    }

    /// Switches containers, and strings if `strings`, to indefinite
    /// lengths (some at random, `everywhere` all); true if any was switched.
    pub(crate) fn indefinite(
        &mut self,
        rng: &mut fastrand::Rng,
        everywhere: bool,
        strings: bool,
    ) -> bool {
        let mut switched = false;
        match self {
            Item::Bytes { form, .. } => {
                if strings && (everywhere || rng.bool()) {
                    *form = Form::Indefinite;
                    switched = true;
                }
            }
            Item::Array { form, items, .. } => {
                if everywhere || rng.bool() {
                    *form = Form::Indefinite;
                    switched = true;
                }
                for item in items {
                    switched |= item.indefinite(rng, everywhere, strings);
                }
            }
            Item::Tag { item, .. } => switched |= item.indefinite(rng, everywhere, strings),
            Item::Int { .. } | Item::Simple { .. } => {}
        }
        switched
    }
}
