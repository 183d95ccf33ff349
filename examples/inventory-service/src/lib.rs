//! An example service with state and call context: a small inventory.
//!
//! The procedures share one [`Inventory`], given to the server with
//! `ServerBuilder::state` and taken by each as `State<Inventory>`; `take`
//! also reads the [`CallContext`] to say whom it served. Neither travels:
//! a caller sends only the other arguments (`take::remote("pen".into(), 2)`),
//! and an interface crate would declare `take(sku: String, quantity: u32)`.
//!
//! The types are the service's own serde structs and a `thiserror` enum;
//! `stock` is idempotent (setting a quantity twice is harmless), `take` is
//! not (taking twice takes twice); `list` and `calls` take no argument.
//! `inventory-server` serves them; `tests/service.rs` calls them.
//!
//! `examples/inventory-tokio` builds on this state with a procedure that
//! uses tokio, served from inside `#[tokio::main]`; it is a crate of its
//! own because a server serves every procedure of the crates it links, and
//! `inventory-server` has no use for a warehouse.

use rendezvous_core::{CallContext, RemoteProcedure, State, procedure};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// An item in stock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
}

/// What `take` hands back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub sku: String,
    pub taken: u32,
    pub remaining: u32,
    /// This server's order number: 1 for the first `take` it served.
    pub order: u64,
    /// The caller's address, as the server saw it.
    pub caller: String,
}

/// Why a request could not be served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum InventoryError {
    #[error("no item has SKU `{0}`")]
    UnknownSku(String),
    #[error("only {available} of `{sku}` in stock, {requested} requested")]
    OutOfStock {
        sku: String,
        available: u32,
        requested: u32,
    },
}

/// The server's state, shared by every call: the items, behind a lock,
/// and counters.
#[derive(Debug, Default)]
pub struct Inventory {
    items: Mutex<BTreeMap<String, Item>>,
    calls: AtomicU64,
    orders: AtomicU64,
}

impl Inventory {
    /// An inventory holding `items`.
    pub fn with_items(items: impl IntoIterator<Item = Item>) -> Inventory {
        let items = items.into_iter().map(|item| (item.sku.clone(), item));
        Inventory {
            items: Mutex::new(items.collect()),
            ..Inventory::default()
        }
    }

    /// How many of `sku` are in stock, if the item is known: for
    /// procedures of other crates that share this state (inventory-tokio's
    /// `check`). Counts as one call, as this crate's own procedures do.
    pub fn quantity(&self, sku: &str) -> Option<u32> {
        self.serve().get(sku).map(|item| item.quantity)
    }

    /// Counts one call, and locks the items. A call that panicked while
    /// holding the lock left them whole (every change is one assignment),
    /// so a poisoned lock is used as it is.
    fn serve(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Item>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Sets an item's stock (adding the item if new); returns how many SKUs
/// there are. Setting the same stock twice is harmless: idempotent.
#[procedure(name = "inventory.stock", idempotent)]
pub async fn stock(inventory: State<Inventory>, item: Item) -> u32 {
    let mut items = inventory.serve();
    items.insert(item.sku.clone(), item);
    items.len() as u32
}

/// Looks an item up.
#[procedure(name = "inventory.get", idempotent)]
pub async fn get(inventory: State<Inventory>, sku: String) -> Result<Item, InventoryError> {
    let items = inventory.serve();
    items
        .get(&sku)
        .cloned()
        .ok_or(InventoryError::UnknownSku(sku))
}

/// Takes `quantity` of an item out of stock. Not idempotent: running it
/// twice takes twice, so a caller whose server died mid-call is told the
/// outcome is unknown rather than retried elsewhere.
#[procedure(name = "inventory.take")]
pub async fn take(
    inventory: State<Inventory>,
    ctx: CallContext,
    sku: String,
    quantity: u32,
) -> Result<Receipt, InventoryError> {
    let mut items = inventory.serve();
    let item = items
        .get_mut(&sku)
        .ok_or_else(|| InventoryError::UnknownSku(sku.clone()))?;
    if item.quantity < quantity {
        return Err(InventoryError::OutOfStock {
            sku,
            available: item.quantity,
            requested: quantity,
        });
    }
    item.quantity -= quantity;
    Ok(Receipt {
        sku,
        taken: quantity,
        remaining: item.quantity,
        order: inventory.orders.fetch_add(1, Ordering::Relaxed) + 1,
        caller: ctx.peer.to_string(),
    })
}

/// Every item, by SKU: no argument travels.
#[procedure(name = "inventory.list", idempotent)]
pub async fn list(inventory: State<Inventory>) -> Vec<Item> {
    inventory.serve().values().cloned().collect()
}

/// Calls this server has served, this one included: a server-side counter.
#[procedure(name = "inventory.calls", idempotent)]
pub async fn calls(inventory: State<Inventory>) -> u64 {
    drop(inventory.serve());
    inventory.calls.load(Ordering::Relaxed)
}

/// Every procedure of this crate: a server that must carry them says
/// `.require(inventory_service::SERVICE)`, which also links this crate
/// into it (a crate no one references is not linked, and its procedures
/// would silently not be served).
pub const SERVICE: &[RemoteProcedure] = &[
    stock::PROCEDURE,
    get::PROCEDURE,
    take::PROCEDURE,
    list::PROCEDURE,
    calls::PROCEDURE,
];

/// A few items to start with.
pub fn sample() -> Inventory {
    let item = |sku: &str, name: &str, quantity| Item {
        sku: sku.into(),
        name: name.into(),
        quantity,
    };
    Inventory::with_items([
        item("pen", "Ballpoint pen", 40),
        item("ink", "Ink bottle, 50 ml", 6),
        item("pad", "Notepad, A5", 12),
    ])
}
