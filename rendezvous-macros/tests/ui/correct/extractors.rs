// Arguments the server supplies (`State<T>`, `CallContext`) are not the
// proxy's parameters and not in the fingerprint: a declaration without
// them matches, and they may stand anywhere among the others.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Stock {
    items: Mutex<Vec<String>>,
    sold: AtomicU64,
}

pub mod implementation {
    use super::*;
    use rendezvous_core::{CallContext, State, procedure};

    #[procedure(name = "shop.sell")]
    pub async fn sell(stock: State<Stock>, item: String, ctx: CallContext, count: u32) -> u64 {
        let _ = (ctx.peer, ctx.client, ctx.xid, ctx.remaining());
        stock.items.lock().unwrap().push(item);
        stock.sold.fetch_add(u64::from(count), Ordering::Relaxed)
    }

    // A fully qualified path is recognised too, and zero wire arguments.
    #[procedure(name = "shop.sold", idempotent)]
    pub async fn sold(stock: rendezvous_core::State<Stock>) -> u64 {
        stock.sold.load(Ordering::Relaxed)
    }

    #[procedure(name = "shop.who")]
    pub async fn who(ctx: rendezvous_core::server::CallContext) -> String {
        ctx.peer.to_string()
    }

    // Extractors beside arguments and a result carried as byte strings.
    #[procedure(name = "shop.label")]
    pub async fn label(stock: State<Stock>, picture: Vec<u8>, ctx: CallContext) -> Vec<u8> {
        let _ = (stock.sold.load(Ordering::Relaxed), ctx.xid);
        picture
    }
}

pub mod interface {
    use rendezvous_core::procedure;

    #[procedure(name = "shop.sell")]
    pub async fn sell(item: String, count: u32) -> u64;

    #[procedure(name = "shop.sold", idempotent)]
    pub async fn sold() -> u64;
}

const _: () = assert!(implementation::sell::SIGNATURE.0 == interface::sell::SIGNATURE.0);
const _: () = assert!(implementation::sold::SIGNATURE.0 == interface::sold::SIGNATURE.0);

async fn call(client: &rendezvous_core::Client) -> Result<u64, rendezvous_core::Error> {
    implementation::sell::remote_with(client, "pen".into(), 2).await?;
    let _: Vec<u8> = implementation::label::remote(vec![1, 2, 3]).await?;
    implementation::sold::remote().await
}

fn main() {
    let _ = call;
    // Still an ordinary function, called with its state by hand.
    let stock = rendezvous_core::State::new(Stock {
        items: Mutex::new(Vec::new()),
        sold: AtomicU64::new(0),
    });
    let _ = implementation::sold(stock);
    // Without states, the one that needs none can be built; the others
    // only from states.
    let _: rendezvous_core::Procedure = implementation::who::__procedure();
    let _ = implementation::sold::__make;
}
