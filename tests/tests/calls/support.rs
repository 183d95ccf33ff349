//! What the tests of the call path start from: an embedded matchmaker,
//! servers (also behind a relay or a gate), retry policies and hang limits.

use rendezvous_core::matchmaker::Secret;
use rendezvous_core::{Error, Procedure, RetryPolicy, Server};
use rendezvous_daemon::{Matchmaker, MatchmakerConfig};
use rendezvous_runtime as rt;
use rendezvous_tests::gate::Gate;
use rendezvous_tests::secret::TEST_SECRET;
use rendezvous_tests::{Relay, RelayConfig};
use rendezvous_tests::{free_address, loopback};
use std::net::SocketAddr;
use std::time::Duration;

pub(crate) async fn matchmaker() -> Matchmaker {
    Matchmaker::bind(loopback(0))
        .await
        .expect("bind an embedded matchmaker")
}

/// The secret of [`signed_matchmaker`], which [`serve`] and [`serve_behind`]
/// sign with (a matchmaker without a secret ignores the MAC).
pub(crate) fn secret() -> Secret {
    Secret::new(TEST_SECRET).expect("a long enough secret")
}

/// An embedded matchmaker with [`secret`]: servers behind a front register
/// the front's address, not their own, which only a signed registration may.
pub(crate) async fn signed_matchmaker() -> Matchmaker {
    let config = MatchmakerConfig {
        secret: Some(secret()),
        ..MatchmakerConfig::default()
    };
    Matchmaker::bind_with(loopback(0), config)
        .await
        .expect("bind an embedded matchmaker")
}

/// Starts a server of `procedures`, registered with `matchmaker`.
pub(crate) async fn serve(matchmaker: SocketAddr, procedures: &[Procedure]) -> Server {
    let mut builder = Server::builder().matchmaker(matchmaker).secret(secret());
    for procedure in procedures {
        builder = builder.procedure(procedure.clone());
    }
    builder.start().await.expect("start a server")
}

/// Starts a server of `procedures` behind a front (a relay or a gate): the
/// front forwards to the server, and the server registers the front's
/// address in place of its own, so clients reach it only through the front.
/// It signs: `matchmaker` must be a [`signed_matchmaker`].
/// The server's port is chosen first (a free one), so the front can be made
/// for it; if another socket takes the port meanwhile, it tries another.
pub(crate) async fn serve_behind<F>(
    matchmaker: SocketAddr,
    procedures: &[Procedure],
    make_front: impl Fn(SocketAddr) -> F,
    front_address: impl Fn(&F) -> SocketAddr,
) -> (Server, F) {
    for _ in 0..10 {
        let address = free_address();
        let front = make_front(address);
        let mut builder = Server::builder()
            .matchmaker(matchmaker)
            .bind(address)
            .advertise(front_address(&front))
            .secret(secret());
        for procedure in procedures {
            builder = builder.procedure(procedure.clone());
        }
        match builder.start().await {
            Ok(server) => return (server, front),
            // The port was taken between learning and binding it.
            Err(Error::Io { .. }) => continue,
            Err(error) => panic!("could not start a server behind a front: {error}"),
        }
    }
    panic!("could not bind a server on a free loopback port in 10 tries");
}

pub(crate) fn faithful_relay(target: SocketAddr) -> Relay {
    Relay::start(target, RelayConfig::default()).expect("start a relay")
}

pub(crate) fn gate(target: SocketAddr) -> Gate {
    Gate::start(target).expect("start a gate")
}

/// Retransmission timers that give up on a silent endpoint within about
/// two seconds instead of five, and never retransmit before 250 ms (so
/// on loopback an ACK always comes before the first retransmission).
pub(crate) fn quick_failover(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        min_timeout: Duration::from_millis(250),
        acked_probe: Duration::from_millis(250),
        max_timeout: Duration::from_millis(500),
        deadline,
        ..RetryPolicy::default()
    }
}

/// Awaits `future`, failing the test if it takes longer than `limit`: for
/// calls that must end (with an error) rather than hang.
pub(crate) async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    rt::timeout(limit, future)
        .await
        .unwrap_or_else(|| panic!("{what} did not finish within {limit:?}: it hangs"))
}
