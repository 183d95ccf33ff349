//! The rules a `#[procedure]` signature must follow, checked on the parsed
//! item before any model is built. Every misuse becomes a `syn::Error`
//! spanned at the offending token, and all of them are reported in one pass,
//! in the order they appear in the signature.

use crate::extractor;
use quote::ToTokens;
use syn::{FnArg, GenericArgument, Pat, PathArguments, ReturnType, Signature, Type};

/// Every rule the signature breaks, combined into one error; `Ok` when the
/// model can be built from it (`model::Procedure::new` relies on that).
pub(crate) fn check(sig: &Signature, declaration: bool) -> syn::Result<()> {
    let mut errors = Errors::default();
    check_header(sig, &mut errors);
    check_arguments(sig, &mut errors);
    for error in extractor::check(sig, declaration) {
        errors.add(error);
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        check_owned(ty, "the return type", &mut errors);
    }
    match errors.0 {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Accumulates errors so one pass reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    /// An error underlining all of `tokens`.
    fn push(&mut self, tokens: impl ToTokens, message: &str) {
        self.add(syn::Error::new_spanned(tokens, message));
    }

    fn add(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }
}

/// What goes before the name and around the arguments: `async`, and no
/// `const`, `unsafe`, ABI, generics, `where` clause or variadics.
fn check_header(sig: &Signature, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.push(
            constness,
            "a #[procedure] cannot be `const`: it runs when called over the network; remove `const`",
        );
    }
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token,
            &format!(
                "a #[procedure] is an `async fn`: write `async fn {}`",
                sig.ident
            ),
        );
    }
    if let syn::Safety::Unsafe(token) = &sig.safety {
        errors.push(
            token,
            "a #[procedure] cannot be `unsafe`: callers on the network cannot uphold its contract; remove `unsafe` and check what it requires inside the body",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.push(abi, "a #[procedure] cannot declare an ABI; remove `extern`");
    }
    for param in &sig.generics.params {
        let message = match param {
            syn::GenericParam::Lifetime(_) => {
                "a #[procedure] cannot have lifetime parameters: arguments and results cross the network as owned values; remove it and take owned types"
            }
            _ => {
                "a #[procedure] cannot be generic: it has one signature on the network; remove the parameter and write a concrete type"
            }
        };
        errors.push(param, message);
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(
            where_clause,
            "a #[procedure] cannot have a `where` clause: it has one concrete signature; remove the clause",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(
            variadic,
            "variadic arguments are not allowed; take a `Vec<T>`",
        );
    }
}

/// Each argument is `name: Type` with an owned type, and at most
/// `MAX_ARGS` of them travel.
fn check_arguments(sig: &Signature, errors: &mut Errors) {
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                errors.push(
                    receiver,
                    "a #[procedure] cannot take `self`: it is a free function; move it out of the `impl` block and take what `self` held as `state: State<T>` (`rendezvous_core::State`), the `T` given to the server with `ServerBuilder::state(value)`",
                );
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        for attr in &typed.attrs {
            if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
                errors.push(
                    attr,
                    "an argument of a #[procedure] cannot be conditional: the function and its proxy would disagree on the arguments; remove the attribute, or put the `#[cfg]` on the whole function",
                );
            }
        }
        check_owned(&typed.ty, "an argument", errors);
        match &*typed.pat {
            Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {}
            Pat::Wild(wild) => errors.push(
                wild,
                &format!(
                    "an argument of a #[procedure] needs a name, as the proxy takes it by that name: write `_name: {}`",
                    tidy(&typed.ty)
                ),
            ),
            other => errors.push(
                other,
                "arguments must be plain identifiers: write `name: Type` and destructure inside the body",
            ),
        }
    }
    // Only the arguments that travel are in the tuple.
    let mut travelling = sig.inputs.iter().filter(|input| match input {
        FnArg::Typed(typed) => extractor::classify(&typed.ty).is_wire(),
        FnArg::Receiver(_) => true,
    });
    if let Some(extra) = travelling.nth(MAX_ARGS) {
        errors.push(
            extra,
            &format!(
                "a #[procedure] takes at most {MAX_ARGS} arguments (the longest tuple serde encodes), and this is argument {}: gather them in a struct",
                MAX_ARGS + 1
            ),
        );
    }
}

/// Arguments travel as one tuple; serde implements its traits for tuples
/// of up to 16 elements.
const MAX_ARGS: usize = 16;

/// Arguments and results travel by value: no references, no `impl Trait`,
/// no trait objects or raw pointers, at any depth.
fn check_owned(ty: &Type, what: &str, errors: &mut Errors) {
    match ty {
        Type::Reference(reference) => errors.push(
            reference,
            &format!(
                "{what} cannot be a reference: values cross the network, so they are owned; write `{}`",
                owned(&reference.elem)
            ),
        ),
        Type::ImplTrait(impl_trait) => errors.push(
            impl_trait,
            &format!(
                "{what} cannot be `impl Trait`: name a concrete type that implements Serialize and Deserialize"
            ),
        ),
        Type::TraitObject(object) => errors.push(
            object,
            &format!(
                "{what} cannot be a trait object: name a concrete type that implements Serialize and Deserialize; for an error (`Box<dyn Error>`), an error type of your own, e.g. `#[derive(serde::Serialize, serde::Deserialize)] pub enum StoreError {{ Io(String) }}`"
            ),
        ),
        Type::Ptr(pointer) => errors.push(
            pointer,
            &format!("{what} cannot be a raw pointer: pass the value itself"),
        ),
        Type::FnPtr(function) => errors.push(
            function,
            &format!("{what} cannot be a function pointer: functions do not cross the network"),
        ),
        Type::Array(array) => check_owned(&array.elem, what, errors),
        Type::Slice(slice) => check_owned(&slice.elem, what, errors),
        Type::Paren(paren) => check_owned(&paren.elem, what, errors),
        Type::Group(group) => check_owned(&group.elem, what, errors),
        Type::Tuple(tuple) => {
            for elem in &tuple.elems {
                check_owned(elem, what, errors);
            }
        }
        Type::Path(path) => {
            if let Some(qself) = &path.qself {
                check_owned(&qself.ty, what, errors);
            }
            for segment in &path.path.segments {
                if let PathArguments::AngleBracketed(generics) = &segment.arguments {
                    for arg in &generics.args {
                        if let GenericArgument::Type(inner) = arg {
                            check_owned(inner, what, errors);
                        }
                        if let GenericArgument::Lifetime(lifetime) = arg {
                            errors.push(
                                lifetime,
                                &format!("{what} cannot borrow: values cross the network, so they are owned"),
                            );
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// The owned type to write instead of a reference to `elem`.
fn owned(elem: &Type) -> String {
    match elem {
        Type::Path(path) if path.qself.is_none() && path.path.is_ident("str") => "String".into(),
        Type::Slice(slice) => format!("Vec<{}>", tidy(&slice.elem)),
        Type::Reference(reference) => owned(&reference.elem),
        other => tidy(other),
    }
}

/// A type as a person writes it (`Vec<u8>`), not as its tokens print
/// (`Vec < u8 >`): a space only between words and after `,` or `;`.
fn tidy(ty: &Type) -> String {
    let text = ty.to_token_stream().to_string();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '\'';
    let mut tidy = String::with_capacity(text.len());
    let mut previous = ' ';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let keep = c != ' '
            || matches!(previous, ',' | ';')
            || (word(previous) && chars.peek().is_some_and(|&next| word(next)));
        if keep {
            tidy.push(c);
        }
        previous = c;
    }
    tidy
}
