//! The layering rule of `rendezvous-core`, checked on its source.
//!
//! A call reads top to bottom: proxy -> client (cache, failover) ->
//! requester -> wire -> socket; and socket -> responder -> reply cache ->
//! execute -> answer -> socket. So that it stays that way, each top-level
//! module may name (`crate::...`) only modules in the layers below its own,
//! listed here from the bottom up:
//!
//! | layer | modules | what they are |
//! | --- | --- | --- |
//! | 0 | `signature`, `wire`, `rt` | other crates: `rendezvous-protocol`, and `rendezvous-runtime` (the executor, privately named `rt`) |
//! | 1 | `sync`, `random`, `frame_read`, `frame_write`, `byte_string`, `spin` | locks, randomness, reading and writing a stream frame's message, a `u8` sequence carried as a byte string, the spin before parking on a socket |
//! | 2 | `error` | the one error type, and outcome -> error |
//! | 3 | `retry` | the retry policy and its one backoff formula |
//! | 4 | `requester` | the call engine below both clients |
//! | 5 | `matchmaker` | where the matchmaker is, its client |
//! | 6 | `client` | the user's client: endpoint cache, failover |
//! | 7 | `server` | procedures, the responder, the lease keeper |
//! | 8 | `__private` (`private.rs`) | what generated code names |
//!
//! Layer 0 is not core's own code: the protocol (the messages, their codec,
//! signatures, the matchmaker's messages and operations, the MAC) is the
//! crate `rendezvous-protocol`, which has no runtime among its dependencies,
//! and the executor is the crate `rendezvous-runtime`, so the compiler, not
//! this test, keeps them from naming anything above them.
//! Core re-exports it (`crate::wire`, `crate::signature`,
//! `crate::matchmaker::{protocol, auth}`).
//!
//! Within the folders of [`CHECKED_FOLDERS`], and of [`PROTOCOL_FOLDERS`]
//! in `rendezvous-protocol`, the same holds file by file:
//! their files form no circle of `super::` imports (a folder's `mod.rs` may
//! use its files; a file that needs what `mod.rs` defines makes `mod.rs`
//! depend on nothing of its own). `lib.rs` only re-exports. Test modules
//! (from `#[cfg(test)]` on) and comments are not read.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[&[&str]] = &[
    &["signature", "wire", "rt"],
    &[
        "sync",
        "random",
        "frame_read",
        "frame_write",
        "byte_string",
        "spin",
    ],
    &["error"],
    &["retry"],
    &["requester"],
    &["matchmaker"],
    &["client"],
    &["server"],
    &["__private"],
];

/// The folders whose files are checked for circles.
const CHECKED_FOLDERS: &[&str] = &["client", "matchmaker", "requester", "server"];

/// The same for the protocol crate (`rendezvous-protocol/src`), whose
/// folders hold the most code that a peer's author reads.
const PROTOCOL_FOLDERS: &[&str] = &["wire", "matchmaker"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn protocol_source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rendezvous-protocol/src")
}

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn rust_files(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).expect("under src").to_path_buf());
        }
    }
}

/// The code of a file: without comments, and without its test module.
fn code_of(root: &Path, path: &Path) -> String {
    let text = std::fs::read_to_string(root.join(path)).expect("read a source file");
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = line.split(" // ").next().unwrap_or(line);
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// The identifiers that follow `prefix` in `code` (`crate::wire::X` gives
/// `wire` for the prefix `crate::`; `use super::{a, b::C}` gives `a`, `b`).
fn names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let preceded_by_ident = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        rest = &rest[at + prefix.len()..];
        if preceded_by_ident {
            continue;
        }
        if rest.starts_with('*') {
            names.insert("*".to_owned());
        } else if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                names.extend(first_ident(item.trim()));
            }
        } else {
            names.extend(first_ident(rest));
        }
    }
    names
}

fn first_ident(text: &str) -> Option<String> {
    let ident: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty()).then_some(ident)
}

/// The top-level module a file belongs to (`client/mod.rs` -> `client`,
/// `private.rs` -> `__private`, `lib.rs` -> none).
fn module_of(path: &Path) -> Option<String> {
    let first = path.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" => None,
        "private.rs" => Some("__private".into()),
        _ => Some(first.trim_end_matches(".rs").into()),
    }
}

