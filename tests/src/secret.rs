//! Shared secrets for tests, each in a file of its own (removed on drop),
//! as a daemon's `--secret-file` and a server's `RENDEZVOUS_SECRET_FILE`
//! read them.
//!
//! A matchmaker without a secret accepts a registration only from the
//! endpoint it registers (SECURITY.md). Tests that register endpoints
//! nobody listens on, or servers behind a relay that register the relay's
//! address, sign their registrations instead: [`Daemon::start_signed`](crate::Daemon::start_signed).

use rendezvous_core::matchmaker::Secret;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The secret the harness gives a signed daemon and its servers.
pub const TEST_SECRET: &[u8] = b"the rendezvous tests' shared secret, 40 b";

/// A secret written to a file of its own, removed on drop.
#[derive(Debug)]
pub struct SecretFile {
    path: PathBuf,
}

impl SecretFile {
    /// Writes `contents` to a new file in the temporary folder.
    pub fn new(contents: &[u8]) -> SecretFile {
        static DRAWN: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "rendezvous-test-secret-{}-{}",
            std::process::id(),
            DRAWN.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents)
            .unwrap_or_else(|error| panic!("could not write {}: {error}", path.display()));
        SecretFile { path }
    }

    /// A file holding [`TEST_SECRET`].
    pub fn test_secret() -> SecretFile {
        SecretFile::new(TEST_SECRET)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path as a flag's value.
    pub fn arg(&self) -> &str {
        self.path.to_str().expect("a UTF-8 temporary path")
    }

    /// The secret, as the file is read.
    pub fn secret(&self) -> Secret {
        Secret::from_file(&self.path).expect("read the secret file back")
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
