use rendezvous_core::{CallContext, procedure};

#[procedure]
pub async fn who(ctx: &CallContext) -> String {
    ctx.peer.to_string()
}

fn main() {}
