//! The real `rendezvous-daemon` binary as a child process.
//!
//! [`Daemon::start`] runs it on `127.0.0.1:0` and learns the port the OS
//! chose from the first line of its stdout; the child is killed when the
//! [`Daemon`] is dropped, so a failing test leaks no process. [`cli`] runs
//! the binary's query subcommands with a hang limit.
//!
//! The binary is `target/<profile>/rendezvous-daemon`, next to the `deps`
//! folder holding the running test executable (or `$RENDEZVOUS_DAEMON_BIN`).
//! Each test process brings it up to date once with `cargo build -p
//! rendezvous-daemon --bin rendezvous-daemon` (a no-op when fresh; with
//! `--features etcd` under this crate's `etcd` feature), so an edited daemon
//! is never tested as it was; [`workspace_binary`] does the
//! same for the examples' binaries.

use crate::pipe::collect;
use crate::secret::SecretFile;
use crate::sync::lock;
use rendezvous_core::MatchmakerClient;
use rendezvous_core::matchmaker::Secret;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// How long a starting daemon may take to print its address.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a daemon may take to exit after SIGTERM.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a query subcommand may run before [`cli`] calls it a hang.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// How long building a missing binary may take.
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// What the daemon prints before its address.
const LISTENING: &str = "rendezvous-daemon listening on ";

/// The environment variable that overrides where the binary is.
pub const BINARY_ENV_VAR: &str = "RENDEZVOUS_DAEMON_BIN";

/// A running `rendezvous-daemon`, killed on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    address: SocketAddr,
    pid: u32,
    stderr: Arc<Mutex<String>>,
    /// Set once the child has been reaped.
    status: Option<ExitStatus>,
    /// The secret it was started with by [`Daemon::start_signed`].
    secret: Option<Arc<SecretFile>>,
}

/// Why one attempt to start a daemon failed.
struct StartFailure {
    reason: String,
    stderr: String,
}

impl Daemon {
    /// Starts the daemon on `127.0.0.1:0` with extra `args` (e.g.
    /// `["--min-ttl", "1s"]`). Panics, with the daemon's stderr, if it does
    /// not print its address within [`START_TIMEOUT`].
    pub fn start(args: &[&str]) -> Daemon {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Daemon::spawn(any_port, args).unwrap_or_else(|failure| failure.panic(any_port))
    }

    /// Starts the daemon like [`Daemon::start`], with a secret of its own
    /// (`--secret-file`): [`Daemon::client`] then signs, and
    /// [`Daemon::secret`] gives servers the same secret. For tests that
    /// register endpoints other than their own sockets' (a relay's, or
    /// addresses nobody listens on), which only a signed registration may.
    pub fn start_signed(args: &[&str]) -> Daemon {
        let file = Arc::new(SecretFile::test_secret());
        let mut all = vec!["--secret-file", file.arg()];
        all.extend_from_slice(args);
        let mut daemon = Daemon::start(&all);
        daemon.secret = Some(file);
        daemon
    }

    /// [`Daemon::start_on`] with the secret of a [`Daemon::start_signed`]
    /// daemon: its restart in its place.
    pub fn start_on_signed(address: SocketAddr, secret: Arc<SecretFile>) -> Daemon {
        let mut daemon = Daemon::start_on_with(address, &["--secret-file", secret.arg()]);
        daemon.secret = Some(secret);
        daemon
    }

