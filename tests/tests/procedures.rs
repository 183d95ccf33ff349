//! `#[procedure]` end to end: the linked procedures of this test binary,
//! served by `Server::builder()` with no list, called through their proxies.

use rendezvous_core::{Client, Error, Server, procedure};
use rendezvous_daemon::Matchmaker;
use rendezvous_tests::run;
use serde::{Deserialize, Serialize};

/// Adds two numbers.
#[procedure(name = "test.add")]
pub async fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DivError {
    ByZero,
}

#[procedure(name = "test.div", idempotent)]
pub async fn div(a: i64, b: i64) -> Result<i64, DivError> {
    if b == 0 {
        Err(DivError::ByZero)
    } else {
        Ok(a / b)
    }
}

/// Default name: module path and function name.
#[procedure]
pub async fn answer() -> u32 {
    42
}

pub mod geometry {
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Point {
        pub x: i32,
        pub y: i32,
    }

    pub mod ops {
        use rendezvous_core::procedure;

        /// Argument types named through `super::` and `self::` paths.
        #[procedure(name = "test.translate")]
        pub async fn translate(p: super::Point, by: self::Offset) -> super::Point {
            super::Point {
                x: p.x + by.0,
                y: p.y + by.0,
            }
        }

        #[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
        pub struct Offset(pub i32);
    }
}

/// An interface crate's view of `test.add`: a declaration, no body.
mod interface {
    use rendezvous_core::procedure;

    #[procedure(name = "test.add")]
    pub async fn add(a: i64, b: i64) -> i64;

    /// No arguments, nothing returned.
    #[procedure(name = "test.reset")]
    pub async fn reset();

    /// A client built against an older `test.add`.
    pub mod stale {
        use rendezvous_core::procedure;

        #[procedure(name = "test.add")]
        pub async fn add(a: i64, b: i32) -> i64;
    }

    /// `test.add` with its types spelled through paths the signature text
    /// normalises (PROTOCOL.md, *Signatures*).
    pub mod spelled {
        use rendezvous_core::procedure;

        #[procedure(name = "test.add")]
        pub async fn add(a: ::std::primitive::i64, b: core::primitive::i64) -> std::primitive::i64;
    }
}

async fn setup() -> (Matchmaker, Server, Client) {
    let matchmaker = Matchmaker::bind("127.0.0.1:0".parse().expect("address"))
        .await
        .expect("matchmaker binds");
    let server = Server::builder()
        .matchmaker(matchmaker.local_addr())
        .start()
        .await
        .expect("server starts");
    let client = Client::builder()
        .matchmaker(matchmaker.local_addr())
        .build()
        .expect("client builds");
    (matchmaker, server, client)
}

#[test]
fn the_function_stays_callable_locally() {
    assert_eq!(run(add(2, 3)), 5);
}

#[test]
fn every_linked_procedure_is_served_without_a_list() {
    run(async {
        let (_matchmaker, server, _client) = setup().await;
        let names: Vec<&str> = server.procedures().iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "procedures::answer",
                "test.add",
                "test.div",
                "test.translate"
            ]
        );
    });
}

/// PROTOCOL.md's *Signatures*: the text is the name, then the types as
/// written (paths unresolved), `()` for no arguments and for no result,
/// then `#idempotent` for an idempotent procedure.
#[test]
fn signature_texts_are_as_protocol_md_spells_them() {
    use rendezvous_core::Fingerprint;
    let protocol = include_str!("../../PROTOCOL.md");
    for (signature, text) in [
        (answer::SIGNATURE, "procedures::answer()->u32"),
        (interface::reset::SIGNATURE, "test.reset()->()"),
        (
            geometry::ops::translate::SIGNATURE,
            "test.translate(super::Point,self::Offset)->super::Point",
        ),
        (
            div::SIGNATURE,
            "test.div(i64,i64)->Result<i64,DivError>#idempotent",
        ),
    ] {
        assert_eq!(signature, Fingerprint::of(text), "{text}");
        let documented = format!("`{text}` is `{signature}`");
        let squeezed = protocol.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            squeezed.contains(&documented),
            "PROTOCOL.md lacks {documented}"
        );
    }
}

#[test]
fn default_name_is_the_module_path_and_function_name() {
    assert_eq!(answer::NAME, "procedures::answer");
    assert_eq!(add::NAME, "test.add");
}

