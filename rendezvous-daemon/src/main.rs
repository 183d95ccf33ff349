//! `rendezvous-daemon`: run the matchmaker, or ask a running one what it knows.

use clap::{Args, Parser, Subcommand};
use rendezvous_core::matchmaker::{self, DEFAULT_ADDRESS, SECRET_FILE_ENV_VAR, Secret};
#[cfg(test)]
use rendezvous_core::server::DEFAULT_REPLY_CACHE_BYTES;
use rendezvous_core::server::ResponderConfig;
use rendezvous_core::{Fingerprint, MatchmakerClient, rt};
#[cfg(test)]
use rendezvous_daemon::DEFAULT_AUTH_WINDOW;
use rendezvous_daemon::store::MemoryStore;
use rendezvous_daemon::{
    DEFAULT_MAX_NONCES, DEFAULT_MAX_REGISTRATIONS, DEFAULT_MAX_REGISTRATIONS_PER_SOURCE, Limits,
    Matchmaker, MatchmakerConfig, Store, TtlBounds,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The rendezvous matchmaker: maps procedure names to the servers that run them.
///
/// With no subcommand, runs the matchmaker on --listen. The subcommands ask a
/// running matchmaker what it knows, in the spirit of `rpcinfo -p`.
#[derive(Parser, Debug)]
#[command(name = "rendezvous-daemon", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: Serve,
}

#[derive(Args, Debug)]
struct Serve {
    /// Address to listen on (UDP). Clients and servers find the matchmaker here.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_ADDRESS, value_parser = parse_address)]
    listen: SocketAddr,

    /// Lease TTL granted to servers that do not ask for one (e.g. 30s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    default_ttl: Duration,

    /// Shortest lease TTL granted; shorter requests are raised to it.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    min_ttl: Duration,

    /// Longest lease TTL granted; longer requests are cut to it.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    max_ttl: Duration,

    /// File holding the secret shared with servers (at least 16 bytes;
    /// trailing whitespace is ignored). With it, register, renew and
    /// unregister must carry an HMAC under it, from any address. Without it,
    /// only servers on this host (loopback) may register.
    #[arg(long, value_name = "PATH", env = SECRET_FILE_ENV_VAR)]
    secret_file: Option<PathBuf>,

    /// How far a signed request's timestamp may be from this host's clock,
    /// either way; older or newer requests are refused as stale.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    auth_window: Duration,

    /// Nonces of signed requests remembered, to refuse replays (only signed
    /// requests are remembered; when full, the oldest go and requests as old
    /// as them are refused).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NONCES)]
    max_nonces: usize,

    /// Registrations held at once, from all servers (one registration is
    /// one procedure at one endpoint); beyond it, register is refused.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_REGISTRATIONS)]
    max_registrations: usize,

    /// Registrations held at once that came from one IP address.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_REGISTRATIONS_PER_SOURCE)]
    max_registrations_per_source: usize,

    /// Memory for the matchmaker's own reply cache (e.g. 8MiB, 512KiB, 1048576).
    #[arg(long, value_name = "BYTES", default_value = "8MiB", value_parser = parse_bytes)]
    reply_cache_bytes: usize,

    #[command(flatten)]
    etcd: EtcdOptions,
}

/// Where the table lives when several matchmakers share it.
#[derive(Args, Debug)]
#[command(next_help_heading = "Shared store (etcd; a daemon built with --features etcd)")]
struct EtcdOptions {
    /// Keep the table in this etcd cluster instead of in memory, shared with
    /// every matchmaker given the same cluster and prefix (client URLs,
    /// comma-separated, e.g. http://10.0.0.1:2379,http://10.0.0.2:2379).
    #[arg(
        long,
        value_name = "URL[,URL...]",
        env = "RENDEZVOUS_ETCD",
        value_delimiter = ','
    )]
    etcd: Vec<String>,

    /// Key prefix in etcd; matchmakers with the same prefix share a table.
    #[arg(
        long,
        value_name = "PREFIX",
        default_value = "/rendezvous/",
        env = "RENDEZVOUS_ETCD_PREFIX"
    )]
    etcd_prefix: String,

    /// etcd user, for a cluster with authentication enabled (with --etcd-password-file).
    #[arg(long, value_name = "NAME", env = "RENDEZVOUS_ETCD_USER")]
    etcd_user: Option<String>,

    /// File holding the etcd user's password (trailing newline ignored);
    /// a file, so the password never shows in the process list.
    #[arg(long, value_name = "PATH", env = "RENDEZVOUS_ETCD_PASSWORD_FILE")]
    etcd_password_file: Option<PathBuf>,

    /// PEM file of the CA that signed etcd's certificate (TLS: https:// URLs).
    #[arg(long, value_name = "PATH")]
    etcd_ca_file: Option<PathBuf>,

    /// PEM certificate this matchmaker presents to etcd (with --etcd-key-file),
    /// for an etcd started with --client-cert-auth.
    #[arg(long, value_name = "PATH", requires = "etcd_key_file")]
    etcd_cert_file: Option<PathBuf>,

    /// PEM private key of --etcd-cert-file.
    #[arg(long, value_name = "PATH", requires = "etcd_cert_file")]
    etcd_key_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
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
}

