//! In-process rate limiting: several limits per limiter, GCRA or sliding-window counter,
//! sharded over mutexes so threads rarely meet, O(1) per hit.
//!
//! A hit is allowed only if every limit allows it, and nothing is consumed on a denial, so
//! "100/minute; 1000/day" never burns the daily budget on requests the minute limit refused.

mod algorithm;
mod clock;
mod parse;
mod store;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use algorithm::Algorithm;
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use parse::{parse_limits, Rate, MAX_COUNT, MAX_LIMITS, MAX_PERIOD_NS};

use crate::error::{CoreError, Result};
use algorithm::Outcome;
use store::Shard;

const SHARDS: usize = 64;
const MAX_WORDS: usize = MAX_LIMITS * 2;

impl std::str::FromStr for Algorithm {
    type Err = CoreError;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "gcra" => Ok(Self::Gcra),
            "sliding_window" => Ok(Self::SlidingWindow),
            _ => Err(CoreError::new(
                crate::error::ErrorKind::UnknownName,
                format!("algorithm: unknown {name:?}, expected \"gcra\" or \"sliding_window\""),
            )),
        }
    }
}

/// The verdict on one hit, with what `RateLimit`/`RateLimit-Policy` headers need: the limit
/// that is closest to running out (`limit` per `window_ns`) and its `remaining`/`reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Units still available under the tightest limit (after this hit, if allowed).
    pub remaining: u64,
    /// Nanoseconds until the tightest limit is fully available again.
    pub reset_after_ns: u64,
    /// Nanoseconds to wait before this hit would be allowed (0 when allowed).
    pub retry_after_ns: u64,
    /// The tightest limit's count and window.
    pub limit: u64,
    pub window_ns: u64,
}

/// A thread-safe limiter over any number of keys.
pub struct Limiter<C: Clock = MonotonicClock> {
    rates: Vec<Rate>,
    algorithm: Algorithm,
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
    clock: C,
}

impl Limiter<MonotonicClock> {
    /// A limiter on the monotonic clock.
    ///
    /// ```
    /// use ravelin::ratelimit::{Algorithm, Limiter};
    /// let limiter = Limiter::new("2/minute", Algorithm::Gcra).unwrap();
    /// assert!(limiter.hit("alice", 1).unwrap().allowed);
    /// assert!(limiter.hit("alice", 1).unwrap().allowed);
    /// assert!(!limiter.hit("alice", 1).unwrap().allowed);
    /// ```
    pub fn new(limits: &str, algorithm: Algorithm) -> Result<Self> {
        Self::with_clock(limits, algorithm, MonotonicClock::default())
    }
}

impl<C: Clock> Limiter<C> {
    pub fn with_clock(limits: &str, algorithm: Algorithm, clock: C) -> Result<Self> {
        Ok(Self {
            rates: parse_limits(limits)?,
            algorithm,
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            clock,
        })
    }

    pub fn rates(&self) -> &[Rate] {
        &self.rates
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Consumes `cost` units for `key` if every limit allows it.
    pub fn hit<K: Hash + ?Sized>(&self, key: &K, cost: u64) -> Result<Decision> {
        self.decide(key, cost, self.clock.now_ns(), true)
    }

    /// Whether `hit` would allow `cost` units, and the units left now; consumes nothing.
    pub fn peek<K: Hash + ?Sized>(&self, key: &K, cost: u64) -> Result<Decision> {
        self.decide(key, cost, self.clock.now_ns(), false)
    }

    /// `hit` at an explicit time in nanoseconds (for callers that bring their own clock).
    pub fn hit_at<K: Hash + ?Sized>(&self, key: &K, cost: u64, now_ns: u64) -> Result<Decision> {
        self.decide(key, cost, now_ns, true)
    }

    pub fn peek_at<K: Hash + ?Sized>(&self, key: &K, cost: u64, now_ns: u64) -> Result<Decision> {
        self.decide(key, cost, now_ns, false)
    }

    /// Forgets `key`: its next hit starts with every limit full.
    pub fn reset<K: Hash + ?Sized>(&self, key: &K) {
        let hash = self.hasher.hash_one(key);
        self.shard(hash).remove(hash);
    }

    /// Keys currently holding state (stale ones linger until their shard is next swept).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        // Middle bits: hashbrown uses the low bits for buckets and the top 7 for tags.
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        // A panic never happens while the lock is held; if one did, the state is still valid.
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn decide<K: Hash + ?Sized>(
        &self,
        key: &K,
        cost: u64,
        now: u64,
        commit: bool,
    ) -> Result<Decision> {
        if cost > MAX_COUNT {
            return Err(CoreError::argument(
                "cost",
                format!("must be within 0..={MAX_COUNT}, got {cost}"),
            ));
        }
        let words = self.algorithm.words();
        let stride = words * self.rates.len();
        let hash = self.hasher.hash_one(key);
        let empty = [0u64; MAX_WORDS];
        let mut next = [0u64; MAX_WORDS];
        let mut shard = self.shard(hash);
        let state = shard.get(hash, stride).unwrap_or(&empty[..stride]);
        let verdict = self.evaluate(state, now, cost, &mut next);
        // A denial or a peek reports the state as it stays: nothing was consumed.
        let report = if verdict.allowed && commit {
            verdict
        } else {
            self.evaluate(state, now, 0, &mut [0u64; MAX_WORDS])
        };
        let allowed = verdict.allowed;
        if allowed && commit && cost > 0 {
            let (algorithm, rates) = (self.algorithm, &self.rates);
            shard.put(hash, &next[..stride], |s| {
                rates
                    .iter()
                    .enumerate()
                    .all(|(i, &r)| algorithm.is_stale(r, &s[i * words..(i + 1) * words], now))
            });
        }
        drop(shard);
        Ok(Decision {
            allowed,
            remaining: report.tightest.remaining,
            reset_after_ns: report.tightest.reset_after_ns,
            retry_after_ns: verdict.retry_after_ns,
            limit: report.rate.count,
            window_ns: report.rate.period_ns,
        })
    }

    /// Checks every limit; the tightest is the one with the fewest units left.
    fn evaluate(&self, state: &[u64], now: u64, cost: u64, next: &mut [u64]) -> Verdict {
        let words = self.algorithm.words();
        let mut verdict: Option<Verdict> = None;
        for (i, &rate) in self.rates.iter().enumerate() {
            let span = i * words..(i + 1) * words;
            let outcome =
                self.algorithm
                    .check(rate, &state[span.clone()], now, cost, &mut next[span]);
            verdict = Some(match verdict {
                None => Verdict {
                    allowed: outcome.allowed,
                    retry_after_ns: outcome.retry_after_ns,
                    tightest: outcome,
                    rate,
                },
                Some(v) => {
                    // Ties go to the limit that takes longer to recover.
                    let tighter = (outcome.remaining, v.tightest.reset_after_ns)
                        < (v.tightest.remaining, outcome.reset_after_ns);
                    Verdict {
                        allowed: v.allowed && outcome.allowed,
                        retry_after_ns: v.retry_after_ns.max(outcome.retry_after_ns),
                        tightest: if tighter { outcome } else { v.tightest },
                        rate: if tighter { rate } else { v.rate },
                    }
                }
            });
        }
        verdict.expect("a limiter has at least one limit")
    }
}

#[derive(Clone, Copy)]
struct Verdict {
    allowed: bool,
    retry_after_ns: u64,
    tightest: Outcome,
    rate: Rate,
}

#[cfg(test)]
mod tests;
