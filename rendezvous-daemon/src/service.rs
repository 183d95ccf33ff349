//! The matchmaker's procedures: the `rendezvous.*` names bound to the
//! store, behind the gatekeeper (who may register) and the budget (how
//! large an answer may be).

use crate::budget::{self, fit_lookup};
use crate::gatekeeper::Gatekeeper;
use crate::refusal_log::{RefusalLog, Refused};
use crate::store::{LIST_PAGE_BYTES, Store};
use rendezvous_core::protocol::matchmaker::auth::Authenticated;
use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::matchmaker::{LeaseToken, MatchmakerError, RegisterRequest};
use rendezvous_core::server::{CallContext, Procedure, ProcedureSet};
use rendezvous_runtime::Instant;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// What the procedures share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) gate: Mutex<Gatekeeper>,
    pub(crate) log: Mutex<RefusalLog>,
}

pub(crate) type Shared = Arc<State>;

impl State {
    pub(crate) fn new(store: Arc<dyn Store>, gate: Gatekeeper) -> Shared {
        Arc::new(State {
            store,
            gate: Mutex::new(gate),
            log: Mutex::new(RefusalLog::default()),
        })
    }

    /// Lets `request` through the gatekeeper, or logs (rate-limited) and
    /// returns the refusal.
    fn admit<R: Authenticated>(
        &self,
        request: &R,
        context: &CallContext,
    ) -> Result<(), MatchmakerError> {
        let checked = lock(&self.gate).check(request, context, SystemTime::now());
        checked.map_err(|(kind, refusal)| {
            self.refused(Refused::Auth(kind), R::Operation::NAME, context, &refusal);
            refusal
        })
    }

    /// [`State::admit`] for a registration, which without a secret must also
    /// come from the endpoint it registers.
    fn admit_register(
        &self,
        request: &RegisterRequest,
        context: &CallContext,
    ) -> Result<(), MatchmakerError> {
        let checked = lock(&self.gate).check_register(request, context, SystemTime::now());
        checked.map_err(|(kind, refusal)| {
            self.refused(
                Refused::Auth(kind),
                operation::Register::NAME,
                context,
                &refusal,
            );
            refusal
        })
    }

    fn refused(
        &self,
        kind: Refused,
        procedure: &str,
        context: &CallContext,
        refusal: &MatchmakerError,
    ) {
        if let Some(suppressed) = lock(&self.log).note(kind, Instant::now()) {
            tracing::warn!(
                peer = %context.peer,
                procedure,
                ?refusal,
                suppressed,
                "refused a request: {} ({suppressed} more like it suppressed since the last such line)",
                kind.describe()
            );
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The five matchmaker procedures over one state.
pub(crate) fn procedures(state: &Shared) -> ProcedureSet {
    let mut set = ProcedureSet::new();
    let all = [
        register(state.clone()),
        renew(state.clone()),
        unregister(state.clone()),
        lookup(state.clone()),
        list(state.clone()),
    ];
    for procedure in all {
        // Five distinct constant names: insertion cannot collide.
        let _ = set.insert(procedure);
    }
    set
}

/// The procedure of operation `O`: its name, signature and types are the
/// operation's, so a handler that takes or answers anything else does not
/// compile.
fn serve<O, F, Fut>(handler: F) -> Procedure
where
    O: Operation,
    O::Request: Send + 'static,
    F: Fn(O::Request, CallContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O::Answer, MatchmakerError>> + Send + 'static,
{
    Procedure::typed(O::NAME, O::SIGNATURE, move |(request,), context| {
        handler(request, context)
    })
}

/// [`serve`], for an operation that changes nothing.
fn read_only<O, F, Fut>(handler: F) -> Procedure
where
    O: Operation,
    O::Request: Send + 'static,
    F: Fn(O::Request, CallContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O::Answer, MatchmakerError>> + Send + 'static,
{
    serve::<O, F, Fut>(handler).read_only()
}

fn register(state: Shared) -> Procedure {
    serve::<operation::Register, _, _>(move |request, context| {
        let state = state.clone();
        async move {
            state.admit_register(&request, &context)?;
            let token =
                LeaseToken::generate().map_err(|error| MatchmakerError::InvalidRequest {
                    reason: format!("the matchmaker's random source failed: {error}"),
                })?;
            let endpoint = request.endpoint;
            let names: Vec<String> = request.procedures.iter().map(|p| p.name.clone()).collect();
            let lease = state
                .store
                .register(request, token, context.peer.ip())
                .await;
            match &lease {
                Ok(lease) => tracing::info!(
                    %endpoint, from = %context.peer, ttl_ms = lease.ttl_ms, procedures = ?names,
                    "registered"
                ),
                Err(refusal @ MatchmakerError::LimitReached { .. }) => {
                    state.refused(Refused::Limit, operation::Register::NAME, &context, refusal);
                }
                // The store logs its own outages, once per change.
                Err(MatchmakerError::StoreUnavailable { .. }) => {}
                Err(error) => {
                    tracing::info!(%endpoint, from = %context.peer, ?error, "registration refused")
                }
            }
            lease
        }
    })
}

fn renew(state: Shared) -> Procedure {
    serve::<operation::Renew, _, _>(move |request, context| {
        let state = state.clone();
        async move {
            state.admit(&request, &context)?;
            state.store.renew(request.token).await
        }
    })
}

fn unregister(state: Shared) -> Procedure {
    serve::<operation::Unregister, _, _>(move |request, context| {
        let state = state.clone();
        async move {
            state.admit(&request, &context)?;
            let gone = state.store.unregister(request.token).await?;
            tracing::info!(endpoint = %gone.endpoint, procedures = ?gone.names, "unregistered");
            Ok(())
        }
    })
}

/// Read-only: answered without a reply-cache record, so a flood of lookups
/// from made-up client ids holds nothing (see `Procedure::read_only`).
fn lookup(state: Shared) -> Procedure {
    read_only::<operation::Lookup, _, _>(move |request, context| {
        let state = state.clone();
        async move {
            // Rotated per name by the store; a cut keeps the first ones.
            let answer = state.store.lookup(&request.name, request.signature);
            fit_lookup(answer, context.result_budget())
        }
    })
}

/// Read-only, as lookup is.
fn list(state: Shared) -> Procedure {
    read_only::<operation::List, _, _>(move |request, context| {
        let state = state.clone();
        async move {
            let page_bytes = LIST_PAGE_BYTES.min(context.result_budget());
            state
                .store
                .list(request.after, page_bytes)
                .map_err(|needed| MatchmakerError::RequestTooSmall {
                    needed_bytes: budget::request_bytes_for(needed),
                })
        }
    })
}
