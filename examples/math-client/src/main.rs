//! Calls math-service's procedures wherever they run:
//! `math-client add 2 3` prints `5`. It knows them only by their interface,
//! the declarations of `math_api`, and links none of their implementation.

use clap::{Parser, Subcommand};
use futures_lite::future::block_on;
use math_api::{Document, add, checksum, div, slow_square};
use rendezvous_core::{Client, Error, matchmaker};
use std::net::SocketAddr;
use std::process::ExitCode;

/// Calls math_service's procedures through the matchmaker.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Options {
    /// The matchmaker to ask, or several sharing a store, comma-separated
    /// (tried in turn) [default: $RENDEZVOUS_MATCHMAKER, else 127.0.0.1:5000].
    // `::std::vec::Vec`: one flag value parsed into a list, not a repeated flag.
    #[arg(long, value_name = "ADDR[,ADDR...]", value_parser = matchmaker::parse_addresses)]
    matchmaker: Option<::std::vec::Vec<SocketAddr>>,
    #[command(subcommand)]
    call: Call,
}

#[derive(Subcommand, Debug)]
enum Call {
    /// Prints A + B.
    Add {
        #[arg(allow_negative_numbers = true)]
        a: i64,
        #[arg(allow_negative_numbers = true)]
        b: i64,
    },
    /// Prints A / B, or the error.
    Div {
        #[arg(allow_negative_numbers = true)]
        a: i64,
        #[arg(allow_negative_numbers = true)]
        b: i64,
    },
    /// Prints X squared, computed slowly.
    Square {
        #[arg(allow_negative_numbers = true)]
        x: i64,
        #[arg(long, default_value_t = 500)]
        delay_ms: u64,
    },
    /// Prints the length and Adler-32 of TEXT.
    Checksum { text: String },
    /// Prints the length and Adler-32 of the file at PATH, sent whole (a
    /// file beyond a datagram travels over the server's stream transport,
    /// up to 16 MiB), and checks the reversed copy that comes back.
    ChecksumFile { path: std::path::PathBuf },
}

fn main() -> ExitCode {
    let options = Options::parse();
    // Log lines to stderr, filtered by RUST_LOG (default `warn`: stdout
    // stays the answer alone).
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match block_on(run(options)) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("math-client: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<String, Error> {
    let client = match options.matchmaker {
        Some(addresses) => Client::builder().matchmakers(addresses).build()?,
        None => Client::global()?,
    };
    Ok(match options.call {
        Call::Add { a, b } => add::remote_with(&client, a, b).await?.to_string(),
        Call::Div { a, b } => match div::remote_with(&client, a, b).await? {
            Ok(quotient) => quotient.to_string(),
            Err(error) => format!("error: {error}"),
        },
        Call::Square { x, delay_ms } => slow_square::remote_with(&client, x, delay_ms)
            .await?
            .to_string(),
        Call::Checksum { text } => {
            let document = Document {
                name: "argument".into(),
                body: text.into_bytes(),
            };
            let digest = checksum::remote_with(&client, document).await?;
            format!("{} bytes, adler32 {:08x}", digest.length, digest.adler32)
        }
        Call::ChecksumFile { path } => {
            let body = std::fs::read(&path).map_err(|error| Error::Io {
                context: format!("could not read {}", path.display()),
                source: std::sync::Arc::new(error),
            })?;
            let mut expected = body.clone();
            expected.reverse();
            let document = Document {
                name: path.display().to_string(),
                body,
            };
            let digest = checksum::remote_with(&client, document).await?;
            let intact = if digest.reversed == expected {
                "came back intact"
            } else {
                "came back CHANGED"
            };
            format!(
                "{} bytes, adler32 {:08x}, {intact}",
                digest.length, digest.adler32
            )
        }
    })
}
