//! Running the matchmaker: the serve flags checked and turned into a
//! [`MatchmakerConfig`] and a store, then served until Ctrl-C or SIGTERM.
//!
//! The first line on stdout names the bound address; everything else goes
//! to the log on stderr (`RUST_LOG`, `info` by default).

use super::args::Serve;
use super::{etcd, runtime};
use rendezvous_core::matchmaker::Secret;
use rendezvous_core::server::ResponderConfig;
use rendezvous_daemon::store::MemoryStore;
use rendezvous_daemon::{Limits, Matchmaker, MatchmakerConfig, Store, TtlBounds};
use std::sync::Arc;

/// Serves as `options` say until the process is asked to stop.
pub fn run(options: Serve) -> Result<(), String> {
    let config = config(&options)?;
    let interrupted = runtime::interruption()?;

    runtime::block_on(async {
        let store: Arc<dyn Store> = if options.etcd.etcd.is_empty() {
            Arc::new(MemoryStore::new(config.ttl, config.limits))
        } else {
            etcd::store(&options.etcd, config.ttl, config.limits).await?
        };
        let matchmaker = Matchmaker::bind_with_store(options.listen, config, store)
            .await
            .map_err(|error| format!("could not listen on {}: {error}", options.listen))?;
        // The first line of stdout names the bound address, so scripts and
        // tests that pass port 0 learn the port the OS chose.
        println!("rendezvous-daemon listening on {}", matchmaker.local_addr());
        let _metrics = match options.metrics {
            Some(address) => {
                let served = matchmaker
                    .serve_metrics(address, options.metrics_allow_remote)
                    .map_err(|error| match error.kind() {
                        std::io::ErrorKind::InvalidInput => {
                            format!("--metrics {address}: {error} (--metrics-allow-remote)")
                        }
                        _ => format!("--metrics {address}: could not serve there: {error}"),
                    })?;
                tracing::info!(
                    "metrics on http://{0}/metrics, status page on http://{0}/",
                    served.local_addr()
                );
                Some(served)
            }
            None => None,
        };
        tracing::info!(
            address = %matchmaker.local_addr(),
            default_ttl = ?options.default_ttl,
            max_registrations = options.max_registrations,
            max_registrations_per_source = options.max_registrations_per_source,
            reply_cache_bytes = options.reply_cache_bytes,
            "matchmaker listening"
        );
        interrupted.await;
        tracing::info!("shutting down");
        matchmaker.shutdown().await;
        Ok(())
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (else `default`), coloured only
/// on a terminal.
pub fn start_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// The configuration the flags describe, with the secret read; refuses
/// TTL bounds that contradict each other, naming the flags.
fn config(options: &Serve) -> Result<MatchmakerConfig, String> {
    let ttl = ttl_bounds(options)?;
    let secret = match &options.secret_file {
        Some(path) => Some(
            Secret::from_file(path)
                .map_err(|error| format!("--secret-file {}: {error}", path.display()))?,
        ),
        None => None,
    };
    Ok(MatchmakerConfig {
        ttl,
        responder: ResponderConfig {
            reply_cache_bytes: options.reply_cache_bytes,
            spin: std::time::Duration::from_micros(options.spin_micros),
            ..ResponderConfig::default()
        },
        limits: Limits {
            max_registrations: options.max_registrations,
            max_registrations_per_source: options.max_registrations_per_source,
        },
        secret,
        auth_window: options.auth_window,
        max_nonces: options.max_nonces,
    })
}

/// `--min-ttl` ≤ `--default-ttl` ≤ `--max-ttl`, or the message saying which
/// flags disagree.
fn ttl_bounds(options: &Serve) -> Result<TtlBounds, String> {
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
    Ok(TtlBounds {
        default: options.default_ttl,
        min: options.min_ttl,
        max: options.max_ttl,
    })
}
