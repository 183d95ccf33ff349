//! The command line: every flag, env var and help text of the daemon.
//!
//! Defaults are the library's constants, not restated: `--help` shows each
//! one rendered by [`values`](super::values) (`30s`, `5m`, `8MiB`), and
//! clap parses that text like a typed-in value, so what is shown is what
//! is used.

use super::values::{
    format_bytes, format_duration, parse_address, parse_bytes, parse_duration, parse_fingerprint,
};
use clap::{Args, Parser, Subcommand};
use rendezvous_core::Fingerprint;
use rendezvous_core::matchmaker::{self, DEFAULT_ADDRESS, SECRET_FILE_ENV_VAR};
use rendezvous_core::retry::DEFAULT_DEADLINE;
use rendezvous_core::server::DEFAULT_REPLY_CACHE_BYTES;
use rendezvous_daemon::{
    DEFAULT_AUTH_WINDOW, DEFAULT_LEASE_TTL, DEFAULT_MAX_NONCES, DEFAULT_MAX_REGISTRATIONS,
    DEFAULT_MAX_REGISTRATIONS_PER_SOURCE, MAX_LEASE_TTL, MIN_LEASE_TTL,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The text of a default computed at run time, made once: clap takes a
/// default as a `&'static str` and parses it as if it had been typed.
macro_rules! shown {
    ($text:expr) => {{
        static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        TEXT.get_or_init(|| $text).as_str()
    }};
}

/// The rendezvous matchmaker: maps procedure names to the servers that run them.
///
/// With no subcommand, runs the matchmaker on --listen. The subcommands ask a
/// running matchmaker what it knows, in the spirit of `rpcinfo -p`.
#[derive(Parser, Debug)]
#[command(name = "rendezvous-daemon", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: Serve,
}

/// How to run the matchmaker (the flags without a subcommand).
#[derive(Args, Debug)]
pub struct Serve {
    /// Address to listen on (UDP). Clients and servers find the matchmaker here.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_ADDRESS, value_parser = parse_address)]
    pub listen: SocketAddr,

    /// Lease TTL granted to servers that do not ask for one (e.g. 30s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(DEFAULT_LEASE_TTL)))]
    pub default_ttl: Duration,

    /// Shortest lease TTL granted; shorter requests are raised to it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(MIN_LEASE_TTL)))]
    pub min_ttl: Duration,

    /// Longest lease TTL granted; longer requests are cut to it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(MAX_LEASE_TTL)))]
    pub max_ttl: Duration,

    /// File holding the secret shared with servers (at least 16 bytes;
    /// trailing whitespace is ignored). With it, register, renew and
    /// unregister must carry an HMAC under it, from any address. Without it,
    /// only servers on this host (loopback) may register.
    #[arg(long, value_name = "PATH", env = SECRET_FILE_ENV_VAR)]
    pub secret_file: Option<PathBuf>,

    /// How far a signed request's timestamp may be from this host's clock,
    /// either way; older or newer requests are refused as stale.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(DEFAULT_AUTH_WINDOW)))]
    pub auth_window: Duration,

    /// Nonces of signed requests remembered, to refuse replays (only signed
    /// requests are remembered; when full, the oldest go and requests as old
    /// as them are refused).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NONCES)]
    pub max_nonces: usize,

    /// Registrations held at once, from all servers (one registration is
    /// one procedure at one endpoint); beyond it, register is refused.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_REGISTRATIONS)]
    pub max_registrations: usize,

    /// Registrations held at once that came from one IP address.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_REGISTRATIONS_PER_SOURCE)]
    pub max_registrations_per_source: usize,

    /// Memory for the matchmaker's own reply cache (e.g. 8MiB, 512KiB, 1048576).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    #[arg(default_value = shown!(format_bytes(DEFAULT_REPLY_CACHE_BYTES)))]
    pub reply_cache_bytes: usize,

    /// How long the receive loop polls for the next datagram before its
    /// thread sleeps, in microseconds; 0 never spins. Saves a client's
    /// lookup the wake-up of a sleeping CPU, at the cost of CPU while it
    /// spins (rarely, where it does not pay; never on a thread pinned to
    /// one CPU). The default is the library's, `DEFAULT_SERVER_SPIN`.
    #[arg(long, value_name = "MICROSECONDS", default_value_t = 150)]
    pub spin_micros: u64,

    /// Serve Prometheus metrics at http://ADDR/metrics and a status page
    /// at http://ADDR/ (e.g. 127.0.0.1:9095). Off by default; a loopback
    /// address unless --metrics-allow-remote.
    #[arg(long, value_name = "ADDR", value_parser = parse_address)]
    pub metrics: Option<SocketAddr>,

