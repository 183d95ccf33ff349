//! A real headless browser for the status pages: Debian's `chromium`,
//! run once per page with a fresh profile, to dump the DOM it rendered or
//! take a screenshot. Where it is not installed, [`Chromium::or_skip`]
//! skips the test saying so, unless `RENDEZVOUS_CHROMIUM=require` (CI sets
//! it, and installs chromium), where it fails instead.

use crate::daemon::wait_with_limit;
use crate::pipe::collect;
use crate::sync::lock;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Set to `require` to make a test fail where chromium is missing.
pub const REQUIRE_ENV_VAR: &str = "RENDEZVOUS_CHROMIUM";

/// How long one page may take to load and render; far beyond need.
const PATIENCE: Duration = Duration::from_secs(60);

/// The browser binary.
#[derive(Debug)]
pub struct Chromium {
    binary: PathBuf,
}

impl Chromium {
    /// The `chromium` on PATH, or `None` after a line saying `test` was
    /// skipped (a failure under `RENDEZVOUS_CHROMIUM=require`).
    pub fn or_skip(test: &str) -> Option<Chromium> {
        let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|path| path.is_file())
            })
        });
        match found {
            Some(binary) => Some(Chromium { binary }),
            None => {
                let required = std::env::var(REQUIRE_ENV_VAR).is_ok_and(|v| v == "require");
                assert!(
                    !required,
                    "{test}: chromium is not on PATH, and {REQUIRE_ENV_VAR}=require; apt-get install chromium"
                );
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: chromium is not on PATH; apt-get install chromium to run it"
                );
                None
            }
        }
    }

    /// The DOM of `url` as rendered (`--dump-dom`).
    pub fn dump_dom(&self, url: &str) -> String {
        self.run(&["--dump-dom", url])
    }

    /// A 1200×900 screenshot of `url`, written to `path` (PNG).
    pub fn screenshot(&self, url: &str, path: &Path) {
        let target = format!("--screenshot={}", path.display());
        self.run(&[&target, "--window-size=1200,900", url]);
    }

    /// Runs the browser headless with a fresh profile, returning stdout.
    fn run(&self, args: &[&str]) -> String {
        let profile = std::env::temp_dir().join(format!(
            "rendezvous-chromium-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let mut command = Command::new(&self.binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("chromium starts");
        let (stdout, stdout_thread) = collect(child.stdout.take().expect("stdout is piped"));
        let (stderr, stderr_thread) = collect(child.stderr.take().expect("stderr is piped"));
        let status = wait_with_limit(&mut child, PATIENCE);
        let _ = stdout_thread.join();
        let _ = stderr_thread.join();
        let _ = std::fs::remove_dir_all(&profile);
        let (stdout, stderr) = (lock(&stdout).clone(), lock(&stderr).clone());
        match status {
            Some(status) if status.success() => stdout,
            Some(status) => panic!("chromium {args:?} failed ({status}):\n{stderr}"),
            None => panic!("chromium {args:?} did not finish within {PATIENCE:?}:\n{stderr}"),
        }
    }
}

/// The workspace's `target` folder (above the profile folder of the
/// running test executable), where CI keeps artefacts.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
}
