//! The attribute's options: `name = "..."` and `idempotent`.
//!
//! Parsed by hand rather than with `syn::meta::parser`, whose errors are
//! the parser's ("expected `,`", "expected identifier") rather than the
//! user's: each misuse a newcomer writes (`idempotent = true`,
//! `#[procedure("math.add")]`, `name = math.add`, `name` alone, a missing
//! comma) is one error, at the tokens written, saying what to write.

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, Lit, LitStr, Token};

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

/// Names the matchmaker keeps for its own procedures
/// (`rendezvous_protocol::matchmaker::operation::RESERVED_PREFIX`, which a
/// proc-macro crate does not depend on).
const RESERVED_PREFIX: &str = "rendezvous.";

/// What the options may be, for messages.
const EXPECTED: &str = "expected `name = \"...\"` or `idempotent`, e.g. `#[procedure(name = \"math.add\", idempotent)]`";

pub(crate) fn parse(args: TokenStream) -> syn::Result<Options> {
    syn::parse::Parser::parse2(options, args)
}

fn options(input: ParseStream<'_>) -> syn::Result<Options> {
    let mut options = Options::default();
    while !input.is_empty() {
        option(input, &mut options)?;
        if input.is_empty() {
            break;
        }
        if input.parse::<Option<Token![,]>>()?.is_none() {
            let rest = value_tokens(input)?;
            return Err(syn::Error::new_spanned(
                rest,
                "options are separated by commas: write `#[procedure(name = \"math.add\", idempotent)]`",
            ));
        }
    }
    Ok(options)
}

/// One option, at the start of `input`.
fn option(input: ParseStream<'_>, options: &mut Options) -> syn::Result<()> {
    if input.peek(LitStr) {
        let literal: LitStr = input.parse()?;
        let written = literal.token().to_string();
        return Err(syn::Error::new(
            literal.span(),
            format!("the name is an option of its own: write `#[procedure(name = {written})]`"),
        ));
    }
    if input.peek(Lit) {
        let literal: Lit = input.parse()?;
        return Err(syn::Error::new(
            literal.span(),
            format!("this is not an option; {EXPECTED}"),
        ));
    }
    if !input.peek(Ident::peek_any) {
        let token: TokenTree = input.parse()?;
        return Err(syn::Error::new(
            token.span(),
            format!("this is not an option; {EXPECTED}"),
        ));
    }
    let ident = Ident::parse_any(input)?;
    match ident.to_string().as_str() {
        "name" => name(input, &ident, options),
        "idempotent" => idempotent(input, &ident, options),
        other => {
            let hint = if other.to_lowercase().starts_with("idem") {
                "; did you mean `idempotent`?".to_owned()
            } else if other.to_lowercase().contains("name") {
                "; did you mean `name = \"...\"`?".to_owned()
            } else {
                format!("; {EXPECTED}")
            };
            Err(syn::Error::new(
                ident.span(),
                format!("unknown option `{other}`{hint}"),
            ))
        }
    }
}

/// `name = "..."`, after `name`.
fn name(input: ParseStream<'_>, ident: &Ident, options: &mut Options) -> syn::Result<()> {
    if options.name.is_some() {
        return Err(syn::Error::new(
            ident.span(),
            "`name` is given twice; keep one",
        ));
    }
    if ends_value(input) {
        return Err(syn::Error::new(
            ident.span(),
            "`name` takes a value: write `name = \"math.add\"`",
        ));
    }
    if input.parse::<Option<Token![=]>>()?.is_none() {
        let written = value_tokens(input)?;
        return Err(syn::Error::new_spanned(
            written,
            "`name` is followed by `=` and a string literal: write `name = \"math.add\"`",
        ));
    }
    if !input.peek(LitStr) {
        let written = value_tokens(input)?;
        if written.is_empty() {
            return Err(syn::Error::new(
                ident.span(),
                "`name` takes a string literal: write `name = \"math.add\"`",
            ));
        }
        let text = squeeze(&written);
        let example = if !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
        {
            text
        } else {
            "math.add".to_owned()
        };
        return Err(syn::Error::new_spanned(
            written,
            format!("`name` takes a string literal: write `name = \"{example}\"`"),
        ));
    }
    let name: LitStr = input.parse()?;
    let value = name.value();
    let length = value.len();
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
    if let Some(rest) = value.strip_prefix(RESERVED_PREFIX) {
        let rest = if rest.is_empty() { "lookup" } else { rest };
        return Err(syn::Error::new(
            name.span(),
            format!(
                "`{value}` is a reserved name: names starting with `{RESERVED_PREFIX}` belong to the matchmaker's own procedures; give it a name of your own, e.g. `name = \"myservice.{rest}\"`"
            ),
        ));
    }
    options.name = Some(name);
    Ok(())
}

/// `idempotent`, which takes no value.
fn idempotent(input: ParseStream<'_>, ident: &Ident, options: &mut Options) -> syn::Result<()> {
    if options.idempotent {
        return Err(syn::Error::new(
            ident.span(),
            "`idempotent` is given twice; keep one",
        ));
    }
    if !ends_value(input) {
        let written = value_tokens(input)?;
        let text = squeeze(&written);
        let message = if text == "=false" || text == "(false)" {
            "`idempotent` takes no value, and a procedure is not idempotent unless it says so: remove `idempotent`"
        } else {
            "`idempotent` takes no value: write `idempotent` alone, e.g. `#[procedure(name = \"math.div\", idempotent)]`"
        };
        return Err(syn::Error::new_spanned(written, message));
    }
    options.idempotent = true;
    Ok(())
}

/// Whether the option ends here: at a comma or at the end.
fn ends_value(input: ParseStream<'_>) -> bool {
    input.is_empty() || input.peek(Token![,])
}

/// The tokens up to the next top-level comma, for an error that underlines
/// what was written.
fn value_tokens(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        tokens.extend(Some(input.parse::<TokenTree>()?));
    }
    Ok(tokens)
}

/// Tokens as a person writes them, without the spaces printing adds.
fn squeeze(tokens: &TokenStream) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}