    /// Let --metrics listen on an address other hosts can reach: the
    /// metrics and the page name every procedure and endpoint registered,
    /// to whoever connects.
    #[arg(long, requires = "metrics")]
    pub metrics_allow_remote: bool,

    #[command(flatten)]
    pub etcd: EtcdOptions,
}

/// Where the table lives when several matchmakers share it.
#[derive(Args, Debug)]
#[command(next_help_heading = "Shared store (etcd; a daemon built with --features etcd)")]
pub struct EtcdOptions {
    /// Keep the table in this etcd cluster instead of in memory, shared with
    /// every matchmaker given the same cluster and prefix (client URLs,
    /// comma-separated, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379).
    #[arg(
        long,
        value_name = "URL[,URL...]",
        env = "RENDEZVOUS_ETCD",
        value_delimiter = ','
    )]
    pub etcd: Vec<String>,

    /// Key prefix in etcd; matchmakers with the same prefix share a table.
    // The etcd store's `DEFAULT_PREFIX`, which a build without the feature
    // does not have; a unit test of the etcd build keeps the two equal.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "/rendezvous/",
        env = "RENDEZVOUS_ETCD_PREFIX"
    )]
    pub etcd_prefix: String,

    /// etcd user, for a cluster with authentication enabled (with --etcd-password-file).
    #[arg(long, value_name = "NAME", env = "RENDEZVOUS_ETCD_USER")]
    pub etcd_user: Option<String>,

    /// File holding the etcd user's password (trailing newline ignored);
    /// a file, so the password never shows in the process list.
    #[arg(long, value_name = "PATH", env = "RENDEZVOUS_ETCD_PASSWORD_FILE")]
    pub etcd_password_file: Option<PathBuf>,

    /// PEM file of the CA that signed etcd's certificate (TLS: https:// URLs).
    #[arg(long, value_name = "PATH")]
    pub etcd_ca_file: Option<PathBuf>,

    /// PEM certificate this matchmaker presents to etcd (with --etcd-key-file),
    /// for an etcd started with --client-cert-auth.
    #[arg(long, value_name = "PATH", requires = "etcd_key_file")]
    pub etcd_cert_file: Option<PathBuf>,

    /// PEM private key of --etcd-cert-file.
    #[arg(long, value_name = "PATH", requires = "etcd_cert_file")]
    pub etcd_key_file: Option<PathBuf>,
}

/// The query subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print every registration as a table: name, endpoint, signature, incarnation, TTL left.
    List(Target),
    /// Print the endpoints of one procedure name.
    Lookup {
        /// The procedure name, e.g. math.add.
        name: String,
        /// Only endpoints with this signature fingerprint (hex, e.g. 0x1f2e...).
        #[arg(long, value_name = "HEX", value_parser = parse_fingerprint)]
        signature: Option<Fingerprint>,
        #[command(flatten)]
        target: Target,
    },
    /// Print each endpoint of one procedure name: incarnation, lease time
    /// left, transports and signature (its types).
    Describe {
        /// The procedure name, e.g. math.add.
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// Ask a matchmaker or any server whether it answers: round trip,
    /// incarnation, uptime. Nothing runs there.
    Ping(PingOptions),
    /// What a matchmaker says of itself: its store (memory or etcd, and
    /// whether etcd is reachable), leases and registrations, and leases
    /// expiring soon.
    Status(StatusOptions),
    /// Call a procedure with JSON arguments and print its result as JSON,
    /// e.g. `call math.add 2 3`. Errors go to stderr, exit status 1.
    Call(CallOptions),
}

/// `call NAME ARGS...`: one procedure called from the shell.
#[derive(Args, Debug)]
pub struct CallOptions {
    /// The procedure name, e.g. math.add.
    pub name: String,
    /// The arguments, one JSON value each: `2`, `"text"`, `[1, 2]`,
    /// `{"name": "x", "body": [104, 105]}` (a struct is a map of its
    /// fields, an enum as serde writes it, a byte string an array of
    /// numbers). A word that is not JSON is taken as a string (`hello`);
    /// one starting with `{`, `[` or `"` must be valid JSON.
    #[arg(value_name = "JSON", allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Print the result as CBOR diagnostic notation (RFC 8949) instead of JSON.
    #[arg(long)]
    pub raw: bool,
    /// Let the call be retried on another server after the first may have
    /// run it (a procedure declared idempotent already is; refused for one
    /// whose registration says it is not).
    #[arg(long)]
    pub idempotent: bool,
    /// How long the call may take, retransmissions and failover included.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(DEFAULT_DEADLINE)))]
    pub deadline: Duration,
    /// The signature fingerprint to call (hex), when servers of one name
    /// offer several [default: the one the registrations agree on].
    #[arg(long, value_name = "HEX", value_parser = parse_fingerprint)]
    pub signature: Option<Fingerprint>,
    #[command(flatten)]
    pub target: Target,
}

