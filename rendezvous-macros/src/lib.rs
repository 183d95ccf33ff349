//! The `#[procedure]` attribute of rendezvous. Use it through
//! `rendezvous_core::procedure`; its documentation lives there.
//!
//! The crate only turns tokens into tokens: `attr` parses the options,
//! `model` builds and validates a small model of the function, `expand`
//! writes the proxy and the registration, `fallback` keeps the user's
//! function compiling when validation fails. Generated code reaches the
//! runtime only through `::rendezvous_core::__private`.

mod attr;
mod expand;
mod fallback;
mod model;

use proc_macro::TokenStream;

/// Exposes an `async fn` as a remote procedure and derives its client proxy.
/// See `rendezvous_core::procedure` for the rules.
#[proc_macro_attribute]
pub fn procedure(args: TokenStream, input: TokenStream) -> TokenStream {
    let input = proc_macro2::TokenStream::from(input);
    // Mistakes in the options and in the function are reported together.
    let (options, options_error) = match attr::parse(args.into()) {
        Ok(options) => (options, None),
        Err(error) => (attr::Options::default(), Some(error)),
    };
    match (
        options_error,
        model::Procedure::from_tokens(input.clone(), options),
    ) {
        (None, Ok(procedure)) => expand::expand(&procedure).into(),
        (Some(error), Ok(_)) | (None, Err(error)) => fallback::fallback(input, error).into(),
        (Some(mut error), Err(more)) => {
            error.combine(more);
            fallback::fallback(input, error).into()
        }
    }
}
