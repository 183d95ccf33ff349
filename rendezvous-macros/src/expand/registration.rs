//! The server side of an implementation: `__make(&States)`, which wraps the
//! function as a typed handler under its name and fingerprint, with the
//! server-supplied arguments prepared from the server's states, and the
//! `inventory` entry that hands it to every server of the process at
//! startup. A procedure that takes no state also gets `__procedure()`,
//! the same without states. A body-less declaration has none.

use super::wire::{arg_from_wire, arg_type, encoder, output_to_wire, runtime, use_encoder};
use crate::extractor::Kind;
use crate::model::Procedure;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

pub(super) fn registration(procedure: &Procedure) -> TokenStream {
    let Procedure { ident, args, .. } = procedure;
    let rt = runtime();
    let context = Ident::new("context", Span::mixed_site());
    let states = Ident::new("states", Span::mixed_site());
    let wire = encoder(procedure);
    let use_wire = use_encoder();
    // Bindings of the macro's own: an argument named like the function
    // must not shadow it.
    let binding = |i: usize| Ident::new(&format!("arg{i}"), Span::mixed_site());
    let prepared = |i: usize| Ident::new(&format!("prepared{i}"), Span::mixed_site());
    let wire_types = procedure.wire_args().map(arg_type);
    let wire_bindings = args
        .iter()
        .enumerate()
        .filter(|(_, arg)| arg.kind.is_wire())
        .map(|(i, _)| binding(i));
    // Once, at start: what each server-supplied argument needs.
    let preparations = args
        .iter()
        .enumerate()
        .filter(|(_, arg)| !arg.kind.is_wire())
        .map(|(i, arg)| {
            let ty = &arg.ty;
            let prepared = prepared(i);
            quote! {
                let #prepared = (&#rt::Extract::<#ty>::new()).prepare(#states, Self::NAME)?;
            }
        });
    // For each call: the arguments in the order written.
    let call_args = args.iter().enumerate().map(|(i, arg)| {
        if arg.kind.is_wire() {
            arg_from_wire(arg, &binding(i))
        } else {
            let ty = &arg.ty;
            let prepared = prepared(i);
            quote!((&#rt::Extract::<#ty>::new()).extract(&#prepared, &#context))
        }
    });
    let call = output_to_wire(procedure, quote!(#ident(#(#call_args),*)));
    let takes_state = args.iter().any(|arg| matches!(arg.kind, Kind::State(_)));
    let without_states = if takes_state {
        TokenStream::new()
    } else {
        quote! {
            #[doc(hidden)]
            pub fn __procedure() -> #rt::Procedure {
                match Self::__make(&#rt::States::new()) {
                    ::core::result::Result::Ok(procedure) => procedure,
                    ::core::result::Result::Err(_) => ::core::unreachable!(),
                }
            }
        }
    };
    quote! {
        impl #ident {
            #[doc(hidden)]
            pub fn __make(#states: &#rt::States)
                -> ::core::result::Result<#rt::Procedure, #rt::MissingState>
            {
                #use_wire
                use #rt::{Extracts as _, Unextractable as _};
                let _ = #states;
                #(#preparations)*
                ::core::result::Result::Ok(#wire.procedure(
                    Self::NAME,
                    Self::SIGNATURE,
                    move |(#(#wire_bindings,)*): (#(#wire_types,)*), #context: #rt::CallContext| {
                        let _ = &#context;
                        #call
                    },
                )
                .with_signature_text(Self::SIGNATURE_TEXT))
            }

            #without_states
        }

        #rt::inventory::submit! {
            #rt::LinkedProcedure {
                name: #ident::NAME,
                location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                make: #ident::__make,
            }
        }
    }
}
