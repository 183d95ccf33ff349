//! `#[procedure]`s with arguments of varied types, whose generated handlers
//! the `procedure_args` and `procedure_server` targets feed arbitrary bytes.
//!
//! Their bodies never panic on any argument (wrapping arithmetic, no
//! indexing), so any panic a target sees comes from decoding.

use crate::alloc::measure;
use futures_lite::future::block_on;
use rendezvous_core::protocol::wire;
use rendezvous_core::{Fingerprint, procedure};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: i32,
    pub y: i32,
    pub label: String,
}

/// Unit, struct, newtype and tuple variants, and recursion (through `Box`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    Empty,
    Circle { center: Point, radius: u32 },
    Polygon(Vec<Point>),
    Named(String, Box<Shape>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ShapeError {
    Degenerate,
    TooBig { limit: u64 },
    Other(String),
}

#[procedure(name = "fuzz.integers")]
pub async fn integers(a: u8, b: i16, c: u32, d: i64, e: u64, f: bool) -> i128 {
    let sum = i128::from(a) + i128::from(b) + i128::from(c) + i128::from(d) + i128::from(e);
    if f { -sum } else { sum }
}

#[procedure(name = "fuzz.wide")]
pub async fn wide(a: u128, b: i128, c: usize) -> (u128, i128) {
    (a.wrapping_mul(3), b.wrapping_sub(c as i128))
}

#[procedure(name = "fuzz.text")]
pub async fn text(s: String, c: char, bytes: Vec<u8>) -> String {
    let mut out = s;
    out.push(c);
    out.push_str(&bytes.len().to_string());
    out
}

#[procedure(name = "fuzz.bytes")]
pub async fn bytes(buffer: ByteBuf, tail: Option<ByteBuf>) -> ByteBuf {
    let mut out = buffer.into_vec();
    out.extend(tail.map(ByteBuf::into_vec).unwrap_or_default());
    out.reverse();
    ByteBuf::from(out)
}

#[procedure(name = "fuzz.point")]
pub async fn point(p: Point, scale: Option<f64>) -> Result<Point, ShapeError> {
    match scale {
        Some(s) if s.is_nan() => Err(ShapeError::Other("NaN".into())),
        Some(s) => Ok(Point {
            x: (f64::from(p.x) * s) as i32,
            y: (f64::from(p.y) * s) as i32,
            label: p.label,
        }),
        None => Ok(p),
    }
}

#[procedure(name = "fuzz.shape")]
pub async fn shape(value: Shape, limit: u64) -> Result<u64, ShapeError> {
    fn size(shape: &Shape) -> u64 {
        match shape {
            Shape::Empty => 0,
            Shape::Circle { radius, .. } => u64::from(*radius),
            Shape::Polygon(points) => points.len() as u64,
            Shape::Named(_, inner) => size(inner).saturating_add(1),
        }
    }
    match size(&value) {
        0 => Err(ShapeError::Degenerate),
        n if n > limit => Err(ShapeError::TooBig { limit }),
        n => Ok(n),
    }
}

#[procedure(name = "fuzz.collections")]
pub async fn collections(
    map: BTreeMap<String, Vec<Option<Point>>>,
    pair: (u16, String),
    nested: Vec<Vec<u32>>,
) -> Vec<String> {
    let mut keys: Vec<String> = map.into_keys().collect();
    keys.push(pair.1);
    keys.push(nested.len().to_string());
    keys
}

#[procedure(name = "fuzz.nothing")]
pub async fn nothing() {}

#[procedure(name = "fuzz.maybe")]
pub async fn maybe(flag: Option<bool>, reason: Result<u8, String>) -> Result<(), String> {
    match (flag, reason) {
        (Some(true), _) => Ok(()),
        (_, Err(reason)) => Err(reason),
        (_, Ok(code)) => Err(code.to_string()),
    }
}

/// The procedures' names, in the order the targets' first input byte selects them.
pub const NAMES: [&str; 9] = [
    integers::NAME,
    wide::NAME,
    text::NAME,
    bytes::NAME,
    point::NAME,
    shape::NAME,
    collections::NAME,
    nothing::NAME,
    maybe::NAME,
];

/// The generated server-side procedures, in [`NAMES`] order.
pub fn generated() -> Vec<rendezvous_core::Procedure> {
    vec![
        integers::__procedure(),
        wide::__procedure(),
        text::__procedure(),
        bytes::__procedure(),
        point::__procedure(),
        shape::__procedure(),
        collections::__procedure(),
        nothing::__procedure(),
        maybe::__procedure(),
    ]
}

/// Runs procedure `selector` (modulo [`NAMES`]) in this thread on argument
/// bytes `args`, the way its generated handler does (`Procedure::typed`:
/// decode the argument tuple, await the function, encode the result), with
/// the decoding measured. The argument types are checked against the
/// generated signature, so they are the ones the handler decodes.
pub fn run_in_process(selector: u8, args: &[u8]) {
    macro_rules! run {
        ($procedure:ident ( $($arg:ident : $ty:ty),* ) -> $output:ty) => {{
            let written = format!(
                "{}({})->{}",
                $procedure::NAME,
                <[&str]>::join(&[$(stringify!($ty)),*], ","),
                stringify!($output)
            );
            assert_eq!(
                $procedure::SIGNATURE,
                Fingerprint::of(&written),
                "the harness's types for {} are not the procedure's",
                $procedure::NAME
            );
            typed::<($($ty,)*), $output, _>($procedure::NAME, args, |($($arg,)*)| $procedure($($arg),*))
        }};
    }
    match usize::from(selector) % NAMES.len() {
        0 => run!(integers(a: u8, b: i16, c: u32, d: i64, e: u64, f: bool) -> i128),
        1 => run!(wide(a: u128, b: i128, c: usize) -> (u128, i128)),
        2 => run!(text(s: String, c: char, bytes: Vec<u8>) -> String),
        3 => run!(bytes(buffer: ByteBuf, tail: Option<ByteBuf>) -> ByteBuf),
        4 => run!(point(p: Point, scale: Option<f64>) -> Result<Point, ShapeError>),
        5 => run!(shape(value: Shape, limit: u64) -> Result<u64, ShapeError>),
        6 => run!(collections(
            map: BTreeMap<String, Vec<Option<Point>>>,
            pair: (u16, String),
            nested: Vec<Vec<u32>>
        ) -> Vec<String>),
        7 => run!(nothing() -> ()),
        _ => run!(maybe(flag: Option<bool>, reason: Result<u8, String>) -> Result<(), String>),
    }
}

fn typed<A, R, Fut>(name: &str, args: &[u8], f: impl FnOnce(A) -> Fut)
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned + PartialEq + Debug,
    Fut: Future<Output = R>,
{
    let (decoded, usage) = measure(|| wire::decode_payload::<A>(args));
    assert!(
        usage.peak <= crate::checks::payload_bound(args.len()),
        "{name}: decoding {} argument bytes held {} bytes at once (largest allocation {}); args {}",
        args.len(),
        usage.peak,
        usage.largest,
        crate::checks::hex(args)
    );
    // Read by value, as the handler reads them (a large byte string
    // keeping its buffer): the same value or the same error.
    let owned = wire::decode_payload_owned::<A>(args.to_vec().into(), wire::MAX_DATAGRAM_BYTES);
    match (&decoded, &owned) {
        (Ok(whole), Ok(owned)) => assert_eq!(
            wire::encode_payload(whole).ok(),
            wire::encode_payload(owned).ok(),
            "{name}: arguments read by value differ; args {}",
            crate::checks::hex(args)
        ),
        (Err(whole), Err(owned)) => assert_eq!(whole, owned, "{name}: args {}", crate::checks::hex(args)),
        _ => panic!(
            "{name}: read whole, the error {:?}; read by value, {:?}; args {}",
            decoded.as_ref().err(),
            owned.as_ref().err(),
            crate::checks::hex(args)
        ),
    }
    let arguments = match decoded {
        Ok(arguments) => {
            // Stable under re-encoding (compared as bytes: a NaN is not
            // equal to itself).
            if let Ok(encoded) = wire::encode_payload(&arguments) {
                let again = wire::decode_payload::<A>(&encoded).unwrap_or_else(|error| {
                    panic!(
                        "{name}: re-encoded arguments do not decode: {error}; args {}",
                        crate::checks::hex(args)
                    )
                });
                assert_eq!(
                    wire::encode_payload(&again).ok(),
                    Some(encoded),
                    "{name}: arguments are not a fixpoint; args {}",
                    crate::checks::hex(args)
                );
            }
            arguments
        }
        // The handler's BadArguments: the error text goes back to the caller.
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let result = block_on(f(arguments));
    match wire::encode_payload(&result) {
        Ok(bytes) => assert_eq!(
            wire::decode_payload::<R>(&bytes).as_ref(),
            Ok(&result),
            "{name}: the result does not round-trip; args {}",
            crate::checks::hex(args)
        ),
        Err(wire::EncodeError::TooLarge { .. }) => {}
        Err(error) => panic!("{name}: result unencodable: {error}"),
    }
}

/// Valid argument encodings for each procedure: `(selector, args)`.
pub fn sample_args() -> Vec<(u8, Vec<u8>)> {
    fn encode<T: Serialize>(value: &T) -> Vec<u8> {
        wire::encode_payload(value).expect("samples encode")
    }
    let origin = Point {
        x: -3,
        y: 4,
        label: "origin".into(),
    };
    let circle = Shape::Circle {
        center: origin.clone(),
        radius: 5,
    };
    let mut map = BTreeMap::new();
    map.insert("a".to_owned(), vec![Some(origin.clone()), None]);
    map.insert(String::new(), vec![]);
    // The same tuple as an indefinite-length array: with its break (it
    // decodes) and without (ill-formed: refused).
    let definite = encode(&(1u8, -2i16, 3u32, -4i64, u64::MAX, true));
    let mut indefinite = vec![0x9f];
    indefinite.extend_from_slice(&definite[1..]);
    let unbroken = indefinite.clone();
    indefinite.push(0xff);
    vec![
        (0, definite),
        (0, indefinite),
        (0, unbroken),
        (1, encode(&(u128::MAX, i128::MIN, 7usize))),
        (2, encode(&("héllo".to_owned(), 'ß', vec![0u8, 255]))),
        (
            3,
            encode(&(ByteBuf::from(vec![1, 2, 3]), Some(ByteBuf::from(vec![4])))),
        ),
        (3, encode(&(ByteBuf::new(), None::<ByteBuf>))),
        // A large byte string, which a decode by value sets apart.
        (3, encode(&(ByteBuf::from(vec![7; 20_000]), None::<ByteBuf>))),
        (4, encode(&(origin.clone(), Some(2.5f64)))),
        (4, encode(&(origin.clone(), None::<f64>))),
        (5, encode(&(Shape::Empty, 1u64))),
        (5, encode(&(circle.clone(), 10u64))),
        (
            5,
            encode(&(Shape::Polygon(vec![origin.clone(), origin.clone()]), 1u64)),
        ),
        (
            5,
            encode(&(Shape::Named("n".into(), Box::new(circle)), 100u64)),
        ),
        (
            6,
            encode(&(map, (9u16, "pair".to_owned()), vec![vec![1u32, 2], vec![]])),
        ),
        (7, encode(&())),
        (8, encode(&(Some(false), Err::<u8, String>("no".into())))),
        (8, encode(&(None::<bool>, Ok::<u8, String>(3)))),
    ]
}