    /// Starts the daemon inside network namespace `namespace` (see
    /// [`crate::netns`]), listening on `listen`, with extra `args`.
    pub fn start_in_namespace(namespace: &str, listen: SocketAddr, args: &[&str]) -> Daemon {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace]).arg(binary());
        Daemon::spawn_with(command, listen, args).unwrap_or_else(|failure| failure.panic(listen))
    }

    /// Starts the daemon on a fixed `address`, typically the one a killed or
    /// terminated daemon had, to test restarts. Retries while the address is
    /// still taken, up to [`START_TIMEOUT`].
    pub fn start_on(address: SocketAddr) -> Daemon {
        Daemon::start_on_with(address, &[])
    }

    /// [`Daemon::start_on`] with extra `args`.
    pub fn start_on_with(address: SocketAddr, args: &[&str]) -> Daemon {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match Daemon::spawn(address, args) {
                Ok(daemon) => return daemon,
                Err(failure)
                    if failure.stderr.contains("could not listen") && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(failure) => failure.panic(address),
            }
        }
    }

    fn spawn(listen: SocketAddr, args: &[&str]) -> Result<Daemon, StartFailure> {
        Daemon::spawn_with(Command::new(binary()), listen, args)
    }

    /// Runs `command` (the binary, or what runs it) with the daemon's flags.
    fn spawn_with(
        mut command: Command,
        listen: SocketAddr,
        args: &[&str],
    ) -> Result<Daemon, StartFailure> {
        let mut child = command
            .arg("--listen")
            .arg(listen.to_string())
            .args(args)
            .env_remove(rendezvous_core::matchmaker::ENV_VAR)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not spawn the rendezvous-daemon binary");
        let pid = child.id();
        let (stderr, stderr_thread) = collect(child.stderr.take().expect("stderr is piped"));

        // The first stdout line names the address; the rest is drained.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (first_line, first_line_read) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let read = reader.read_line(&mut line).map(|_| line);
            let _ = first_line.send(read);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });

        let fail = |mut child: Child, reason: String| {
            let _ = child.kill();
            let status = child.wait().ok();
            let _ = stderr_thread.join();
            let stderr = lock(&stderr).clone();
            let reason = match status {
                Some(status) => format!("{reason} (it exited with {status})"),
                None => reason,
            };
            Err(StartFailure { reason, stderr })
        };
        let line = match first_line_read.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if line.is_empty() => {
                return fail(
                    child,
                    "it closed stdout without printing its address".into(),
                );
            }
            Ok(Ok(line)) => line,
            Ok(Err(error)) => return fail(child, format!("reading its stdout failed: {error}")),
            Err(_) => {
                return fail(
                    child,
                    format!("it printed no address within {START_TIMEOUT:?}"),
                );
            }
        };
        let address = line
            .trim()
            .strip_prefix(LISTENING)
            .and_then(|address| address.parse::<SocketAddr>().ok());
        match address {
            Some(address) => Ok(Daemon {
                child,
                address,
                pid,
                stderr,
                status: None,
                secret: None,
            }),
            None => fail(
                child,
                format!("its first stdout line is {line:?}, not `{LISTENING}ADDR`"),
            ),
        }
    }

    /// The address the daemon listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A new [`MatchmakerClient`] of this daemon (its own socket), signing
    /// with the daemon's secret if [`Daemon::start_signed`] gave it one.
    pub async fn client(&self) -> MatchmakerClient {
        MatchmakerClient::connect(self.address)
            .await
            .expect("could not bind a matchmaker client socket")
            .with_secret(self.secret())
    }

    /// The secret of a daemon started by [`Daemon::start_signed`].
    pub fn secret(&self) -> Option<Secret> {
        self.secret.as_ref().map(|file| file.secret())
    }

    /// The file holding that secret, for a server process
    /// (`RENDEZVOUS_SECRET_FILE`) or a daemon restarted in this one's place.
    pub fn secret_file(&self) -> Option<Arc<SecretFile>> {
        self.secret.clone()
    }

    /// What the daemon has written to stderr so far (its log; the last
    /// 64 KiB).
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// Where a daemon started with `--metrics 127.0.0.1:0` serves them,
    /// read from its log (bounded wait); panics with the log if it never
    /// says.
    pub fn metrics_address(&self) -> SocketAddr {
        const SAID: &str = "metrics on http://";
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.stderr();
            let found = log.find(SAID).and_then(|at| {
                let rest = &log[at + SAID.len()..];
                rest.split('/').next()?.parse().ok()
            });
            match found {
                Some(address) => return address,
                None if Instant::now() >= deadline => {
                    panic!("the daemon never named its metrics address:\n{log}")
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none()
            && match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    false
                }
                Ok(None) => true,
                Err(_) => false,
            }
    }

    /// The daemon's resident memory (VmRSS from `/proc/<pid>/status`), in
    /// bytes; `None` once it has exited or where `/proc` is absent.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// Kills the daemon with SIGKILL (a crash) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Sends SIGTERM and waits for the daemon to exit; asserts that it exits
    /// within [`EXIT_TIMEOUT`] with status 0 (a clean shutdown).
    pub fn terminate(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Like [`Daemon::terminate`], with SIGINT (Ctrl-C).
    pub fn interrupt(&mut self) -> ExitStatus {
        self.stop_with("INT")
    }

    /// Sends `SIG<signal>` and asserts a clean exit within [`EXIT_TIMEOUT`].
    fn stop_with(&mut self, signal: &str) -> ExitStatus {
        assert!(
            self.is_running(),
            "the daemon had already exited: {:?}",
            self.status
        );
        let pid = self.pid.to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("could not run `kill`");
        assert!(sent.success(), "`kill -{signal} {pid}` failed: {sent}");
        let status = match wait_with_limit(&mut self.child, EXIT_TIMEOUT) {
            Some(status) => status,
            None => {
                self.status = self.child.try_wait().ok().flatten();
                panic!(
                    "the daemon did not exit within {EXIT_TIMEOUT:?} of SIG{signal}; it was killed. stderr:\n{}",
                    self.stderr()
                );
            }
        };
        self.status = Some(status);
        assert!(
            status.success(),
            "the daemon exited with {status} after SIG{signal}, not 0. stderr:\n{}",
            self.stderr()
        );
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

impl StartFailure {
    fn panic(self, listen: SocketAddr) -> ! {
        panic!(
            "rendezvous-daemon --listen {listen} did not start: {}. Its stderr:\n{}",
            self.reason, self.stderr
        )
    }
}

/// What a finished `rendezvous-daemon` subcommand printed.
#[derive(Debug)]
pub struct CliOutput {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed to stdout.
    pub stdout: String,
    /// What it printed to stderr (the last 64 KiB).
    pub stderr: String,
}

/// Runs `rendezvous-daemon ARGS` with `env` set (and `RENDEZVOUS_MATCHMAKER`
/// unset unless `env` sets it) and waits for it to exit. Panics if it runs
/// longer than [`CLI_TIMEOUT`]: a query must fail, not hang.
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove(rendezvous_core::matchmaker::ENV_VAR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .spawn()
        .expect("could not spawn the rendezvous-daemon binary");
    let (stdout, stdout_thread) = collect(child.stdout.take().expect("stdout is piped"));
    let (stderr, stderr_thread) = collect(child.stderr.take().expect("stderr is piped"));
    let status = wait_with_limit(&mut child, CLI_TIMEOUT);
    let _ = stdout_thread.join();
    let _ = stderr_thread.join();
    let (stdout, stderr) = (lock(&stdout).clone(), lock(&stderr).clone());
    match status {
        Some(status) => CliOutput {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "`rendezvous-daemon {}` did not exit within {CLI_TIMEOUT:?}; it was killed.\nstdout:\n{stdout}\nstderr:\n{stderr}",
            args.join(" ")
        ),
    }
}

/// Waits for `child` up to `limit`; kills and reaps it and returns `None`
/// if it is still running then.
pub(crate) fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child
            .try_wait()
            .expect("could not wait for a child process")
        {
            Some(status) => return Some(status),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The daemon's cargo features for these tests: `etcd` when this crate's
/// own `etcd` feature is on (the etcd store's tests need `--etcd`).
const DAEMON_FEATURES: &[&str] = if cfg!(feature = "etcd") {
    &["etcd"]
} else {
    &[]
};

/// The path of the `rendezvous-daemon` binary, built first if missing (with
/// `--features etcd` when this crate's `etcd` feature is on).
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os(BINARY_ENV_VAR) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{BINARY_ENV_VAR}={} is not a file",
            path.display()
        );
        return path;
    }
    workspace_binary_with("rendezvous-daemon", "rendezvous-daemon", DAEMON_FEATURES)
}

