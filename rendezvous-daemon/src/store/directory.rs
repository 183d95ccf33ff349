//! The directory: which endpoints serve which name, answering `lookup` and
//! `list`. Both stores keep one — the in-memory store as its table, the etcd
//! store as its read cache — so both answer alike.
//!
//! Bindings of one name are keyed by (endpoint, order): `order` is the
//! store's number for the lease (the in-memory store counts leases; the
//! etcd store uses the key's create revision), so a server restarted on the
//! same port sits next to its predecessor, older first, until that one's
//! lease ends or the matchmaker finds it replaced (`Store::replace`). What
//! a binding's `lease` is depends on the store; the directory only asks the
//! store how much time it has left.
//!
//! **Rotation.** Each name keeps its own turn: a lookup lists the name's
//! endpoints in address order, rotated to begin one further along than the
//! name's previous lookup (wrapping), so successive lookups of one name
//! begin with successive endpoints, whatever other names are looked up in
//! between. Clients try the first endpoint first, and a lookup cut to the
//! reply's size (`budget`) keeps the first ones: either way every endpoint
//! gets its share of new clients, not the lowest address all of them.
//!
//! **Signature texts.** A binding keeps the text it was registered with;
//! `list` gives it, except for a registration that with it would not fit
//! even alone on the largest page (a 255-byte name and a 1 KiB text): that
//! one is listed by its fingerprint alone, as an older server's is.

use super::LIST_PAGE_BYTES;
use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::*;
use rendezvous_core::protocol::wire;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

/// The page's own CBOR around its registrations and cursor: the map, its
/// two keys, the array header, the `{"Ok": ...}` around it.
const PAGE_FRAMING_BYTES: usize = 32;

/// One name served at one endpoint under one lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding<L> {
    pub signature: Fingerprint,
    /// The signature text registered with it, if any (bounded by the
    /// request check: `MAX_SIGNATURE_TEXT_BYTES`).
    pub signature_text: Option<String>,
    pub incarnation: u64,
    pub lease: L,
}

/// Bindings of one name, by (endpoint, lease order).
type Bindings<L> = BTreeMap<(SocketAddr, u64), Binding<L>>;

/// One name's bindings and where its next lookup begins.
#[derive(Debug)]
struct Name<L> {
    bindings: Bindings<L>,
    /// Lookups of this name so far (wrapping): the next one begins at this
    /// index, modulo the endpoints it matches.
    turn: usize,
}

impl<L> Default for Name<L> {
    fn default() -> Self {
        Name {
            bindings: BTreeMap::new(),
            turn: 0,
        }
    }
}

#[derive(Debug)]
pub struct Directory<L> {
    names: BTreeMap<String, Name<L>>,
    bindings: usize,
}

impl<L> Default for Directory<L> {
    fn default() -> Self {
        Directory {
            names: BTreeMap::new(),
            bindings: 0,
        }
    }
}

impl<L> Directory<L> {
    /// Number of bindings (rows of `list`).
    pub fn len(&self) -> usize {
        self.bindings
    }

    pub fn is_empty(&self) -> bool {
        self.bindings == 0
    }

    /// Adds (or replaces) the binding of `name` at (`endpoint`, `order`).
    pub fn insert(&mut self, name: &str, endpoint: SocketAddr, order: u64, binding: Binding<L>) {
        let entry = match self.names.get_mut(name) {
            Some(entry) => entry,
            None => self.names.entry(name.to_owned()).or_default(),
        };
        if entry.bindings.insert((endpoint, order), binding).is_none() {
            self.bindings += 1;
        }
    }

    /// Removes the binding of `name` at (`endpoint`, `order`), if present.
    pub fn remove(&mut self, name: &str, endpoint: SocketAddr, order: u64) -> Option<Binding<L>> {
        let entry = self.names.get_mut(name)?;
        let removed = entry.bindings.remove(&(endpoint, order))?;
        if entry.bindings.is_empty() {
            self.names.remove(name);
        }
        self.bindings -= 1;
        Some(removed)
    }

