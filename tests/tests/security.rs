//! The matchmaker and servers under hostile or careless input: authenticated
//! registration, ownership of registrations, the amplification bound, the
//! registration limits and the calls-in-flight limit (SECURITY.md).
//!
//! The matchmaker is the real `rendezvous-daemon` binary, except for the
//! calls-in-flight test, which embeds one. Tests cannot send from a
//! non-loopback address, so the refusal of those without a secret is
//! checked on the decision function itself ([`Gatekeeper::check`]).
//! Registered endpoints are addresses nobody listens on: the matchmaker only
//! stores them.

use rendezvous_core::protocol::matchmaker::auth::{self, Secret};
use rendezvous_core::protocol::matchmaker::{
    Lease, LeaseToken, ListCursor, ListPage, ListRequest, Lookup, LookupRequest, MatchmakerError,
    ProcedureSpec, RegisterRequest,
    operation::{self, Operation},
};
use rendezvous_core::protocol::wire::{
    self, AMPLIFICATION_FACTOR, Call, ClientId, Incarnation, Message, Outcome, Xid,
};
use rendezvous_core::server::CallContext;
use rendezvous_core::{
    Client, Error, Fingerprint, MatchmakerClient, Procedure, RemoteProcedure, Server,
};
use rendezvous_daemon::{DEFAULT_AUTH_WINDOW, Gatekeeper, Matchmaker};
use rendezvous_runtime as rt;
use rendezvous_tests::{Daemon, loopback, run};
use serde::de::DeserializeOwned;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

const ADD: Fingerprint = Fingerprint::of("math.add(i64,i64)->i64");

/// A TTL no test outlives.
const LONG_TTL: Duration = Duration::from_secs(60);

const SECRET: &[u8] = b"a shared secret of 32 bytes, ok\n";
const OTHER_SECRET: &[u8] = b"another secret, also long enough";

/// A secret written to a file of its own, removed on drop.
struct SecretFile(PathBuf);

impl SecretFile {
    fn new(test: &str, contents: &[u8]) -> SecretFile {
        let path =
            std::env::temp_dir().join(format!("rendezvous-security-{}-{test}", std::process::id()));
        std::fs::write(&path, contents).expect("write a secret file");
        SecretFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }

    fn secret(&self) -> Secret {
        Secret::from_file(&self.0).expect("read the secret back")
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn secret(bytes: &[u8]) -> Secret {
    Secret::new(bytes.trim_ascii_end()).expect("a long enough secret")
}

fn specs(names: &[&str]) -> Vec<ProcedureSpec> {
    names
        .iter()
        .map(|name| ProcedureSpec {
            signature_text: None,
            name: (*name).to_owned(),
            signature: ADD,
        })
        .collect()
}

fn register_request(name: &str, at: SocketAddr) -> RegisterRequest {
    RegisterRequest {
        procedures: specs(&[name]),
        endpoint: at,
        incarnation: 1,
        ttl_ms: LONG_TTL.as_millis() as u64,
        auth: None,
    }
}

async fn register(client: &MatchmakerClient, names: &[&str], at: SocketAddr) -> Lease {
    client
        .register(specs(names), at, Incarnation(1), LONG_TTL)
        .await
        .unwrap_or_else(|error| panic!("registering {names:?} at {at} failed: {error}"))
}

fn expect_unauthenticated<T: std::fmt::Debug>(result: Result<T, Error>, mentioning: &str) {
    match result {
        Err(Error::Unauthenticated { reason }) => assert!(
            reason.contains(mentioning),
            "the reason does not mention {mentioning:?}: {reason}"
        ),
        other => panic!("expected Unauthenticated ({mentioning}), got {other:?}"),
    }
}

// ------------------------------------------------------- authentication

#[test]
fn registration_signed_with_the_right_secret_is_accepted() {
    let file = SecretFile::new("right", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let client = daemon.client().await.with_secret(Some(file.secret()));
        let lease = register(&client, &["math.add"], loopback(40_001)).await;
        client.renew(lease.token).await.expect("a signed renew");
        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(found.len(), 1);
        client
            .unregister(lease.token)
            .await
            .expect("a signed unregister");
    });
}

#[test]
fn a_server_given_the_secret_file_registers_with_a_daemon_that_has_it() {
    let file = SecretFile::new("server", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(add_procedure(&Arc::default()))
            .secret_file(&file.0)
            .start()
            .await
            .expect("a server with the right secret starts");
        assert!(server.is_registered());
        server.shutdown().await;
    });
}

