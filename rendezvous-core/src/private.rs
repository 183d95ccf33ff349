//! What `#[procedure]`'s generated code names, and nothing else. Not a
//! public API: it changes whenever the macro does.

pub use crate::byte_string::Bytes;
pub use crate::client::{Client, RemoteProcedure};
pub use crate::error::Error;
pub use crate::server::linked::LinkedProcedure;
pub use crate::server::{CallContext, MissingState, Procedure, SharedState, State, States};
pub use crate::signature::Fingerprint;
pub use inventory;

use crate::server::HandlerError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::marker::PhantomData;

/// A type that can be an argument or a result: it crosses the network.
///
/// `do_not_recommend` makes a type that lacks several of the bounds one
/// error naming the type, instead of one per missing bound.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the network: it must implement serde's `Serialize` and `Deserialize`",
    label = "not `Serialize + DeserializeOwned + Send + 'static`",
    note = "derive them, on the type or on the types inside it: `#[derive(serde::Serialize, serde::Deserialize)]`; and pass owned values",
    note = "a type of another crate that lacks them (`std::io::Error`, `anyhow::Error`, ...) cannot be derived on: carry what you need of it in a type of your own"
)]
pub trait WireType {}

#[diagnostic::do_not_recommend]
impl<T> WireType for T where T: Serialize + DeserializeOwned + Send + 'static {}

/// Fails to compile, at the type's span, unless `T` can cross the network.
/// This is the only place the generated code states the serde bounds.
pub const fn assert_wire_type<T: WireType>() {}

/// An argument the server supplies rather than the caller sends (the
/// macro tells them apart by the type's name: `State<..>`, `CallContext`).
/// Only a mark, for [`assert_extractor`]; [`Supply`] does the work.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is taken as supplied by the server, for its name, but it is not rendezvous' `State` or `CallContext`",
    label = "named like a server-supplied argument",
    note = "import them from rendezvous_core (`use rendezvous_core::{{CallContext, State}};`); an argument sent by the caller needs another type name"
)]
pub trait Extractor {}

/// No `SharedState` bound here, so that a state that cannot be shared is
/// one error, from [`assert_shared_state`], at its type.
impl<T: 'static> Extractor for State<T> {}

impl Extractor for CallContext {}

/// How the server supplies an argument: `prepare` once, when the server
/// starts (a state not given fails the start); `extract` for each call.
pub trait Supply: Extractor + Sized {
    type Prepared: Send + Sync + 'static;

    fn prepare(states: &States, procedure: &'static str) -> Result<Self::Prepared, MissingState>;

    fn extract(prepared: &Self::Prepared, context: &CallContext) -> Self;
}

impl<T: SharedState> Supply for State<T> {
    type Prepared = State<T>;

    fn prepare(states: &States, procedure: &'static str) -> Result<State<T>, MissingState> {
        states.require(procedure)
    }

    fn extract(prepared: &State<T>, _: &CallContext) -> State<T> {
        prepared.clone()
    }
}

impl Supply for CallContext {
    type Prepared = ();

    fn prepare(_: &States, _: &'static str) -> Result<(), MissingState> {
        Ok(())
    }

    fn extract((): &(), context: &CallContext) -> CallContext {
        *context
    }
}

/// Fails to compile, at the type's span, unless `T` is a server-supplied
/// argument.
pub const fn assert_extractor<T: Extractor>() {}

/// Fails to compile, at the type's span, unless `T` can be shared state.
pub const fn assert_shared_state<T: SharedState>() {}

/// A server-supplied argument of type `T`, to choose how the generated code
/// prepares and extracts it (autoref specialization, on
/// `(&Extract::<T>::new())`, as [`Wire`] does): through [`Extracts`] when
/// the server can supply `T`, through [`Unextractable`] when not, which
/// exists only so that such a type is one error, from [`assert_extractor`]
/// or [`assert_shared_state`], at the type.
#[derive(Debug)]
pub struct Extract<T>(PhantomData<fn() -> T>);

impl<T> Extract<T> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Extract(PhantomData)
    }
}

pub trait Extracts {
    type Arg;
    type Prepared: Send + Sync + 'static;

    fn prepare(
        &self,
        states: &States,
        procedure: &'static str,
    ) -> Result<Self::Prepared, MissingState>;

    fn extract(&self, prepared: &Self::Prepared, context: &CallContext) -> Self::Arg;
}

impl<T: Supply> Extracts for Extract<T> {
    type Arg = T;
    type Prepared = T::Prepared;

    fn prepare(
        &self,
        states: &States,
        procedure: &'static str,
    ) -> Result<T::Prepared, MissingState> {
        T::prepare(states, procedure)
    }

    fn extract(&self, prepared: &T::Prepared, context: &CallContext) -> T {
        T::extract(prepared, context)
    }
}

/// The same, for a type the server cannot supply: the build has already
/// failed, so these only need to type-check. Should one ever run, the
/// server's start fails rather than a call panics.
pub trait Unextractable {
    type Arg;
    type Prepared: Send + Sync + 'static;

    fn prepare(
        &self,
        states: &States,
        procedure: &'static str,
    ) -> Result<Self::Prepared, MissingState>;

    fn extract(&self, prepared: &Self::Prepared, context: &CallContext) -> Self::Arg;
}

