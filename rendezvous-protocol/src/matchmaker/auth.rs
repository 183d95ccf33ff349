//! Authenticated registration: a shared secret, and the HMAC-SHA256 that
//! `register`, `renew` and `unregister` carry when one is configured.
//!
//! Whoever can register a name receives every call meant for it, so a
//! matchmaker reachable from a network must know who registers. The
//! matchmaker and its servers share a secret (a file, never the command
//! line, where `ps` would show it); each request carries an [`Auth`]: the
//! sender's clock in Unix milliseconds, 16 random bytes of nonce, and
//!
//! ```text
//! mac = HMAC-SHA256(secret, CBOR ["rendezvous-auth-1", procedure, timestamp_ms, nonce, request])
//! ```
//!
//! where `request` is the byte string holding the request's own payload
//! encoding *without* its `auth` key. The MAC binds the procedure name (a
//! renew cannot be replayed as an unregister of the same token), the time
//! and the nonce (the matchmaker refuses a request outside a short window
//! and a nonce it has seen within it), and every field the matchmaker acts
//! on. The matchmaker recomputes the MAC over the request as it decoded it,
//! re-encoded canonically, so what is authenticated is exactly what is
//! acted on. PROTOCOL.md spells out the bytes, with a worked example.
//!
//! This module computes and checks MACs; the time window, the nonce cache
//! and the policy without a secret are the matchmaker's
//! (`rendezvous-daemon`'s `gatekeeper`).

pub use super::messages::{Auth, MAC_BYTES, NONCE_BYTES};
use super::messages::{RegisterRequest, RenewRequest, UnregisterRequest};
use super::operation::{self, Operation};
use crate::wire;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the secret file, for servers (and the
/// daemon's `--secret-file` when the flag is not given).
pub const SECRET_FILE_ENV_VAR: &str = "RENDEZVOUS_SECRET_FILE";

/// The shortest secret accepted: 128 bits, as many as a lease token.
pub const MIN_SECRET_BYTES: usize = 16;

/// Separates rendezvous MACs from anything else made with the same key,
/// and names the MAC input's layout (a new layout gets a new label).
pub const AUTH_LABEL: &str = "rendezvous-auth-1";

/// Why no usable secret could be had, or no request signed with it: what
/// to fix, in words. `rendezvous-core` reports it as its
/// `Error::Configuration`, whose text this is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the server cannot start: {reason}")]
pub struct SecretError {
    pub reason: String,
}

impl SecretError {
    /// The same reason, after `context` (a file, a variable).
    fn within(self, context: impl fmt::Display) -> SecretError {
        SecretError {
            reason: format!("{context}: {}", self.reason),
        }
    }
}

/// The shared secret of a matchmaker and its servers. Its bytes are never
/// printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from raw bytes; at least [`MIN_SECRET_BYTES`] of them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Secret, SecretError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretError {
                reason: format!(
                    "the shared secret is {} bytes; use at least {MIN_SECRET_BYTES} random bytes, e.g. `head -c 32 /dev/urandom | base64 > secret`",
                    bytes.len()
                ),
            });
        }
        Ok(Secret(bytes))
    }

    /// Reads a secret file: its bytes, less trailing ASCII whitespace (so
    /// the newline an editor or `echo` adds does not count). Anything else,
    /// including the text of a base64 or hex encoding, is the key as it is.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Secret, SecretError> {
        let path = path.as_ref();
        let mut bytes = std::fs::read(path).map_err(|error| SecretError {
            reason: format!("could not read the secret file {}: {error}", path.display()),
        })?;
        while bytes.last().is_some_and(u8::is_ascii_whitespace) {
            bytes.pop();
        }
        Secret::new(bytes).map_err(|error| error.within(path.display()))
    }

    /// The secret named by `RENDEZVOUS_SECRET_FILE`, if it is set.
    pub fn from_env() -> Result<Option<Secret>, SecretError> {
        match std::env::var_os(SECRET_FILE_ENV_VAR) {
            Some(path) if !path.is_empty() => Secret::from_file(PathBuf::from(path))
                .map(Some)
                .map_err(|error| error.within(SECRET_FILE_ENV_VAR)),
            _ => Ok(None),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Why a MAC did not check out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// The request carries no `auth` at all.
    #[error("the request carries no MAC; configure the matchmaker's shared secret on this server")]
    Missing,
    /// The MAC is not the one the secret gives.
    #[error("the MAC does not match; the server's secret differs from the matchmaker's")]
    Mismatch,
}

/// A matchmaker request that may carry an [`Auth`].
pub trait Authenticated: Serialize + Clone {
    /// The operation the request is sent to; its name is part of the MAC.
    type Operation: Operation<Request = Self>;

    fn auth(&self) -> Option<&Auth>;

    fn set_auth(&mut self, auth: Option<Auth>);

    /// The bytes the MAC covers besides the label, procedure, time and
    /// nonce: the request's payload encoding without its `auth` key.
    fn unsigned_bytes(&self) -> Vec<u8> {
        let mut unsigned = self.clone();
        unsigned.set_auth(None);
        // The request types are plain data; encoding them cannot fail, and
        // the matchmaker refuses any request whose encoding would not fit.
        wire::encode_payload(&unsigned).unwrap_or_default()
    }
}

macro_rules! authenticated {
    ($($request:ty => $operation:ty),*) => {$(
        impl Authenticated for $request {
            type Operation = $operation;

            fn auth(&self) -> Option<&Auth> {
                self.auth.as_ref()
            }

            fn set_auth(&mut self, auth: Option<Auth>) {
                self.auth = auth;
            }
        }
    )*};
}

authenticated!(
    RegisterRequest => operation::Register,
    RenewRequest => operation::Renew,
    UnregisterRequest => operation::Unregister
);

/// The MAC input: `["rendezvous-auth-1", procedure, timestamp_ms, nonce, request]`.
#[derive(Serialize)]
struct MacInput<'a>(
    &'static str,
    &'a str,
    u64,
    #[serde(with = "serde_bytes")] &'a [u8],
    #[serde(with = "serde_bytes")] &'a [u8],
);

