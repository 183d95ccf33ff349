//! Hosts off loopback, made by the test: network namespaces joined by veth
//! pairs to a bridge, with addresses that exist only inside them.
//!
//! [`Lan::new`] makes `hosts` namespaces (`rzv-<pid>-<n>-h<i>`) and a hub
//! namespace holding a bridge; host `i` has one interface, `eth0`, with an
//! address in a private /8 of its own ([`SUBNETS`]: `10.231.0.1`,
//! `172.31.231.2`, `192.168.231.3`, ...; so that per-source accounting by
//! /8 still tells the hosts apart), routes to the others' subnets on that
//! link, an IPv6 address `fd00:231::<i + 1>/64` (a unique local address,
//! without duplicate detection so it is usable at once), and loopback up;
//! `eth0` is joined to the bridge by a veth pair
//! whose other end (`p<i>`) sits in the hub. There is no default route and
//! no link to the root namespace, so nothing sent there can leave the
//! machine, and the addresses collide with nothing outside.
//! Everything is deleted when the [`Lan`] is dropped, panics included
//! (processes started inside are the caller's to end first: declare the
//! [`Lan`] before them, so it is dropped after them).
//!
//! A process runs inside a host with [`Host::command`] (`ip netns exec`);
//! [`Daemon::start_in_namespace`](crate::Daemon::start_in_namespace) runs
//! the real daemon there. [`Host::partition`] takes the host's port on the
//! bridge down, a real partition: datagrams to and from the host are lost
//! without an error to either side; [`Host::heal`] brings it back.
//!
//! Making namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and
//! `ip` (Debian's `iproute2`). Where they cannot be made, [`Lan::or_skip`]
//! prints why and the test passes without running; with
//! `RENDEZVOUS_NETNS=require` set (CI sets it), it fails instead, so a
//! broken CI image cannot hide these tests.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// Set to `require` to make a test fail where namespaces cannot be made.
pub const REQUIRE_ENV_VAR: &str = "RENDEZVOUS_NETNS";

/// The /24 of each host of a [`Lan`] (host `i` at `.i+1` of the `i`th),
/// each in a private or reserved range and a /8 of its own.
pub const SUBNETS: [[u8; 3]; 5] = [
    [10, 231, 0],
    [172, 31, 231],
    [192, 168, 231],
    [100, 64, 231],
    [198, 18, 231],
];

/// Most hosts on one [`Lan`].
pub const MAX_HOSTS: usize = SUBNETS.len();

/// A namespace made by the test, deleted on drop.
#[derive(Debug)]
struct Namespace {
    name: String,
}

impl Namespace {
    fn add(name: String) -> Result<Namespace, String> {
        ip(&["netns", "add", &name])?;
        let namespace = Namespace { name };
        namespace.ip(&["link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// `ip -n NAME ARGS`.
    fn ip(&self, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace deletes its interfaces, and with them
        // the veth ends in the others.
        if let Err(error) = ip(&["netns", "del", &self.name]) {
            eprintln!("could not delete network namespace {}: {error}", self.name);
        }
    }
}

/// Runs `ip ARGS`; its stderr as the error if it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let output: Output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("could not run `ip` ({error}); install iproute2"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// One host of a [`Lan`]: a namespace with one address.
#[derive(Debug)]
pub struct Host {
    namespace: Namespace,
    address: Ipv4Addr,
    address6: Ipv6Addr,
    /// Its port's name in the hub.
    port: String,
    hub: String,
}

impl Host {
    /// The namespace's name, for `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.namespace.name
    }

    /// The host's address on the LAN.
    pub fn ip(&self) -> IpAddr {
        IpAddr::V4(self.address)
    }

    /// `address:port` on this host.
    pub fn at(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip(), port)
    }

    /// The host's IPv6 address on the LAN.
    pub fn ip6(&self) -> IpAddr {
        IpAddr::V6(self.address6)
    }

    /// `[address6]:port` on this host.
    pub fn at6(&self, port: u16) -> SocketAddr {
        SocketAddr::new(self.ip6(), port)
    }

    /// A command running `program` inside this host's namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.name()]).arg(program);
        command
    }