/// Has no value: what an [`Unextractable`] argument prepares.
#[derive(Debug)]
pub enum Never {}

impl<T> Unextractable for &Extract<T> {
    type Arg = T;
    type Prepared = Never;

    fn prepare(&self, _: &States, procedure: &'static str) -> Result<Never, MissingState> {
        Err(MissingState {
            procedure: procedure.to_owned(),
            type_name: std::any::type_name::<T>(),
            given: Vec::new(),
        })
    }

    fn extract(&self, prepared: &Never, _: &CallContext) -> T {
        match *prepared {}
    }
}

/// The error type `E` of a result written `Result<T, E>`: the same bounds
/// as [`WireType`], with the advice a foreign error needs (one cannot
/// derive on `std::io::Error`, so "derive them" would fail the newcomer).
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` cannot cross the network: it must implement serde's `Serialize` and `Deserialize`",
    label = "not `Serialize + DeserializeOwned + Send + 'static`",
    note = "on an error type of your own, derive them: `#[derive(serde::Serialize, serde::Deserialize)]`",
    note = "an error type of another crate (`std::io::Error`, `anyhow::Error`, ...) cannot be derived on: return an error type of your own instead, e.g. `#[derive(serde::Serialize, serde::Deserialize)] pub enum StoreError {{ Io(String) }}`, and convert with `.map_err(|e| StoreError::Io(e.to_string()))`"
)]
pub trait WireError {}

#[diagnostic::do_not_recommend]
impl<T> WireError for T where T: Serialize + DeserializeOwned + Send + 'static {}

/// Fails to compile, at the error type's span, unless `E` can cross the
/// network.
pub const fn assert_wire_error<E: WireError>() {}

/// A return type written `Result<T, E>` is the standard one, so checking
/// `T` and `E` apart (each underlined where written) checks it whole.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `std::result::Result<{T}, {E}>`",
    label = "a #[procedure] returning a type written `Result<T, E>` returns the standard `Result`",
    note = "if this `Result` is a type of your own, give it another name"
)]
pub trait StdResult<T, E> {}

impl<T, E> StdResult<T, E> for Result<T, E> {}

/// Fails to compile unless `R` is `Result<T, E>`.
pub const fn assert_std_result<R: StdResult<T, E>, T, E>() {}

/// A procedure's argument tuple `A` and result `R`, to choose how the
/// generated code encodes them (autoref specialization, on
/// `(&Wire::<A, R>::new())`): through serde with [`Serde`] when both can
/// cross the network, through [`Unencodable`] when not. The second exists
/// only so that a type that cannot cross the network is one error, at the
/// type, from [`assert_wire_type`], rather than one more in each generated
/// function that encodes or decodes it; a program using it never builds.
#[derive(Debug)]
pub struct Wire<A, R>(PhantomData<fn(A) -> R>);

impl<A, R> Wire<A, R> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Wire(PhantomData)
    }
}

/// How a procedure whose types cross the network is called and served.
pub trait Serde {
    type Args;
    type Output;

    /// Calls the procedure through `client`.
    fn call<'a>(
        &'a self,
        client: &'a Client,
        procedure: &'a RemoteProcedure,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Error>> + 'a;

    /// The procedure as a server runs it.
    fn procedure<F, Fut>(&self, name: &'static str, signature: Fingerprint, f: F) -> Procedure
    where
        F: Fn(Self::Args, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Self::Output> + Send + 'static;
}

impl<A, R> Serde for Wire<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    type Args = A;
    type Output = R;

    async fn call<'a>(
        &'a self,
        client: &'a Client,
        procedure: &'a RemoteProcedure,
        args: A,
    ) -> Result<R, Error> {
        client.call_by_value(procedure, args).await
    }

    fn procedure<F, Fut>(&self, name: &'static str, signature: Fingerprint, f: F) -> Procedure
    where
        F: Fn(A, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        Procedure::typed(name, signature, f)
    }
}

/// The same, for a procedure with a type that cannot cross the network:
/// `assert_wire_type` has already failed the build, so these only need to
/// type-check. Should one ever run, it fails rather than panics.
pub trait Unencodable {
    type Args;
    type Output;

    fn call<'a>(
        &'a self,
        client: &'a Client,
        procedure: &'a RemoteProcedure,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, Error>> + 'a;

    fn procedure<F, Fut>(&self, name: &'static str, signature: Fingerprint, f: F) -> Procedure
    where
        F: Fn(Self::Args, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Self::Output> + Send + 'static;
}

const UNENCODABLE: &str = "its argument or result types do not implement serde's traits";

impl<A, R> Unencodable for &Wire<A, R> {
    type Args = A;
    type Output = R;

    async fn call<'a>(
        &'a self,
        _: &'a Client,
        procedure: &'a RemoteProcedure,
        _: A,
    ) -> Result<R, Error> {
        Err(Error::Encode {
            what: format!("the arguments of `{}`", procedure.name),
            reason: UNENCODABLE.into(),
        })
    }

    fn procedure<F, Fut>(&self, name: &'static str, signature: Fingerprint, f: F) -> Procedure
    where
        F: Fn(A, CallContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
    {
        drop(f);
        Procedure::new(name, signature, |_, _| async {
            Err(HandlerError::BadArguments(UNENCODABLE.into()))
        })
    }
}
