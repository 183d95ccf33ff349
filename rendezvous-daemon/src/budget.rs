//! Fitting answers to the size the request allows.
//!
//! The matchmaker answers anyone, and UDP source addresses can be forged,
//! so no reply may be more than [`AMPLIFICATION_FACTOR`] times the request
//! datagram that caused it (`CallContext::result_budget` is what that
//! leaves for the result). A lookup with more endpoints than fit returns as
//! the first as many as fit, in the order the store gave (rotated per name,
//! so that every endpoint gets its share of clients), with `truncated` set; a signature mismatch lists as
//! many of the available signatures as fit. When not even one endpoint (or
//! list entry) fits, the answer is `RequestTooSmall`, naming the request
//! size that would do: the requester pads and asks again.

use rendezvous_core::protocol::matchmaker::{Lookup, MatchmakerError};
use rendezvous_core::protocol::wire::{self, AMPLIFICATION_FACTOR, MAX_REPLY_ENVELOPE_BYTES};
use serde::Serialize;

/// The request datagram size whose reply may carry `result_bytes` of result.
pub fn request_bytes_for(result_bytes: usize) -> u64 {
    (result_bytes + MAX_REPLY_ENVELOPE_BYTES).div_ceil(AMPLIFICATION_FACTOR) as u64
}

/// At most this many bytes encode one endpoint of a lookup (an IPv6
/// address, every number at its widest; a test holds it to that).
const MAX_ENDPOINT_BYTES: usize = 112;
/// At most this many bytes encode one entry of `unregistered`.
const MAX_DEPARTED_BYTES: usize = 80;
/// At most this many bytes encode an `Ok` lookup besides its entries: the
/// result's variant, the struct's keys, `truncated`, array headers at
/// their widest.
const MAX_LOOKUP_FRAMING_BYTES: usize = 64;

/// Whether `answer` fits `budget` by the bounds above, without encoding
/// it: the common answer, a few endpoints, then costs no encoding of its
/// own (it was a second full encode per lookup, measured with callgrind:
/// ~1.9k of the lookup's ~40k instructions).
fn surely_fits(answer: &Result<Lookup, MatchmakerError>, budget: usize) -> bool {
    let Ok(lookup) = answer else {
        return false;
    };
    let entries = lookup.endpoints.len() * MAX_ENDPOINT_BYTES
        + lookup.unregistered.len() * MAX_DEPARTED_BYTES;
    MAX_LOOKUP_FRAMING_BYTES + entries <= budget
}

/// A lookup's answer cut to `budget` bytes of encoded result: its first
/// endpoints, in its order, as many as fit.
pub fn fit_lookup(
    answer: Result<Lookup, MatchmakerError>,
    budget: usize,
) -> Result<Lookup, MatchmakerError> {
    if surely_fits(&answer, budget) || encoded_len(&answer) <= budget {
        return answer;
    }
    // Who unregistered is a hint, and the first thing to go: a client that
    // does not see it keeps its doubt, which is safe.
    let answer = answer.map(|lookup| Lookup {
        unregistered: Vec::new(),
        ..lookup
    });
    if encoded_len(&answer) <= budget {
        return answer;
    }
    match answer {
        Ok(lookup) => fit_endpoints(lookup, budget),
        Err(MatchmakerError::SignatureMismatch {
            name,
            expected,
            mut available,
            mut available_texts,
        }) => {
            // A hint of what exists: as many as fit, the empty list at
            // worst; the texts go first, then the fingerprints.
            let fits = |available: &Vec<_>, available_texts: &Vec<_>| {
                let candidate: Result<Lookup, _> = Err(MatchmakerError::SignatureMismatch {
                    name: name.clone(),
                    expected,
                    available: available.clone(),
                    available_texts: available_texts.clone(),
                });
                encoded_len(&candidate) <= budget
            };
            while !available_texts.is_empty() && !fits(&available, &available_texts) {
                available_texts.pop();
            }
            while !available.is_empty() && !fits(&available, &available_texts) {
                available.pop();
            }
            Err(MatchmakerError::SignatureMismatch {
                name,
                expected,
                available,
                available_texts,
            })
        }
        // Errors that only echo the request are smaller than it.
        other => other,
    }
}

fn fit_endpoints(lookup: Lookup, budget: usize) -> Result<Lookup, MatchmakerError> {
    let mut all = lookup.endpoints;
    let empty: Result<Lookup, MatchmakerError> = Ok(Lookup {
        endpoints: Vec::new(),
        truncated: true,
        unregistered: Vec::new(),
    });
    // The array header grows from 1 byte to at most 3 as it fills.
    let framing = encoded_len(&empty) + 2;
    let sizes: Vec<usize> = all.iter().map(encoded_len).collect();
    let mut used = framing;
    let fitting = sizes
        .iter()
        .take_while(|size| {
            used += **size;
            used <= budget
        })
        .count();
    if fitting == 0 {
        let widest = sizes.iter().copied().max().unwrap_or(0);
        return Err(MatchmakerError::RequestTooSmall {
            needed_bytes: request_bytes_for(framing + widest),
        });
    }
    let truncated = fitting < all.len();
    all.truncate(fitting);
    Ok(Lookup {
        endpoints: all,
        truncated,
        unregistered: Vec::new(),
    })
}

