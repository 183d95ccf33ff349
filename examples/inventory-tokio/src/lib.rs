//! An example service that uses tokio: the inventory of
//! `examples/inventory-service`, plus `check`, which asks a slow warehouse
//! how many of an item it holds, waiting on tokio's timer.
//!
//! `check` takes the shelf's [`Inventory`] and the [`Warehouse`] as state,
//! and the [`CallContext`] to wait for the warehouse no longer than its
//! caller waits; the wait is `tokio::time::timeout` around a warehouse
//! whose answer comes after `tokio::time::sleep` (standing in for a
//! database pool or an HTTP client built on tokio). Both panic outside a
//! tokio runtime ("there is no reactor running"), so the server is started
//! inside one (`inventory-tokio-server` is `#[tokio::main]`), and
//! rendezvous-core's `tokio` feature runs its handlers inside that runtime.
//!
//! ## Why a crate of its own, and why a feature
//!
//! Its own crate, not a module of inventory-service: a server serves every
//! procedure of every crate it links, so `check` in inventory-service
//! would make `inventory-server` (and its tests) need a [`Warehouse`] too.
//!
//! The feature: cargo unifies features across every crate built together,
//! so a crate of this workspace that always turned `rendezvous-core/tokio`
//! on would turn it on for the whole `cargo test --workspace` and
//! `cargo clippy --workspace`, and the default, tokio-free build of
//! rendezvous-core would be built and tested nowhere. So this crate's
//! `tokio` feature turns it on, and the binary and the tests that need it
//! require it:
//!
//! ```sh
//! cargo test -p inventory-tokio --features tokio
//! cargo run -p inventory-tokio --features tokio --bin inventory-tokio-server
//! ```
//!
//! The library itself builds without it (`tokio::time` is a plain
//! dependency); served from a server without the feature, `check` panics
//! and its caller gets `ProcedurePanicked`. A service crate of your own,
//! in a workspace of its own, simply writes
//! `rendezvous-core = { version = "0.1", features = ["tokio"] }`.

use inventory_service::{Inventory, InventoryError};
use rendezvous_core::{CallContext, RemoteProcedure, State, procedure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A warehouse that answers slowly: its stock, how long each answer takes,
/// and how long a check waits for it at most.
#[derive(Debug)]
pub struct Warehouse {
    stock: BTreeMap<String, u32>,
    delay: Duration,
    patience: Duration,
}

impl Warehouse {
    /// A warehouse holding `stock`, answering after `delay`; a check waits
    /// `patience` at most (less if its caller's deadline comes first).
    pub fn new(
        stock: impl IntoIterator<Item = (String, u32)>,
        delay: Duration,
        patience: Duration,
    ) -> Warehouse {
        Warehouse {
            stock: stock.into_iter().collect(),
            delay,
            patience,
        }
    }

    /// How many of `sku` the warehouse holds (zero if none), after its delay.
    async fn count(&self, sku: &str) -> u32 {
        tokio::time::sleep(self.delay).await;
        self.stock.get(sku).copied().unwrap_or(0)
    }
}

/// What `check` hands back: an item's stock on the shelf and in the
/// warehouse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub sku: String,
    pub on_shelf: u32,
    pub in_warehouse: u32,
}

/// Why `check` could not answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("the warehouse did not answer for `{sku}` within {waited_ms} ms; try again later")]
    WarehouseSlow { sku: String, waited_ms: u64 },
}

/// How many of an item are on the shelf and in the warehouse. Waits for the
/// warehouse with `tokio::time::timeout`, no longer than the warehouse's
/// patience nor the time left before the caller's deadline (no one would
/// see a later answer). Idempotent: it only reads.
#[procedure(name = "inventory.check", idempotent)]
pub async fn check(
    inventory: State<Inventory>,
    warehouse: State<Warehouse>,
    ctx: CallContext,
    sku: String,
) -> Result<Availability, CheckError> {
    let on_shelf = inventory
        .quantity(&sku)
        .ok_or_else(|| InventoryError::UnknownSku(sku.clone()))?;
    let wait = warehouse.patience.min(ctx.remaining());
    match tokio::time::timeout(wait, warehouse.count(&sku)).await {
        Ok(in_warehouse) => Ok(Availability {
            sku,
            on_shelf,
            in_warehouse,
        }),
        Err(_elapsed) => Err(CheckError::WarehouseSlow {
            sku,
            waited_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

/// The procedures of this crate: a server serving them says
/// `.require(inventory_tokio::SERVICE)` beside the inventory's own list.
pub const SERVICE: &[RemoteProcedure] = &[check::PROCEDURE];

/// A warehouse for [`inventory_service::sample`]'s items, answering after
/// `delay` and waited for `patience` at most.
pub fn sample(delay: Duration, patience: Duration) -> Warehouse {
    Warehouse::new(
        [("pen".into(), 500), ("ink".into(), 80), ("pad".into(), 0)],
        delay,
        patience,
    )
}
