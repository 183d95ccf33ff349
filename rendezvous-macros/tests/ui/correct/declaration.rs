// An interface crate declares the procedure without a body; the
// implementation elsewhere has the same name and types, so the same
// fingerprint.
pub mod a {
    use rendezvous_core::procedure;

    /// The proxy's documentation.
    #[procedure(name = "math.add")]
    pub async fn add(a: i64, b: i64) -> i64;
}

pub mod b {
    use rendezvous_core::procedure;

    #[procedure(name = "math.add")]
    pub async fn add(a: i64, b: i64) -> i64 {
        a + b
    }
}

const _: () = assert!(a::add::SIGNATURE.0 == b::add::SIGNATURE.0);
const _: () = assert!(a::add::PROCEDURE.signature.0 == b::add::PROCEDURE.signature.0);

async fn call(client: &rendezvous_core::Client) -> Result<i64, rendezvous_core::Error> {
    a::add::remote_with(client, 2, 3).await
}

fn main() {
    let _ = call;
}