/// The bytes HMAC-SHA256 runs over, for a peer's test vectors.
pub fn mac_input<R: Authenticated>(
    request: &R,
    timestamp_ms: u64,
    nonce: &[u8; NONCE_BYTES],
) -> Vec<u8> {
    let unsigned = request.unsigned_bytes();
    let procedure = <R::Operation as Operation>::NAME;
    let input = MacInput(AUTH_LABEL, procedure, timestamp_ms, nonce, &unsigned);
    let mut out = Vec::new();
    // Text, an integer and byte strings: ciborium cannot fail on them.
    let _ = ciborium::into_writer(&input, &mut out);
    out
}

/// Signs `request` (replacing any `auth` it had) with this time and nonce.
pub fn sign_with<R: Authenticated>(
    secret: &Secret,
    request: &mut R,
    timestamp_ms: u64,
    nonce: [u8; NONCE_BYTES],
) {
    let mut mac = secret.mac();
    mac.update(&mac_input(request, timestamp_ms, &nonce));
    let tag: [u8; MAC_BYTES] = mac.finalize().into_bytes().into();
    request.set_auth(Some(Auth {
        timestamp_ms,
        nonce,
        mac: tag,
    }));
}

/// Signs `request` now, with a fresh nonce from the OS random source.
pub fn sign<R: Authenticated>(secret: &Secret, request: &mut R) -> Result<(), SecretError> {
    let mut nonce = [0u8; NONCE_BYTES];
    getrandom::fill(&mut nonce).map_err(|error| SecretError {
        reason: format!("the OS random source failed, so no nonce could be drawn: {error}"),
    })?;
    sign_with(secret, request, unix_millis(SystemTime::now()), nonce);
    Ok(())
}

