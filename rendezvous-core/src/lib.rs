//! # rendezvous
//!
//! Remote procedure calls over UDP, where servers bind whatever port the OS
//! gives them and clients find them through a **matchmaker**: a daemon on one
//! well-known address (`127.0.0.1:5000` by default) that maps procedure names
//! to the endpoints that run them.
//!
//! The whole interface is one attribute:
//!
//! ```
//! use rendezvous_core::procedure;
//!
//! /// Adds two numbers, on whichever server runs it.
//! #[procedure(name = "math.add")]
//! pub async fn add(a: i64, b: i64) -> i64 {
//!     a + b
//! }
//! ```
//!
//! The function stays an ordinary function. A server binary that links it
//! serves it with `Server::builder().serve().await`; any other crate calls it
//! with `add::remote(2, 3).await?` (a `Result<i64, rendezvous_core::Error>`).
//!
//! ```text
//! server: bind :0 ──register(name, signature, endpoint, TTL)──▶ matchmaker
//! client: ──lookup(name, signature)──▶ matchmaker ──endpoints──▶ client (cached)
//! client: ──call(client id, xid, args)──▶ server ──reply (the ACK)──▶ client
//! ```
//!
//! * Every request — a lookup, a registration, a user call — is one
//!   [`protocol::wire::Message::Call`] named by (client id, xid), retransmitted under
//!   one [`RetryPolicy`] until its reply arrives or its deadline passes.
//! * Servers run each call **once**: a duplicate of a running call gets an
//!   ACK, a duplicate of a finished call gets the reply again from the
//!   server's reply cache. What holds across crashes is spelled out in
//!   [`client`] and PROTOCOL.md.
//! * Signatures are fingerprinted ([`Fingerprint`]), so a caller built
//!   against another version of a procedure gets
//!   [`Error::SignatureMismatch`], not garbage.
//! * Several matchmakers can share one store, so that none is a single
//!   point of failure: give clients and servers all of them
//!   (`RENDEZVOUS_MATCHMAKER=a,b,c`) and they fail over between them
//!   ([`MatchmakerClient`] says how).
//!
//! The pieces, each usable on its own: [`Server`] (serve procedures, keep
//! them registered), [`Client`] (resolve, call, retry, fail over),
//! [`MatchmakerClient`] (talk to the matchmaker). The protocol — the
//! messages and their codec, signatures, the matchmaker's messages,
//! operations and MAC — is the crate `rendezvous-protocol`, which has no
//! runtime in it, re-exported here whole as [`protocol`]. The runtime is
//! not part of this crate's API: await calls under any executor. The
//! matchmaker itself is the `rendezvous-daemon` crate; the wire protocol is
//! specified in PROTOCOL.md at the repository root.

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod byte_string;
pub mod client;
mod error;
mod frame_read;
mod frame_write;
pub mod matchmaker;
mod random;
mod requester;
pub mod retry;
pub mod server;
mod spin;
mod sync;

/// The runtime seam (async-std today), internal: see `rendezvous-runtime`.
use rendezvous_runtime as rt;

/// The protocol: what travels between peers (messages and their codec,
/// signatures, the matchmaker's operations and MAC), with no runtime in it.
/// It is the crate `rendezvous-protocol`, here under one path so that
/// `rendezvous-core` is the one dependency users need; most never name it.
pub use rendezvous_protocol as protocol;
use rendezvous_protocol::{signature, wire};

pub use client::{Client, ClientBuilder, ClientStats, RemoteProcedure};
pub use error::{Error, Refusal};
pub use matchmaker::MatchmakerClient;
pub use retry::RetryPolicy;
pub use server::{CallContext, Procedure, Server, ServerBuilder, State};
pub use signature::Fingerprint;
pub use spin::{DEFAULT_SERVER_SPIN, DEFAULT_SPIN};