    /// Every endpoint of `name` with `signature` (any, if `None`), ordered
    /// by address, then by lease (older first), and rotated to begin at the
    /// name's turn, which the lookup advances; `ttl_left` says how long
    /// each binding's lease has to live, in milliseconds.
    pub fn lookup(
        &mut self,
        name: &str,
        signature: Option<Fingerprint>,
        ttl_left: impl Fn(&L) -> u64,
    ) -> Result<Lookup, MatchmakerError> {
        let not_found = || MatchmakerError::NotFound {
            name: name.to_owned(),
        };
        let entry = self.names.get_mut(name).ok_or_else(not_found)?;
        let endpoints = &entry.bindings;
        let mut matching: Vec<EndpointInfo> = endpoints
            .iter()
            .filter(|(_, binding)| signature.is_none_or(|s| s == binding.signature))
            .map(|((address, _), binding)| EndpointInfo {
                address: *address,
                signature: binding.signature,
                incarnation: binding.incarnation,
                ttl_ms: ttl_left(&binding.lease),
            })
            .collect();
        match signature {
            Some(expected) if matching.is_empty() => {
                let available: BTreeSet<Fingerprint> =
                    endpoints.values().map(|b| b.signature).collect();
                // One text per fingerprint: the first registration's that
                // gave one.
                let mut texts: BTreeMap<Fingerprint, String> = BTreeMap::new();
                for binding in endpoints.values() {
                    if let Some(text) = &binding.signature_text {
                        texts
                            .entry(binding.signature)
                            .or_insert_with(|| text.clone());
                    }
                }
                Err(MatchmakerError::SignatureMismatch {
                    name: name.to_owned(),
                    expected,
                    available: available.into_iter().collect(),
                    available_texts: texts.into_iter().collect(),
                })
            }
            _ => {
                if !matching.is_empty() {
                    let first = entry.turn % matching.len();
                    matching.rotate_left(first);
                    entry.turn = entry.turn.wrapping_add(1);
                }
                Ok(Lookup {
                    endpoints: matching,
                    truncated: false,
                    unregistered: Vec::new(),
                })
            }
        }
    }

    /// One page of registrations after `after`, at most `page_bytes` of
    /// CBOR result. `Err(bytes)` when the next registration alone needs a
    /// page of `bytes`, more than `page_bytes`.
    pub fn list(
        &self,
        after: Option<ListCursor>,
        page_bytes: usize,
        ttl_left: impl Fn(&L) -> u64,
    ) -> Result<ListPage, usize> {
        let mut registrations = Vec::new();
        let mut last_cursor = None;
        let mut bytes = PAGE_FRAMING_BYTES;
        let start = after.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        for (name, entry) in self.names.range(start..) {
            for ((endpoint, lease), binding) in &entry.bindings {
                if let Some(cursor) = &after
                    && (name.as_str(), *endpoint, *lease)
                        <= (cursor.name.as_str(), cursor.endpoint, cursor.lease)
                {
                    continue;
                }
                let mut registration = Registration {
                    name: name.clone(),
                    endpoint: *endpoint,
                    signature: binding.signature,
                    signature_text: binding.signature_text.clone(),
                    incarnation: binding.incarnation,
                    ttl_ms: ttl_left(&binding.lease),
                };
                let cursor = ListCursor {
                    name: name.clone(),
                    endpoint: *endpoint,
                    lease: *lease,
                };
                // Room for this registration and, should it end the page,
                // for the cursor naming it.
                let mut size = encoded_len(&registration);
                if PAGE_FRAMING_BYTES + size + encoded_len(&cursor) > LIST_PAGE_BYTES {
                    // Not even alone on the largest page: a long name and a
                    // long text. Listed by its fingerprint, so that no
                    // registration can make `list` unanswerable.
                    registration.signature_text = None;
                    size = encoded_len(&registration);
                }
                let needed = bytes + size + encoded_len(&cursor);
                if needed > page_bytes {
                    if registrations.is_empty() {
                        return Err(needed);
                    }
                    return Ok(ListPage {
                        registrations,
                        next: last_cursor,
                        stale: false,
                    });
                }
                last_cursor = Some(cursor);
                bytes += size;
                registrations.push(registration);
            }
        }
        Ok(ListPage {
            registrations,
            next: None,
            stale: false,
        })
    }
}

