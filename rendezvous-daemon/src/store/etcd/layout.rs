//! Where things live in etcd, and what their values hold.
//!
//! Under the prefix (default `/rendezvous/`):
//!
//! ```text
//! <prefix>leases/<sha256(token), hex>                    LeaseValue, on the lease
//! <prefix>procedures/<name>/<endpoint>/<lease id, hex>   BindingValue, on the lease
//! ```
//!
//! Every key is attached to its etcd lease, so etcd removes a server's keys
//! together when the lease is revoked or expires. Keys are for people
//! (`etcdctl get --prefix /rendezvous/procedures/math.add/`) and for
//! uniqueness; daemons read everything from values, which are CBOR maps.
//! The lease key is a hash of the token, never the token: reading etcd must
//! not let anyone renew or end another server's lease.

use rendezvous_core::Fingerprint;
use rendezvous_core::protocol::matchmaker::LeaseToken;
use rendezvous_core::protocol::wire;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// The SHA-256 of a lease token, which names its lease record.
pub type TokenHash = [u8; 32];

pub fn token_hash(token: &LeaseToken) -> TokenHash {
    Sha256::digest(token.0).into()
}

/// A lease's record: what it covers, so any daemon can renew or end it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseValue {
    /// The etcd lease.
    pub id: i64,
    pub endpoint: SocketAddr,
    pub ttl_ms: u64,
    /// The address the registration came from, for the per-source limit.
    pub source: IpAddr,
    pub names: Vec<String>,
    /// The server's incarnation, so that a new one registering at the same
    /// endpoint ends this lease at once. Absent from records written by
    /// daemons before it was kept: those are left to expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
}

/// One procedure served at one endpoint under one lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingValue {
    pub name: String,
    pub endpoint: SocketAddr,
    pub signature: Fingerprint,
    /// The signature text it was registered with; absent from records of
    /// older daemons and registrations without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_text: Option<String>,
    pub incarnation: u64,
    /// The etcd lease.
    pub lease: i64,
    pub ttl_ms: u64,
}

/// What a key under the prefix holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Lease(TokenHash, LeaseValue),
    Binding(BindingValue),
}

/// The key layout under one prefix.
#[derive(Clone, Debug)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// A layout under `prefix`, which gets a trailing `/` if it lacks one.
    pub fn new(prefix: &str) -> Layout {
        let mut prefix = prefix.to_owned();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Layout { prefix }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn lease_key(&self, hash: &TokenHash) -> String {
        let mut key = format!("{}leases/", self.prefix);
        for byte in hash {
            let _ = write!(key, "{byte:02x}");
        }
        key
    }

    pub fn binding_key(&self, binding: &BindingValue) -> String {
        format!(
            "{}procedures/{}/{}/{:016x}",
            self.prefix,
            escape(&binding.name),
            binding.endpoint,
            binding.lease
        )
    }

    /// Reads what `key` holds; `None` for keys of no known kind and values
    /// that do not decode (another program writing under the prefix), which
    /// the daemons ignore.
    pub fn read(&self, key: &[u8], value: &[u8]) -> Option<Value> {
        let rest = key.strip_prefix(self.prefix.as_bytes())?;
        if let Some(hex) = rest.strip_prefix(b"leases/") {
            let hash = parse_hash(hex)?;
            let lease = wire::decode_payload(value).ok()?;
            return Some(Value::Lease(hash, lease));
        }
        if rest.starts_with(b"procedures/") {
            return wire::decode_payload(value).ok().map(Value::Binding);
        }
        None
    }
}

/// Procedure names may hold `/`; escaped, a name stays one path segment.
fn escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '/' => escaped.push_str("%2F"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn parse_hash(hex: &[u8]) -> Option<TokenHash> {
    if hex.len() != 64 {
        return None;
    }
    let mut hash = [0u8; 32];
    for (byte, pair) in hash.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str) -> BindingValue {
        BindingValue {
            name: name.into(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], 4000)),
            signature: Fingerprint(7),
            signature_text: None,
            incarnation: 3,
            lease: 0x694d_7c2e_11aa,
            ttl_ms: 30_000,
        }
    }

    #[test]
    fn keys_read_back_as_what_was_written() {
        let layout = Layout::new("/tenant");
        assert_eq!(layout.prefix(), "/tenant/");
        let value = binding("math/add%");
        let key = layout.binding_key(&value);
        assert_eq!(
            key,
            "/tenant/procedures/math%2Fadd%25/127.0.0.1:4000/0000694d7c2e11aa"
        );
        let bytes = wire::encode_payload(&value).unwrap();
        assert_eq!(
            layout.read(key.as_bytes(), &bytes),
            Some(Value::Binding(value))
        );

        let hash = token_hash(&LeaseToken([9; 16]));
        let lease = LeaseValue {
            id: 5,
            endpoint: SocketAddr::from(([127, 0, 0, 1], 4000)),
            ttl_ms: 2_000,
            source: IpAddr::from([127, 0, 0, 1]),
            names: vec!["a".into()],
            incarnation: Some(9),
        };
        let key = layout.lease_key(&hash);
        let bytes = wire::encode_payload(&lease).unwrap();
        assert_eq!(
            layout.read(key.as_bytes(), &bytes),
            Some(Value::Lease(hash, lease))
        );
    }

    #[test]
    fn foreign_keys_and_garbage_values_are_ignored() {
        let layout = Layout::new("/rendezvous/");
        let garbage = [0xff, 0x00, 0x13];
        assert_eq!(layout.read(b"/other/procedures/a", &garbage), None);
        assert_eq!(layout.read(b"/rendezvous/procedures/a/b/c", &garbage), None);
        assert_eq!(layout.read(b"/rendezvous/leases/zz", &garbage), None);
        assert_eq!(layout.read(b"/rendezvous/unknown", &garbage), None);
        let lease_key = layout.lease_key(&[1; 32]);
        assert_eq!(layout.read(lease_key.as_bytes(), &garbage), None);
    }

    #[test]
    fn the_lease_key_does_not_hold_the_token() {
        let token = LeaseToken([0xab; 16]);
        let key = Layout::new("/r/").lease_key(&token_hash(&token));
        assert!(!key.contains("abababab"), "{key}");
    }
}