#[test]
fn registration_signed_with_another_secret_is_refused() {
    let file = SecretFile::new("other", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let client = daemon
            .client()
            .await
            .with_secret(Some(secret(OTHER_SECRET)));
        let refused = client
            .register(
                specs(&["math.add"]),
                loopback(40_001),
                Incarnation(1),
                LONG_TTL,
            )
            .await;
        expect_unauthenticated(refused, "secret differs");
        assert!(client.lookup("math.add", None).await.is_err());
    });
}

#[test]
fn a_server_with_another_secret_fails_to_start_saying_so() {
    let file = SecretFile::new("server-other", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let started = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(add_procedure(&Arc::default()))
            .secret(secret(OTHER_SECRET))
            .start()
            .await;
        expect_unauthenticated(started, "secret differs");
    });
}

#[test]
fn unsigned_registration_is_refused_by_a_daemon_with_a_secret() {
    let file = SecretFile::new("unsigned", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let client = daemon.client().await;
        let refused = client
            .register(
                specs(&["math.add"]),
                loopback(40_001),
                Incarnation(1),
                LONG_TTL,
            )
            .await;
        expect_unauthenticated(refused, "no MAC");
    });
}

#[test]
fn a_replayed_registration_is_refused() {
    let file = SecretFile::new("replay", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path()]);
    run(async {
        let mut request = register_request("math.add", loopback(40_001));
        auth::sign(&file.secret(), &mut request).unwrap();
        // Sent as is (the clients have no secret of their own to re-sign
        // with), by two clients: two calls, one request.
        let first = daemon.client().await;
        let lease: Lease = first.send_signed(request.clone()).await.unwrap();
        let second = daemon.client().await;
        let replayed = second.send_signed::<_, Lease>(request).await;
        expect_unauthenticated(replayed, "replay");
        let found = first.lookup("math.add", None).await.unwrap();
        assert_eq!(found.len(), 1, "the replay added nothing: {found:?}");
        let _ = lease;
    });
}

#[test]
fn a_request_signed_outside_the_time_window_is_refused() {
    let file = SecretFile::new("stale", SECRET);
    let daemon = Daemon::start(&["--secret-file", file.path(), "--auth-window", "30s"]);
    run(async {
        let client = daemon.client().await;
        for skew in [Duration::from_secs(60), Duration::from_secs(3_600)] {
            for stamped in [SystemTime::now() - skew, SystemTime::now() + skew] {
                let mut request = register_request("math.add", loopback(40_001));
                let nonce: [u8; auth::NONCE_BYTES] = std::array::from_fn(|_| fastrand::u8(..));
                auth::sign_with(
                    &file.secret(),
                    &mut request,
                    auth::unix_millis(stamped),
                    nonce,
                );
                let refused = client.send_signed::<_, Lease>(request).await;
                expect_unauthenticated(refused, "outside its ±30000 ms window");
            }
        }
    });
}

#[test]
fn without_a_secret_a_non_loopback_peer_is_refused() {
    let mut gate = Gatekeeper::new(None, DEFAULT_AUTH_WINDOW, 16);
    let request = register_request("math.add", loopback(40_001));
    for peer in ["192.0.2.7:40000", "[2001:db8::7]:40000", "10.1.2.3:5000"] {
        let peer: SocketAddr = peer.parse().unwrap();
        let context = CallContext {
            peer,
            client: ClientId(1),
            xid: Xid(1),
            datagram_bytes: 100,
            deadline: std::time::Instant::now() + Duration::from_secs(10),
            elsewhere: Default::default(),
        };
        let refused = gate.check(&request, &context, SystemTime::now());
        let Err((_, refusal)) = refused else {
            panic!("{peer} was admitted without a secret");
        };
        assert_eq!(refusal, MatchmakerError::SecretRequired { peer });
        // What the server's operator reads.
        let message = Error::from(refusal).to_string();
        assert!(message.contains("--secret-file"), "{message}");
        assert!(message.contains(&peer.to_string()), "{message}");
    }
}

