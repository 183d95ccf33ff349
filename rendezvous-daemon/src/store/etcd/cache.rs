//! The read cache: everything under the prefix as of one etcd revision,
//! kept current by the watch. Lookups and `list` answer from it, and writes
//! consult it for limits and for a token's lease, so nothing a client asks
//! waits on etcd.

use super::layout::{BindingValue, Layout, LeaseValue, TokenHash, Value};
use crate::store::Counts;
use crate::store::directory::{Binding, Directory};
use rendezvous_core::server::{Source, source_of};
use std::collections::HashMap;
use std::net::SocketAddr;

/// What the directory keeps per binding: its time to live, as granted
/// (renewals through other daemons are not seen, so time left is not known).
pub type GrantedTtl = u64;

/// What a key put into the cache, so its deletion can take it out.
#[derive(Debug)]
enum Entry {
    Lease(TokenHash),
    Binding {
        name: String,
        endpoint: SocketAddr,
        order: u64,
    },
}

#[derive(Debug)]
pub struct Cache {
    layout: Layout,
    pub directory: Directory<GrantedTtl>,
    leases: HashMap<TokenHash, LeaseValue>,
    keys: HashMap<Vec<u8>, Entry>,
    per_source: HashMap<Source, usize>,
    /// The etcd revision this cache reflects.
    revision: i64,
}

