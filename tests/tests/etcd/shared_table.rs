//! One table, three daemons: what is registered or renewed through one
//! daemon is found, renewed and ended through any other, and expires from
//! all.

use crate::support::{
    EXPIRING_TTL, Endpoints, LONG_TTL, assert_lists, probes, register, run, start_daemons,
    unique_prefix,
};
use rendezvous_core::Error;
use rendezvous_runtime as rt;
use rendezvous_tests::etcd::Etcd;
use rendezvous_tests::loopback;

/// The first scenario: three daemons over one etcd. A registration
/// through A, renewed through A, is found through B and C (and listed
/// there, not stale); once renewals stop, its lease lapses and all three
/// forget it; renewing it then, anywhere, is `UnknownLease`.
#[test]
fn registration_through_one_daemon_is_found_through_every_other_and_expires_from_all() {
    const NAME: &str = "etcd.three";
    let etcd = Etcd::start();
    let daemons = start_daemons(3, &etcd, &unique_prefix("three"));
    run(async {
        let probes = probes(&daemons).await;
        let at = loopback(40_001);
        let lease = register(&probes[0], NAME, at, EXPIRING_TTL)
            .await
            .expect("register through A");
        // Renewed through A, as a server would, while the others are asked.
        let renewer = {
            let through_a = probes[0].clone();
            rt::spawn(async move {
                loop {
                    rt::sleep(EXPIRING_TTL / 20).await;
                    let _ = through_a.renew(lease.token).await;
                }
            })
        };
        let expected = Endpoints::from([(at, 1)]);
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let when = format!("registered through A, at {label}");
            assert_lists(probe, NAME, &expected, &when).await;
        }
        let page = probes[2].list_page(None).await.expect("list through C");
        assert!(!page.stale, "C's list says stale while etcd is up");
        assert!(
            page.registrations
                .iter()
                .any(|r| r.name == NAME && r.endpoint == at),
            "C does not list what A registered: {page:?}"
        );

        // No more renewals: the lease lapses in etcd, and every cache
        // follows.
        renewer.cancel().await;
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let when = format!("expired, at {label}");
            assert_lists(probe, NAME, &Endpoints::new(), &when).await;
        }
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let renewed = probe.renew(lease.token).await;
            assert!(
                matches!(renewed, Err(Error::UnknownLease)),
                "renewing the lapsed lease through {label}: {renewed:?}, not UnknownLease"
            );
        }
    });
}

/// A lease is the store's, not the daemon's that granted it: renewed
/// through B and C, and ended through C, which every daemon then forgets.
#[test]
fn lease_is_renewed_and_ended_through_any_daemon() {
    const NAME: &str = "etcd.shared-lease";
    let etcd = Etcd::start();
    let daemons = start_daemons(3, &etcd, &unique_prefix("shared-lease"));
    run(async {
        let probes = probes(&daemons).await;
        let at = loopback(40_002);
        let lease = register(&probes[0], NAME, at, LONG_TTL)
            .await
            .expect("register through A");
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            let renewed = probe.renew(lease.token).await;
            assert!(
                renewed.is_ok(),
                "renewing A's lease through {label}: {renewed:?}"
            );
        }
        probes[2]
            .unregister(lease.token)
            .await
            .expect("unregister A's lease through C");
        for (probe, label) in probes.iter().zip(["A", "B", "C"]) {
            assert_lists(
                probe,
                NAME,
                &Endpoints::new(),
                &format!("ended through C, at {label}"),
            )
            .await;
        }
        let renewed = probes[1].renew(lease.token).await;
        assert!(
            matches!(renewed, Err(Error::UnknownLease)),
            "renewing the ended lease through B: {renewed:?}, not UnknownLease"
        );
    });
}

