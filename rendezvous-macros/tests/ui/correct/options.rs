use rendezvous_core::{Fingerprint, RemoteProcedure, procedure};

#[procedure(name = "math.div", idempotent)]
pub async fn div(a: i64, b: i64) -> i64 {
    a / b
}

#[procedure(idempotent, name = "math.mul")]
pub async fn mul(a: i64, b: i64) -> i64 {
    a * b
}

#[procedure(name = "math.sub")]
pub async fn sub(a: i64, b: i64) -> i64 {
    a - b
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const _: () = assert!(same(div::NAME, "math.div"));
const _: () = assert!(div::PROCEDURE.idempotent);
const _: () = assert!(same(mul::NAME, "math.mul"));
const _: () = assert!(mul::PROCEDURE.idempotent);
const _: () = assert!(same(sub::NAME, "math.sub"));
const _: () = assert!(!sub::PROCEDURE.idempotent);
// `idempotent` is part of what the fingerprint covers, so a declaration
// that forgets it does not match.
const _: () = assert!(div::SIGNATURE.0 == Fingerprint::of("math.div(i64,i64)->i64#idempotent").0);
const _: () = assert!(sub::SIGNATURE.0 == Fingerprint::of("math.sub(i64,i64)->i64").0);
const _: RemoteProcedure = div::PROCEDURE;

fn main() {}
