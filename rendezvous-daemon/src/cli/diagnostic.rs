//! CBOR diagnostic notation (RFC 8949, section 8) of a decoded value, for
//! `call --raw`: what the bytes say, types included, where JSON would
//! blur them (a byte string is `h'6869'`, not `[104, 105]`; a tag shows).
//!
//! Written here rather than taken from a crate: it is one small printer
//! over `ciborium::Value`, which already decoded (and bounded) the bytes,
//! while the diagnostic crates bring their own CBOR parser and more.

use ciborium::Value;
use std::fmt::Write;

/// `value` in diagnostic notation, on one line.
pub fn notation(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Integer(integer) => {
            let _ = write!(out, "{}", i128::from(*integer));
        }
        Value::Bytes(bytes) => {
            out.push_str("h'");
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            out.push('\'');
        }
        Value::Float(float) => write_float(out, *float),
        // Rust's escapes of a string are JSON's for every character
        // but control ones and quotes, which it escapes too.
        Value::Text(text) => {
            let _ = write!(out, "{text:?}");
        }
        Value::Bool(flag) => {
            let _ = write!(out, "{flag}");
        }
        Value::Null => out.push_str("null"),
        Value::Tag(tag, inner) => {
            let _ = write!(out, "{tag}(");
            write_value(out, inner);
            out.push(')');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
        // `ciborium::Value` is non-exhaustive.
        _ => out.push_str("undefined"),
    }
}

/// Floats always with a point or exponent, and the RFC's spellings of the
/// three that have no digits.
fn write_float(out: &mut String, float: f64) {
    if float.is_nan() {
        out.push_str("NaN");
    } else if float.is_infinite() {
        out.push_str(if float > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{float:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_written_as_the_rfc_spells_it() {
        let value = Value::Map(vec![
            (Value::Text("n".into()), Value::Integer((-7).into())),
            (Value::Integer(1.into()), Value::Bytes(vec![0x00, 0xab])),
            (Value::Text("f".into()), Value::Float(1.0)),
            (Value::Text("nan".into()), Value::Float(f64::NAN)),
            (
                Value::Text("list".into()),
                Value::Array(vec![Value::Bool(true), Value::Null]),
            ),
            (
                Value::Text("tagged".into()),
                Value::Tag(1, Box::new(Value::Integer(0.into()))),
            ),
            (Value::Text("q".into()), Value::Text("a\"b\n".into())),
        ]);
        assert_eq!(
            notation(&value),
            r#"{"n": -7, 1: h'00ab', "f": 1.0, "nan": NaN, "list": [true, null], "tagged": 1(0), "q": "a\"b\n"}"#
        );
    }

    #[test]
    fn integers_beyond_64_bits_are_written_whole() {
        let large = Value::Integer(u64::MAX.into());
        assert_eq!(notation(&large), "18446744073709551615");
        let negative =
            Value::Integer(ciborium::value::Integer::try_from(-(1i128 << 64)).expect("in range"));
        assert_eq!(notation(&negative), "-18446744073709551616");
    }
}