/// `ping ADDR`.
#[derive(Args, Debug)]
pub struct PingOptions {
    /// The address to ask: a matchmaker's or a server's (HOST:PORT).
    #[arg(value_name = "ADDR", value_parser = parse_address)]
    pub address: SocketAddr,
    /// How long to wait for an answer.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = shown!(format_duration(PING_DEADLINE)))]
    pub deadline: Duration,
}

/// How long `ping` waits by default: a server that does not answer in this
/// long is as good as down to an operator.
pub const PING_DEADLINE: Duration = Duration::from_secs(3);

/// `status`.
#[derive(Args, Debug)]
pub struct StatusOptions {
    /// Report leases with less time left than this (a lease renewed on
    /// time keeps two thirds of its TTL).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[arg(default_value = "5s")]
    pub soon: Duration,
    #[command(flatten)]
    pub target: Target,
}

/// The matchmaker a query asks.
#[derive(Args, Debug)]
pub struct Target {
    /// The matchmaker to ask, or several sharing one store, tried in turn
    /// [default: $RENDEZVOUS_MATCHMAKER, else 127.0.0.1:5000].
    // `::std::vec::Vec`, not `Vec`: the parser yields the whole list, so
    // clap must not take the flag for a repeated one.
    #[arg(long, value_name = "ADDR[,ADDR...]", value_parser = matchmaker::parse_addresses)]
    pub matchmaker: Option<::std::vec::Vec<SocketAddr>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The default `--help` shows for the flag `id`.
    fn shown_default(id: &str) -> String {
        let command = Cli::command();
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .unwrap_or_else(|| panic!("no flag {id}"));
        match arg.get_default_values() {
            [value] => value.to_str().expect("a UTF-8 default").to_owned(),
            other => panic!("--{id} shows {other:?} as its default"),
        }
    }

    #[test]
    fn each_default_shown_is_its_constant() {
        assert_eq!(parse_address(&shown_default("listen")), Ok(DEFAULT_ADDRESS));
        for (id, constant) in [
            ("default_ttl", DEFAULT_LEASE_TTL),
            ("min_ttl", MIN_LEASE_TTL),
            ("max_ttl", MAX_LEASE_TTL),
            ("auth_window", DEFAULT_AUTH_WINDOW),
        ] {
            assert_eq!(parse_duration(&shown_default(id)), Ok(constant), "--{id}");
        }
        for (id, constant) in [
            ("max_nonces", DEFAULT_MAX_NONCES),
            ("max_registrations", DEFAULT_MAX_REGISTRATIONS),
            (
                "max_registrations_per_source",
                DEFAULT_MAX_REGISTRATIONS_PER_SOURCE,
            ),
        ] {
            assert_eq!(shown_default(id).parse(), Ok(constant), "--{id}");
        }
        assert_eq!(
            parse_bytes(&shown_default("reply_cache_bytes")),
            Ok(DEFAULT_REPLY_CACHE_BYTES)
        );
        assert_eq!(
            shown_default("spin_micros").parse::<u128>(),
            Ok(rendezvous_core::DEFAULT_SERVER_SPIN.as_micros())
        );
    }

    #[test]
    #[cfg(feature = "etcd")]
    fn the_etcd_prefix_shown_is_the_stores_default() {
        use rendezvous_daemon::store::etcd::DEFAULT_PREFIX;
        assert_eq!(shown_default("etcd_prefix"), DEFAULT_PREFIX);
    }

    #[test]
    fn defaults_are_shown_as_an_operator_would_type_them() {
        assert_eq!(shown_default("default_ttl"), "30s");
        assert_eq!(shown_default("min_ttl"), "1s");
        assert_eq!(shown_default("max_ttl"), "5m");
        assert_eq!(shown_default("reply_cache_bytes"), "8MiB");
    }

    #[test]
    fn textual_defaults_agree_with_the_constants() {
        assert_eq!(parse_duration("30s"), Ok(DEFAULT_AUTH_WINDOW));
        assert_eq!(parse_bytes("8MiB"), Ok(DEFAULT_REPLY_CACHE_BYTES));
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