#[test]
fn without_a_secret_a_server_registers_from_its_own_endpoint_and_the_log_says_loopback_only() {
    let daemon = Daemon::start(&[]);
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(add_procedure(&Arc::default()))
            .start()
            .await
            .expect("a server on this host registers without a secret");
        assert!(server.is_registered());
        let client = daemon.client().await;
        let found = client.lookup(SLOW_ADD.name, None).await.unwrap();
        let found: Vec<_> = found.iter().map(|e| (e.address, e.incarnation)).collect();
        assert_eq!(found, [(server.local_addr(), server.incarnation().0)]);
        server.shutdown().await;
    });
    let log = daemon.stderr();
    assert!(
        log.contains("registrations are accepted only from loopback"),
        "the start-up log does not say so:\n{log}"
    );
}

#[test]
fn without_a_secret_a_registration_for_another_endpoint_than_its_source_is_refused_saying_why() {
    let daemon = Daemon::start(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        let refused = client
            .register(specs(&["math.add"]), at, Incarnation(1), LONG_TTL)
            .await;
        expect_unauthenticated(refused, "must come from the endpoint it registers");
        assert!(
            matches!(
                client.lookup("math.add", None).await,
                Err(Error::NotFound { .. })
            ),
            "the forged registration was stored"
        );
    });
    let log = daemon.stderr();
    assert!(
        log.contains("an unsigned registration for an endpoint other than its source"),
        "the refusal is not logged:\n{log}"
    );
}

#[test]
fn without_a_secret_no_process_can_register_at_a_real_servers_endpoint() {
    let daemon = Daemon::start(&[]);
    run(async {
        let server = Server::builder()
            .matchmaker(daemon.address())
            .linked_procedures(false)
            .procedure(add_procedure(&Arc::default()))
            .start()
            .await
            .expect("start a server");
        let victim = server.local_addr();
        // Another local process speaks for the server's port: its name,
        // with a made-up incarnation, and another name beside it.
        let intruder = daemon.client().await;
        for (name, incarnation) in [(SLOW_ADD.name, 666), ("math.add", 1)] {
            let refused = intruder
                .register(specs(&[name]), victim, Incarnation(incarnation), LONG_TTL)
                .await;
            let Err(Error::Unauthenticated { reason }) = refused else {
                panic!("registering {name} at {victim} from elsewhere: {refused:?}");
            };
            assert!(reason.contains(&victim.to_string()), "{reason}");
            assert!(reason.contains("--secret-file"), "{reason}");
        }
        let found = intruder.lookup(SLOW_ADD.name, None).await.unwrap();
        let found: Vec<_> = found.iter().map(|e| (e.address, e.incarnation)).collect();
        assert_eq!(found, [(victim, server.incarnation().0)]);
        assert!(intruder.lookup("math.add", None).await.is_err());
        server.shutdown().await;
    });
}

#[test]
fn with_a_secret_a_signed_registration_names_any_endpoint_from_any_socket() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        // From a client socket, for an endpoint it does not hold.
        let client = daemon.client().await;
        let at = loopback(40_001);
        register(&client, &["math.add"], at).await;
        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].address, at);
    });
}

// ------------------------------------------------------------ ownership

#[test]
fn another_lease_cannot_replace_a_registration() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let at = loopback(40_001);
        let owner = register(&client, &["math.add"], at).await;
        // Someone else registers the same name at the same endpoint, with
        // another signature and incarnation.
        let intruder = client
            .register(
                vec![ProcedureSpec {
                    signature_text: None,
                    name: "math.add".into(),
                    signature: Fingerprint::of("evil"),
                }],
                at,
                Incarnation(666),
                LONG_TTL,
            )
            .await
            .unwrap();
        let found = client.lookup("math.add", Some(ADD)).await.unwrap();
        assert_eq!(found.len(), 1, "the owner's registration stands: {found:?}");
        assert_eq!(found[0].incarnation, 1);
        // The intruder's lease ends, and with it only its own binding.
        client.unregister(intruder.token).await.unwrap();
        client
            .renew(owner.token)
            .await
            .expect("the owner's lease lives");
        assert_eq!(client.lookup("math.add", None).await.unwrap().len(), 1);
    });
}

#[test]
fn another_lease_cannot_remove_a_registration() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        let owner = register(&client, &["math.add"], loopback(40_001)).await;
        let other = register(&client, &["math.sub"], loopback(40_002)).await;
        for guess in [LeaseToken([0; 16]), LeaseToken([0xff; 16])] {
            assert!(matches!(
                client.unregister(guess).await,
                Err(Error::UnknownLease)
            ));
        }
        client.unregister(other.token).await.unwrap();
        let found = client.lookup("math.add", None).await.unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        client.renew(owner.token).await.unwrap();
    });
}

// -------------------------------------------------------- amplification

