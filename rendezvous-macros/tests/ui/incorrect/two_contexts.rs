use rendezvous_core::{CallContext, procedure};

#[procedure]
pub async fn who(first: CallContext, second: CallContext) -> String {
    format!("{} {}", first.peer, second.peer)
}

fn main() {}