#[derive(Args, Debug)]
struct Target {
    /// The matchmaker to ask, or several sharing one store, tried in turn
    /// [default: $RENDEZVOUS_MATCHMAKER, else 127.0.0.1:5000].
    #[arg(long, value_name = "ADDR[,ADDR...]", value_parser = matchmaker::parse_addresses)]
    matchmaker: Option<::std::vec::Vec<SocketAddr>>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve),
        Some(Command::List(target)) => with_matchmaker(target, list),
        Some(Command::Lookup {
            name,
            signature,
            target,
        }) => with_matchmaker(target, |client| lookup(client, name, signature)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rendezvous-daemon: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: Serve) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if options.min_ttl > options.max_ttl {
        return Err(format!(
            "--min-ttl ({:?}) is longer than --max-ttl ({:?})",
            options.min_ttl, options.max_ttl
        ));
    }
    if !(options.min_ttl..=options.max_ttl).contains(&options.default_ttl) {
        return Err(format!(
            "--default-ttl ({:?}) must lie between --min-ttl ({:?}) and --max-ttl ({:?})",
            options.default_ttl, options.min_ttl, options.max_ttl
        ));
    }
    let secret = match &options.secret_file {
        Some(path) => Some(
            Secret::from_file(path)
                .map_err(|error| format!("--secret-file {}: {error}", path.display()))?,
        ),
        None => None,
    };
    let ttl = TtlBounds {
        default: options.default_ttl,
        min: options.min_ttl,
        max: options.max_ttl,
    };
    let limits = Limits {
        max_registrations: options.max_registrations,
        max_registrations_per_source: options.max_registrations_per_source,
    };
    let config = MatchmakerConfig {
        ttl,
        responder: ResponderConfig {
            reply_cache_bytes: options.reply_cache_bytes,
            ..ResponderConfig::default()
        },
        limits,
        secret,
        auth_window: options.auth_window,
        max_nonces: options.max_nonces,
    };
    let (stop, stopped) = async_std::channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop.try_send(());
    })
    .map_err(|error| format!("could not install the signal handler: {error}"))?;

    rt::block_on(async {
        let store: Arc<dyn Store> = if options.etcd.etcd.is_empty() {
            Arc::new(MemoryStore::new(ttl, limits))
        } else {
            etcd_store(&options.etcd, ttl, limits).await?
        };
        let matchmaker = Matchmaker::bind_with_store(options.listen, config, store)
            .await
            .map_err(|error| format!("could not listen on {}: {error}", options.listen))?;
        // The first line of stdout names the bound address, so scripts and
        // tests that pass port 0 learn the port the OS chose.
        println!("rendezvous-daemon listening on {}", matchmaker.local_addr());
        tracing::info!(
            address = %matchmaker.local_addr(),
            default_ttl = ?options.default_ttl,
            max_registrations = options.max_registrations,
            max_registrations_per_source = options.max_registrations_per_source,
            reply_cache_bytes = options.reply_cache_bytes,
            "matchmaker listening"
        );
        let _ = stopped.recv().await;
        tracing::info!("shutting down");
        matchmaker.shutdown().await;
        Ok(())
    })
}

/// The etcd store the options describe, connected and loaded.
#[cfg(feature = "etcd")]
async fn etcd_store(
    options: &EtcdOptions,
    ttl: TtlBounds,
    limits: Limits,
) -> Result<Arc<dyn Store>, String> {
    use rendezvous_daemon::store::etcd::{EtcdConfig, EtcdStore, EtcdTls};
    let read = |flag: &str, path: &PathBuf| {
        std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))
    };
    let user = match (&options.etcd_user, &options.etcd_password_file) {
        (Some(user), Some(path)) => {
            let password = String::from_utf8(read("--etcd-password-file", path)?)
                .map_err(|_| format!("--etcd-password-file {}: not UTF-8 text", path.display()))?;
            Some((
                user.clone(),
                password.trim_end_matches(['\r', '\n']).to_owned(),
            ))
        }
        (None, None) => None,
        _ => return Err("--etcd-user and --etcd-password-file go together".into()),
    };
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
    let tls = (ca.is_some() || identity.is_some()).then_some(EtcdTls { ca, identity });
    let config = EtcdConfig {
        endpoints: options.etcd.clone(),
        prefix: options.etcd_prefix.clone(),
        user,
        tls,
    };
    let store = EtcdStore::connect(config, ttl, limits)
        .await
        .map_err(|error| format!("could not use etcd: {error}"))?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "etcd"))]
