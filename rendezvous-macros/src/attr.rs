//! The attribute's options: `name = "..."` and `idempotent`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::LitStr;

/// The parsed options of one `#[procedure(...)]`.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: the procedure's name on the wire.
    pub name: Option<LitStr>,
    /// `idempotent`: running it twice is harmless.
    pub idempotent: bool,
}

/// The wire's limit on a procedure name (`wire::MAX_NAME_BYTES`).
const MAX_NAME_BYTES: usize = 255;

pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            if options.name.is_some() {
                return Err(meta.error("`name` is given twice; keep one"));
            }
            let value = meta.value()?;
            let name: LitStr = value.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`name` takes a string literal: write `name = \"math.add\"`",
                )
            })?;
            let length = name.value().len();
            if length == 0 {
                return Err(syn::Error::new(
                    name.span(),
                    "a procedure name cannot be empty: write one, e.g. `name = \"math.add\"`, or remove `name` for the default (the module path and the function name)",
                ));
            }
            if length > MAX_NAME_BYTES {
                return Err(syn::Error::new(
                    name.span(),
                    format!(
                        "a procedure name is at most {MAX_NAME_BYTES} bytes long, and this one is {length}: write a shorter one"
                    ),
                ));
            }
            options.name = Some(name);
            Ok(())
        } else if meta.path.is_ident("idempotent") {
            if options.idempotent {
                return Err(meta.error("`idempotent` is given twice; keep one"));
            }
            options.idempotent = true;
            Ok(())
        } else {
            let option = meta.path.to_token_stream().to_string().replace(' ', "");
            Err(meta.error(format!(
                "unknown option `{option}`; expected `name = \"...\"` or `idempotent`"
            )))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(options)
}
