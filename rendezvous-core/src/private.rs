//! What `#[procedure]`'s generated code names, and nothing else. Not a
//! public API: it changes whenever the macro does.

pub use crate::client::{Client, RemoteProcedure};
pub use crate::error::Error;
pub use crate::server::{CallContext, LinkedProcedure, Procedure};
pub use crate::signature::Fingerprint;
pub use inventory;

/// A type that can be an argument or a result: it crosses the network.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross the network: it must implement serde's `Serialize` and `Deserialize`",
    label = "not `Serialize + DeserializeOwned + Send + 'static`",
    note = "derive them: `#[derive(serde::Serialize, serde::Deserialize)]`, and pass owned values"
)]
pub trait WireType {}

impl<T> WireType for T where T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static {}

/// Fails to compile, at the type's span, unless `T` can cross the network.
pub const fn assert_wire_type<T: WireType>() {}