/// A raw socket speaking to the daemon, so request and reply sizes are
/// exactly what travels.
struct Raw {
    socket: UdpSocket,
    to: SocketAddr,
    client: u64,
    xid: u64,
}

impl Raw {
    fn new(to: SocketAddr) -> Raw {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a raw socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("set a read timeout");
        Raw {
            socket,
            to,
            client: fastrand::u64(..),
            xid: 0,
        }
    }

    fn call(
        &mut self,
        procedure: &str,
        signature: Fingerprint,
        argument: impl serde::Serialize,
    ) -> Vec<u8> {
        self.xid += 1;
        let args = wire::encode_payload(&(argument,)).expect("encode the arguments");
        Message::Call(Call {
            client: ClientId(self.client),
            xid: Xid(self.xid),
            incarnation: Incarnation::ANY,
            procedure: procedure.to_owned(),
            signature,
            deadline: Duration::from_secs(3),
            done_below: Xid(self.xid),
            args: args.into(),
            elsewhere: Default::default(),
        })
        .encode()
        .expect("encode the call")
    }

    /// Sends `datagram` (retrying a few times: UDP) and returns the first
    /// reply, or `None` if none came.
    fn exchange(&self, datagram: &[u8]) -> Option<Vec<u8>> {
        let mut buffer = vec![0u8; 65_536];
        for _ in 0..4 {
            self.socket.send_to(datagram, self.to).expect("send");
            while let Ok(length) = self.socket.recv(&mut buffer) {
                if let Ok(Message::Reply(_)) = Message::decode(&buffer[..length]) {
                    return Some(buffer[..length].to_vec());
                }
            }
        }
        None
    }

    /// Like [`Raw::exchange`], asserting the bound and decoding the result.
    fn bounded<T: DeserializeOwned>(&self, datagram: &[u8]) -> Result<T, MatchmakerError> {
        let reply = self.exchange(datagram).expect("the daemon answered");
        assert!(
            reply.len() <= AMPLIFICATION_FACTOR * datagram.len(),
            "a reply of {} bytes to a request of {}",
            reply.len(),
            datagram.len()
        );
        let Ok(Message::Reply(reply)) = Message::decode(&reply) else {
            panic!("not a reply");
        };
        let Outcome::Return(result) = reply.outcome else {
            panic!("outcome {:?}", reply.outcome);
        };
        wire::decode_payload(&result.to_vec()).expect("decode the result")
    }
}

fn lookup_request(name: &str, padding: usize) -> LookupRequest {
    LookupRequest {
        name: name.to_owned(),
        signature: None,
        padding: (padding > 0).then(|| vec![0u8; padding].into()),
    }
}

fn list_request(after: Option<ListCursor>, padding: usize) -> ListRequest {
    ListRequest {
        after,
        padding: (padding > 0).then(|| vec![0u8; padding].into()),
    }
}

#[test]
fn list_replies_stay_within_three_times_their_requests_across_all_pages() {
    let daemon = Daemon::start_signed(&[]);
    let names: Vec<String> = (0..120)
        .map(|i| format!("security.amplification.procedure_{i:03}"))
        .collect();
    run(async {
        let client = daemon.client().await;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        for port in 0..3 {
            register(&client, &refs, loopback(41_000 + port)).await;
        }
    });
    let mut raw = Raw::new(daemon.address());
    // Unpadded, the request is too small for even one registration: the
    // daemon says how large it must be, in a reply within the bound.
    let datagram = raw.call(
        operation::List::NAME,
        operation::List::SIGNATURE,
        list_request(None, 0),
    );
    let needed = match raw.bounded::<ListPage>(&datagram) {
        Err(MatchmakerError::RequestTooSmall { needed_bytes }) => needed_bytes as usize,
        other => panic!("expected RequestTooSmall, got {other:?}"),
    };
    // Walk every page with requests of varying padding, all bounded.
    let (mut seen, mut after, mut pages) = (0, None, 0);
    loop {
        let padding = needed + fastrand::usize(0..400);
        let datagram = raw.call(
            operation::List::NAME,
            operation::List::SIGNATURE,
            list_request(after.clone(), padding),
        );
        let page: ListPage = raw.bounded(&datagram).expect("a page");
        pages += 1;
        seen += page.registrations.len();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, 360);
    assert!(pages > 3, "{pages} pages");
}

