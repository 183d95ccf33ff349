//! Two `#[procedure]`s of one name in one binary: the server refuses to
//! start and names both.

use rendezvous_core::{Error, Server, procedure};
use rendezvous_tests::run;

#[procedure(name = "dup.twice")]
pub async fn first() -> u8 {
    1
}

mod elsewhere {
    #[rendezvous_core::procedure(name = "dup.twice")]
    pub async fn second() -> u8 {
        2
    }
}

#[test]
fn two_procedures_of_one_name_are_an_error_naming_both() {
    assert_eq!(run(first()) + run(elsewhere::second()), 3);
    let result = run(Server::builder()
        .matchmaker("127.0.0.1:9".parse().expect("address"))
        .start());
    match result {
        Err(Error::Configuration { reason }) => {
            assert!(reason.contains("`dup.twice`"), "{reason}");
            assert!(
                reason.matches("duplicate_names.rs:").count() == 2,
                "{reason}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