async fn etcd_store(
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

fn with_matchmaker<F, Fut>(target: Target, run: F) -> Result<(), String>
where
    F: FnOnce(MatchmakerClient) -> Fut,
    Fut: std::future::Future<Output = Result<(), rendezvous_core::Error>>,
{
    let addresses = match target.matchmaker {
        Some(addresses) => addresses,
        None => matchmaker::addresses_from_env().map_err(|e| e.to_string())?,
    };
    rt::block_on(async {
        let client = MatchmakerClient::connect_any(&addresses)
            .await
            .map_err(|e| e.to_string())?;
        run(client).await.map_err(|e| e.to_string())
    })
}

async fn list(client: MatchmakerClient) -> Result<(), rendezvous_core::Error> {
    let (mut registrations, mut after, mut stale) = (Vec::new(), None, false);
    loop {
        let page = client.list_page(after).await?;
        stale |= page.stale;
        registrations.extend(page.registrations);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let rows: Vec<[String; 5]> = registrations
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.endpoint.to_string(),
                r.signature.to_string(),
                format!("{:016x}", r.incarnation),
                format_ttl(r.ttl_ms),
            ]
        })
        .collect();
    print_table(
        ["NAME", "ENDPOINT", "SIGNATURE", "INCARNATION", "TTL"],
        &rows,
    );
    println!(
        "{} registration{} at {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        client.address()
    );
    if stale {
        println!("(the matchmaker cannot reach its shared store: this may miss recent changes)");
    }
    Ok(())
}

async fn lookup(
    client: MatchmakerClient,
    name: String,
    signature: Option<Fingerprint>,
) -> Result<(), rendezvous_core::Error> {
    let answer = client.lookup_answer(&name, signature).await?;
    let rows: Vec<[String; 4]> = answer
        .endpoints
        .iter()
        .map(|e| {
            [
                e.address.to_string(),
                e.signature.to_string(),
                format!("{:016x}", e.incarnation),
                format_ttl(e.ttl_ms),
            ]
        })
        .collect();
    print_table(["ENDPOINT", "SIGNATURE", "INCARNATION", "TTL"], &rows);
    if answer.truncated {
        println!(
            "(more endpoints exist than fit one answer; `rendezvous-daemon list` shows them all)"
        );
    }
    Ok(())
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn format_ttl(ms: u64) -> String {
    format!("{}.{:01}s", ms / 1000, (ms % 1000) / 100)
}

fn parse_address(text: &str) -> Result<SocketAddr, String> {
    matchmaker::parse_address(text)
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    let digits = text.trim_start_matches("0x");
    u64::from_str_radix(digits, 16)
        .map(Fingerprint)
        .map_err(|_| format!("expected a hex fingerprint such as 0x1f2e3d4c5b6a7988, got {text:?}"))
}

/// Parses `1048576`, `512KiB`, `8MiB`, `1GiB` (also `K`, `M`, `G`: powers of 1024).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number
        .parse()
        .map_err(|_| format!("expected a size such as 8MiB, 512KiB or 1048576, got {text:?}"))?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?}; use KiB, MiB or GiB")),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("{text} is too large"))
}

/// Parses `250ms`, `30s`, `2m`, `1h` (a bare number means seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 500ms, 30s or 2m, got {text:?}"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "" | "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        other => return Err(format!("unknown unit {other:?}; use ms, s, m or h")),
    };
    if duration.is_zero() {
        return Err("a duration must be longer than zero".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("512KiB"), Ok(512 << 10));
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("8M"), Ok(8 << 20));
        assert!(parse_bytes("8 parsecs").is_err());
    }

    #[test]
    fn textual_defaults_agree_with_the_constants() {
        assert_eq!(parse_duration("30s"), Ok(DEFAULT_AUTH_WINDOW));
        assert_eq!(parse_bytes("8MiB"), Ok(DEFAULT_REPLY_CACHE_BYTES));
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
