//! The serde bound checks: one call per argument type and for the return
//! type, each spanned at that type, so a type that cannot cross the network
//! is underlined where it is written, not at the attribute; and for each
//! `State<T>`, that `T` can be shared state.

use super::wire::runtime;
use crate::extractor::Kind;
use crate::model::Procedure;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub(super) fn bound_checks(procedure: &Procedure) -> TokenStream {
    let rt = runtime();
    let types = procedure.wire_args().map(|arg| &arg.ty);
    let wire = types.chain(Some(&procedure.output)).map(|ty| {
        quote_spanned! {ty.span()=> #rt::assert_wire_type::<#ty>(); }
    });
    let extractors = procedure.args.iter().filter_map(|arg| {
        let ty = &arg.ty;
        let is = quote_spanned! {ty.span()=> #rt::assert_extractor::<#ty>(); };
        match &arg.kind {
            Kind::Wire => None,
            Kind::Context => Some(is),
            Kind::State(inner) => Some(quote_spanned! {inner.span()=>
                #is
                #rt::assert_shared_state::<#inner>();
            }),
        }
    });
    let checks = wire.chain(extractors);
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn assert_wire_types() {
                #(#checks)*
            }
        };
    }
}
