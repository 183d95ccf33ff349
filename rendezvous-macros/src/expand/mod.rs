//! The tokens a `#[procedure]` becomes, and the pipeline that gets there:
//! options and item parsed, the signature checked (`valid`), the model
//! built, then each part written by the file of its job:
//!
//! - the function as written (an implementation only);
//! - `proxy`: a braced struct of the same name carrying the constants and
//!   the proxy (`add::remote`), which is all a body-less declaration becomes;
//! - `bounds`: serde bound checks spanned at each type, so an error
//!   underlines the type, not the attribute;
//! - `registration`: the entry collected at startup (an implementation only);
//! - `signature`: the signature text the fingerprint hashes, with the
//!   paths it normalises.

mod bounds;
mod proxy;
mod registration;
mod signature;
mod wire;

use crate::model::{Item, Procedure};
use crate::{attr, valid};
use proc_macro2::TokenStream;
use quote::quote;

/// The whole attribute: `args` are its options, `item` the function it is
/// on. The error carries every mistake found in both, options first.
pub(crate) fn procedure(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let options = attr::parse(args);
    let item = syn::parse2::<Item>(item)
        .and_then(|item| valid::check(&item.sig, item.body.is_none()).map(|()| item));
    let procedure = match (options, item) {
        (Ok(options), Ok(item)) => Procedure::new(item, options),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            return Err(error);
        }
        (Err(error), Ok(_)) | (Ok(_), Err(error)) => return Err(error),
    };
    Ok(expand(&procedure))
}

fn expand(procedure: &Procedure) -> TokenStream {
    let Procedure {
        attrs,
        vis,
        sig,
        body,
        ..
    } = procedure;
    let function = match body {
        Some(body) => quote!(#(#attrs)* #vis #sig #body),
        None => TokenStream::new(),
    };
    let proxy = proxy::proxy(procedure);
    let bounds = bounds::bound_checks(procedure);
    let registration = match body {
        Some(_) => registration::registration(procedure),
        None => TokenStream::new(),
    };
    quote! {
        #function

        #proxy

        #bounds

        #registration
    }
}