/// Checks the request's MAC, in constant time. The time window and the
/// nonce are the caller's to check.
pub fn verify<R: Authenticated>(secret: &Secret, request: &R) -> Result<Auth, MacError> {
    let auth = *request.auth().ok_or(MacError::Missing)?;
    let mut mac = secret.mac();
    mac.update(&mac_input(request, auth.timestamp_ms, &auth.nonce));
    mac.verify_slice(&auth.mac)
        .map_err(|_| MacError::Mismatch)?;
    Ok(auth)
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
pub fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        since.as_millis().min(u128::from(u64::MAX)) as u64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchmaker::{LeaseToken, ProcedureSpec};
    use crate::signature::Fingerprint;
    use std::net::SocketAddr;

    fn secret() -> Secret {
        Secret::new(*b"correct horse battery staple").unwrap()
    }

    fn register() -> RegisterRequest {
        RegisterRequest {
            procedures: vec![ProcedureSpec {
                signature_text: None,
                name: "math.add".into(),
                signature: Fingerprint::of("math.add(i64,i64)->i64"),
            }],
            endpoint: SocketAddr::from(([127, 0, 0, 1], 40_000)),
            incarnation: 0xff,
            ttl_ms: 30_000,
            auth: None,
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_signed_request_verifies_under_the_same_secret() {
        let mut request = register();
        sign(&secret(), &mut request).unwrap();
        assert!(verify(&secret(), &request).is_ok());
    }

    #[test]
    fn another_secret_does_not_verify() {
        let mut request = register();
        sign(&secret(), &mut request).unwrap();
        let other = Secret::new(*b"a different secret, 32 bytes lng").unwrap();
        assert_eq!(verify(&other, &request), Err(MacError::Mismatch));
    }

    #[test]
    fn an_unsigned_request_is_missing_its_mac() {
        assert_eq!(verify(&secret(), &register()), Err(MacError::Missing));
    }

    #[test]
    fn changing_any_signed_field_breaks_the_mac() {
        let mut signed = register();
        sign(&secret(), &mut signed).unwrap();
        let mut endpoint = signed.clone();
        endpoint.endpoint = SocketAddr::from(([10, 0, 0, 1], 40_000));
        let mut ttl = signed.clone();
        ttl.ttl_ms += 1;
        let mut time = signed.clone();
        time.auth.as_mut().unwrap().timestamp_ms += 1;
        let mut nonce = signed.clone();
        nonce.auth.as_mut().unwrap().nonce[0] ^= 1;
        for tampered in [endpoint, ttl, time, nonce] {
            assert_eq!(verify(&secret(), &tampered), Err(MacError::Mismatch));
        }
    }

    #[test]
    fn a_renew_mac_does_not_verify_as_an_unregister_of_the_same_token() {
        let token = LeaseToken([7; 16]);
        let mut renew = RenewRequest { token, auth: None };
        sign(&secret(), &mut renew).unwrap();
        let unregister = UnregisterRequest {
            token,
            auth: renew.auth,
        };
        assert_eq!(verify(&secret(), &unregister), Err(MacError::Mismatch));
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(Secret::new(*b"too short").is_err());
    }

    #[test]
    fn a_secret_file_loses_its_trailing_newline() {
        let path = std::env::temp_dir().join(format!("rendezvous-secret-{}", std::process::id()));
        std::fs::write(&path, b"correct horse battery staple\n").unwrap();
        let from_file = Secret::from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(from_file.0, secret().0);
    }

    /// The worked example of PROTOCOL.md ("Authenticated registration"),
    /// whose MAC was cross-checked with Python's `hmac` module.
    #[test]
    fn the_documented_example_has_the_documented_mac() {
        let mut request = register();
        let nonce: [u8; NONCE_BYTES] = std::array::from_fn(|i| i as u8);
        sign_with(&secret(), &mut request, 1_700_000_000_000, nonce);
        let auth = request.auth.unwrap();
        assert_eq!(
            hex(&mac_input(&request, auth.timestamp_ms, &auth.nonce)),
            MAC_INPUT_HEX
        );
        assert_eq!(hex(&auth.mac), MAC_HEX);
    }

    const MAC_INPUT_HEX: &str = "857172656e64657a766f75732d617574682d317372656e64657a766f75732e72656769737465721b0000018bcfe5680050000102030405060708090a0b0c0d0e0f585ea46a70726f6365647572657381a2646e616d65686d6174682e616464697369676e61747572651b6b4cb1c577e85abb68656e64706f696e74a16256348284187f000001199c406b696e6361726e6174696f6e18ff6674746c5f6d73197530";
    const MAC_HEX: &str = "79a4060e1ceae1db12e9c89c60605e221ff52ad451fd2cbd57b28d772dd754c0";
}
