// `u8` sequences written as such, as arguments and results, in an
// implementation and in a declaration: they compile, and the proxies take
// and give the types as written.
use rendezvous_core::{Error, procedure};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub enum BlobError {
    Empty,
}

#[procedure(name = "blob.reverse")]
pub async fn reverse(mut data: Vec<u8>, key: [u8; 4], tag: Option<Vec<u8>>) -> Vec<u8> {
    data.reverse();
    data.extend_from_slice(&key);
    data.extend(tag.unwrap_or_default());
    data
}

#[procedure(name = "blob.first")]
pub async fn first(data: std::vec::Vec<u8>) -> Result<Vec<u8>, BlobError> {
    data.first().map(|b| vec![*b]).ok_or(BlobError::Empty)
}

#[procedure(name = "blob.key")]
pub async fn key(seed: u8) -> Option<[u8; 4]> {
    Some([seed; 4])
}

mod interface {
    use rendezvous_core::procedure;

    #[procedure(name = "blob.reverse")]
    pub async fn reverse(data: Vec<u8>, key: [u8; 4], tag: Option<Vec<u8>>) -> Vec<u8>;
}

#[allow(dead_code)]
async fn calls() -> Result<(), Error> {
    let reversed: Vec<u8> = interface::reverse::remote(vec![1, 2], [0; 4], None).await?;
    let first: Result<Vec<u8>, BlobError> = first::remote(reversed).await?;
    let _: Option<[u8; 4]> = key::remote(first.unwrap_or_default()[0]).await?;
    Ok(())
}

const _: () = assert!(reverse::SIGNATURE.0 == interface::reverse::SIGNATURE.0);

fn main() {
    let _ = reverse(vec![1], [0; 4], None);
    let _ = first(vec![]);
    let _ = key(0);
}