fn encoded_len<T: Serialize>(value: &T) -> usize {
    wire::encode_payload(value).map_or(wire::MAX_DATAGRAM_BYTES, |bytes| bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rendezvous_core::Fingerprint;
    use rendezvous_core::protocol::matchmaker::EndpointInfo;
    use std::net::SocketAddr;

    fn lookup(count: u16) -> Lookup {
        Lookup {
            endpoints: (0..count)
                .map(|i| EndpointInfo {
                    address: SocketAddr::from(([127, 0, 0, 1], 40_000 + i)),
                    signature: Fingerprint(u64::MAX),
                    incarnation: u64::MAX,
                    ttl_ms: 30_000,
                })
                .collect(),
            truncated: false,
            unregistered: Vec::new(),
        }
    }

    /// Who unregistered is dropped first: the endpoints still fit.
    #[test]
    fn the_unregistered_hint_goes_before_any_endpoint() {
        use rendezvous_core::protocol::matchmaker::Departed;
        let mut answer = lookup(2);
        let full = encoded_len(&Ok::<_, MatchmakerError>(answer.clone()));
        answer.unregistered = (0..8)
            .map(|i| Departed {
                address: SocketAddr::from(([127, 0, 0, 1], 50_000 + i)),
                incarnation: u64::MAX,
            })
            .collect();
        let cut = fit_lookup(Ok(answer), full).unwrap();
        assert_eq!(cut.endpoints.len(), 2);
        assert!(!cut.truncated);
        assert!(cut.unregistered.is_empty());
    }

    /// The bounds `surely_fits` trusts hold for the widest entries, at
    /// every array header width.
    #[test]
    fn the_bounds_of_an_answer_hold_for_its_widest_entries() {
        use rendezvous_core::protocol::matchmaker::Departed;
        let widest: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"
            .parse()
            .unwrap();
        for count in [0, 1, 23, 24, 25, 255, 256, 300] {
            let answer: Result<Lookup, MatchmakerError> = Ok(Lookup {
                endpoints: (0..count)
                    .map(|_| EndpointInfo {
                        address: widest,
                        signature: Fingerprint(u64::MAX),
                        incarnation: u64::MAX,
                        ttl_ms: u64::MAX,
                    })
                    .collect(),
                truncated: true,
                unregistered: (0..count)
                    .map(|_| Departed {
                        address: widest,
                        incarnation: u64::MAX,
                    })
                    .collect(),
            });
            let bound =
                MAX_LOOKUP_FRAMING_BYTES + count * (MAX_ENDPOINT_BYTES + MAX_DEPARTED_BYTES);
            assert!(encoded_len(&answer) <= bound, "{count} entries");
            assert!(surely_fits(&answer, bound));
            assert!(!surely_fits(&answer, bound - 1));
        }
    }

    #[test]
    fn an_answer_within_the_budget_is_unchanged() {
        let answer = Ok(lookup(3));
        assert_eq!(fit_lookup(answer.clone(), 1_000), answer);
    }

    #[test]
    fn a_long_answer_is_cut_to_the_budget_and_marked_truncated() {
        for budget in [120, 300, 1_000] {
            let mut rotated = lookup(100);
            rotated.endpoints.rotate_left(7);
            let cut = fit_lookup(Ok(rotated.clone()), budget);
            assert!(encoded_len(&cut) <= budget, "budget {budget}");
            let cut = cut.unwrap();
            assert!(cut.truncated);
            assert!(!cut.endpoints.is_empty());
            let first = &rotated.endpoints[..cut.endpoints.len()];
            assert_eq!(cut.endpoints, first, "the first ones, in the store's order");
        }
    }

    #[test]
    fn a_budget_too_small_for_one_endpoint_names_the_request_size_needed() {
        let refused = fit_lookup(Ok(lookup(5)), 40);
        let Err(MatchmakerError::RequestTooSmall { needed_bytes }) = refused else {
            panic!("{refused:?}");
        };
        let budget = wire::result_budget(needed_bytes as usize);
        assert!(fit_lookup(Ok(lookup(5)), budget).is_ok());
    }

    #[test]
    fn a_signature_mismatch_lists_only_the_signatures_that_fit() {
        let mismatch = Err(MatchmakerError::SignatureMismatch {
            name: "math.add".into(),
            expected: Fingerprint(1),
            available: (0..500).map(Fingerprint).collect(),
            available_texts: Vec::new(),
        });
        let cut = fit_lookup(mismatch, 200);
        assert!(encoded_len(&cut) <= 200);
    }

    #[test]
    fn a_signature_mismatch_drops_texts_before_fingerprints() {
        let mismatch = Err(MatchmakerError::SignatureMismatch {
            name: "math.add".into(),
            expected: Fingerprint(1),
            available: vec![Fingerprint(2), Fingerprint(3)],
            available_texts: vec![
                (Fingerprint(2), "x".repeat(100)),
                (Fingerprint(3), "y".repeat(100)),
            ],
        });
        let cut = fit_lookup(mismatch, 200);
        assert!(encoded_len(&cut) <= 200);
        let Err(MatchmakerError::SignatureMismatch {
            available,
            available_texts,
            ..
        }) = cut
        else {
            panic!("{cut:?}");
        };
        assert_eq!(available, [Fingerprint(2), Fingerprint(3)]);
        assert_eq!(available_texts.len(), 1, "{available_texts:?}");
    }
}
