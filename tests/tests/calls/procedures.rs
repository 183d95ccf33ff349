//! The procedures the servers of these tests run, each with the
//! [`RemoteProcedure`] its callers name.

use rendezvous_core::{Fingerprint, Procedure, RemoteProcedure};
use rendezvous_runtime as rt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `add(a, b) = a * 1000 + b`: the result names the arguments it came from.
pub(crate) const ADD: RemoteProcedure = RemoteProcedure {
    name: "calls.add",
    signature: Fingerprint::of("calls.add(u64,u64)->u64"),
    idempotent: false,
};

pub(crate) fn add_result(a: u64, b: u64) -> u64 {
    a * 1_000 + b
}

/// `add`, counting its executions in `executions`.
pub(crate) fn add(executions: &Arc<AtomicU64>) -> Procedure {
    let executions = executions.clone();
    Procedure::typed(ADD.name, ADD.signature, move |(a, b): (u64, u64), _| {
        executions.fetch_add(1, Ordering::SeqCst);
        async move { add_result(a, b) }
    })
}

/// `sleep(ms)`: sleeps `ms` milliseconds, then returns `ms`.
pub(crate) const SLEEP: RemoteProcedure = RemoteProcedure {
    name: "calls.sleep",
    signature: Fingerprint::of("calls.sleep(u64)->u64"),
    idempotent: false,
};

pub(crate) fn sleep() -> Procedure {
    Procedure::typed(SLEEP.name, SLEEP.signature, |(ms,): (u64,), _| async move {
        if ms > 0 {
            rt::sleep(Duration::from_millis(ms)).await;
        }
        ms
    })
}

/// `blob(n)`: a string of `n` bytes.
pub(crate) const BLOB: RemoteProcedure = RemoteProcedure {
    name: "calls.blob",
    signature: Fingerprint::of("calls.blob(u64)->String"),
    idempotent: false,
};

pub(crate) fn blob() -> Procedure {
    Procedure::typed(BLOB.name, BLOB.signature, |(n,): (u64,), _| async move {
        "x".repeat(n as usize)
    })
}

/// `length(text)`: the length of `text` in bytes.
pub(crate) const LENGTH: RemoteProcedure = RemoteProcedure {
    name: "calls.length",
    signature: Fingerprint::of("calls.length(String)->u64"),
    idempotent: false,
};

pub(crate) fn length() -> Procedure {
    Procedure::typed(
        LENGTH.name,
        LENGTH.signature,
        |(text,): (String,), _| async move { text.len() as u64 },
    )
}

/// `check(n)`: panics on odd numbers, returns even ones.
pub(crate) const CHECK: RemoteProcedure = RemoteProcedure {
    name: "calls.check",
    signature: Fingerprint::of("calls.check(u64)->u64"),
    idempotent: false,
};

pub(crate) fn check() -> Procedure {
    Procedure::typed(CHECK.name, CHECK.signature, |(n,): (u64,), _| async move {
        assert!(n % 2 == 0, "check refuses odd number {n}");
        n
    })
}
