//! When the attribute is misused: the errors, and the user's function left
//! as written, so one mistake gives one error rather than a cascade of
//! "cannot find `add`", and IDEs keep completing.

use proc_macro2::TokenStream;
use quote::quote;

pub(crate) fn fallback(item: TokenStream, errors: syn::Error) -> TokenStream {
    let errors = errors.to_compile_error();
    // A body-less declaration is not valid Rust on its own: emit only the errors.
    let declaration = matches!(
        item.clone().into_iter().last(),
        Some(proc_macro2::TokenTree::Punct(p)) if p.as_char() == ';'
    );
    if declaration {
        errors
    } else {
        quote!(#item #errors)
    }
}
