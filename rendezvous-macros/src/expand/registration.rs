//! The server side of an implementation: `__procedure()`, which wraps the
//! function as a typed handler under its name and fingerprint, and the
//! `inventory` entry that hands it to every server of the process at
//! startup. A body-less declaration has none.

use super::wire::{arg_pattern, arg_type, encoder, output_to_wire, runtime, use_encoder};
use crate::model::Procedure;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

pub(super) fn registration(procedure: &Procedure) -> TokenStream {
    let Procedure { ident, args, .. } = procedure;
    let rt = runtime();
    let arg_types = args.iter().map(arg_type);
    let context = Ident::new("context", Span::mixed_site());
    let wire = encoder(procedure);
    let use_wire = use_encoder();
    // Bindings of the macro's own: an argument named like the function
    // must not shadow it.
    let bindings: Vec<Ident> = (0..args.len())
        .map(|i| Ident::new(&format!("arg{i}"), Span::mixed_site()))
        .collect();
    let patterns = args
        .iter()
        .zip(&bindings)
        .map(|(arg, binding)| arg_pattern(arg, binding));
    let call = output_to_wire(procedure, quote!(#ident(#(#bindings),*)));
    quote! {
        impl #ident {
            #[doc(hidden)]
            pub fn __procedure() -> #rt::Procedure {
                #use_wire
                #wire.procedure(
                    Self::NAME,
                    Self::SIGNATURE,
                    |(#(#patterns,)*): (#(#arg_types,)*), #context: #rt::CallContext| {
                        let _ = #context;
                        #call
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
    }
}
