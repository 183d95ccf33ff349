//! Shared state: values given to the server builder
//! ([`crate::ServerBuilder::state`]) that procedures take as
//! `State<T>` arguments, one value of each type shared by every call.
//!
//! Why by type, as axum does, rather than one state per server as
//! jsonrpsee's `RpcModule::new(ctx)`: procedures from several crates are
//! linked into one server, each asking for what it needs, so there is no
//! one type they could all agree on. Each is resolved once, when the
//! server starts: a procedure that asks for a type the server was not
//! given fails the start, naming both, instead of failing its calls.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A value of type `T` that the server was given with
/// [`crate::ServerBuilder::state`], shared by every call (an `Arc`: cheap
/// to clone, dereferences to `T`). Take it as an argument of a
/// `#[procedure]`; it is supplied by the server, not sent by the caller.
/// For state that calls change, put the changing part behind a lock or an
/// atomic: `State<Mutex<Stock>>`, or a struct of such fields.
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    pub fn new(value: T) -> State<T> {
        State(Arc::new(value))
    }

    /// The `Arc` it shares.
    pub fn arc(this: &State<T>) -> &Arc<T> {
        &this.0
    }
}

impl<T> From<Arc<T>> for State<T> {
    fn from(value: Arc<T>) -> State<T> {
        State(value)
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> State<T> {
        State(self.0.clone())
    }
}

impl<T> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&*self.0).finish()
    }
}

/// What can be shared state: one value, shared by calls running on any
/// thread at once.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be shared state: calls on any thread share one value, so it must be `Send + Sync + 'static`",
    label = "not `Send + Sync + 'static`",
    note = "own what it holds (no borrowed references), use `Arc` rather than `Rc`, and put what is not `Sync` behind a lock: `State<std::sync::Mutex<...>>`"
)]
pub trait SharedState: Send + Sync + 'static {}

#[diagnostic::do_not_recommend]
impl<T: Send + Sync + 'static> SharedState for T {}

/// The states a server was given, one per type.
#[derive(Clone, Default)]
pub struct States {
    by_type: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    names: Vec<&'static str>,
}

impl States {
    pub fn new() -> States {
        States::default()
    }

    /// Adds `value` as the state of type `T`, replacing one given before.
    pub fn insert<T: SharedState>(&mut self, value: T) {
        let previous = self.by_type.insert(TypeId::of::<T>(), Arc::new(value));
        if previous.is_none() {
            self.names.push(type_name::<T>());
        }
    }

    /// The state of type `T`, if there is one.
    pub fn get<T: SharedState>(&self) -> Option<State<T>> {
        let any = self.by_type.get(&TypeId::of::<T>())?.clone();
        any.downcast::<T>().ok().map(State)
    }

    /// The state of type `T`, for the procedure `procedure`, or the error
    /// a server's start fails with.
    pub fn require<T: SharedState>(&self, procedure: &str) -> Result<State<T>, MissingState> {
        self.get().ok_or_else(|| MissingState {
            procedure: procedure.to_owned(),
            type_name: type_name::<T>(),
            given: self.names.iter().map(|name| format!("`{name}`")).collect(),
        })
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.names).finish()
    }
}

/// A procedure takes `State<T>`, and the server was given no `T`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "procedure `{procedure}` takes `State<{type_name}>`, but the server was given no `{type_name}` (it was given {}): add `.state(value)` with a `{type_name}` to the server's builder",
    given_list(given)
)]
pub struct MissingState {
    pub procedure: String,
    pub type_name: &'static str,
    /// The types of the states the server was given, each in backquotes.
    pub given: Vec<String>,
}

fn given_list(given: &[String]) -> String {
    match given {
        [] => "none".into(),
        given => given.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn a_state_is_found_by_its_type_and_shared() {
        let mut states = States::new();
        states.insert(AtomicU32::new(7));
        states.insert(String::from("first"));
        states.insert(String::from("second"));
        let counter = states.get::<AtomicU32>().unwrap();
        counter.fetch_add(1, Ordering::Relaxed);
        assert_eq!(
            states.get::<AtomicU32>().unwrap().load(Ordering::Relaxed),
            8
        );
        assert_eq!(&*states.get::<String>().unwrap(), "second");
        assert!(states.get::<u8>().is_none());
    }

    #[test]
    fn a_missing_state_names_the_procedure_and_the_type() {
        let missing = States::new().require::<AtomicU32>("shop.sell").unwrap_err();
        let message = missing.to_string();
        assert!(message.contains("`shop.sell`"), "{message}");
        assert!(
            message.contains("State<core::sync::atomic::AtomicU32>"),
            "{message}"
        );
        assert!(message.contains(".state("), "{message}");
        assert!(message.contains("(it was given none)"), "{message}");

        let mut states = States::new();
        states.insert(std::sync::Arc::new(AtomicU32::new(0)));
        let message = states
            .require::<AtomicU32>("shop.sell")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("(it was given `alloc::sync::Arc<core::sync::atomic::AtomicU32>`)"),
            "{message}"
        );
    }
}
