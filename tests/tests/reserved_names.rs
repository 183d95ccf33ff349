//! Names under `rendezvous.` are the matchmaker's own. The macro refuses
//! them at compile time (rendezvous-macros' UI tests); here, the two other
//! doors: the real daemon refuses a registration naming one, and
//! `Server::builder()` refuses to start serving one, naming it.

use rendezvous_core::protocol::matchmaker::ProcedureSpec;
use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::wire::Incarnation;
use rendezvous_core::server::Procedure;
use rendezvous_core::{Error, Fingerprint, Server};
use rendezvous_tests::{Daemon, loopback, run};
use std::time::Duration;

fn spec(name: &str) -> ProcedureSpec {
    ProcedureSpec {
        signature_text: None,
        name: name.to_owned(),
        signature: Fingerprint::of("whatever()->()"),
    }
}

#[test]
fn the_daemon_refuses_a_registration_naming_a_reserved_name_and_registers_nothing_of_it() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        for name in [operation::Lookup::NAME, "rendezvous.mine"] {
            let refused = client
                .register(
                    vec![spec("shop.stock"), spec(name)],
                    at,
                    Incarnation(1),
                    Duration::from_secs(30),
                )
                .await;
            match refused {
                Err(Error::InvalidRequest { reason }) => {
                    assert!(reason.contains(&format!("`{name}`")), "{reason}");
                    assert!(reason.contains("reserved"), "{reason}");
                }
                other => panic!("registering {name} should be refused, got {other:?}"),
            }
        }
        // Nothing of the refused requests was kept, not even their
        // well-named procedure.
        let registrations = client.list().await.expect("list");
        assert!(registrations.is_empty(), "{registrations:?}");
        // The same request without the reserved name is accepted.
        client
            .register(
                vec![spec("shop.stock")],
                at,
                Incarnation(1),
                Duration::from_secs(30),
            )
            .await
            .expect("a registration with names of its own is accepted");
    });
}

#[test]
fn a_server_refuses_to_start_serving_a_reserved_name_and_names_it() {
    let daemon = Daemon::start(&[]);
    let impostor = Procedure::typed(
        operation::Lookup::NAME,
        operation::Lookup::SIGNATURE,
        |(name,): (String,), _| async move { name },
    );
    let started = run(Server::builder()
        .matchmaker(daemon.address())
        .linked_procedures(false)
        .procedure(impostor)
        .start());
    match started {
        Err(Error::Configuration { reason }) => {
            assert!(reason.contains("`rendezvous.lookup`"), "{reason}");
            assert!(reason.contains("reserved"), "{reason}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
