use rendezvous_core::{Client, Error, procedure};
use serde::{Deserialize, Serialize};
use std::future::Future;

#[derive(Debug, Serialize, Deserialize)]
pub struct MathError(pub String);

#[procedure(name = "math.div")]
pub async fn div(a: i64, b: i64) -> Result<i64, MathError> {
    a.checked_div(b)
        .ok_or_else(|| MathError("division by zero".into()))
}

// The proxy nests the procedure's own `Result` inside the transport's.
fn remote_div(client: &Client) -> impl Future<Output = Result<Result<i64, MathError>, Error>> + '_ {
    div::remote_with(client, 7, 2)
}

async fn caller(client: &Client) -> Result<i64, Error> {
    let quotient: Result<i64, MathError> = div::remote_with(client, 7, 2).await?;
    Ok(quotient.unwrap_or(0))
}

fn main() {
    let _ = remote_div;
    let _ = caller;
}
