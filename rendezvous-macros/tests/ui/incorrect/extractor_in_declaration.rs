use rendezvous_core::{CallContext, State, procedure};

pub struct Stock;

#[procedure(name = "shop.sell")]
pub async fn sell(stock: State<Stock>, item: String, ctx: CallContext) -> u64;

fn main() {}
