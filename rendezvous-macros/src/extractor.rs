//! Arguments the server supplies instead of the caller: `State<T>` (a value
//! given to `ServerBuilder::state`) and `CallContext` (who is calling, and
//! until when). They are told from the arguments that travel here, and
//! only here; everything else asks [`classify`].
//!
//! Why by the type's name rather than an attribute (`#[state] inv: Inventory`):
//! the signature then reads as what the function receives, the function
//! stays callable directly with the same types (`add(State::new(..), 2)`),
//! and there is nothing extra to forget. The price is that a type sent by
//! the caller cannot be named `State<..>` or `CallContext` (rename it, or
//! import it under another name); a type so named that is not rendezvous'
//! fails to compile with a message saying so (`__private::Extractor`).
//! They need not come first: the proxy takes the remaining arguments in
//! the order written, and the fingerprint covers only those.

use syn::{FnArg, GenericArgument, PathArguments, Signature, Type};

/// What an argument is.
#[derive(Clone)]
pub(crate) enum Kind {
    /// Sent by the caller: in the proxy, the wire tuple and the fingerprint.
    Wire,
    /// `State<T>`, with `T`.
    State(Box<Type>),
    /// `CallContext`.
    Context,
}

impl Kind {
    pub(crate) fn is_wire(&self) -> bool {
        matches!(self, Kind::Wire)
    }
}

/// The one place an argument's kind is decided: by the last segment of its
/// type's path, `State` with one type argument or a bare `CallContext`.
pub(crate) fn classify(ty: &Type) -> Kind {
    let Type::Path(path) = ty else {
        return Kind::Wire;
    };
    if path.qself.is_some() {
        return Kind::Wire;
    }
    let Some(last) = path.path.segments.last() else {
        return Kind::Wire;
    };
    match &last.arguments {
        PathArguments::None if last.ident == "CallContext" => Kind::Context,
        PathArguments::AngleBracketed(generics) if last.ident == "State" => {
            match generics.args.iter().collect::<Vec<_>>().as_slice() {
                [GenericArgument::Type(inner)] => Kind::State(Box::new(inner.clone())),
                _ => Kind::Wire,
            }
        }
        _ => Kind::Wire,
    }
}

/// The rules of server-supplied arguments: none in a body-less declaration
/// (it is the caller's view), and at most one `CallContext`.
pub(crate) fn check(sig: &Signature, declaration: bool) -> Vec<syn::Error> {
    let mut errors = Vec::new();
    let mut context_seen = false;
    for input in &sig.inputs {
        let FnArg::Typed(typed) = input else { continue };
        let kind = classify(&typed.ty);
        if kind.is_wire() {
            continue;
        }
        if declaration {
            errors.push(syn::Error::new_spanned(
                typed,
                "a body-less declaration is the caller's view, and this argument is supplied by the server, not sent: remove it here and keep it in the implementation (the fingerprint covers only the arguments that travel)",
            ));
            continue;
        }
        if let Kind::Context = kind {
            if context_seen {
                errors.push(syn::Error::new_spanned(
                    typed,
                    "the call context is taken twice: keep one `CallContext` argument (it is `Copy`)",
                ));
            }
            context_seen = true;
        }
    }
    errors
}
