//! A server binary that links no `#[procedure]` refuses to start and says
//! how to fix it (the link-time registry's trap).

use rendezvous_core::{Error, Server};
use rendezvous_tests::run;

#[test]
fn a_server_with_no_linked_procedures_says_how_to_link_them() {
    let result = run(Server::builder()
        .matchmaker("127.0.0.1:9".parse().expect("address"))
        .start());
    match result {
        Err(Error::Configuration { reason }) => {
            assert!(reason.contains("no #[procedure] is linked"), "{reason}");
            assert!(reason.contains("as _;"), "{reason}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