impl Cache {
    pub fn new(layout: Layout) -> Cache {
        Cache {
            layout,
            directory: Directory::default(),
            leases: HashMap::new(),
            keys: HashMap::new(),
            per_source: HashMap::new(),
            revision: 0,
        }
    }

    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn lease(&self, hash: &TokenHash) -> Option<&LeaseValue> {
        self.leases.get(hash)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            leases: self.leases.len(),
            registrations: self.directory.len(),
        }
    }

    /// The etcd leases at `endpoint` of incarnations other than
    /// `incarnation` (records that name one).
    pub fn replaced_by(&self, endpoint: SocketAddr, incarnation: u64) -> Vec<(i64, Vec<String>)> {
        self.leases
            .values()
            .filter(|l| l.endpoint == endpoint && l.incarnation.is_some_and(|i| i != incarnation))
            .map(|l| (l.id, l.names.clone()))
            .collect()
    }

    /// Registrations held whose leases were registered from `source`.
    pub fn from_source(&self, source: Source) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }

    /// Starts over from a full read of the prefix at `revision`.
    pub fn reset<'a>(
        &mut self,
        revision: i64,
        kvs: impl IntoIterator<Item = (&'a [u8], &'a [u8], i64)>,
    ) {
        *self = Cache::new(self.layout.clone());
        for (key, value, create_revision) in kvs {
            self.put(key, value, create_revision);
        }
        self.revision = revision;
    }

    /// Moves to `revision` (after applying its events).
    pub fn advance(&mut self, revision: i64) {
        self.revision = self.revision.max(revision);
    }

    /// Applies a put of `key`; keys of no known kind are ignored.
    pub fn put(&mut self, key: &[u8], value: &[u8], create_revision: i64) {
        self.delete(key);
        let Some(value) = self.layout.read(key, value) else {
            tracing::debug!(key = %String::from_utf8_lossy(key), "ignored a key under the prefix that is not rendezvous's");
            return;
        };
        let entry = match value {
            Value::Lease(hash, lease) => {
                *self.per_source.entry(source_of(lease.source)).or_default() += lease.names.len();
                self.leases.insert(hash, lease);
                Entry::Lease(hash)
            }
            Value::Binding(BindingValue {
                name,
                endpoint,
                signature,
                signature_text,
                incarnation,
                ttl_ms,
                ..
            }) => {
                let order = u64::try_from(create_revision).unwrap_or(0);
                let binding = Binding {
                    signature,
                    signature_text,
                    incarnation,
                    lease: ttl_ms,
                };
                self.directory.insert(&name, endpoint, order, binding);
                Entry::Binding {
                    name,
                    endpoint,
                    order,
                }
            }
        };
        self.keys.insert(key.to_vec(), entry);
    }

    /// Applies a delete of `key` (a no-op for keys it does not hold).
    pub fn delete(&mut self, key: &[u8]) {
        match self.keys.remove(key) {
            Some(Entry::Lease(hash)) => {
                if let Some(lease) = self.leases.remove(&hash)
                    && let Some(held) = self.per_source.get_mut(&source_of(lease.source))
                {
                    *held = held.saturating_sub(lease.names.len());
                    if *held == 0 {
                        self.per_source.remove(&source_of(lease.source));
                    }
                }
            }
            Some(Entry::Binding {
                name,
                endpoint,
                order,
            }) => {
                self.directory.remove(&name, endpoint, order);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::etcd::layout::token_hash;
    use rendezvous_core::Fingerprint;
    use rendezvous_core::protocol::matchmaker::LeaseToken;
    use rendezvous_core::protocol::wire::encode_payload;
    use std::net::IpAddr;

    fn binding(name: &str, port: u16) -> BindingValue {
        BindingValue {
            name: name.into(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            signature: Fingerprint(1),
            signature_text: None,
            incarnation: 1,
            lease: 77,
            ttl_ms: 5_000,
        }
    }

    #[test]
    fn puts_and_deletes_keep_the_directory_and_counts_exact() {
        let layout = Layout::new("/r/");
        let mut cache = Cache::new(layout.clone());
        let a = binding("a", 1);
        let a_key = layout.binding_key(&a);
        let hash = token_hash(&LeaseToken([1; 16]));
        let lease = LeaseValue {
            id: 77,
            endpoint: a.endpoint,
            ttl_ms: 5_000,
            source: IpAddr::from([127, 0, 0, 1]),
            names: vec!["a".into()],
            incarnation: Some(9),
        };
        let lease_key = layout.lease_key(&hash);
        let a_bytes = encode_payload(&a).unwrap();
        cache.put(a_key.as_bytes(), &a_bytes, 10);
        cache.put(lease_key.as_bytes(), &encode_payload(&lease).unwrap(), 10);
        // A repeated put (a re-read, a duplicate event) replaces, never adds.
        cache.put(a_key.as_bytes(), &a_bytes, 10);
        assert_eq!(
            cache.counts(),
            Counts {
                leases: 1,
                registrations: 1
            }
        );
        assert_eq!(cache.from_source(source_of(lease.source)), 1);
        assert_eq!(cache.lease(&hash).map(|l| l.id), Some(77));
        let found = cache.directory.lookup("a", None, |ttl| *ttl).unwrap();
        assert_eq!(found.endpoints[0].ttl_ms, 5_000);

        cache.delete(a_key.as_bytes());
        cache.delete(lease_key.as_bytes());
        cache.delete(b"/r/procedures/never-there");
        assert_eq!(cache.counts(), Counts::default());
        assert_eq!(cache.from_source(source_of(lease.source)), 0);
    }

    #[test]
    fn a_reset_forgets_what_the_read_did_not_return() {
        let layout = Layout::new("/r/");
        let mut cache = Cache::new(layout.clone());
        let a = binding("a", 1);
        let b = binding("b", 2);
        let (a_key, b_key) = (layout.binding_key(&a), layout.binding_key(&b));
        let (a_bytes, b_bytes) = (encode_payload(&a).unwrap(), encode_payload(&b).unwrap());
        cache.put(a_key.as_bytes(), &a_bytes, 3);
        cache.reset(9, [(b_key.as_bytes(), b_bytes.as_slice(), 5)]);
        assert_eq!(cache.revision(), 9);
        assert!(cache.directory.lookup("a", None, |t| *t).is_err());
        assert!(cache.directory.lookup("b", None, |t| *t).is_ok());
    }
}
