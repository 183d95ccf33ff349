//! Mutations that break the meaning: items replaced, duplicated, dropped or
//! swapped, lengths lied about, items wrapped in tags.

use crate::any_message::{any_bytes, any_u64};
use crate::any_payload::{any_value, encode};
use crate::items::{Form, Item};

/// A random item, its integers of every width.
fn any_item(rng: &mut fastrand::Rng) -> Item {
    match rng.u8(0..4) {
        0 => Item::Int {
            major: rng.u8(0..2),
            value: any_u64(rng),
            form: Form::Shortest,
        },
        1 => Item::Simple {
            info: [20, 21, 22, 23, 25, 26, 27, 24][rng.usize(..8)],
            argument: Vec::new(),
        }
        .with_argument(),
        _ => Item::from_bytes(&encode(&any_value(rng, 2))),
    }
}

impl Item {
    /// Gives a float or one-byte simple value the argument bytes its head announces.
    fn with_argument(self) -> Item {
        match self {
            Item::Simple { info, .. } => Item::Simple {
                info,
                argument: vec![0x3c; [0, 1, 2, 4, 8][(info.saturating_sub(23) as usize).min(4)]],
            },
            other => other,
        }
    }
}

/// One to three changes at random places of the tree; returns its encoding,
/// sometimes cut short or with bytes added.
pub(crate) fn break_item(rng: &mut fastrand::Rng, mut root: Item) -> Vec<u8> {
    for _ in 0..rng.usize(1..=3) {
        let paths = root.paths();
        let path = &paths[rng.usize(..paths.len())];
        let node = root.at_mut(path);
        match rng.u8(0..9) {
            0 | 1 => *node = any_item(rng),
            2 => {
                // A declared length that lies.
                let lie = |rng: &mut fastrand::Rng, actual: u64| match rng.u8(0..4) {
                    0 => actual.saturating_add(1),
                    1 => actual.saturating_sub(1),
                    2 => 1 << 62,
                    _ => u64::MAX,
                };
                match node {
                    Item::Bytes { data, declared, .. } => {
                        *declared = Some(lie(rng, data.len() as u64))
                    }
                    Item::Array {
                        items,
                        declared,
                        map,
                        ..
                    } => {
                        let actual = if *map { items.len() / 2 } else { items.len() } as u64;
                        *declared = Some(lie(rng, actual));
                    }
                    Item::Int { value, .. } => *value = lie(rng, *value),
                    _ => {}
                }
            }
            3 => {
                if let Some(items) = node.children_mut()
                    && !items.is_empty()
                {
                    let i = rng.usize(..items.len());
                    if rng.bool() {
                        items.remove(i);
                    } else {
                        let copy = items[i].clone();
                        items.insert(i, copy);
                    }
                }
            }
            4 => {
                if let Some(items) = node.children_mut()
                    && items.len() >= 2
                {
                    let (i, j) = (rng.usize(..items.len()), rng.usize(..items.len()));
                    items.swap(i, j);
                }
            }
            5 => {
                // Tags: bignums, embedded CBOR, self-described, unassigned.
                let tag = [2, 3, 24, 55799, 1, 0xffff_ffff][rng.usize(..6)];
                let inner = std::mem::replace(
                    node,
                    Item::Simple {
                        info: 22,
                        argument: vec![],
                    },
                );
                *node = Item::Tag {
                    tag,
                    item: Box::new(inner),
                };
            }
            6 => match node {
                Item::Int { major, .. } => *major ^= 1,
                Item::Bytes { text, .. } => *text = !*text,
                Item::Array { map, items, .. } => {
                    *map = !*map;
                    if *map && items.len() % 2 == 1 {
                        items.push(Item::Simple {
                            info: 22,
                            argument: vec![],
                        });
                    }
                }
                _ => {}
            },
            7 => {
                if let Item::Bytes { data, text, .. } = node {
                    // Invalid UTF-8 in text, or anything in bytes.
                    if *text || rng.bool() {
                        data.push(0xff);
                    }
                    data.extend(any_bytes(rng, 3));
                }
            }
            _ => {
                let _ = node.indefinite(rng, false, true);
            }
        }
    }
    let mut bytes = root.encode();
    match rng.u8(0..6) {
        0 => bytes.truncate(rng.usize(..=bytes.len())),
        1 => bytes.extend(any_bytes(rng, 3).into_iter().chain([0xff])),
        _ => {}
    }
    bytes
}
