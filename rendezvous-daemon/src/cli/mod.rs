//! The binary's rooms, one job each, below the door in `main.rs`:
//!
//! - [`args`]: the command line itself (flags, env vars, help text), with
//!   every default taken from the library's constants;
//! - [`values`]: what a flag's value means: durations, sizes, addresses,
//!   fingerprints, parsed and rendered back for `--help`;
//! - [`serve`]: a matchmaker built from the serve flags, run until stopped;
//! - [`etcd`]: the `--etcd*` flags turned into an etcd store (cargo
//!   feature `etcd`; without it, a message saying how to build it);
//! - [`query`]: the `list`, `lookup` and `describe` subcommands and their tables;
//! - [`call`]: the `call` subcommand, JSON in and out;
//! - [`diagnostic`]: CBOR diagnostic notation, for `call --raw`;
//! - [`health`]: the `ping` and `status` subcommands;
//! - [`runtime`]: the one place the binary names the async runtime.
//!
//! Every room answers a failure with the one line `main` prints.

pub mod args;
pub mod call;
pub mod diagnostic;
pub mod etcd;
pub mod health;
pub mod query;
pub mod runtime;
pub mod serve;
pub mod values;
