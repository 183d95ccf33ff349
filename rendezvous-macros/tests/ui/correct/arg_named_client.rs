// Arguments may be named like the proxies' own parameters and locals.
use rendezvous_core::procedure;

#[procedure]
pub async fn greet(client: String, context: String) -> String {
    format!("hello {client} from {context}")
}

// An argument named like the function itself.
#[procedure]
pub async fn double(double: i64) -> i64 {
    double * 2
}

async fn call(c: &rendezvous_core::Client) -> Result<String, rendezvous_core::Error> {
    let _: i64 = double::remote_with(c, 2).await?;
    greet::remote_with(c, "me".to_string(), "here".to_string()).await
}

fn main() {
    let _ = call;
    let _ = greet::remote("me".to_string(), "here".to_string());
}