#[test]
fn proxies_call_the_procedures_through_the_matchmaker() {
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        assert_eq!(add::remote_with(&client, 2, 3).await.unwrap(), 5);
        assert_eq!(answer::remote_with(&client).await.unwrap(), 42);
        assert_eq!(div::remote_with(&client, 7, 2).await.unwrap(), Ok(3));
        assert_eq!(
            div::remote_with(&client, 7, 0).await.unwrap(),
            Err(DivError::ByZero)
        );
        let moved = geometry::ops::translate::remote_with(
            &client,
            geometry::Point { x: 1, y: 2 },
            geometry::ops::Offset(10),
        )
        .await
        .unwrap();
        assert_eq!(moved, geometry::Point { x: 11, y: 12 });
    });
}

#[test]
fn steady_state_calls_send_nothing_to_the_matchmaker() {
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        add::remote_with(&client, 0, 0).await.unwrap();
        let warm = client.stats();
        for i in 0..200 {
            assert_eq!(add::remote_with(&client, i, 1).await.unwrap(), i + 1);
        }
        let after = client.stats();
        assert_eq!(
            after.lookups, warm.lookups,
            "no lookup once the endpoint is cached"
        );
        // Every datagram sent went to the server: one per call, bar retransmissions.
        assert_eq!(
            after.transmissions - warm.transmissions,
            200 + (after.retransmissions - warm.retransmissions)
        );
    });
}

#[test]
fn a_declaration_has_the_implementations_fingerprint() {
    assert_eq!(interface::add::SIGNATURE, add::SIGNATURE);
    assert_eq!(interface::add::NAME, add::NAME);
    assert_ne!(interface::stale::add::SIGNATURE, add::SIGNATURE);
}

#[test]
fn an_interface_declaration_calls_the_implementation() {
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        assert_eq!(
            interface::add::remote_with(&client, 40, 2).await.unwrap(),
            42
        );
    });
}

#[test]
fn a_caller_built_against_a_changed_signature_gets_signature_mismatch() {
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        match interface::stale::add::remote_with(&client, 1, 2).await {
            Err(Error::SignatureMismatch {
                name,
                expected,
                available,
                ..
            }) => {
                assert_eq!(name, "test.add");
                assert_eq!(expected, interface::stale::add::SIGNATURE);
                assert_eq!(available, vec![add::SIGNATURE]);
            }
            other => panic!("expected SignatureMismatch, got {other:?}"),
        }
    });
}

#[test]
fn a_signature_mismatch_names_both_signature_texts() {
    assert_eq!(add::SIGNATURE_TEXT, "test.add(i64, i64) -> i64");
    assert_eq!(
        interface::stale::add::SIGNATURE_TEXT,
        "test.add(i64, i32) -> i64"
    );
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        let error = interface::stale::add::remote_with(&client, 1, 2)
            .await
            .expect_err("a mismatch");
        let message = error.to_string();
        for text in [add::SIGNATURE_TEXT, interface::stale::add::SIGNATURE_TEXT] {
            assert!(message.contains(&format!("`{text}`")), "{text}: {message}");
        }
        assert!(message.contains(&add::SIGNATURE.to_string()), "{message}");
    });
}

#[test]
fn primitive_types_spelled_through_std_or_core_paths_agree_with_their_names() {
    assert_eq!(interface::spelled::add::SIGNATURE, add::SIGNATURE);
    assert_eq!(interface::spelled::add::SIGNATURE_TEXT, add::SIGNATURE_TEXT);
    run(async {
        let (_matchmaker, _server, client) = setup().await;
        assert_eq!(
            interface::spelled::add::remote_with(&client, 40, 2)
                .await
                .unwrap(),
            42
        );
    });
}

#[test]
fn idempotence_is_carried_in_the_procedure_constant() {
    let idempotent = [div::PROCEDURE, add::PROCEDURE].map(|p| p.idempotent);
    assert_eq!(idempotent, [true, false]);
}

#[test]
fn the_default_client_proxy_uses_the_environment() {
    // The process-wide client reads RENDEZVOUS_MATCHMAKER once; setting it
    // in this process is unsafe, so a child test process gets it instead.
    let matchmaker =
        run(Matchmaker::bind("127.0.0.1:0".parse().expect("address"))).expect("matchmaker binds");
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "remote_uses_the_global_client", "--ignored"])
        .env("RENDEZVOUS_MATCHMAKER", matchmaker.local_addr().to_string())
        .output()
        .expect("the child test runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
#[ignore = "run by the_default_client_proxy_uses_the_environment, with RENDEZVOUS_MATCHMAKER set"]
fn remote_uses_the_global_client() {
    run(async {
        let server = Server::builder().start().await.expect("server starts");
        assert!(server.is_registered());
        assert_eq!(add::remote(20, 22).await.unwrap(), 42);
    });
}