/// Exposes an `async fn` to the network and derives its client proxy.
///
/// ```
/// use rendezvous_core::procedure;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct MathError(String);
///
/// #[procedure]
/// pub async fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// #[procedure(name = "math.div", idempotent)]
/// pub async fn div(a: i64, b: i64) -> Result<i64, MathError> {
///     a.checked_div(b).ok_or_else(|| MathError("division by zero".into()))
/// }
///
/// # async fn caller() -> Result<(), rendezvous_core::Error> {
/// assert_eq!(add(2, 3).await, 5); // still an ordinary function
/// let sum: i64 = add::remote(2, 3).await?; // on whichever server runs it
/// let quotient: Result<i64, MathError> = div::remote(7, 2).await?;
/// # Ok(()) }
/// ```
///
/// For each function it generates:
/// - the function itself, unchanged;
/// - a braced struct of the same name (types and functions live in separate
///   namespaces) with `NAME`, `SIGNATURE_TEXT`, `SIGNATURE`, `PROCEDURE` and the proxies
///   `remote(args..)` (through [`Client::global`]) and
///   `remote_with(&client, args..)`, returning `Result<R, Error>` — for a
///   procedure returning `Result<T, E>`, `Result<Result<T, E>, Error>`;
/// - a registration collected at program start, so `Server::builder()`
///   serves every `#[procedure]` linked into the binary.
///
/// # Rules
///
/// - **Name.** The default name is the module path and the function name
///   (`my_crate::math::add`); `name = "..."` sets another. Two procedures of
///   one name in one binary are an error at server start naming both.
///   Names starting with `rendezvous.` are the matchmaker's: refused.
/// - **Signature.** The fingerprint covers the signature text
///   (`SIGNATURE_TEXT`, e.g. `math.add(i64, i64) -> i64`): the name, the
///   types of the arguments that travel and of the result *as written*,
///   and `#idempotent` if declared so, except for a short list of paths
///   normalised to their prelude names (a leading `::` dropped;
///   `std::primitive::i64` and `core::primitive::i64` are `i64`;
///   `std::string::String`, `std::vec::Vec`, `std::option::Option`,
///   `std::result::Result` and their `core`/`alloc` spellings are `String`,
///   `Vec`, `Option`, `Result`; PROTOCOL.md, *Signatures*). Other paths are
///   not resolved: `Point` and `geometry::Point` differ. The fingerprint
///   travels in every lookup and call; a mismatch is
///   [`Error::SignatureMismatch`], naming both texts where known. The
///   registration carries the text too, so `rendezvous-daemon list` shows
///   it.
/// - **Server-supplied arguments.** Besides the arguments the caller
///   sends, a procedure may take, anywhere among them, arguments the server
///   supplies, recognised by their type's name: `State<T>` ([`State`]), the
///   value of type `T` given to [`ServerBuilder::state`], shared by every
///   call; and `CallContext` ([`CallContext`]): who called (address,
///   client id), which call (xid), and until when the caller waits. They do
///   not travel: the proxy takes only the others, and the fingerprint
///   covers only the others, so an interface crate's declaration leaves
///   them out (and may not write them). A server missing a state some
///   linked procedure takes refuses to start, naming the procedure and the
///   type. `T` must be `Send + Sync + 'static`; put what calls change
///   behind a lock or an atomic. Why by name and not an attribute: see
///   the README's design notes.
///
///   ```
///   use rendezvous_core::{CallContext, State, procedure};
///   use std::sync::atomic::{AtomicU64, Ordering};
///
///   #[derive(Default)]
///   pub struct Counter(AtomicU64);
///
///   #[procedure(name = "demo.count")]
///   pub async fn count(counter: State<Counter>, by: u64, ctx: CallContext) -> u64 {
///       let _caller = ctx.peer;
///       counter.0.fetch_add(by, Ordering::Relaxed) + by
///   }
///
///   # async fn demo() -> Result<(), rendezvous_core::Error> {
///   // The server gives it its state; the caller sends only `by`.
///   let server = rendezvous_core::Server::builder().state(Counter::default()).start().await?;
///   let total: u64 = count::remote(5).await?;
///   # Ok(()) }
///   ```
/// - **Types.** Arguments and results are owned types implementing serde's
///   `Serialize` and `DeserializeOwned`: no references, no `impl Trait`, no
///   generics or lifetimes, no `self`. Argument patterns are plain names.
///   A result written `Result<T, E>` is the standard `Result`; its error
///   type crosses the network too, so an error of another crate
///   (`std::io::Error`) is mapped into a serializable one of your own.
/// - **Bytes.** An argument or result written `Vec<u8>` or `[u8; N]`, an
///   `Option` of either, or the `T` of `Result<T, E>`, travels as a CBOR
///   byte string rather than an array of integers (half the size, far
///   faster). The macro sees only the type as written: a `Vec<u8>` inside
///   your own struct needs `#[serde(with = "serde_bytes")]`.
/// - **`idempotent`** tells the client that running the call twice is
///   harmless, so it may retry it on another server after the first one died
///   holding it, instead of returning [`Error::OutcomeUnknown`].
/// - **Interface crates.** A body-less declaration,
///   `#[procedure(name = "math.add")] pub async fn add(a: i64, b: i64) -> i64;`,
///   generates only the struct with its constants and proxies, with the same
///   fingerprint as the implementation of that name and types, so a client
///   crate need not depend on the server's code. Give both the same `name`:
///   default names contain the module path, which differs between crates.
/// - **Idempotency is checked.** `idempotent` is in the fingerprint, so a
///   declaration that forgets it (the client would then refuse to retry
///   what it could) or adds it (the client would retry what runs twice) is
///   a [`Error::SignatureMismatch`] at lookup, not a silent difference.
/// - **Linking: a crate no one `use`s is not served.** A crate's procedures
///   register only if the server binary links the crate, and the linker
///   drops a crate the binary never references, silently: its procedures
///   are not served and clients get [`Error::NotFound`]. Reference it
///   (`use math_service as _;`), and name what the server must carry with
///   [`ServerBuilder::require`] (`.require([add::PROCEDURE])`, or the
///   crate's list, `.require(math_service::SERVICE)`): that references the
///   crate, and a procedure missing all the same fails the start, naming
///   it. A server that finds no procedures at all refuses to start too.
pub use rendezvous_macros::procedure;
