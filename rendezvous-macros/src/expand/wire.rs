//! How generated code reaches the runtime: the one hidden path, and the
//! `Wire` encoder that both the proxy and the registration go through.

use crate::model::Procedure;
use proc_macro2::TokenStream;
use quote::quote;

/// `::rendezvous_core::__private`: users need one dependency, and the
/// internals behind it can change without breaking anyone.
pub(super) fn runtime() -> TokenStream {
    quote!(::rendezvous_core::__private)
}

/// The procedure's encoder, an expression. Encoding goes through `Wire`,
/// which picks serde when every type can cross the network and an inert
/// stand-in when one cannot, so that such a type is one error, from its
/// bound check, not one per proxy. Needs `use_encoder()` in scope.
pub(super) fn encoder(procedure: &Procedure) -> TokenStream {
    let rt = runtime();
    let arg_types = procedure.wire_args().map(|arg| &arg.ty);
    let output = &procedure.output;
    quote! {
        (&#rt::Wire::<(#(#arg_types,)*), #output>::new())
    }
}

/// The statement that brings the encoder's two choices into scope.
pub(super) fn use_encoder() -> TokenStream {
    let rt = runtime();
    quote! {
        use #rt::{Serde as _, Unencodable as _};
    }
}
