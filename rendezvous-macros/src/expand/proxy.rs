//! The struct named like the function, carrying what a client needs: the
//! constants (`NAME`, `SIGNATURE_TEXT`, `SIGNATURE`, `PROCEDURE`) and the proxies
//! (`add::remote`, `add::remote_with`). A body-less declaration becomes
//! only this, with the same fingerprint as the implementation.
//!
//! A braced struct rather than a module: it lives in the type namespace
//! beside the function (which is in the value namespace), and its
//! associated functions resolve argument types in the function's own scope,
//! so `self::Point` and `super::Point` mean what they mean to the function.

use super::wire::{arg_to_wire, encoder, output_from_wire, runtime, use_encoder};
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
        output,
        ..
    } = procedure;
    let rt = runtime();
    let arg_idents: Vec<&Ident> = procedure.wire_args().map(|a| &a.ident).collect();
    let arg_types: Vec<&syn::Type> = procedure.wire_args().map(|a| &a.ty).collect();
    let client = Ident::new("client", Span::mixed_site());
    let wire = encoder(procedure);
    let use_wire = use_encoder();
    let wire_args = procedure
        .wire_args()
        .map(|arg| arg_to_wire(arg, &arg.ident));
    let reply = output_from_wire(
        procedure,
        quote!(::core::result::Result::map_err(
            #wire.call(#client, &Self::PROCEDURE, (#(#wire_args,)*)).await,
            |error: #rt::Error| #rt::Error::with_expected_signature_text(error, Self::SIGNATURE_TEXT),
        )),
    );

    let name = match name {
        Some(name) => name.to_token_stream(),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };
    // What the caller relies on: the types that travel and whether a
    // retry may run it twice (a declaration that forgets `idempotent`
    // would otherwise retry where the implementation says not to, or not
    // where it could). Whitespace is skipped by the fingerprint, so the
    // text may space `#idempotent` off.
    let signature_suffix = format!(
        "{}{}",
        super::signature::suffix(arg_types.iter().copied(), output),
        if *idempotent { " #idempotent" } else { "" }
    );
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
            /// The signature as text: the name, the types that travel as
            /// written (with the paths PROTOCOL.md lists normalised:
            /// `std::primitive::u64` is `u64`), and `#idempotent`.
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
                #reply
            }
        }
    }
}