/// PROTOCOL.md's *Lookup*, for the etcd store: each daemon rotates each
/// name on its own lookups, so successive lookups of a name through one
/// daemon begin with successive endpoints, whatever else is looked up.
#[test]
fn lookups_through_one_daemon_rotate_per_name() {
    let etcd = Etcd::start();
    let daemons = start_daemons(2, &etcd, &unique_prefix("rotate"));
    run(async {
        let probes = probes(&daemons).await;
        let ats: Vec<_> = (1..=3).map(|i| loopback(41_100 + i)).collect();
        for at in &ats {
            register(&probes[0], "etcd.rotate", *at, LONG_TTL)
                .await
                .expect("register through A");
        }
        register(&probes[0], "etcd.other", loopback(41_200), LONG_TTL)
            .await
            .expect("register through A");
        // B's cache follows the watch: wait until it holds all three.
        let all = Endpoints::from_iter(ats.iter().map(|at| (*at, 1)));
        assert_lists(
            &probes[1],
            "etcd.rotate",
            &all,
            "registered through A, at B",
        )
        .await;
        let mut firsts = Vec::new();
        for _ in 0..4 {
            let found = probes[1].lookup("etcd.rotate", None).await.expect("lookup");
            let start = ats
                .iter()
                .position(|at| *at == found[0].address)
                .expect("a registered endpoint");
            let order: Vec<_> = found.iter().map(|e| e.address).collect();
            let mut rotated = ats.clone();
            rotated.rotate_left(start);
            assert_eq!(order, rotated, "address order, rotated");
            firsts.push(start);
            probes[1].lookup("etcd.other", None).await.expect("lookup");
        }
        assert!(
            firsts.windows(2).all(|w| (w[1] + 3 - w[0]) % 3 == 1),
            "each lookup through B begins one endpoint further: {firsts:?}"
        );
    });
}

/// A socket that answers every call as incarnation `incarnation` with
/// no such procedure, as a server of that incarnation would: what the
/// matchmaker asks a newly registered endpoint.
fn holder(incarnation: u64) -> std::net::SocketAddr {
    use rendezvous_core::protocol::wire::{Incarnation, Message, Outcome, Reply};
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a holder");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("set a read timeout");
    let at = socket.local_addr().expect("the holder's address");
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 65_536];
        while let Ok((length, from)) = socket.recv_from(&mut buffer) {
            if let Ok(Message::Call(call)) = Message::decode(&buffer[..length]) {
                let reply = Message::Reply(Reply {
                    client: call.client,
                    xid: call.xid,
                    incarnation: Incarnation(incarnation),
                    outcome: Outcome::NoSuchProcedure,
                });
                let _ = socket.send_to(&reply.encode().expect("encode"), from);
            }
        }
    });
    at
}

/// Issue 13, item 1(b), over etcd: a new incarnation registering through
/// one daemon at an endpoint it holds ends the old one's lease at once,
/// for every daemon, long before it would expire.
#[test]
fn a_new_incarnation_at_an_endpoint_replaces_the_old_one_through_any_daemon() {
    const NAME: &str = "etcd.replaced";
    let etcd = Etcd::start();
    let daemons = start_daemons(2, &etcd, &unique_prefix("replaced"));
    let at = holder(2);
    run(async {
        let probes = probes(&daemons).await;
        let old = register(&probes[0], NAME, at, LONG_TTL)
            .await
            .expect("register the old incarnation through A");
        assert_lists(
            &probes[1],
            NAME,
            &Endpoints::from([(at, 1)]),
            "registered, at B",
        )
        .await;
        probes[1]
            .register(
                crate::support::spec(NAME),
                at,
                rendezvous_core::protocol::wire::Incarnation(2),
                LONG_TTL,
            )
            .await
            .expect("register the new incarnation through B");
        assert_lists(
            &probes[1],
            NAME,
            &Endpoints::from([(at, 2)]),
            "replaced, at B",
        )
        .await;
        assert_lists(
            &probes[0],
            NAME,
            &Endpoints::from([(at, 2)]),
            "replaced, at A",
        )
        .await;
        let renewed = probes[0].renew(old.token).await;
        assert!(
            matches!(renewed, Err(Error::UnknownLease)),
            "renewing the replaced lease: {renewed:?}"
        );
    });
}
