//! The directory: which endpoints serve which name, answering `lookup` and
//! `list`. Both stores keep one — the in-memory store as its table, the etcd
//! store as its read cache — so both answer alike.
//!
//! Bindings of one name are keyed by (endpoint, order): `order` is the
//! store's number for the lease (the in-memory store counts leases; the
//! etcd store uses the key's create revision), so a server restarted on the
//! same port sits next to its predecessor, older first, until that one's
//! lease ends or the matchmaker finds it replaced (`Store::replace`). What a binding's `lease` is depends on the store; the
//! directory only asks the store how much time it has left.

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
    pub incarnation: u64,
    pub lease: L,
}

/// Bindings of one name, by (endpoint, lease order).
type Bindings<L> = BTreeMap<(SocketAddr, u64), Binding<L>>;

#[derive(Debug)]
pub struct Directory<L> {
    names: BTreeMap<String, Bindings<L>>,
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
        let bindings = match self.names.get_mut(name) {
            Some(bindings) => bindings,
            None => self.names.entry(name.to_owned()).or_default(),
        };
        if bindings.insert((endpoint, order), binding).is_none() {
            self.bindings += 1;
        }
    }

    /// Removes the binding of `name` at (`endpoint`, `order`), if present.
    pub fn remove(&mut self, name: &str, endpoint: SocketAddr, order: u64) -> Option<Binding<L>> {
        let bindings = self.names.get_mut(name)?;
        let removed = bindings.remove(&(endpoint, order))?;
        if bindings.is_empty() {
            self.names.remove(name);
        }
        self.bindings -= 1;
        Some(removed)
    }

    /// Every endpoint of `name` with `signature` (any, if `None`), ordered
    /// by address, then by lease (older first); `ttl_left` says how long
    /// each binding's lease has to live, in milliseconds.
    pub fn lookup(
        &self,
        name: &str,
        signature: Option<Fingerprint>,
        ttl_left: impl Fn(&L) -> u64,
    ) -> Result<Lookup, MatchmakerError> {
        let not_found = || MatchmakerError::NotFound {
            name: name.to_owned(),
        };
        let endpoints = self.names.get(name).ok_or_else(not_found)?;
        let matching: Vec<EndpointInfo> = endpoints
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
                Err(MatchmakerError::SignatureMismatch {
                    name: name.to_owned(),
                    expected,
                    available: available.into_iter().collect(),
                })
            }
            _ => Ok(Lookup {
                endpoints: matching,
                truncated: false,
                unregistered: Vec::new(),
            }),
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
        for (name, endpoints) in self.names.range(start..) {
            for ((endpoint, lease), binding) in endpoints {
                if let Some(cursor) = &after
                    && (name.as_str(), *endpoint, *lease)
                        <= (cursor.name.as_str(), cursor.endpoint, cursor.lease)
                {
                    continue;
                }
                let registration = Registration {
                    name: name.clone(),
                    endpoint: *endpoint,
                    signature: binding.signature,
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
                let size = encoded_len(&registration);
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
            incarnation: 1,
            lease: (),
        }
    }

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
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
            })
        );
        let found = directory.lookup("a", Some(Fingerprint(7)), |_| 42).unwrap();
        let addresses: Vec<SocketAddr> = found.endpoints.iter().map(|e| e.address).collect();
        assert_eq!(addresses, [at(1), at(3)]);
        assert!(found.endpoints.iter().all(|e| e.ttl_ms == 42));
    }
}