/// The path of binary `bin` of workspace package `package`, in the profile
/// folder of the running tests; brought up to date once per test process.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    workspace_binary_with(package, bin, &[])
}

/// [`workspace_binary`], built with the cargo `features` of `package`.
pub fn workspace_binary_with(package: &str, bin: &str, features: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = lock(BUILT.get_or_init(Mutex::default));
    built
        .entry(bin.to_owned())
        .or_insert_with(|| locate_or_build(package, bin, features))
        .clone()
}

/// Builds (a no-op when it is fresh) and locates the binary: a binary left
/// from before an edit would otherwise be tested as it was.
fn locate_or_build(package: &str, bin: &str, features: &[&str]) -> PathBuf {
    let profile_dir = profile_dir();
    let path = profile_dir.join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    build(&profile_dir, package, bin, features);
    assert!(
        path.is_file(),
        "cargo built {bin}, but not at {}; run `cargo build -p {package}` \
         with the options used for the tests",
        path.display()
    );
    path
}

/// `target/<profile>`: the folder above the `deps` folder holding this test
/// executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the path of the running test executable");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a folder")
        .to_path_buf();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    dir
}

/// Builds the binary with cargo; panics with advice if that fails or waits
/// too long (a build lock held by the cargo running the tests).
fn build(profile_dir: &Path, package: &str, bin: &str, features: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "-p", package, "--bin", bin])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let features = match features {
        [] => String::new(),
        features => format!(" --features {}", features.join(",")),
    };
    let advice =
        format!("run `cargo build -p {package}{features}` (or `cargo test --workspace`) first");
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("could not run cargo to build {bin} ({error}); {advice}"));
    let (stdout, stdout_thread) = collect(child.stdout.take().expect("stdout is piped"));
    let (stderr, stderr_thread) = collect(child.stderr.take().expect("stderr is piped"));
    let status = wait_with_limit(&mut child, BUILD_TIMEOUT);
    let _ = stdout_thread.join();
    let _ = stderr_thread.join();
    let output = format!("{}{}", lock(&stdout), lock(&stderr));
    match status {
        Some(status) if status.success() => {}
        Some(status) => {
            panic!(
                "`cargo build -p {package}{features}` failed ({status}); {advice}. Its output:\n{output}"
            )
        }
        None => panic!(
            "`cargo build -p {package}{features}` did not finish within {BUILD_TIMEOUT:?} \
             (waiting for cargo's build lock?); {advice}. Its output:\n{output}"
        ),
    }
}
