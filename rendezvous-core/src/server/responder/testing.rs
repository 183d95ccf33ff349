//! What the responder's unit tests share: a call, and a socket to hear
//! what a service sends (a service on a loopback port is
//! [`super::service::Service::on_loopback`]). It imports no room of the
//! responder, so any room's tests may use it.

use crate::server::procedure::{Procedure, ProcedureSet};
use crate::signature::Fingerprint;
use crate::wire::{Call, ClientId, Incarnation, Message, Outcome, Xid};
use std::future::Future;
use std::net::UdpSocket;
use std::time::Duration;

/// The source every test call comes from (loopback).
pub(super) fn source() -> crate::server::source::Source {
    crate::server::source::source_of(std::net::Ipv4Addr::LOCALHOST.into())
}

/// The client every test call comes from.
pub(super) const CLIENT: ClientId = ClientId(7);

/// `math.add`, the procedure every test call names, run by `handler` on
/// the call's arguments.
pub(super) fn math_add<F, Fut>(handler: F) -> ProcedureSet
where
    F: Fn(Vec<u8>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<u8>> + Send + 'static,
{
    let mut set = ProcedureSet::new();
    let procedure = Procedure::new("math.add", Fingerprint::of("math.add"), move |args, _| {
        let result = handler(args);
        async move { Ok(result.await) }
    });
    set.insert(procedure).expect("one procedure");
    set
}

/// The outcome of the reply `datagram` holds (failing if it holds no reply).
pub(super) fn outcome(datagram: &[u8]) -> Outcome {
    match Message::decode(datagram) {
        Ok(Message::Reply(reply)) => reply.outcome,
        other => panic!("not a reply: {other:?}"),
    }
}

/// Call `xid` of [`CLIENT`] to `math.add`, with no arguments.
pub(super) fn call(xid: u64) -> Call {
    Call {
        client: CLIENT,
        xid: Xid(xid),
        incarnation: Incarnation::ANY,
        procedure: "math.add".into(),
        signature: Fingerprint::of("math.add"),
        deadline: Duration::from_secs(10),
        done_below: Xid(1),
        args: Vec::new().into(),
        elsewhere: Default::default(),
    }
}

/// A loopback socket to receive what a service sends.
pub(super) fn listener() -> UdpSocket {
    let listener = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    listener
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("set a read timeout");
    listener
}

/// The next datagram `listener` receives (failing after its timeout).
pub(super) fn received(listener: &UdpSocket) -> Vec<u8> {
    let mut buffer = vec![0; 1 << 16];
    let (length, _) = listener.recv_from(&mut buffer).expect("a datagram");
    buffer.truncate(length);
    buffer
}

/// Whether `listener` receives nothing more within a short while.
pub(super) fn hears_nothing(listener: &UdpSocket) -> bool {
    listener
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("set a read timeout");
    listener.recv_from(&mut [0; 16]).is_err()
}
