//! Procedures collected at program start from every `#[procedure]` linked
//! into the binary, through `inventory`.
//!
//! Why `inventory` rather than `linkme`: both are link-time registries, but
//! `inventory` needs no declaration of the slice in the runtime crate that
//! every user crate must name, works on every platform Rust's standard
//! targets support (ELF, Mach-O, PE; wasm when the host calls
//! `__wasm_call_ctors`), and its entries are ordinary values built by a
//! function we control. Its trap is shared with `linkme`: a crate that the
//! binary never references is not linked, so its procedures never register
//! — `Server` says so, and how to fix it, when it finds none, and
//! `ServerBuilder::require` names the procedures a server must not start
//! without.

use super::procedure::Procedure;
use super::state::{MissingState, States};

/// One `#[procedure]`, as its generated code registers it.
#[derive(Debug)]
pub struct LinkedProcedure {
    pub name: &'static str,
    /// `file:line` of the function, for error messages.
    pub location: &'static str,
    /// Builds the type-erased procedure, with the shared states it takes
    /// from those the server was given.
    pub make: fn(&States) -> Result<Procedure, MissingState>,
}

inventory::collect!(LinkedProcedure);

/// Every linked procedure, sorted by name.
pub(crate) fn linked_procedures() -> Vec<&'static LinkedProcedure> {
    let mut all: Vec<&'static LinkedProcedure> = inventory::iter::<LinkedProcedure>().collect();
    all.sort_by(|a, b| a.name.cmp(b.name).then(a.location.cmp(b.location)));
    all
}
