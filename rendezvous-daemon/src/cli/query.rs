//! The query subcommands, in the spirit of `rpcinfo -p`: `list` prints
//! every registration a matchmaker holds, `lookup` the endpoints of one
//! name, `describe` one name's endpoints with their leases, transports and
//! types, each as a table on stdout. A matchmaker that does not answer is
//! one line on stderr naming it (from `main`).

use super::args::Target;
use super::runtime;
use rendezvous_core::matchmaker;
use rendezvous_core::protocol::matchmaker::{ListCursor, Registration};
use rendezvous_core::{Fingerprint, MatchmakerClient};
use std::net::SocketAddr;
use std::time::Duration;

/// `rendezvous-daemon list`: every registration, page after page.
pub fn list(target: Target) -> Result<(), String> {
    with_matchmaker(target, print_list)
}

/// `rendezvous-daemon lookup NAME [--signature HEX]`.
pub fn lookup(target: Target, name: String, signature: Option<Fingerprint>) -> Result<(), String> {
    with_matchmaker(target, |client| print_lookup(client, name, signature))
}

/// `rendezvous-daemon describe NAME`: each endpoint of one name, with its
/// incarnation, lease time left, transports and signature.
pub fn describe(target: Target, name: String) -> Result<(), String> {
    with_matchmaker(target, |client| print_describe(client, name))
}

/// The target's matchmakers, or `$RENDEZVOUS_MATCHMAKER`'s.
pub fn addresses(target: &Target) -> Result<Vec<SocketAddr>, String> {
    match &target.matchmaker {
        Some(addresses) => Ok(addresses.clone()),
        None => matchmaker::addresses_from_env().map_err(|e| e.to_string()),
    }
}

/// Every registration of `name`, read with `list` from the first place
/// the name can be: the cursor just before its first endpoint
/// (`0.0.0.0:0`, lease 0, which nothing registers), page after page until
/// the name changes.
pub async fn registrations_of(
    client: &MatchmakerClient,
    name: &str,
) -> Result<Vec<Registration>, rendezvous_core::Error> {
    let mut after = Some(ListCursor {
        name: name.to_owned(),
        endpoint: SocketAddr::from(([0, 0, 0, 0], 0)),
        lease: 0,
    });
    let mut found = Vec::new();
    while let Some(cursor) = after {
        let page = client.list_page(Some(cursor)).await?;
        let past_name = page.registrations.iter().any(|r| r.name != name);
        found.extend(page.registrations.into_iter().filter(|r| r.name == name));
        after = if past_name { None } else { page.next };
    }
    Ok(found)
}

/// How long `describe` waits for an endpoint's stream to accept.
const STREAM_PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// The transports a registration can be called over, as `describe`
/// prints them: `udp`, and `udp,tcp` when the endpoint's port
/// accepts a stream connection. A server's stream listens on the same
/// port number as its datagrams (PROTOCOL.md, "Streams"), so the
/// registration cannot say whether one is on (`ServerBuilder::stream(None)`
/// turns it off); asking the port can. The probe connects and closes,
/// sending nothing.
pub fn transports(registration: &Registration) -> String {
    match std::net::TcpStream::connect_timeout(&registration.endpoint, STREAM_PROBE_TIMEOUT) {
        Ok(_) => "udp,tcp".to_owned(),
        Err(_) => "udp".to_owned(),
    }
}

/// Runs `query` against the first of the target's matchmakers (or
/// `$RENDEZVOUS_MATCHMAKER`'s) that answers.
fn with_matchmaker<F, Fut>(target: Target, query: F) -> Result<(), String>
where
    F: FnOnce(MatchmakerClient) -> Fut,
    Fut: std::future::Future<Output = Result<(), rendezvous_core::Error>>,
{
    let addresses = addresses(&target)?;
    runtime::block_on(async {
        let client = MatchmakerClient::connect_any(&addresses)
            .await
            .map_err(|e| e.to_string())?;
        query(client).await.map_err(|e| e.to_string())
    })
}

async fn print_list(client: MatchmakerClient) -> Result<(), rendezvous_core::Error> {
    let (mut registrations, mut after, mut stale) = (Vec::new(), None, false);
    loop {
        let page = client.list_page(after).await?;
        stale |= page.stale;
        registrations.extend(page.registrations);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let rows: Vec<[String; 5]> = registrations
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.endpoint.to_string(),
                signature_cell(r.signature, r.signature_text.as_deref()),
                format!("{:016x}", r.incarnation),
                format_ttl(r.ttl_ms),
            ]
        })
        .collect();
    print_table(
        ["NAME", "ENDPOINT", "SIGNATURE", "INCARNATION", "TTL"],
        &rows,
    );
    println!(
        "{} registration{} at {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        client.address()
    );
    if stale {
        println!("(the matchmaker cannot reach its shared store: this may miss recent changes)");
    }
    Ok(())
}

async fn print_lookup(
    client: MatchmakerClient,
    name: String,
    signature: Option<Fingerprint>,
) -> Result<(), rendezvous_core::Error> {
    let answer = client.lookup_answer(&name, signature).await?;
    let rows: Vec<[String; 4]> = answer
        .endpoints
        .iter()
        .map(|e| {
            [
                e.address.to_string(),
                e.signature.to_string(),
                format!("{:016x}", e.incarnation),
                format_ttl(e.ttl_ms),
            ]
        })
        .collect();
    print_table(["ENDPOINT", "SIGNATURE", "INCARNATION", "TTL"], &rows);
    if answer.truncated {
        println!(
            "(more endpoints exist than fit one answer; `rendezvous-daemon list` shows them all)"
        );
    }
    Ok(())
}

async fn print_describe(
    client: MatchmakerClient,
    name: String,
) -> Result<(), rendezvous_core::Error> {
    let registrations = registrations_of(&client, &name).await?;
    if registrations.is_empty() {
        return Err(rendezvous_core::Error::NotFound { name });
    }
    let rows: Vec<[String; 5]> = registrations
        .iter()
        .map(|r| {
            [
                r.endpoint.to_string(),
                format!("{:016x}", r.incarnation),
                format_ttl(r.ttl_ms),
                transports(r),
                signature_cell(r.signature, r.signature_text.as_deref()),
            ]
        })
        .collect();
    println!("{name}");
    print_table(
        [
            "ENDPOINT",
            "INCARNATION",
            "LEASE LEFT",
            "TRANSPORTS",
            "SIGNATURE",
        ],
        &rows,
    );
    Ok(())
}

/// Prints `header` and `rows` as columns two spaces apart, each as wide as
/// its widest cell, with no trailing spaces.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// The signature as its text (`math.add(i64, i64) -> i64`) when the
/// registration gave one, else its fingerprint (an older server's, or a
/// procedure built by hand). Control characters are shown escaped: the
/// text is the registering server's word, and must not drive the terminal.
fn signature_cell(signature: Fingerprint, text: Option<&str>) -> String {
    match text {
        Some(text) => text
            .chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().collect()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        None => signature.to_string(),
    }
}

/// A TTL left, to a tenth of a second: `12.3s`.
pub fn format_ttl(ms: u64) -> String {
    format!("{}.{:01}s", ms / 1000, (ms % 1000) / 100)
}
