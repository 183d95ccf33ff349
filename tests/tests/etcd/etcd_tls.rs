//! An etcd on TLS asking for client certificates: the daemon takes a CA, a
//! certificate and its key, and without a certificate stops at start,
//! naming etcd.

use crate::support::{assert_shared, run, unique_prefix};
use rendezvous_tests::Daemon;
use std::time::Duration;

/// An etcd process of this test's own, killed (and its directory removed)
/// on drop.
struct Process(std::process::Child, std::path::PathBuf);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

/// Runs `program args` in `dir`; panics with its stderr if it fails.
fn must(dir: &std::path::Path, program: &str, args: &[&str]) {
    let output = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("could not run {program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A production etcd speaks TLS and asks clients for certificates: a daemon
/// given the CA, a certificate and its key serves; one without a
/// certificate is refused at start, naming etcd.
#[test]
fn etcd_over_tls_takes_a_ca_a_certificate_and_a_key() {
    const NAME: &str = "etcd.tls";
    let dir = std::env::temp_dir().join(format!(
        "rendezvous-etcd-tls-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    // A CA, and one certificate for 127.0.0.1 that etcd and the daemons
    // both present.
    must(
        &dir,
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rendezvous-test-ca",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("write the certificate's extensions");
    must(
        &dir,
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "node.key",
            "-out",
            "node.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    must(
        &dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "node.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "node.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port()
    };
    let (client_port, peer_port) = (free_port(), free_port());
    let url = format!("https://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let etcd = Process(
        std::process::Command::new("etcd")
            .args(["--name", "tls", "--data-dir", &file("data")])
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("tls={peer}")])
            .args([
                "--cert-file",
                &file("node.crt"),
                "--key-file",
                &file("node.key"),
            ])
            .args(["--trusted-ca-file", &file("ca.crt"), "--client-cert-auth"])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start etcd"),
        dir.clone(),
    );
    let healthy = (0..600).any(|_| {
        let ok = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url, "--cacert", &file("ca.crt")])
            .args(["--cert", &file("node.crt"), "--key", &file("node.key")])
            .args(["endpoint", "health"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    });
    assert!(healthy, "etcd on TLS did not become healthy");

    let prefix = unique_prefix("tls");
    let no_certificate = rendezvous_tests::daemon::cli(
        &[
            "--listen",
            "127.0.0.1:0",
            "--etcd",
            &url,
            "--etcd-prefix",
            &prefix,
            "--etcd-ca-file",
            &file("ca.crt"),
        ],
        &[],
    );
    assert!(
        !no_certificate.status.success() && no_certificate.stderr.contains("could not use etcd"),
        "a daemon without a client certificate: {no_certificate:?}"
    );

    let (ca, certificate, key) = (file("ca.crt"), file("node.crt"), file("node.key"));
    let args = [
        "--etcd",
        &url,
        "--etcd-prefix",
        &prefix,
        "--etcd-ca-file",
        &ca,
        "--etcd-cert-file",
        &certificate,
        "--etcd-key-file",
        &key,
    ];
    let daemons = [Daemon::start_signed(&args), Daemon::start_signed(&args)];
    run(assert_shared(&daemons, NAME, 40_004));
    drop(daemons);
    drop(etcd);
}
