//! Riding out `Overloaded`: the one retry rule that user calls and
//! matchmaker requests share.

use super::outgoing::{Failure, Outgoing};
use crate::retry::RetryPolicy;
use crate::rt;
use crate::wire::{Incarnation, Outcome};
use std::net::SocketAddr;

impl Outgoing<'_> {
    /// One attempt at `endpoint` (expecting `incarnation`), repeated while
    /// it ends in `Overloaded`, with a pause before each repeat
    /// ([`RetryPolicy::backoff`] from the policy's floor up to its cap).
    /// The same call, with its xid, goes back to the same server: one that
    /// answered `Overloaded` neither ran nor recorded it, so each repeat
    /// carries what is left of the deadline. If the deadline passes while
    /// the server is still overloaded, the answer is `Overloaded`.
    pub(crate) async fn attempt_riding_out_overload(
        &mut self,
        endpoint: SocketAddr,
        incarnation: Incarnation,
        policy: &RetryPolicy,
        max_unanswered: u32,
    ) -> Result<Outcome, Failure> {
        let mut refusals = 0u32;
        loop {
            let attempt = self
                .attempt(endpoint, incarnation, policy, max_unanswered)
                .await;
            match attempt {
                Ok(Outcome::Overloaded) => {
                    let remaining = self.remaining();
                    if remaining.is_zero() {
                        return Ok(Outcome::Overloaded);
                    }
                    let pause = policy.backoff(policy.min_timeout, refusals, policy.max_timeout);
                    rt::sleep(pause.min(remaining)).await;
                    refusals += 1;
                    // Nothing was recorded: the next copy may carry less time.
                    self.refresh_deadline();
                }
                Err(Failure::Expired) if refusals > 0 && self.acked_by().is_none() => {
                    return Ok(Outcome::Overloaded);
                }
                other => return other,
            }
        }
    }
}