#[test]
fn every_module_names_only_the_layers_below_it() {
    let root = source_dir();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let own = layer_of(&module).unwrap_or_else(|| {
            panic!(
                "{}: module `{module}` has no layer; add it to LAYERS (and to this file's table) where it belongs",
                file.display()
            )
        });
        for used in names_after(&code_of(&root, file), "crate::") {
            if used == module {
                continue;
            }
            match layer_of(&used) {
                Some(layer) if layer < own => {}
                Some(_) => wrong.push(format!(
                    "{} (layer {own}, `{module}`) names `crate::{used}`, which is not below it",
                    file.display()
                )),
                None => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the layering is broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_files_of_each_folder_form_no_circle() {
    let mut circles = circles_in(&source_dir(), CHECKED_FOLDERS);
    circles.extend(circles_in(&protocol_source_dir(), PROTOCOL_FOLDERS));
    assert!(
        circles.is_empty(),
        "files that import each other:\n{}",
        circles.join("\n")
    );
}

/// The circles of `super::` imports among the files of each of `checked_folders`
/// under `root`, one line each.
fn circles_in(root: &Path, checked_folders: &[&str]) -> Vec<String> {
    let root = root.to_path_buf();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    // Per folder: file stem -> the sibling stems it names through `super::`.
    let mut folders: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let checked = |file: &&PathBuf| {
        file.components().count() > 1
            && checked_folders
                .iter()
                .any(|folder| file.starts_with(folder))
    };
    for file in files.iter().filter(checked) {
        let folder = file.parent().expect("a folder").to_path_buf();
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a stem")
            .to_owned();
        let code = code_of(&root, file);
        // A file names `mod.rs` by naming through `super::` anything that
        // is not a sibling file (a glob, `super::*`, included); `mod.rs`
        // names its files as `file::...`, read below.
        let mut uses = BTreeSet::new();
        if stem != "mod" {
            uses.extend(names_after(&code, "super::"));
        }
        folders.entry(folder).or_default().insert(stem, uses);
    }
    let mut circles = Vec::new();
    for (folder, graph) in &mut folders {
        // A sub-folder (`server/responder/`) is a module of its folder too.
        let subfolders = std::fs::read_dir(root.join(folder.as_path()))
            .expect("read a folder")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.is_dir())
            .filter_map(|path| path.file_name()?.to_str().map(str::to_owned));
        let stems: BTreeSet<String> = graph.keys().cloned().chain(subfolders).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (stem, uses) in graph.iter() {
            let targets = uses
                .iter()
                .map(|name| {
                    if stems.contains(name) {
                        name.clone()
                    } else {
                        "mod".to_owned()
                    }
                })
                .filter(|target| target != stem)
                .collect();
            edges.insert(stem.clone(), targets);
        }
        if stems.contains("mod") {
            let code = code_of(&root, &folder.join("mod.rs"));
            let own: BTreeSet<String> = stems
                .iter()
                .filter(|stem| *stem != "mod")
                .filter(|stem| {
                    let pattern = format!("{stem}::");
                    code.match_indices(&pattern).any(|(at, _)| {
                        !code[..at]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                    })
                })
                .cloned()
                .collect();
            edges.insert("mod".into(), own);
        }
        if let Some(circle) = find_circle(&edges) {
            circles.push(format!("{}: {}", folder.display(), circle.join(" -> ")));
        }
    }
    circles
}

/// A circle in `edges`, as the files along it, if there is one.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

#[test]
fn the_checker_reads_imports_as_written() {
    let code = "use crate::wire::{self, Outcome};\nuse super::{socket::ClientSocket, in_flight};\nlet x = crate::rt::sleep;\n";
    assert_eq!(
        names_after(code, "crate::"),
        BTreeSet::from(["rt".to_owned(), "wire".to_owned()])
    );
    assert_eq!(
        names_after(code, "super::"),
        BTreeSet::from(["in_flight".to_owned(), "socket".to_owned()])
    );
    let circle = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert!(find_circle(&circle).is_some());
    let line = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::new()),
    ]);
    assert!(find_circle(&line).is_none());
}
