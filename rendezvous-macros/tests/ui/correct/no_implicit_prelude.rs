// The generated code names nothing through the prelude, nor through the
// user's name for the crate, and survives local types named like std's.
#![no_implicit_prelude]

extern crate rendezvous_core as some_other_name;

#[allow(dead_code)]
pub struct Result;
#[allow(dead_code)]
pub struct Option;
#[allow(dead_code)]
pub struct Vec;
#[allow(dead_code)]
pub struct String;
#[allow(dead_code)]
pub struct Send;
#[allow(dead_code)]
pub struct Box;

mod core {}
mod std {}
mod rendezvous_core {}

#[some_other_name::procedure]
pub async fn concat(a: ::std::string::String, b: ::std::vec::Vec<u8>) -> ::std::string::String {
    let mut out = a;
    for byte in b {
        out.push(byte as char);
    }
    out
}

#[some_other_name::procedure(name = "hygiene.len", idempotent)]
pub async fn len(bytes: ::std::vec::Vec<u8>) -> ::std::result::Result<u64, ::std::string::String> {
    ::std::result::Result::Ok(bytes.len() as u64)
}

/// `u8` sequences, carried as byte strings, in the result too.
#[some_other_name::procedure(name = "hygiene.bytes")]
pub async fn bytes(
    key: [u8; 4],
    tag: ::std::option::Option<::std::vec::Vec<u8>>,
) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
    let _ = tag;
    ::std::result::Result::Ok(key.to_vec())
}

#[some_other_name::procedure]
pub async fn nothing() {}

#[some_other_name::procedure(name = "hygiene.decl")]
pub async fn declared(a: ::std::option::Option<u8>) -> u8;

fn main() {
    let _ = concat::remote(::std::string::String::new(), ::std::vec::Vec::new());
    let _ = len::remote(::std::vec::Vec::new());
    let _ = bytes::remote([0; 4], ::std::option::Option::None);
    let _ = nothing::remote();
    let _ = declared::remote(::std::option::Option::None);
}
