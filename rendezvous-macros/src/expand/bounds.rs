//! The serde bound checks: one call per argument type and for the return
//! type, each spanned at that type, so a type that cannot cross the network
//! is underlined where it is written, not at the attribute.

use super::wire::runtime;
use crate::model::Procedure;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub(super) fn bound_checks(procedure: &Procedure) -> TokenStream {
    let rt = runtime();
    let types = procedure.args.iter().map(|arg| &arg.ty);
    let checks = types.chain(Some(&procedure.output)).map(|ty| {
        quote_spanned! {ty.span()=> #rt::assert_wire_type::<#ty>(); }
    });
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn assert_wire_types() {
                #(#checks)*
            }
        };
    }
}
