//! `rendezvous-daemon`: run the matchmaker, or ask a running one what it knows.
//!
//! This file is the door: it parses the command line, hands it to the room
//! that does the job, and turns the outcome into the exit code (0, or 1
//! after one line on stderr). The rooms are in [`cli`].

mod cli;

use clap::Parser;
use cli::args::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The matchmaker logs at info by default; a query prints its answer
    // on stdout and only warnings on stderr, unless RUST_LOG says more
    // (`RUST_LOG=rendezvous_core=debug` shows each call's span).
    cli::serve::start_logging(if cli.command.is_none() {
        "info"
    } else {
        "warn"
    });
    let result = match cli.command {
        None => cli::serve::run(cli.serve),
        Some(Command::List(target)) => cli::query::list(target),
        Some(Command::Lookup {
            name,
            signature,
            target,
        }) => cli::query::lookup(target, name, signature),
        Some(Command::Describe { name, target }) => cli::query::describe(target, name),
        Some(Command::Call(options)) => cli::call::call(options),
        Some(Command::Ping(options)) => cli::health::ping(options),
        Some(Command::Status(options)) => cli::health::status(options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rendezvous-daemon: {message}");
            ExitCode::FAILURE
        }
    }
}