#[test]
fn lookup_replies_stay_within_three_times_their_requests_and_say_when_truncated() {
    let daemon = Daemon::start_signed(&[]);
    const SERVERS: u16 = 100;
    run(async {
        let client = daemon.client().await;
        for port in 0..SERVERS {
            register(&client, &["math.add"], loopback(42_000 + port)).await;
        }
    });
    let mut raw = Raw::new(daemon.address());
    let mut counts = Vec::new();
    for padding in [0, 100, 400, 1_000, 10_000] {
        let datagram = raw.call(
            operation::Lookup::NAME,
            operation::Lookup::SIGNATURE,
            lookup_request("math.add", padding),
        );
        let lookup: Lookup = raw.bounded(&datagram).expect("endpoints");
        assert!(!lookup.endpoints.is_empty(), "padding {padding}");
        assert_eq!(
            lookup.truncated,
            lookup.endpoints.len() < usize::from(SERVERS),
            "padding {padding}"
        );
        counts.push(lookup.endpoints.len());
    }
    assert!(
        counts[0] < counts[4],
        "more padding, more endpoints: {counts:?}"
    );
    // The matchmaker client pads by itself and gets a useful share.
    run(async {
        let client = daemon.client().await;
        let answer = client.lookup_answer("math.add", None).await.unwrap();
        assert!(answer.truncated);
        assert!(answer.endpoints.len() >= 8, "{}", answer.endpoints.len());
    });
}

#[test]
fn a_short_copy_of_a_padded_lookup_does_not_get_its_large_cached_reply() {
    let daemon = Daemon::start_signed(&[]);
    run(async {
        let client = daemon.client().await;
        for port in 0..40 {
            register(&client, &["math.add"], loopback(43_000 + port)).await;
        }
    });
    let mut raw = Raw::new(daemon.address());
    let padded = raw.call(
        operation::Lookup::NAME,
        operation::Lookup::SIGNATURE,
        lookup_request("math.add", 1_000),
    );
    let large = raw.exchange(&padded).expect("a reply to the padded lookup");
    // The same (client, xid), without the padding: a forged duplicate.
    raw.xid -= 1;
    let short = raw.call(
        operation::Lookup::NAME,
        operation::Lookup::SIGNATURE,
        lookup_request("math.add", 0),
    );
    assert!(large.len() > AMPLIFICATION_FACTOR * short.len());
    match raw.exchange(&short) {
        None => {}
        Some(reply) => assert!(
            reply.len() <= AMPLIFICATION_FACTOR * short.len(),
            "{} bytes in answer to {}",
            reply.len(),
            short.len()
        ),
    }
}

#[test]
fn error_replies_to_garbage_stay_within_three_times_the_garbage() {
    let daemon = Daemon::start(&[]);
    let raw = Raw::new(daemon.address());
    let mut rng = fastrand::Rng::with_seed(5);
    let mut answered = 0;
    for _ in 0..200 {
        // A call header (version 1, kind 0, client, xid) then junk: the
        // daemon knows whom to answer, and has reasons to give.
        let mut datagram = vec![0x80 | rng.u8(4..=12), 0x01, 0x00];
        datagram.extend(wire::encode_payload(&rng.u64(..)).unwrap());
        datagram.extend(wire::encode_payload(&rng.u64(1..1_000)).unwrap());
        let mut junk = vec![0u8; rng.usize(0..40)];
        rng.fill(&mut junk);
        datagram.extend(junk);
        raw.socket.send_to(&datagram, raw.to).unwrap();
        let mut buffer = vec![0u8; 65_536];
        if let Ok(length) = raw.socket.recv(&mut buffer) {
            answered += 1;
            assert!(
                length <= AMPLIFICATION_FACTOR * datagram.len(),
                "{length} bytes in answer to {}: {datagram:02x?}",
                datagram.len()
            );
        }
    }
    assert!(answered > 0, "the daemon answered no malformed call at all");
}

// --------------------------------------------------------------- limits

#[test]
fn registrations_beyond_the_total_limit_are_refused_with_a_clear_error() {
    let daemon = Daemon::start_signed(&["--max-registrations", "3"]);
    run(async {
        let client = daemon.client().await;
        register(&client, &["a.one", "a.two"], loopback(40_001)).await;
        let refused = client
            .register(
                specs(&["b.one", "b.two"]),
                loopback(40_002),
                Incarnation(1),
                LONG_TTL,
            )
            .await;
        match refused {
            Err(error @ Error::LimitReached { limit: 3, .. }) => {
                assert!(error.to_string().contains("--max-registrations"), "{error}");
            }
            other => panic!("expected LimitReached, got {other:?}"),
        }
        register(&client, &["b.one"], loopback(40_002)).await;
    });
}

