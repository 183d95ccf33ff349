//! When the attribute is misused: the errors, and the user's function left
//! as written, so one mistake gives one error rather than a cascade of
//! "cannot find `add`", and IDEs keep completing.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};

pub(crate) fn fallback(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    // A body-less declaration is not valid Rust on its own: emit only the errors.
    let declaration = matches!(
        item.clone().into_iter().last(),
        Some(TokenTree::Punct(p)) if p.as_char() == ';'
    );
    if declaration {
        return errors;
    }
    let item = repair(item);
    quote!(#item #errors)
}

/// The function without what rustc would reject a second time, the macro
/// having reported it already: `const` on an `async fn`, and C variadics.
fn repair(item: TokenStream) -> TokenStream {
    let Ok(mut function) = syn::parse2::<syn::ItemFn>(item.clone()) else {
        return item;
    };
    let sig = &mut function.sig;
    if (sig.asyncness.is_none() || sig.constness.is_none()) && sig.variadic.is_none() {
        return item;
    }
    if sig.asyncness.is_some() {
        sig.constness = None;
    }
    sig.variadic = None;
    function.into_token_stream()
}
