//! The interface (`math-api`) and the implementation (this crate) agree:
//! every procedure served is declared, under the same name, with the same
//! fingerprint and the same promise about retries, so a client that knows
//! only the interface reaches the implementation.

use futures_lite::future::block_on;
use rendezvous_core::{Client, Fingerprint, RemoteProcedure, Server};
use rendezvous_daemon::Matchmaker;
use std::net::SocketAddr;

/// Each procedure as the interface declares it, and as this crate
/// implements it.
const PAIRS: [(RemoteProcedure, RemoteProcedure); 4] = [
    (math_api::add::PROCEDURE, math_service::add::PROCEDURE),
    (math_api::div::PROCEDURE, math_service::div::PROCEDURE),
    (
        math_api::slow_square::PROCEDURE,
        math_service::slow_square::PROCEDURE,
    ),
    (
        math_api::checksum::PROCEDURE,
        math_service::checksum::PROCEDURE,
    ),
];

/// A matchmaker on loopback, and a server of every procedure linked into
/// this test (this crate's) registered with it.
async fn serve_math() -> (Matchmaker, Server) {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let matchmaker = Matchmaker::bind(loopback).await.expect("a matchmaker");
    let server = Server::builder()
        .bind(loopback)
        .matchmaker(matchmaker.local_addr())
        .start()
        .await
        .expect("the server starts");
    (matchmaker, server)
}

#[test]
fn each_declaration_has_the_name_signature_and_idempotence_of_its_implementation() {
    assert_eq!(math_api::add::SIGNATURE, math_service::add::SIGNATURE);
    assert_eq!(math_api::div::SIGNATURE, math_service::div::SIGNATURE);
    assert_eq!(
        math_api::slow_square::SIGNATURE,
        math_service::slow_square::SIGNATURE
    );
    assert_eq!(
        math_api::checksum::SIGNATURE,
        math_service::checksum::SIGNATURE
    );
    for (declared, implemented) in PAIRS {
        assert_eq!(declared, implemented, "{}", declared.name);
    }
}

#[test]
fn every_procedure_the_server_serves_is_declared_in_the_interface() {
    block_on(async {
        let (_matchmaker, server) = serve_math().await;
        let mut served: Vec<(String, Fingerprint)> = server
            .procedures()
            .iter()
            .map(|procedure| (procedure.name().to_owned(), procedure.signature()))
            .collect();
        served.sort();
        let mut declared: Vec<(String, Fingerprint)> = PAIRS
            .iter()
            .map(|(declared, _)| (declared.name.to_owned(), declared.signature))
            .collect();
        declared.sort();
        assert_eq!(served, declared);
        server.shutdown().await;
    });
}

#[test]
fn a_proxy_of_the_interface_calls_the_implementation() {
    block_on(async {
        let (matchmaker, server) = serve_math().await;
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .build()
            .expect("a client");
        let sum = math_api::add::remote_with(&client, 2, 3).await;
        assert_eq!(sum.expect("the call is answered"), 5);
        let quotient = math_api::div::remote_with(&client, 7, 0).await;
        assert_eq!(
            quotient.expect("the call is answered"),
            Err(math_api::MathError::DivisionByZero)
        );
        server.shutdown().await;
    });
}
