//! The tokens a `#[procedure]` becomes: the function as written, a braced
//! struct of the same name carrying the constants and the proxy (`add::remote`),
//! a registration collected at startup, and serde bound checks spanned at
//! each type so an error underlines the type, not the attribute.
//!
//! A braced struct rather than a module: it lives in the type namespace
//! beside the function (which is in the value namespace), and its
//! associated functions resolve argument types in the function's own scope,
//! so `self::Point` and `super::Point` mean what they mean to the function.

use crate::model::Procedure;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

pub(crate) fn expand(procedure: &Procedure) -> TokenStream {
    let Procedure {
        attrs,
        vis,
        sig,
        body,
        ident,
        name,
        idempotent,
        args,
        output,
    } = procedure;
    let rt = quote!(::rendezvous_core::__private);
    let arg_idents: Vec<&Ident> = args.iter().map(|a| &a.ident).collect();
    let arg_types: Vec<&syn::Type> = args.iter().map(|a| &a.ty).collect();
    let client = Ident::new("client", Span::mixed_site());
    let context = Ident::new("context", Span::mixed_site());

    let name = match name {
        Some(name) => name.to_token_stream(),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };
    let signature_suffix = format!(
        "({})->{}",
        arg_types
            .iter()
            .map(|ty| ty.to_token_stream().to_string())
            .collect::<Vec<_>>()
            .join(","),
        output.to_token_stream()
    );

    let bound_checks = arg_types.iter().copied().chain(Some(output)).map(|ty| {
        quote_spanned! {ty.span()=> #rt::assert_wire_type::<#ty>(); }
    });

    // Encoding goes through `Wire`, which picks serde when every type can
    // cross the network and an inert stand-in when one cannot, so that such
    // a type is one error, from its bound check, not one per proxy.
    let wire = quote! {
        (&#rt::Wire::<(#(#arg_types,)*), #output>::new())
    };
    let use_wire = quote! {
        use #rt::{Serde as _, Unencodable as _};
    };

    let (function, server_side) = match body {
        Some(body) => {
            // Bindings of the macro's own: an argument named like the
            // function must not shadow it.
            let bindings: Vec<Ident> = (0..args.len())
                .map(|i| Ident::new(&format!("arg{i}"), Span::mixed_site()))
                .collect();
            let server_side = quote! {
                impl #ident {
                    #[doc(hidden)]
                    pub fn __procedure() -> #rt::Procedure {
                        #use_wire
                        #wire.procedure(
                            Self::NAME,
                            Self::SIGNATURE,
                            |(#(#bindings,)*): (#(#arg_types,)*), #context: #rt::CallContext| {
                                let _ = #context;
                                #ident(#(#bindings),*)
                            },
                        )
                    }
                }

                #rt::inventory::submit! {
                    #rt::LinkedProcedure {
                        name: #ident::NAME,
                        location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                        make: #ident::__procedure,
                    }
                }
            };
            (quote!(#(#attrs)* #vis #sig #body), server_side)
        }
        None => (TokenStream::new(), TokenStream::new()),
    };
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
        #function

        #struct_docs
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        #[allow(dead_code)]
        impl #ident {
            /// The procedure's name on the wire.
            pub const NAME: &'static str = #name;
            /// Fingerprint of the name and of the types as written.
            pub const SIGNATURE: #rt::Fingerprint =
                #rt::Fingerprint::of(::core::concat!(#name, #signature_suffix));
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
                #wire.call(#client, &Self::PROCEDURE, (#(#arg_idents,)*)).await
            }
        }

        const _: () = {
            #[allow(dead_code)]
            fn assert_wire_types() {
                #(#bound_checks)*
            }
        };

        #server_side
    }
}
