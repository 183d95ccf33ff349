//! The `--etcd*` flags turned into an etcd store, connected and loaded.
//!
//! Each file flag is read here, and a file that cannot be read is named
//! with its flag. A daemon built without the cargo feature `etcd` answers
//! `--etcd` with how to build one that has it.

use super::args::EtcdOptions;
#[cfg(feature = "etcd")]
use rendezvous_daemon::store::etcd::{EtcdConfig, EtcdStore, EtcdTls};
use rendezvous_daemon::{Limits, Store, TtlBounds};
#[cfg(feature = "etcd")]
use std::path::Path;
use std::sync::Arc;

/// The etcd store the options describe, connected and loaded.
#[cfg(feature = "etcd")]
pub async fn store(
    options: &EtcdOptions,
    ttl: TtlBounds,
    limits: Limits,
) -> Result<Arc<dyn Store>, String> {
    let config = EtcdConfig {
        endpoints: options.etcd.clone(),
        prefix: options.etcd_prefix.clone(),
        user: credentials(options)?,
        tls: tls(options)?,
    };
    let store = EtcdStore::connect(config, ttl, limits)
        .await
        .map_err(|error| format!("could not use etcd: {error}"))?;
    Ok(Arc::new(store))
}

/// Without the feature there is no etcd store: say how to get one.
#[cfg(not(feature = "etcd"))]
pub async fn store(
    _options: &EtcdOptions,
    _ttl: TtlBounds,
    _limits: Limits,
) -> Result<Arc<dyn Store>, String> {
    Err(
        "this rendezvous-daemon was built without etcd support; build it with \
         `cargo build --release -p rendezvous-daemon --features etcd` \
         (which needs protoc: `apt-get install protobuf-compiler`)"
            .into(),
    )
}

/// The user and password of `--etcd-user` and `--etcd-password-file`
/// (both or neither), the password without its trailing newline.
#[cfg(feature = "etcd")]
fn credentials(options: &EtcdOptions) -> Result<Option<(String, String)>, String> {
    match (&options.etcd_user, &options.etcd_password_file) {
        (Some(user), Some(path)) => {
            let password = String::from_utf8(read("--etcd-password-file", path)?)
                .map_err(|_| format!("--etcd-password-file {}: not UTF-8 text", path.display()))?;
            Ok(Some((
                user.clone(),
                password.trim_end_matches(['\r', '\n']).to_owned(),
            )))
        }
        (None, None) => Ok(None),
        _ => Err("--etcd-user and --etcd-password-file go together".into()),
    }
}

/// TLS to etcd, when a CA or a client certificate is given.
#[cfg(feature = "etcd")]
fn tls(options: &EtcdOptions) -> Result<Option<EtcdTls>, String> {
    let ca = options
        .etcd_ca_file
        .as_ref()
        .map(|path| read("--etcd-ca-file", path))
        .transpose()?;
    let identity = match (&options.etcd_cert_file, &options.etcd_key_file) {
        (Some(certificate), Some(key)) => Some((
            read("--etcd-cert-file", certificate)?,
            read("--etcd-key-file", key)?,
        )),
        _ => None,
    };
    Ok((ca.is_some() || identity.is_some()).then_some(EtcdTls { ca, identity }))
}

/// The bytes of the file given to `flag`, or a message naming both.
#[cfg(feature = "etcd")]
fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))
}
