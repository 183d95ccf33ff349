//! The attribute's options: `name = "..."` and `idempotent`.

use proc_macro2::TokenStream;
use syn::LitStr;

/// The parsed options of one `#[procedure(...)]`.
#[derive(Default)]
pub(crate) struct Options {
    /// `name = "..."`: the procedure's name on the wire.
    pub name: Option<LitStr>,
    /// `idempotent`: running it twice is harmless.
    pub idempotent: bool,
}

pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            if options.name.is_some() {
                return Err(meta.error("`name` is given twice"));
            }
            let name: LitStr = meta.value()?.parse()?;
            let value = name.value();
            if value.is_empty() || value.len() > 255 {
                return Err(syn::Error::new(
                    name.span(),
                    "a procedure name is 1 to 255 bytes long",
                ));
            }
            options.name = Some(name);
            Ok(())
        } else if meta.path.is_ident("idempotent") {
            if options.idempotent {
                return Err(meta.error("`idempotent` is given twice"));
            }
            options.idempotent = true;
            Ok(())
        } else {
            Err(meta.error("unknown option; expected `name = \"...\"` or `idempotent`"))
        }
    });
    syn::parse::Parser::parse2(parser, args)?;
    Ok(options)
}
