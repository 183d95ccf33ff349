//! The table of open stream connections: where each one's answers go (a
//! bounded queue its writer drains), and how many each source holds, so
//! that accepting one more respects the limits in all and per source.
//!
//! A leaf: `service` holds one, `stream` fills and empties it.

use crate::server::shared_reply::SharedReply;
use crate::server::source::{Source, source_of};
use std::collections::HashMap;
use std::net::SocketAddr;

/// Answers queued for one connection's writer before the connection is
/// given up as not reading them (its writer also has a write timeout).
pub(super) const OUTBOUND_MESSAGES: usize = 4;

/// The open connections.
#[derive(Debug, Default)]
pub(super) struct Connections {
    next: u64,
    open: HashMap<u64, Open>,
    per_source: HashMap<Source, usize>,
    refused: u64,
}

#[derive(Debug)]
struct Open {
    source: Source,
    outbound: async_channel::Sender<SharedReply>,
}

/// Why a connection was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    Total,
    Source,
}

impl Connections {
    /// Records a connection from `peer` if both limits allow it: its
    /// number, and the queue its answers arrive in.
    pub(super) fn open(
        &mut self,
        peer: SocketAddr,
        max_total: usize,
        max_per_source: usize,
    ) -> Result<(u64, async_channel::Receiver<SharedReply>), Refused> {
        let source = source_of(peer.ip());
        let held = self.per_source.get(&source).copied().unwrap_or(0);
        let refusal = if self.open.len() >= max_total {
            Some(Refused::Total)
        } else if held >= max_per_source {
            Some(Refused::Source)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.refused += 1;
            return Err(refusal);
        }
        let (outbound, inbound) = async_channel::bounded(OUTBOUND_MESSAGES);
        self.next += 1;
        self.open.insert(self.next, Open { source, outbound });
        *self.per_source.entry(source).or_default() += 1;
        Ok((self.next, inbound))
    }

    /// Queues `bytes` for connection `id`; a connection whose queue is full
    /// (its peer does not read) is closed. Returns whether it was queued.
    pub(super) fn post(&mut self, id: u64, bytes: SharedReply) -> bool {
        let Some(open) = self.open.get(&id) else {
            return false;
        };
        if open.outbound.try_send(bytes).is_ok() {
            return true;
        }
        tracing::debug!(
            connection = id,
            "a stream peer does not read its answers; closing it"
        );
        self.close(id);
        false
    }

    /// Forgets connection `id`: its queue is closed, so its writer ends.
    pub(super) fn close(&mut self, id: u64) {
        let Some(open) = self.open.remove(&id) else {
            return;
        };
        open.outbound.close();
        if let Some(held) = self.per_source.get_mut(&open.source) {
            *held -= 1;
            if *held == 0 {
                self.per_source.remove(&open.source);
            }
        }
    }

    /// Closes every connection (abort, shutdown).
    pub(super) fn close_all(&mut self) {
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    /// Connections closed at accept, over a limit.
    pub(super) fn refused(&self) -> u64 {
        self.refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ip: [u8; 4]) -> SocketAddr {
        SocketAddr::from((ip, 1000))
    }

    #[test]
    fn each_limit_is_kept_and_a_closed_connection_gives_its_place_back() {
        let mut table = Connections::default();
        let (first, _a) = table.open(at([127, 0, 0, 1]), 3, 2).unwrap();
        let (_, _b) = table.open(at([127, 0, 0, 2]), 3, 2).unwrap();
        assert_eq!(
            table.open(at([127, 0, 0, 3]), 3, 2).unwrap_err(),
            Refused::Source
        );
        let (_, _c) = table.open(at([10, 0, 0, 1]), 3, 2).unwrap();
        assert_eq!(
            table.open(at([10, 0, 0, 2]), 3, 2).unwrap_err(),
            Refused::Total
        );
        table.close(first);
        assert!(table.open(at([127, 0, 0, 3]), 3, 2).is_ok());
        assert_eq!((table.len(), table.refused()), (3, 2));
    }

    #[test]
    fn a_connection_that_does_not_read_is_closed_when_its_queue_is_full() {
        let mut table = Connections::default();
        let (id, inbound) = table.open(at([127, 0, 0, 1]), 9, 9).unwrap();
        for _ in 0..OUTBOUND_MESSAGES {
            assert!(table.post(id, vec![1].into()));
        }
        assert!(!table.post(id, vec![2].into()));
        assert_eq!(table.len(), 0);
        assert!(inbound.is_closed());
    }
}