#[test]
fn registrations_beyond_the_per_source_limit_are_refused_with_a_clear_error() {
    let daemon = Daemon::start_signed(&["--max-registrations-per-source", "2"]);
    run(async {
        let client = daemon.client().await;
        let first = register(&client, &["a.one", "a.two"], loopback(40_001)).await;
        let refused = client
            .register(
                specs(&["b.one"]),
                loopback(40_002),
                Incarnation(1),
                LONG_TTL,
            )
            .await;
        match refused {
            Err(error @ Error::LimitReached { limit: 2, .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("--max-registrations-per-source"),
                    "{message}"
                );
                assert!(message.contains("127.0.0.1"), "{message}");
            }
            other => panic!("expected LimitReached, got {other:?}"),
        }
        client.unregister(first.token).await.unwrap();
        register(&client, &["b.one"], loopback(40_002)).await;
    });
}

/// `math.slow_add(a, b) = a + b`, after 30 ms, counting its executions.
const SLOW_ADD: RemoteProcedure = RemoteProcedure {
    name: "security.slow_add",
    signature: Fingerprint::of("security.slow_add(u64,u64)->u64"),
    idempotent: false,
};

fn add_procedure(executions: &Arc<AtomicU64>) -> Procedure {
    let executions = executions.clone();
    Procedure::typed(
        SLOW_ADD.name,
        SLOW_ADD.signature,
        move |(a, b): (u64, u64), _| {
            executions.fetch_add(1, Ordering::SeqCst);
            async move {
                rt::sleep(Duration::from_millis(30)).await;
                a + b
            }
        },
    )
}

#[test]
fn a_server_over_its_calls_in_flight_limit_answers_overloaded_and_clients_complete_after_backing_off()
 {
    const CALLS: u64 = 24;
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.unwrap();
        let executions = Arc::new(AtomicU64::new(0));
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(add_procedure(&executions))
            .max_calls_in_flight(2)
            .start()
            .await
            .unwrap();
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .deadline(Duration::from_secs(30))
            .build()
            .unwrap();
        let calls = (0..CALLS).map(|i| {
            let client = client.clone();
            rt::spawn(async move { client.call::<_, u64>(&SLOW_ADD, &(i, 1)).await })
        });
        let calls: Vec<_> = calls.collect();
        for (i, call) in calls.into_iter().enumerate() {
            assert_eq!(call.await.unwrap(), i as u64 + 1);
        }
        assert_eq!(executions.load(Ordering::SeqCst), CALLS, "each ran once");
        assert!(
            server.stats().overloaded > 0,
            "no call was refused: {:?}",
            server.stats()
        );
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}

#[test]
fn a_call_refused_as_overloaded_until_its_deadline_fails_as_overloaded_having_not_run() {
    run(async {
        let matchmaker = Matchmaker::bind(loopback(0)).await.unwrap();
        let executions = Arc::new(AtomicU64::new(0));
        let blocker = RemoteProcedure {
            name: "security.block",
            signature: Fingerprint::of("security.block()->()"),
            idempotent: false,
        };
        let block = Procedure::typed(blocker.name, blocker.signature, |(): (), _| async {
            rt::sleep(Duration::from_secs(3)).await;
        });
        let server = Server::builder()
            .matchmaker(matchmaker.local_addr())
            .linked_procedures(false)
            .procedure(block)
            .procedure(add_procedure(&executions))
            .max_calls_in_flight(1)
            .start()
            .await
            .unwrap();
        let client = Client::builder()
            .matchmaker(matchmaker.local_addr())
            .build()
            .unwrap();
        let holder = client.clone();
        let held = rt::spawn(async move { holder.call::<_, ()>(&blocker, &()).await });
        rt::sleep(Duration::from_millis(200)).await;
        let short = client.with_deadline(Duration::from_millis(800));
        match short.call::<_, u64>(&SLOW_ADD, &(1, 2)).await {
            Err(Error::Overloaded { procedure, .. }) => assert_eq!(procedure, SLOW_ADD.name),
            other => panic!("expected Overloaded, got {other:?}"),
        }
        assert_eq!(executions.load(Ordering::SeqCst), 0, "it did not run");
        held.await.unwrap();
        server.shutdown().await;
        matchmaker.shutdown().await;
    });
}
