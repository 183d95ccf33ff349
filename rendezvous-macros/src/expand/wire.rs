//! How generated code reaches the runtime: the one hidden path, the `Wire`
//! encoder that both the proxy and the registration go through, and the
//! wire form of each argument and of the result (`carry`): the type as
//! written, or wrapped in `__private::Bytes` to travel as a byte string.
//! The proxy and the registration both take the forms from here, so a
//! body-less declaration and its implementation encode alike.

use crate::carry::{Carry, OutputCarry};
use crate::model::{Arg, Procedure};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Ident;

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
    let arg_types = procedure.wire_args().map(arg_type);
    let output = output_type(procedure);
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

/// The type `arg` travels as.
pub(super) fn arg_type(arg: &Arg) -> TokenStream {
    let ty = &arg.ty;
    match arg.carry {
        Carry::Serde => quote!(#ty),
        Carry::Bytes => {
            let rt = runtime();
            quote!(#rt::Bytes<#ty>)
        }
    }
}

/// The value `arg` (bound to `value`) as it travels: the proxy's side.
pub(super) fn arg_to_wire(arg: &Arg, value: &Ident) -> TokenStream {
    through_bytes(arg, value, quote!(new))
}

/// The value `arg` as written, from `binding`, which holds it as it
/// arrived: the server's side.
pub(super) fn arg_from_wire(arg: &Arg, binding: &Ident) -> TokenStream {
    through_bytes(arg, binding, quote!(into_inner))
}

/// `value` itself, or, for an argument carried as a byte string, passed to
/// `__private::Bytes::<function>`.
fn through_bytes(arg: &Arg, value: &Ident, function: TokenStream) -> TokenStream {
    match arg.carry {
        Carry::Serde => quote!(#value),
        Carry::Bytes => {
            let rt = runtime();
            quote!(#rt::Bytes::#function(#value))
        }
    }
}

/// The type the result travels as.
pub(super) fn output_type(procedure: &Procedure) -> TokenStream {
    let rt = runtime();
    let output = &procedure.output;
    match procedure.output_carry {
        OutputCarry::Whole(Carry::Serde) => quote!(#output),
        OutputCarry::Whole(Carry::Bytes) => quote!(#rt::Bytes<#output>),
        OutputCarry::OkBytes => {
            let (ok, err) = crate::carry::result_parts(output)
                .expect("OkBytes is only given to a result written `Result<T, E>`");
            quote!(::core::result::Result<#rt::Bytes<#ok>, #err>)
        }
    }
}

/// The server's side: `future` (the function's) turned into one that
/// yields the result as it travels.
pub(super) fn output_to_wire(procedure: &Procedure, future: TokenStream) -> TokenStream {
    let rt = runtime();
    let call = Ident::new("call", Span::mixed_site());
    let wrap = match procedure.output_carry {
        OutputCarry::Whole(Carry::Serde) => return future,
        OutputCarry::Whole(Carry::Bytes) => quote!(#rt::Bytes::new(#call.await)),
        OutputCarry::OkBytes => quote!(::core::result::Result::map(#call.await, #rt::Bytes::new)),
    };
    quote! {{
        let #call = #future;
        async move { #wrap }
    }}
}

/// The proxy's side: `reply`, a `Result` of the result as it travelled,
/// turned into one of the result as written.
pub(super) fn output_from_wire(procedure: &Procedure, reply: TokenStream) -> TokenStream {
    let rt = runtime();
    let ok = Ident::new("ok", Span::mixed_site());
    match procedure.output_carry {
        OutputCarry::Whole(Carry::Serde) => reply,
        OutputCarry::Whole(Carry::Bytes) => quote! {
            ::core::result::Result::map(#reply, #rt::Bytes::into_inner)
        },
        OutputCarry::OkBytes => quote! {
            ::core::result::Result::map(#reply, |#ok| {
                ::core::result::Result::map(#ok, #rt::Bytes::into_inner)
            })
        },
    }
}
