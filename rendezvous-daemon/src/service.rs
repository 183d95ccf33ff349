//! The matchmaker's procedures: the `rendezvous.*` names bound to the
//! store, behind the gatekeeper (who may register) and the budget (how
//! large an answer may be).

use crate::budget::{self, fit_lookup};
use crate::gatekeeper::Gatekeeper;
use crate::refusal_log::{RefusalLog, Refused};
use crate::store::{LIST_PAGE_BYTES, Store};
use rendezvous_core::Client;
use rendezvous_core::protocol::matchmaker::auth::Authenticated;
use rendezvous_core::protocol::matchmaker::operation::{self, Operation};
use rendezvous_core::protocol::matchmaker::{
    LeaseToken, MatchmakerError, MatchmakerStatus, RegisterRequest,
};
use rendezvous_core::server::{CallContext, Procedure, ProcedureSet};
use rendezvous_runtime::{self as rt, Instant};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use std::time::SystemTime;

/// How long the matchmaker asks a new registration's endpoint who holds it.
const PROBE_DEADLINE: Duration = Duration::from_secs(3);

/// How many times it asks before it gives up (and replaces nothing).
const PROBE_ATTEMPTS: u32 = 3;

/// What the matchmaker counts beside its responder, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Lookups answered (found or not).
    pub(crate) lookups: AtomicU64,
    /// Registrations granted (one per lease granted).
    pub(crate) registered: AtomicU64,
    /// Requests refused at a registration limit.
    pub(crate) limits: AtomicU64,
    /// Requests refused by the gatekeeper (no or a wrong MAC, stale,
    /// replayed, not from loopback without a secret).
    pub(crate) unauthenticated: AtomicU64,
}

/// Adds one to `counter`; relaxed, as a count orders nothing.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What the procedures share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) gate: Mutex<Gatekeeper>,
    pub(crate) log: Mutex<RefusalLog>,
    pub(crate) counts: Counts,
    /// Clients that ask an endpoint which incarnation holds it (IPv4,
    /// IPv6), made on first use.
    probers: [OnceLock<Client>; 2],
}

pub(crate) type Shared = Arc<State>;

impl State {
    pub(crate) fn new(store: Arc<dyn Store>, gate: Gatekeeper) -> Shared {
        Arc::new(State {
            store,
            gate: Mutex::new(gate),
            log: Mutex::new(RefusalLog::default()),
            counts: Counts::default(),
            probers: [OnceLock::new(), OnceLock::new()],
        })
    }

    /// After `incarnation` registered at `endpoint`, where other
    /// incarnations hold leases: asks the endpoint which incarnation holds
    /// it, and if it is the new one, ends the others' leases (replaced).
    /// A registration at someone else's endpoint is answered there by the
    /// owner, so it replaces nothing.
    async fn check_replaced(&self, endpoint: SocketAddr, incarnation: u64) {
        let family = usize::from(endpoint.is_ipv6());
        let prober = match self.probers[family].get() {
            Some(prober) => prober,
            None => {
                let built = Client::builder()
                    .matchmaker(endpoint)
                    .deadline(PROBE_DEADLINE)
                    .build();
                match built {
                    Ok(prober) => self.probers[family].get_or_init(|| prober),
                    Err(error) => {
                        tracing::warn!(%error, "could not make a client to ask endpoints who holds them");
                        return;
                    }
                }
            }
        };
        // A few attempts: the endpoint may sit behind a lossy network.
        let mut asked = prober.incarnation_at(endpoint).await;
        for _ in 1..PROBE_ATTEMPTS {
            if asked.is_ok() {
                break;
            }
            asked = prober.incarnation_at(endpoint).await;
        }
        match asked {
            Ok(holder) if holder.0 == incarnation => {
                for gone in self.store.replace(endpoint, incarnation).await {
                    tracing::info!(
                        endpoint = %gone.endpoint, procedures = ?gone.names, incarnation,
                        "replaced: a new incarnation holds the endpoint"
                    );
                }
            }
            Ok(holder) => tracing::info!(
                %endpoint, registered = incarnation, holder = holder.0,
                "a registration at an endpoint held by another incarnation replaces nothing"
            ),
            Err(error) => {
                tracing::debug!(%endpoint, %error, "no answer from a newly registered endpoint")
            }
        }
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
        bump(match kind {
            Refused::Auth(_) => &self.counts.unauthenticated,
            Refused::Limit => &self.counts.limits,
        });
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

/// The six matchmaker procedures over one state.
pub(crate) fn procedures(state: &Shared) -> ProcedureSet {
    let mut set = ProcedureSet::new();
    let all = [
        register(state.clone()),
        renew(state.clone()),
        unregister(state.clone()),
        lookup(state.clone()),
        list(state.clone()),
        status(state.clone()),
    ];
    for procedure in all {
        // Six distinct constant names: insertion cannot collide.
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
            let (endpoint, incarnation) = (request.endpoint, request.incarnation);
            let names: Vec<String> = request.procedures.iter().map(|p| p.name.clone()).collect();
            let lease = state
                .store
                .register(request, token, context.peer.ip())
                .await;
            match &lease {
                Ok(lease) => {
                    bump(&state.counts.registered);
                    tracing::info!(
                        %endpoint, from = %context.peer, ttl_ms = lease.ttl_ms, procedures = ?names,
                        "registered"
                    );
                    if state.store.others_at(endpoint, incarnation) {
                        let state = state.clone();
                        rt::spawn(async move { state.check_replaced(endpoint, incarnation).await });
                    }
                }
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
            bump(&state.counts.lookups);
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

/// Read-only: what the store is and holds, for `rendezvous-daemon status`.
fn status(state: Shared) -> Procedure {
    read_only::<operation::Status, _, _>(move |_request, _context| {
        let state = state.clone();
        async move {
            let (health, counts) = (state.store.health(), state.store.counts());
            Ok(MatchmakerStatus {
                store: health.kind.to_owned(),
                store_reachable: health.reachable,
                leases: counts.leases as u64,
                registrations: counts.registrations as u64,
            })
        }
    })
}