    /// Takes the host's port on the bridge down: nothing reaches the host
    /// or leaves it until [`Host::heal`]. Its own interface stays up, so
    /// its sockets see silence, not an error.
    pub fn partition(&self) {
        self.set_port("down");
    }

    /// Brings the host's port on the bridge back up.
    pub fn heal(&self) {
        self.set_port("up");
    }

    fn set_port(&self, state: &str) {
        if let Err(error) = ip(&["-n", &self.hub, "link", "set", &self.port, state]) {
            panic!("could not set {}'s port {state}: {error}", self.name());
        }
    }
}

/// Hosts on one bridge, in namespaces made for the test (see the module
/// docs). Dropping it deletes them all.
#[derive(Debug)]
pub struct Lan {
    // Hosts first: they are dropped before the hub they are plugged into.
    hosts: Vec<Host>,
    hub: Namespace,
}

impl Lan {
    /// Makes `hosts` hosts on one bridge, or says why it cannot.
    pub fn new(hosts: usize) -> Result<Lan, String> {
        assert!(
            (1..=MAX_HOSTS).contains(&hosts),
            "a Lan has 1 to {MAX_HOSTS} hosts"
        );
        static MADE: AtomicU64 = AtomicU64::new(0);
        let prefix = format!(
            "rzv-{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::Relaxed)
        );
        let hub = Namespace::add(format!("{prefix}-hub"))?;
        hub.ip(&["link", "add", "br0", "type", "bridge"])?;
        hub.ip(&["link", "set", "br0", "up"])?;
        let mut made = Vec::with_capacity(hosts);
        for (i, &[a, b, c]) in SUBNETS.iter().enumerate().take(hosts) {
            let namespace = Namespace::add(format!("{prefix}-h{i}"))?;
            let port = format!("p{i}");
            let address = Ipv4Addr::new(a, b, c, (i + 1) as u8);
            ip(&[
                "link",
                "add",
                "eth0",
                "netns",
                &namespace.name,
                "type",
                "veth",
                "peer",
                "name",
                &port,
                "netns",
                &hub.name,
            ])?;
            hub.ip(&["link", "set", &port, "master", "br0"])?;
            hub.ip(&["link", "set", &port, "up"])?;
            namespace.ip(&["addr", "add", &format!("{address}/24"), "dev", "eth0"])?;
            let address6 = Ipv6Addr::new(0xfd00, 0x231, 0, 0, 0, 0, 0, (i + 1) as u16);
            namespace.ip(&[
                "addr",
                "add",
                &format!("{address6}/64"),
                "dev",
                "eth0",
                "nodad",
            ])?;
            namespace.ip(&["link", "set", "eth0", "up"])?;
            for (j, [d, e, f]) in SUBNETS.iter().enumerate().take(hosts) {
                if j != i {
                    let subnet = format!("{d}.{e}.{f}.0/24");
                    namespace.ip(&["route", "add", &subnet, "dev", "eth0"])?;
                }
            }
            made.push(Host {
                namespace,
                address,
                address6,
                port,
                hub: hub.name.clone(),
            });
        }
        Ok(Lan { hosts: made, hub })
    }

    /// [`Lan::new`], or `None` after printing why the test is skipped;
    /// panics instead if `RENDEZVOUS_NETNS=require`.
    pub fn or_skip(hosts: usize, test: &str) -> Option<Lan> {
        match Lan::new(hosts) {
            Ok(lan) => Some(lan),
            Err(reason) => {
                let required = std::env::var(REQUIRE_ENV_VAR).is_ok_and(|v| v == "require");
                assert!(
                    !required,
                    "{test}: network namespaces cannot be made here ({reason}), and {REQUIRE_ENV_VAR}=require"
                );
                // Straight to stderr, past the test harness's capture, so
                // the skip shows in every run.
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED {test}: network namespaces cannot be made here ({reason}); \
                     run as root with iproute2 installed to run it"
                );
                None
            }
        }
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// The hub's namespace name (for diagnostics).
    pub fn hub(&self) -> &str {
        &self.hub.name
    }
}
