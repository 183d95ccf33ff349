//! The protocol crate stays free of the runtime because nothing in its
//! dependencies can send, receive, sleep or spawn, and it cannot name
//! `rendezvous-core` (that would be a cycle). This test keeps the first
//! half: a dependency joins the list below only after someone has checked
//! it has no sockets and no executor.

const ALLOWED: &[&str] = &[
    "ciborium",
    "getrandom",
    "hmac",
    "serde",
    "serde_bytes",
    "sha2",
    "thiserror",
];

/// The names under `[dependencies]` in this crate's manifest.
fn dependencies() -> Vec<String> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("read Cargo.toml");
    let mut names = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['.', '=', ' ']).next().unwrap_or(line);
            names.push(name.to_owned());
        }
    }
    names
}

#[test]
fn the_protocol_depends_on_no_runtime() {
    let names = dependencies();
    assert!(names.contains(&"serde".to_owned()), "read: {names:?}");
    let unchecked: Vec<&String> = names
        .iter()
        .filter(|name| !ALLOWED.contains(&name.as_str()))
        .collect();
    assert!(
        unchecked.is_empty(),
        "rendezvous-protocol depends on {unchecked:?}, which is not known to be free of sockets and executors; keep the runtime in rendezvous-core, or add the crate to ALLOWED once checked"
    );
}
