use rendezvous_core::{Client, Error, procedure};
use std::future::Future;

#[procedure]
pub async fn ping() {}

#[procedure]
pub async fn answer() -> u32 {
    42
}

fn ping_remote(client: &Client) -> impl Future<Output = Result<(), Error>> + '_ {
    ping::remote_with(client)
}

fn answer_remote() -> impl Future<Output = Result<u32, Error>> {
    answer::remote()
}

fn main() {
    let _ = ping_remote;
    let _ = answer_remote;
}
