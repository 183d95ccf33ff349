//! The health subcommands, after `etcdctl endpoint health/status`:
//!
//! - `ping ADDR`: whether a matchmaker or any server answers there, the
//!   round trip, its incarnation and uptime ([`Client::ping`]: nothing
//!   runs there);
//! - `status`: what a matchmaker says of itself (its store, memory or
//!   etcd, and whether etcd is reachable; leases and registrations held),
//!   and the leases whose time left is below `--soon`, from `list`. A
//!   lease renewed on time keeps at least two thirds of its TTL, so one
//!   below that has missed renewals (its server is stalled or gone), or
//!   has a TTL that short. Through an etcd store, `list` gives each
//!   lease's granted TTL, not the time left (PROTOCOL.md), so none is
//!   reported there.

use super::args::{PingOptions, StatusOptions};
use super::query;
use super::runtime;
use super::values::format_duration;
use rendezvous_core::protocol::matchmaker::Registration;
use rendezvous_core::{Client, MatchmakerClient};
use std::time::Duration;

/// `rendezvous-daemon ping ADDR`.
pub fn ping(options: PingOptions) -> Result<(), String> {
    let pong = runtime::block_on(async {
        let client = Client::builder()
            .matchmaker(options.address)
            .deadline(options.deadline)
            .build()?;
        client.ping(options.address).await
    })
    .map_err(|error| error.to_string())?;
    let uptime = pong
        .uptime
        .map_or_else(|| "not said".to_owned(), format_uptime);
    println!(
        "{} answered in {:.3} ms: incarnation {:016x}, up {uptime}",
        options.address,
        pong.round_trip.as_secs_f64() * 1000.0,
        pong.incarnation.0,
    );
    Ok(())
}

/// `rendezvous-daemon status`.
pub fn status(options: StatusOptions) -> Result<(), String> {
    let addresses = query::addresses(&options.target)?;
    runtime::block_on(async {
        let client = MatchmakerClient::connect_any(&addresses)
            .await
            .map_err(|e| e.to_string())?;
        let status = client.status().await.map_err(|error| {
            format!("{error} (a matchmaker older than `status` does not have it)")
        })?;
        let registrations = client.list().await.map_err(|e| e.to_string())?;
        let reachable = if status.store_reachable {
            "reachable"
        } else {
            "UNREACHABLE: lookups answer from the cache, registrations are refused"
        };
        println!("matchmaker  {}", client.address());
        println!("store       {} ({reachable})", status.store);
        println!("leases      {}", status.leases);
        println!("registered  {}", status.registrations);
        let soon = expiring(&registrations, options.soon);
        if status.store == "etcd" {
            println!("expiring    (not known through etcd: list gives granted TTLs)");
        } else if soon.is_empty() {
            println!("expiring    none within {}", format_duration(options.soon));
        } else {
            println!(
                "expiring    {} within {}:",
                soon.len(),
                format_duration(options.soon)
            );
            for registration in soon {
                println!(
                    "  {}  {:016x}  {} left  ({})",
                    registration.endpoint,
                    registration.incarnation,
                    query::format_ttl(registration.ttl_ms),
                    registration.name
                );
            }
        }
        Ok(())
    })
}

/// One registration per lease (endpoint, incarnation) whose time left is
/// below `soon`, soonest first.
fn expiring(registrations: &[Registration], soon: Duration) -> Vec<&Registration> {
    let mut found: Vec<&Registration> = Vec::new();
    for registration in registrations {
        let lease = (registration.endpoint, registration.incarnation);
        if u128::from(registration.ttl_ms) < soon.as_millis()
            && !found.iter().any(|r| (r.endpoint, r.incarnation) == lease)
        {
            found.push(registration);
        }
    }
    found.sort_by_key(|r| r.ttl_ms);
    found
}

/// An uptime to the second below an hour, to the minute above: `42s`,
/// `3m 5s`, `2h 14m`.
fn format_uptime(uptime: Duration) -> String {
    let seconds = uptime.as_secs();
    match seconds {
        0..60 => format!("{}.{}s", seconds, uptime.subsec_millis() / 100),
        60..3600 => format!("{}m {}s", seconds / 60, seconds % 60),
        _ => format!("{}h {}m", seconds / 3600, seconds % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rendezvous_core::Fingerprint;
    use std::net::SocketAddr;

    fn registration(name: &str, port: u16, incarnation: u64, ttl_ms: u64) -> Registration {
        Registration {
            name: name.into(),
            endpoint: SocketAddr::from(([127, 0, 0, 1], port)),
            signature: Fingerprint(1),
            signature_text: None,
            incarnation,
            ttl_ms,
        }
    }

    #[test]
    fn each_lease_expiring_soon_is_named_once_soonest_first() {
        let all = [
            registration("a", 1, 7, 4_000),
            registration("b", 1, 7, 4_000),
            registration("a", 2, 8, 25_000),
            registration("a", 3, 9, 900),
        ];
        let soon = expiring(&all, Duration::from_secs(5));
        let ports: Vec<u16> = soon.iter().map(|r| r.endpoint.port()).collect();
        assert_eq!(ports, [3, 1]);
    }

    #[test]
    fn uptimes_read_at_a_glance() {
        assert_eq!(format_uptime(Duration::from_millis(4_250)), "4.2s");
        assert_eq!(format_uptime(Duration::from_secs(185)), "3m 5s");
        assert_eq!(
            format_uptime(Duration::from_secs(2 * 3600 + 14 * 60 + 9)),
            "2h 14m"
        );
    }
}
