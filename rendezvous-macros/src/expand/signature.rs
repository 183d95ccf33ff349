//! The signature text after the name: `(i64, i64) -> i64`, what the
//! fingerprint hashes (whitespace skipped) and what registrations carry for
//! people to read (PROTOCOL.md, *Signatures*).
//!
//! Types are spelled as written, with one exception: a few paths that can
//! only mean one type are **normalised** to the name the prelude gives it,
//! so that a caller writing `u64` and a server writing
//! `std::primitive::u64` agree. The list is short on purpose, each entry
//! unambiguous in any crate that does not shadow the prelude:
//!
//! - a leading `::` is dropped (`::my_api::Point` is `my_api::Point`);
//! - `std::primitive::T` and `core::primitive::T` are `T`;
//! - `std::string::String` and `alloc::string::String` are `String`;
//! - `std::vec::Vec` and `alloc::vec::Vec` are `Vec`;
//! - `std::option::Option` and `core::option::Option` are `Option`;
//! - `std::result::Result` and `core::result::Result` are `Result`.
//!
//! It applies inside generic arguments, tuples, arrays, slices and
//! references too. Any other path stays as written: resolving `use`s is
//! beyond a macro, so `Point` and `geometry::Point` still differ.

use quote::ToTokens;
use syn::{GenericArgument, PathArguments, Type};

/// `(T1, T2) -> R`, each type normalised and spaced for reading.
pub(super) fn suffix<'a>(args: impl IntoIterator<Item = &'a Type>, output: &Type) -> String {
    let args: Vec<String> = args.into_iter().map(text).collect();
    format!("({}) -> {}", args.join(", "), text(output))
}

/// One type's text: normalised, tokens joined without spaces except
/// between words (`dyn Send`, `&'a str`), a space after each `,` and `;`.
pub(super) fn text(ty: &Type) -> String {
    let mut ty = ty.clone();
    normalise(&mut ty);
    let spaced = ty.to_token_stream().to_string();
    let chars: Vec<char> = spaced.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(spaced.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = i.checked_sub(1).map(|j| chars[j]);
            let after = chars.get(i + 1).copied();
            if before.is_some_and(word) && after.is_some_and(|c| word(c) || c == '\'') {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
        if c == ',' || c == ';' {
            out.push(' ');
        }
    }
    // `(u8,)` would read `(u8, )`.
    out.replace(", )", ",)").replace(", >", ">")
}

/// The paths PROTOCOL.md lists, rewritten in place, at any depth.
fn normalise(ty: &mut Type) {
    match ty {
        Type::Path(path) => {
            if path.qself.is_none() {
                normalise_path(&mut path.path);
            }
            for segment in &mut path.path.segments {
                if let PathArguments::AngleBracketed(generics) = &mut segment.arguments {
                    for argument in &mut generics.args {
                        match argument {
                            GenericArgument::Type(inner) => normalise(inner),
                            GenericArgument::AssocType(assoc) => normalise(&mut assoc.ty),
                            _ => {}
                        }
                    }
                }
            }
        }
        Type::Tuple(tuple) => tuple.elems.iter_mut().for_each(normalise),
        Type::Array(array) => normalise(&mut array.elem),
        Type::Slice(slice) => normalise(&mut slice.elem),
        Type::Reference(reference) => normalise(&mut reference.elem),
        Type::Paren(paren) => normalise(&mut paren.elem),
        Type::Group(group) => normalise(&mut group.elem),
        Type::Ptr(pointer) => normalise(&mut pointer.elem),
        _ => {}
    }
}

fn normalise_path(path: &mut syn::Path) {
    path.leading_colon = None;
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let canonical = matches!(
        names.as_slice(),
        ["std" | "core", "primitive", _]
            | ["std" | "alloc", "string", "String"]
            | ["std" | "alloc", "vec", "Vec"]
            | ["std" | "core", "option", "Option"]
            | ["std" | "core", "result", "Result"]
    );
    if canonical {
        let last = path.segments.pop();
        path.segments.clear();
        if let Some(last) = last {
            path.segments.push(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(source: &str) -> String {
        text(&syn::parse_str::<Type>(source).unwrap())
    }

    #[test]
    fn the_listed_paths_become_the_prelude_names() {
        for (written, normal) in [
            ("u64", "u64"),
            ("std::primitive::u64", "u64"),
            ("::std::primitive::u64", "u64"),
            ("core::primitive::u64", "u64"),
            ("::core::primitive::str", "str"),
            ("std::string::String", "String"),
            ("alloc::string::String", "String"),
            ("std::vec::Vec<std::primitive::u8>", "Vec<u8>"),
            ("::std::option::Option<u8>", "Option<u8>"),
            (
                "core::result::Result<(), std::string::String>",
                "Result<(), String>",
            ),
            (
                "std::collections::HashMap<::std::string::String, u64>",
                "std::collections::HashMap<String, u64>",
            ),
            ("(std::primitive::u8, bool)", "(u8, bool)"),
            ("[core::primitive::u8; 4]", "[u8; 4]"),
            ("&'static std::primitive::str", "&'static str"),
            ("Option<Vec<::std::primitive::i32>>", "Option<Vec<i32>>"),
        ] {
            assert_eq!(of(written), normal, "{written}");
        }
    }

    #[test]
    fn other_paths_stay_as_written_but_for_a_leading_colon_pair() {
        for (written, normal) in [
            ("super::Point", "super::Point"),
            ("self::Offset", "self::Offset"),
            ("::my_api::Point", "my_api::Point"),
            ("my::primitive::u64", "my::primitive::u64"),
            ("std::primitive::u64::Other", "std::primitive::u64::Other"),
            ("std::io::Error", "std::io::Error"),
            ("(u8,)", "(u8,)"),
        ] {
            assert_eq!(of(written), normal, "{written}");
        }
    }

    #[test]
    fn the_suffix_spaces_arguments_and_the_arrow() {
        let args = [
            syn::parse_str::<Type>("i64").unwrap(),
            syn::parse_str::<Type>("::std::primitive::i64").unwrap(),
        ];
        let output = syn::parse_str::<Type>("i64").unwrap();
        assert_eq!(suffix(&args, &output), "(i64, i64) -> i64");
        assert_eq!(suffix(&[], &syn::parse_str("()").unwrap()), "() -> ()");
    }
}
