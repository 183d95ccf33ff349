//! The matchmaker's six procedures, one type each: [`Register`],
//! [`Renew`], [`Unregister`], [`Lookup`], [`List`] and [`Status`].
//!
//! An [`Operation`] pairs a reserved name with its signature, its request
//! and its answer, so that the client, the daemon and the signer cannot
//! pair them differently: the client sends `O::Request` to `O::NAME` under
//! `O::SIGNATURE` and decodes `O::Answer`; the daemon registers its handler
//! from the same three; the MAC covers `O::NAME`.

use crate::signature::Fingerprint;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Names under this prefix are the matchmaker's own: a server may not serve
/// or register one (the `#[procedure]` macro refuses it at compile time,
/// `Server::builder()` at start, the matchmaker at registration), so that
/// no one can pose as `rendezvous.lookup` and every operation added later
/// is free to take its name.
pub const RESERVED_PREFIX: &str = "rendezvous.";

/// Whether `name` is reserved for the matchmaker ([`RESERVED_PREFIX`]).
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// One of the matchmaker's procedures, as a type.
///
/// Its argument tuple is `(Request,)` (a one-element CBOR array) and its
/// result `Result<Answer, MatchmakerError>`, as for any procedure; its
/// signature is computed from exactly that text, like any procedure's:
/// `NAME(Request)->Result<Answer,MatchmakerError>`.
pub trait Operation {
    /// The reserved procedure name (`rendezvous.register`, ...).
    const NAME: &'static str;
    /// The fingerprint of the signature text above.
    const SIGNATURE: Fingerprint;
    /// What the caller sends.
    type Request: Serialize + DeserializeOwned;
    /// What the matchmaker answers when it does not refuse.
    type Answer: Serialize + DeserializeOwned;
}

/// A message type of [`super::messages`] by its name (or `()`), so that
/// the name spelled in the signature text is the type used.
macro_rules! message {
    (()) => {
        ()
    };
    ($name:ident) => {
        super::messages::$name
    };
}

/// Each operation's type and `impl`: the name and the types are written
/// once, and the signature text is made from them.
macro_rules! operations {
    ($($(#[$doc:meta])* $operation:ident = $name:literal ($request:ident) -> $answer:tt;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $operation;

        impl Operation for $operation {
            const NAME: &'static str = $name;
            const SIGNATURE: Fingerprint = Fingerprint::of(concat!(
                $name,
                "(",
                stringify!($request),
                ")->Result<",
                stringify!($answer),
                ",MatchmakerError>"
            ));
            type Request = message!($request);
            type Answer = message!($answer);
        }
    )*};
}

operations! {
    /// Puts procedures at an endpoint under one lease.
    Register = "rendezvous.register" (RegisterRequest) -> Lease;
    /// Extends a lease by its TTL.
    Renew = "rendezvous.renew" (RenewRequest) -> Renewed;
    /// Ends a lease and removes its registrations.
    Unregister = "rendezvous.unregister" (UnregisterRequest) -> ();
    /// Where a name lives: its live endpoints with a matching signature.
    Lookup = "rendezvous.lookup" (LookupRequest) -> Lookup;
    /// One page of every registration.
    List = "rendezvous.list" (ListRequest) -> ListPage;
    /// How the matchmaker is: its store and what it holds.
    Status = "rendezvous.status" (StatusRequest) -> MatchmakerStatus;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts the signatures were written as before they were made from
    /// the types: the fingerprints on the wire stay the same.
    #[test]
    fn every_operation_is_under_the_reserved_prefix() {
        for name in [
            Register::NAME,
            Renew::NAME,
            Unregister::NAME,
            Lookup::NAME,
            List::NAME,
            Status::NAME,
        ] {
            assert!(is_reserved(name), "{name}");
        }
        assert!(!is_reserved("rendezvous::lookup"));
        assert!(!is_reserved("math.add"));
    }

    #[test]
    fn the_signatures_are_those_of_the_written_texts() {
        let written = [
            (
                Register::SIGNATURE,
                "rendezvous.register(RegisterRequest)->Result<Lease,MatchmakerError>",
            ),
            (
                Renew::SIGNATURE,
                "rendezvous.renew(RenewRequest)->Result<Renewed,MatchmakerError>",
            ),
            (
                Unregister::SIGNATURE,
                "rendezvous.unregister(UnregisterRequest)->Result<(),MatchmakerError>",
            ),
            (
                Lookup::SIGNATURE,
                "rendezvous.lookup(LookupRequest)->Result<Lookup,MatchmakerError>",
            ),
            (
                List::SIGNATURE,
                "rendezvous.list(ListRequest)->Result<ListPage,MatchmakerError>",
            ),
            (
                Status::SIGNATURE,
                "rendezvous.status(StatusRequest)->Result<MatchmakerStatus,MatchmakerError>",
            ),
        ];
        for (signature, text) in written {
            assert_eq!(signature, Fingerprint::of(text), "{text}");
        }
    }
}
