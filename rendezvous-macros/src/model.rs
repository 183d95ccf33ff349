//! The procedure as the macro sees it: the item as parsed (`Item`), and,
//! once `valid` has accepted its signature, the small model expansion
//! reads (`Procedure`): the options resolved, each argument a name and a
//! type, the return type written out.

use crate::attr::Options;
use crate::carry::{self, Carry, OutputCarry};
use crate::extractor::{self, Kind};
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Block, FnArg, Ident, LitStr, Pat, ReturnType, Signature, Token, Type, Visibility,
};

/// An `async fn` with a body, or a declaration ending in `;`, as written.
pub(crate) struct Item {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub body: Option<Block>,
}

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Item> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let sig: Signature = input.parse().map_err(|error| {
            syn::Error::new(
                error.span(),
                "#[procedure] goes on an `async fn`, e.g. `pub async fn add(a: i64, b: i64) -> i64 { a + b }`",
            )
        })?;
        let body = if input.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else {
            Some(input.parse()?)
        };
        Ok(Item {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// A validated `#[procedure]`.
pub(crate) struct Procedure {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    /// `None` for a body-less declaration (an interface crate's proxy).
    pub body: Option<Block>,
    pub ident: Ident,
    pub name: Option<LitStr>,
    pub idempotent: bool,
    pub args: Vec<Arg>,
    /// The return type, `()` when none is written.
    pub output: Type,
    /// How the result crosses the wire.
    pub output_carry: OutputCarry,
}

/// One argument: the name the proxy takes it by, its type as written,
/// whether it travels (or the server supplies it), and how it crosses the
/// wire when it does.
pub(crate) struct Arg {
    pub ident: Ident,
    pub ty: Type,
    pub kind: Kind,
    pub carry: Carry,
}

impl Procedure {
    /// The arguments the caller sends, in order: the proxy's parameters,
    /// the wire tuple, the fingerprint.
    pub(crate) fn wire_args(&self) -> impl Iterator<Item = &Arg> {
        self.args.iter().filter(|arg| arg.kind.is_wire())
    }

    /// The model of an item whose signature `valid::check` accepted: every
    /// argument is then a plain `name: Type`.
    pub(crate) fn new(item: Item, options: Options) -> Procedure {
        let Item {
            attrs,
            vis,
            sig,
            body,
        } = item;
        let args = sig
            .inputs
            .iter()
            .filter_map(|input| match input {
                FnArg::Typed(typed) => match &*typed.pat {
                    Pat::Ident(pat) => Some(Arg {
                        ident: pat.ident.clone(),
                        ty: (*typed.ty).clone(),
                        kind: extractor::classify(&typed.ty),
                        carry: carry::carry(&typed.ty),
                    }),
                    _ => None,
                },
                FnArg::Receiver(_) => None,
            })
            .collect();
        let output = match &sig.output {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        Procedure {
            attrs,
            vis,
            ident: sig.ident.clone(),
            sig,
            body,
            name: options.name,
            idempotent: options.idempotent,
            args,
            output_carry: carry::output_carry(&output),
            output,
        }
    }
}
