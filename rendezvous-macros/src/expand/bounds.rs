//! The serde bound checks: one call per argument type and for the return
//! type (for `Result<T, E>`, one for `T` and one for `E`), each spanned at
//! that type, so a type that cannot cross the network is underlined where
//! it is written, not at the attribute; and for each `State<T>`, that `T`
//! can be shared state.

use super::wire::runtime;
use crate::carry::result_parts;
use crate::extractor::Kind;
use crate::model::Procedure;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

pub(super) fn bound_checks(procedure: &Procedure) -> TokenStream {
    let rt = runtime();
    let check = |ty: &syn::Type| quote_spanned! {ty.span()=> #rt::assert_wire_type::<#ty>(); };
    let mut checks: Vec<TokenStream> = procedure.wire_args().map(|arg| check(&arg.ty)).collect();
    let output = &procedure.output;
    match result_parts(output) {
        // `Result<T, E>`: each part underlined where written, and the error
        // told what to do with a type of another crate.
        Some((ok, err)) => {
            checks.push(check(ok));
            checks.push(quote_spanned! {err.span()=> #rt::assert_wire_error::<#err>(); });
            checks.push(quote_spanned! {output.span()=>
                #rt::assert_std_result::<#output, #ok, #err>();
            });
        }
        None => checks.push(check(output)),
    }
    checks.extend(procedure.args.iter().filter_map(|arg| {
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
    }));
    quote! {
        const _: () = {
            #[allow(dead_code)]
            fn assert_wire_types() {
                #(#checks)*
            }
        };
    }
}
