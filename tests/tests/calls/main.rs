//! The call path end to end: clients looking procedures up at a matchmaker
//! and calling servers directly over real loopback sockets, through loss,
//! duplication and reordering, server restarts and deaths, matchmaker
//! restarts, overload and oversized payloads.
//!
//! The matchmaker is embedded (`rendezvous_daemon::Matchmaker`) except where
//! a restart of the real daemon binary is the point. A server crashes by
//! being dropped (it stops without unregistering). Where it must vanish at
//! a precise moment, or stay registered while unreachable, a [`Relay`](rendezvous_tests::Relay) or a
//! [`Gate`](rendezvous_tests::gate::Gate) stands in front of it (the server advertises the front's
//! address) and the front is stopped.
//!
//! Every wait is bounded and generous; the tests assert outcomes and counts,
//! never how long something took.

mod acknowledgments;
mod batching;
mod exactly_once;
mod load;
mod matchmaker_restart;
mod payload_size;
mod procedures;
mod reply_cache;
mod runtime_and_errors;
mod servers_that_move_or_die;
mod support;
