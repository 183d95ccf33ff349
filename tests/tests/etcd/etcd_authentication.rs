//! An etcd with users: the daemon takes a user and its password file, and
//! a wrong password stops it at start, naming etcd.

use crate::support::{assert_shared, run, unique_prefix};
use rendezvous_tests::Daemon;
use rendezvous_tests::etcd::Etcd;

/// A production etcd requires a user: a daemon given the user and a file
/// holding its password reads and writes the table; one given a wrong
/// password stops at start with one line naming etcd, instead of serving
/// an empty table.
#[test]
fn etcd_with_authentication_takes_a_user_and_its_password_file() {
    const NAME: &str = "etcd.authenticated";
    const PASSWORD: &str = "correct horse battery staple";
    let etcd = Etcd::start();
    let url = etcd.client_url(0);
    let etcdctl = |args: &[&str]| {
        let output = std::process::Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url])
            .args(args)
            .output()
            .expect("run etcdctl (Debian's etcd-client)");
        assert!(
            output.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    etcdctl(&["user", "add", "root", "--new-user-password", PASSWORD]);
    etcdctl(&["auth", "enable"]);

    let password = etcd.root().join("root-password");
    std::fs::write(&password, format!("{PASSWORD}\n")).expect("write the password file");
    let wrong = etcd.root().join("wrong-password");
    std::fs::write(&wrong, "not the password\n").expect("write the wrong password file");
    let (password, wrong) = (
        password.to_string_lossy().into_owned(),
        wrong.to_string_lossy().into_owned(),
    );
    let prefix = unique_prefix("auth");
    let with = |file: &str| -> Vec<String> {
        [
            "--etcd",
            &url,
            "--etcd-prefix",
            &prefix,
            "--etcd-user",
            "root",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .chain(["--etcd-password-file".to_owned(), file.to_owned()])
        .collect()
    };

    let refused_args = [
        vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()],
        with(&wrong),
    ]
    .concat();
    let refused_args: Vec<&str> = refused_args.iter().map(String::as_str).collect();
    let refused = rendezvous_tests::daemon::cli(&refused_args, &[]);
    assert!(
        !refused.status.success(),
        "a wrong password was accepted: {refused:?}"
    );
    assert!(
        refused.stderr.contains("could not use etcd") && !refused.stdout.contains("listening"),
        "{refused:?}"
    );

    let args = with(&password);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemons = [Daemon::start_signed(&args), Daemon::start_signed(&args)];
    run(assert_shared(&daemons, NAME, 40_003));
}
