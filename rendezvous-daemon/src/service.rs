//! The matchmaker's procedures: the `rendezvous.*` names bound to the lease table.

use crate::table::LeaseTable;
use rendezvous_core::matchmaker::protocol::*;
use rendezvous_core::rt::Instant;
use rendezvous_core::server::{Procedure, ProcedureSet};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) type SharedTable = Arc<Mutex<LeaseTable>>;

pub(crate) fn lock(table: &SharedTable) -> MutexGuard<'_, LeaseTable> {
    table
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The five matchmaker procedures over one table.
pub(crate) fn procedures(table: &SharedTable) -> ProcedureSet {
    let mut set = ProcedureSet::new();
    let all = [
        register(table.clone()),
        renew(table.clone()),
        unregister(table.clone()),
        lookup(table.clone()),
        list(table.clone()),
    ];
    for procedure in all {
        // Five distinct constant names: insertion cannot collide.
        let _ = set.insert(procedure);
    }
    set
}

fn register(table: SharedTable) -> Procedure {
    Procedure::typed(
        REGISTER,
        REGISTER_SIGNATURE,
        move |(request,): (RegisterRequest,), context| {
            let table = table.clone();
            async move {
                let token =
                    LeaseToken::generate().map_err(|error| MatchmakerError::InvalidRequest {
                        reason: format!("the matchmaker's random source failed: {error}"),
                    })?;
                let endpoint = request.endpoint;
                let names: Vec<String> =
                    request.procedures.iter().map(|p| p.name.clone()).collect();
                let lease = lock(&table).register(request, token, Instant::now());
                match &lease {
                    Ok(lease) => tracing::info!(
                        %endpoint, from = %context.peer, ttl_ms = lease.ttl_ms, procedures = ?names,
                        "registered"
                    ),
                    Err(error) => {
                        tracing::info!(%endpoint, from = %context.peer, ?error, "registration refused")
                    }
                }
                lease
            }
        },
    )
}

fn renew(table: SharedTable) -> Procedure {
    Procedure::typed(
        RENEW,
        RENEW_SIGNATURE,
        move |(request,): (RenewRequest,), _| {
            let table = table.clone();
            async move { lock(&table).renew(request.token, Instant::now()) }
        },
    )
}

fn unregister(table: SharedTable) -> Procedure {
    Procedure::typed(
        UNREGISTER,
        UNREGISTER_SIGNATURE,
        move |(request,): (UnregisterRequest,), _| {
            let table = table.clone();
            async move {
                let gone = lock(&table).unregister(request.token, Instant::now())?;
                tracing::info!(endpoint = %gone.endpoint, procedures = ?gone.names, "unregistered");
                Ok::<(), MatchmakerError>(())
            }
        },
    )
}

fn lookup(table: SharedTable) -> Procedure {
    Procedure::typed(
        LOOKUP,
        LOOKUP_SIGNATURE,
        move |(request,): (LookupRequest,), _| {
            let table = table.clone();
            async move { lock(&table).lookup(&request.name, request.signature, Instant::now()) }
        },
    )
}

fn list(table: SharedTable) -> Procedure {
    Procedure::typed(
        LIST,
        LIST_SIGNATURE,
        move |(request,): (ListRequest,), _| {
            let table = table.clone();
            async move {
                Ok::<ListPage, MatchmakerError>(lock(&table).list(request.after, Instant::now()))
            }
        },
    )
}
