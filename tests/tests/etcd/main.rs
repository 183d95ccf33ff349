//! Several matchmakers sharing one etcd (rendezvous-daemon's `etcd`
//! feature), end to end: real etcd processes ([`Etcd`]), real daemons
//! started with `--etcd URLS` and a key prefix of each test's own, and
//! servers and clients of rendezvous-core given several matchmakers.
//!
//! ```sh
//! cargo test -p rendezvous-tests --features etcd --test etcd
//! ```
//!
//! (`etcd` must be on PATH, and protoc, to build the daemon's etcd client;
//! `.ci/run` installs both.) The servers here run in the test process, so
//! each counts what it executed: "ran once" means what really ran.
//!
//! Every wait is bounded and generous; the tests assert outcomes and
//! counts, never how long something took.

#![cfg(feature = "etcd")]

mod daemon_killed;
mod etcd_authentication;
mod etcd_cluster;
mod etcd_stopped;
mod etcd_tls;
mod load;
mod shared_table;
mod status;
mod support;
