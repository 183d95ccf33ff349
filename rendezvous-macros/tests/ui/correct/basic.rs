use rendezvous_core::procedure;

/// Adds two numbers.
#[procedure]
pub async fn add(a: i64, b: i64) -> i64 {
    a + b
}

// Still an ordinary function: it can be called locally.
async fn local() -> i64 {
    add(2, 3).await
}

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let _ = local;
    // Proxies' futures can be spawned on a multi-threaded runtime.
    assert_send(&add::remote(2, 3));
    let _: rendezvous_core::Procedure = add::__procedure();
    let _: &'static str = add::NAME;
    let _: rendezvous_core::Fingerprint = add::SIGNATURE;
}
