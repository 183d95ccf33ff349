//! The `#[procedure]` attribute of rendezvous. Use it through
//! `rendezvous_core::procedure`; its documentation lives there.
//!
//! The crate only turns tokens into tokens, one step per file: `attr`
//! parses the options, `model` parses the item and builds the small model
//! expansion reads (`carry` deciding how each type crosses the wire),
//! `valid` checks the signature in between, `extractor` tells the
//! arguments the server supplies (`State<T>`, `CallContext`) from those
//! that travel, `expand`
//! writes the proxy, the bound checks and the registration, and `fallback`
//! keeps the user's function compiling beside the errors when any step
//! fails. Generated code reaches the runtime only through
//! `::rendezvous_core::__private`.

mod attr;
mod carry;
mod expand;
mod extractor;
mod fallback;
mod model;
mod valid;

use proc_macro::TokenStream;

/// Exposes an `async fn` as a remote procedure and derives its client proxy.
/// See `rendezvous_core::procedure` for the rules.
#[proc_macro_attribute]
pub fn procedure(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    expand::procedure(args.into(), item.clone())
        .unwrap_or_else(|errors| fallback::fallback(item, errors))
        .into()
}
