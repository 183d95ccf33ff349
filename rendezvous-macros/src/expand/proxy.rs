//! The struct named like the function, carrying what a client needs: the
//! constants (`NAME`, `SIGNATURE_TEXT`, `SIGNATURE`, `PROCEDURE`) and the proxies
//! (`add::remote`, `add::remote_with`). A body-less declaration becomes
//! only this, with the same fingerprint as the implementation.
//!
//! A braced struct rather than a module: it lives in the type namespace
//! beside the function (which is in the value namespace), and its
//! associated functions resolve argument types in the function's own scope,
//! so `self::Point` and `super::Point` mean what they mean to the function.

use super::wire::{encoder, runtime, use_encoder};
use crate::model::Procedure;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::Ident;

pub(super) fn proxy(procedure: &Procedure) -> TokenStream {
    let Procedure {
        attrs,
        vis,
        body,
        ident,
        name,
        idempotent,
        args,
        output,
        ..
    } = procedure;
    let rt = runtime();
    let arg_idents: Vec<&Ident> = args.iter().map(|a| &a.ident).collect();
    let arg_types: Vec<&syn::Type> = args.iter().map(|a| &a.ty).collect();
    let client = Ident::new("client", Span::mixed_site());
    let wire = encoder(procedure);
    let use_wire = use_encoder();

    let name = match name {
        Some(name) => name.to_token_stream(),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };
    let signature_suffix = super::signature::suffix(arg_types.iter().copied(), output);
    // A declaration's doc comments describe the proxy; an implementation's
    // stay on the function.
    let struct_docs = if body.is_none() {
        quote!(#(#attrs)*)
    } else {
        let doc = format!(
            "Remote proxy of [`{ident}`](fn@{ident}): call it on whichever server runs it."
        );
        quote!(#[doc = #doc])
    };

    quote! {
        #struct_docs
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        #[allow(dead_code)]
        impl #ident {
            /// The procedure's name on the wire.
            pub const NAME: &'static str = #name;
            /// The signature as text: the name and the types as written,
            /// with the paths PROTOCOL.md lists normalised
            /// (`std::primitive::u64` is `u64`).
            pub const SIGNATURE_TEXT: &'static str = ::core::concat!(#name, #signature_suffix);
            /// Fingerprint of [`Self::SIGNATURE_TEXT`].
            pub const SIGNATURE: #rt::Fingerprint = #rt::Fingerprint::of(Self::SIGNATURE_TEXT);
            /// Everything a client needs to call it.
            pub const PROCEDURE: #rt::RemoteProcedure = #rt::RemoteProcedure {
                name: Self::NAME,
                signature: Self::SIGNATURE,
                idempotent: #idempotent,
            };

            /// Calls the procedure through the process-wide default client
            /// (configured by `RENDEZVOUS_MATCHMAKER`).
            pub async fn remote(#(#arg_idents: #arg_types),*)
                -> ::core::result::Result<#output, #rt::Error>
            {
                let #client = #rt::Client::global()?;
                Self::remote_with(&#client, #(#arg_idents),*).await
            }

            /// Calls the procedure through `client`.
            pub async fn remote_with(#client: &#rt::Client, #(#arg_idents: #arg_types),*)
                -> ::core::result::Result<#output, #rt::Error>
            {
                #use_wire
                #wire.call(#client, &Self::PROCEDURE, (#(#arg_idents,)*))
                    .await
                    .map_err(|error| error.with_expected_signature_text(Self::SIGNATURE_TEXT))
            }
        }
    }
}
