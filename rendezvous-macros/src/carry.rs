//! How each argument and the result cross the wire, decided from the type
//! as written (a macro sees no further: an alias `type Blob = Vec<u8>` is
//! not recognised, nor a `Vec<u8>` inside a struct, which its author marks
//! `#[serde(with = "serde_bytes")]`).
//!
//! - A `u8` sequence written as one, `Vec<u8>` or `[u8; N]`, or an `Option`
//!   of either, is carried as a CBOR byte string (`__private::Bytes`), not
//!   as serde's array of integers: half the size, and hundreds of times faster
//!   to encode and decode. The signature text stays as written, so the
//!   fingerprint does not change.
//! - A result written `Result<T, E>` is the standard `Result`; `T` may be
//!   such a sequence, and `E`'s serde bounds are checked apart, with advice
//!   for an error type one cannot derive on.

use syn::{GenericArgument, PathArguments, Type};

/// How a value is carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carry {
    /// Through its own serde implementations.
    Serde,
    /// As a CBOR byte string, through `serde_bytes`.
    Bytes,
}

/// How a value of type `ty`, as written, is carried.
pub(crate) fn carry(ty: &Type) -> Carry {
    if is_u8_sequence(ty) || single_argument(ty, "Option").is_some_and(is_u8_sequence) {
        Carry::Bytes
    } else {
        Carry::Serde
    }
}

/// How the result is carried: whole, or (for `Result<T, E>` whose `T` is
/// a `u8` sequence) its `Ok` value as a byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutputCarry {
    Whole(Carry),
    OkBytes,
}

/// How a result of type `ty`, as written, is carried.
pub(crate) fn output_carry(ty: &Type) -> OutputCarry {
    match (carry(ty), result_parts(ty)) {
        (Carry::Serde, Some((ok, _))) if carry(ok) == Carry::Bytes => OutputCarry::OkBytes,
        (whole, _) => OutputCarry::Whole(whole),
    }
}

/// The `T` and `E` of a type written `Result<T, E>` (any path ending in
/// `Result` with two type arguments); `None` for anything else, including
/// aliases with one argument such as `io::Result<T>`.
pub(crate) fn result_parts(ty: &Type) -> Option<(&Type, &Type)> {
    let mut types = type_arguments(ty, "Result")?;
    let (ok, err) = (types.next()?, types.next()?);
    match types.next() {
        None => Some((ok, err)),
        Some(_) => None,
    }
}

/// `Vec<u8>` (under any path) or `[u8; N]`.
fn is_u8_sequence(ty: &Type) -> bool {
    match ty {
        Type::Array(array) => is_u8(&array.elem),
        Type::Paren(paren) => is_u8_sequence(&paren.elem),
        Type::Group(group) => is_u8_sequence(&group.elem),
        _ => single_argument(ty, "Vec").is_some_and(is_u8),
    }
}

/// `u8`, `std::primitive::u8` or `core::primitive::u8`.
fn is_u8(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    path.qself.is_none()
        && path.path.segments.iter().all(|s| s.arguments.is_empty())
        && matches!(
            segments.iter().map(String::as_str).collect::<Vec<_>>()[..],
            ["u8"] | ["std" | "core", "primitive", "u8"]
        )
}

/// The one type argument of `ty` written `...::name<T>`.
fn single_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let mut types = type_arguments(ty, name)?;
    let only = types.next()?;
    match types.next() {
        None => Some(only),
        Some(_) => None,
    }
}

/// The type arguments of `ty` written `...::name<...>`, if it has only
/// type arguments.
fn type_arguments<'a>(ty: &'a Type, name: &str) -> Option<impl Iterator<Item = &'a Type>> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &last.arguments else {
        return None;
    };
    if !generics
        .args
        .iter()
        .all(|arg| matches!(arg, GenericArgument::Type(_)))
    {
        return None;
    }
    Some(generics.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(text: &str) -> Type {
        syn::parse_str(text).expect("a type")
    }

    #[test]
    fn u8_sequences_written_as_such_are_bytes() {
        for text in [
            "Vec<u8>",
            "std::vec::Vec<u8>",
            "::alloc::vec::Vec<::core::primitive::u8>",
            "[u8; 32]",
            "Option<Vec<u8>>",
            "Option<[u8; 4]>",
        ] {
            assert_eq!(carry(&ty(text)), Carry::Bytes, "{text}");
        }
        for text in [
            "Vec<i8>",
            "Vec<Vec<u8>>",
            "Blob",
            "[u16; 4]",
            "Option<Option<Vec<u8>>>",
            "(Vec<u8>,)",
            "Result<Vec<u8>, E>",
            "Vec<u8, A>",
            "[Vec<u8>; 2]",
        ] {
            assert_eq!(carry(&ty(text)), Carry::Serde, "{text}");
        }
    }

    #[test]
    fn a_result_carries_its_ok_bytes_as_a_byte_string() {
        assert_eq!(
            output_carry(&ty("Result<Vec<u8>, E>")),
            OutputCarry::OkBytes
        );
        assert_eq!(
            output_carry(&ty("Vec<u8>")),
            OutputCarry::Whole(Carry::Bytes)
        );
        assert_eq!(
            output_carry(&ty("Result<u8, E>")),
            OutputCarry::Whole(Carry::Serde)
        );
    }

    #[test]
    fn results_are_split_only_when_written_with_two_arguments() {
        assert!(result_parts(&ty("Result<u8, E>")).is_some());
        assert!(result_parts(&ty("std::result::Result<u8, E>")).is_some());
        assert!(result_parts(&ty("io::Result<u8>")).is_none());
        assert!(result_parts(&ty("Option<u8>")).is_none());
    }
}
