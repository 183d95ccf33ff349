//! `u8` sequences written as such in a signature (`Vec<u8>`, `[u8; N]`, an
//! `Option` of either, the `Ok` of a `Result`) travel as CBOR byte strings
//! (major type 2), not as serde's array of integers: 61,440 bytes are
//! about 61 KB on the wire, not 123 KB. Checked on the bytes a server
//! receives, and by round trips through a real server and the real daemon.

use rendezvous_core::protocol::wire::encode_payload;
use rendezvous_core::server::{HandlerError, Procedure};
use rendezvous_core::{Server, procedure};
use rendezvous_tests::{Daemon, client, run};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The size the issue measured: 60 KiB.
const LARGE: usize = 61_440;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobError {
    Empty,
}

/// Reverses `data`, then appends `key` and `tag`.
#[procedure(name = "bytes.reverse")]
pub async fn reverse(mut data: Vec<u8>, key: [u8; 4], tag: Option<Vec<u8>>) -> Vec<u8> {
    data.reverse();
    data.extend_from_slice(&key);
    data.extend(tag.unwrap_or_default());
    data
}

#[procedure(name = "bytes.head")]
pub async fn head(data: Vec<u8>, n: u32) -> Result<Vec<u8>, BlobError> {
    if data.is_empty() {
        return Err(BlobError::Empty);
    }
    Ok(data.into_iter().take(n as usize).collect())
}

#[procedure(name = "bytes.key")]
pub async fn key(seed: u8) -> Option<[u8; 32]> {
    (seed != 0).then_some([seed; 32])
}

/// A client's view of a procedure served by hand below, over raw bytes.
mod interface {
    use rendezvous_core::procedure;

    #[procedure(name = "bytes.raw")]
    pub async fn raw(data: Vec<u8>, key: [u8; 4]) -> Vec<u8>;
}

/// CBOR's major type of the item starting with `byte`.
fn major(byte: u8) -> u8 {
    byte >> 5
}

/// A CBOR byte string of `bytes` (definite length).
fn byte_string(bytes: &[u8]) -> Vec<u8> {
    let mut out = match bytes.len() {
        n if n < 24 => vec![0x40 | n as u8],
        n if n < 256 => vec![0x58, n as u8],
        n => {
            let n = u16::try_from(n).expect("fits a datagram");
            let [hi, lo] = n.to_be_bytes();
            vec![0x59, hi, lo]
        }
    };
    out.extend_from_slice(bytes);
    out
}

/// `bytes.raw` by hand: records the argument payloads it receives, and
/// answers with a byte string, or, when the data starts with 0, with the
/// array of integers a peer built before byte strings would send.
fn raw_server(received: Arc<Mutex<Vec<Vec<u8>>>>) -> Procedure {
    Procedure::new(
        "bytes.raw",
        interface::raw::SIGNATURE,
        move |args: Vec<u8>, _| {
            let received = received.clone();
            async move {
                let old_style = args.get(2) == Some(&0);
                received
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(args);
                if old_style {
                    encode_payload(&vec![7u8, 8, 9])
                        .map_err(|error| HandlerError::ResultUnencodable(error.to_string()))
                } else {
                    Ok(byte_string(&[1, 2, 3]))
                }
            }
        },
    )
}

#[test]
fn u8_sequences_reach_the_server_as_byte_strings() {
    let daemon = Daemon::start(&[]);
    let received = Arc::new(Mutex::new(Vec::new()));
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(raw_server(received.clone()))
            .start()
            .await
            .expect("server starts");
        let client = client(daemon.address());
        let data: Vec<u8> = (0..LARGE).map(|i| (i % 251) as u8 | 1).collect();
        let answer = interface::raw::remote_with(&client, data, [9, 8, 7, 6])
            .await
            .expect("the raw call is answered");
        assert_eq!(answer, [1, 2, 3], "a byte-string result is read");
        // A result sent as an array of integers, as an older peer would.
        let answer = interface::raw::remote_with(&client, vec![0, 5], [0; 4])
            .await
            .expect("the raw call is answered");
        assert_eq!(answer, [7, 8, 9], "an array-of-integers result is read");
        // PROTOCOL.md's example.
        interface::raw::remote_with(&client, vec![1, 2], [9, 8, 7, 6])
            .await
            .expect("the raw call is answered");
        server.shutdown().await;
    });
    let received = received.lock().unwrap_or_else(|p| p.into_inner());
    let args = &received[0];
    assert_eq!(args[0], 0x82, "a two-element argument array");
    assert_eq!(
        major(args[1]),
        2,
        "Vec<u8> is a byte string: {:02x}",
        args[1]
    );
    // 0x59: a byte string with a 2-byte length, then the 60 KiB, then
    // [u8; 4] as a 5-byte byte string.
    assert_eq!(args[1], 0x59, "a 2-byte length follows");
    assert_eq!(u16::from_be_bytes([args[2], args[3]]) as usize, LARGE);
    let key = &args[4 + LARGE..];
    assert_eq!(key, [0x44, 9, 8, 7, 6], "[u8; 4] is a byte string");
    assert_eq!(
        args.len(),
        1 + 3 + LARGE + 5,
        "60 KiB travel as about 60 KiB (as an array of integers, up to 122,884 bytes)"
    );
    assert_eq!(received.len(), 3);
    let example = hex(&received[2]);
    assert_eq!(example, "824201024409080706");
    let as_arrays = hex(&encode_payload(&(vec![1u8, 2], [9u8, 8, 7, 6])).expect("encodes"));
    assert_eq!(as_arrays, "828201028409080706", "what serde alone sends");
    let protocol = include_str!("../../PROTOCOL.md");
    for (documented, sent) in [
        ("`82 42 0102 44 09080706`", &example),
        ("`82 82 01 02 84 09 08 07 06`", &as_arrays),
    ] {
        assert!(
            protocol.contains(documented),
            "PROTOCOL.md lacks {documented}"
        );
        assert_eq!(&documented.replace(['`', ' '], ""), sent);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn u8_sequences_round_trip_through_a_real_server() {
    let daemon = Daemon::start(&[]);
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .start()
            .await
            .expect("server starts");
        let client = client(daemon.address());
        let data: Vec<u8> = (0..LARGE - 64).map(|i| (i * 7 % 256) as u8).collect();
        let reversed = reverse::remote_with(&client, data.clone(), [1, 2, 3, 4], Some(vec![5, 6]))
            .await
            .expect("reverse answers");
        let mut expected = data.clone();
        expected.reverse();
        expected.extend([1, 2, 3, 4, 5, 6]);
        assert_eq!(reversed, expected);
        let reversed = reverse::remote_with(&client, Vec::new(), [0; 4], None)
            .await
            .expect("reverse answers");
        assert_eq!(reversed, [0; 4]);

        let head3 = head::remote_with(&client, data.clone(), 3).await;
        assert_eq!(head3.expect("head answers"), Ok(data[..3].to_vec()));
        let empty = head::remote_with(&client, Vec::new(), 3).await;
        assert_eq!(empty.expect("head answers"), Err(BlobError::Empty));

        assert_eq!(
            key::remote_with(&client, 3).await.expect("key"),
            Some([3; 32])
        );
        assert_eq!(key::remote_with(&client, 0).await.expect("key"), None);
        server.shutdown().await;
    });
}