fn encoded_len<T: serde::Serialize>(value: &T) -> usize {
    wire::encode_payload(value).map_or(wire::MAX_DATAGRAM_BYTES, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(signature: u64) -> Binding<()> {
        Binding {
            signature: Fingerprint(signature),
            signature_text: None,
            incarnation: 1,
            lease: (),
        }
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn list_gives_a_text_unless_it_would_not_fit_the_largest_page_alone() {
        let mut directory = Directory::default();
        let long_name = "n".repeat(wire::MAX_NAME_BYTES);
        for (name, port) in [("a", 1), (long_name.as_str(), 2)] {
            let with_text = Binding {
                signature_text: Some("t".repeat(MAX_SIGNATURE_TEXT_BYTES)),
                ..binding(5)
            };
            directory.insert(name, at(port), 0, with_text);
        }
        let (mut texts, mut after) = (Vec::new(), None);
        for _ in 0..directory.len() + 1 {
            let page = directory
                .list(after, LIST_PAGE_BYTES, |_| 1)
                .expect("every registration fits the largest page");
            assert!(encoded_len(&page) <= LIST_PAGE_BYTES);
            texts.extend(
                page.registrations
                    .into_iter()
                    .map(|r| (r.name, r.signature_text)),
            );
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        assert_eq!(texts.len(), 2);
        assert_eq!(
            texts[0].1.as_deref().map(str::len),
            Some(MAX_SIGNATURE_TEXT_BYTES)
        );
        assert_eq!(texts[1], (long_name, None));
    }

    #[test]
    fn the_count_follows_inserts_and_removals_and_replacing_is_not_adding() {
        let mut directory = Directory::default();
        directory.insert("a", at(1), 1, binding(1));
        directory.insert("a", at(1), 1, binding(2));
        directory.insert("b", at(1), 1, binding(1));
        assert_eq!(directory.len(), 2);
        assert_eq!(directory.remove("a", at(1), 1), Some(binding(2)));
        assert_eq!(directory.remove("a", at(1), 1), None);
        assert_eq!(directory.len(), 1);
        assert_eq!(
            directory.lookup("a", None, |_| 0),
            Err(MatchmakerError::NotFound { name: "a".into() })
        );
    }

    #[test]
    fn a_signature_nobody_has_lists_the_ones_there_are() {
        let mut directory = Directory::default();
        directory.insert("a", at(1), 1, binding(7));
        directory.insert("a", at(2), 2, binding(5));
        directory.insert("a", at(3), 3, binding(7));
        assert_eq!(
            directory.lookup("a", Some(Fingerprint(9)), |_| 0),
            Err(MatchmakerError::SignatureMismatch {
                name: "a".into(),
                expected: Fingerprint(9),
                available: vec![Fingerprint(5), Fingerprint(7)],
                available_texts: Vec::new(),
            })
        );
        let found = directory.lookup("a", Some(Fingerprint(7)), |_| 42).unwrap();
        let addresses: Vec<SocketAddr> = found.endpoints.iter().map(|e| e.address).collect();
        assert_eq!(addresses, [at(1), at(3)]);
        assert!(found.endpoints.iter().all(|e| e.ttl_ms == 42));
    }

    fn addresses(directory: &mut Directory<()>, name: &str) -> Vec<u16> {
        let found = directory.lookup(name, None, |_| 0).unwrap();
        found.endpoints.iter().map(|e| e.address.port()).collect()
    }

    #[test]
    fn each_name_rotates_on_its_own_lookups_in_address_order() {
        let mut directory = Directory::default();
        for port in [3, 1, 2] {
            directory.insert("a", at(port), u64::from(port), binding(1));
        }
        directory.insert("b", at(9), 9, binding(1));
        directory.insert("b", at(8), 8, binding(1));
        assert_eq!(addresses(&mut directory, "a"), [1, 2, 3]);
        // Lookups of another name do not move a's turn.
        assert_eq!(addresses(&mut directory, "b"), [8, 9]);
        assert_eq!(addresses(&mut directory, "b"), [9, 8]);
        assert_eq!(addresses(&mut directory, "a"), [2, 3, 1]);
        assert_eq!(addresses(&mut directory, "a"), [3, 1, 2]);
        assert_eq!(addresses(&mut directory, "a"), [1, 2, 3]);
        // A lookup that finds nothing does not take a turn.
        assert!(directory.lookup("a", Some(Fingerprint(5)), |_| 0).is_err());
        assert_eq!(addresses(&mut directory, "a"), [2, 3, 1]);
    }
}
