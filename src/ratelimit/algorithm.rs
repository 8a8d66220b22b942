//! The per-limit arithmetic of both algorithms, on integer nanoseconds so "exactly N" holds.
//!
//! GCRA keeps one word per limit: the theoretical arrival time (TAT). The emission interval is
//! rounded up to whole nanoseconds and the burst tolerance is `count` intervals, so a full
//! burst admits exactly `count` hits and the long-run rate never exceeds the limit.
//!
//! The sliding-window counter (Cloudflare's) keeps two words: the window number (+1, so 0 means
//! empty) and the previous and current window counts packed in 32 bits each. The previous
//! count is weighted by the part of it still inside the sliding window.

use super::parse::Rate;

/// The Lua scripts of `ravelin.limits` mirror this file line for line; keep them in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Gcra,
    SlidingWindow,
}

/// What one limit says about one hit, before anything is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub allowed: bool,
    pub remaining: u64,
    pub reset_after_ns: u64,
    pub retry_after_ns: u64,
}

impl Algorithm {
    /// Words of state per limit per key.
    pub const fn words(self) -> usize {
        match self {
            Self::Gcra => 1,
            Self::SlidingWindow => 2,
        }
    }

    /// Judges a hit of `cost` against `state` at `now`, writing the state a commit would store
    /// into `next` (same length as `state`).
    pub fn check(
        self,
        rate: Rate,
        state: &[u64],
        now: u64,
        cost: u64,
        next: &mut [u64],
    ) -> Outcome {
        match self {
            Self::Gcra => gcra(rate, state[0], now, cost, &mut next[0]),
            Self::SlidingWindow => sliding(rate, state, now, cost, next),
        }
    }

    /// True when the state says nothing any more (equivalent to a key never seen).
    pub fn is_stale(self, rate: Rate, state: &[u64], now: u64) -> bool {
        match self {
            Self::Gcra => state[0] <= now,
            Self::SlidingWindow => state[0] < now / rate.period_ns,
        }
    }
}

/// The GCRA emission interval: the window divided by the count, rounded up.
pub fn interval_ns(rate: Rate) -> u64 {
    rate.period_ns.div_ceil(rate.count)
}

fn gcra(rate: Rate, tat: u64, now: u64, cost: u64, next: &mut u64) -> Outcome {
    let interval = interval_ns(rate);
    let tolerance = interval * rate.count;
    let base = tat.max(now);
    let used = base - now;
    let remaining_before = (tolerance - used.min(tolerance)) / interval;
    if cost > rate.count {
        // Never fits: deny without waiting for a time that will not come.
        *next = tat;
        return Outcome {
            allowed: false,
            remaining: remaining_before,
            reset_after_ns: used,
            retry_after_ns: rate.period_ns,
        };
    }
    let new_tat = base + cost * interval;
    let after = new_tat - now;
    if after <= tolerance {
        *next = new_tat;
        Outcome {
            allowed: true,
            remaining: (tolerance - after) / interval,
            reset_after_ns: after,
            retry_after_ns: 0,
        }
    } else {
        *next = tat;
        Outcome {
            allowed: false,
            remaining: remaining_before,
            reset_after_ns: used,
            retry_after_ns: after - tolerance,
        }
    }
}

fn sliding(rate: Rate, state: &[u64], now: u64, cost: u64, next: &mut [u64]) -> Outcome {
    let period = u128::from(rate.period_ns);
    let limit = u128::from(rate.count);
    let window = now / rate.period_ns;
    let elapsed = u128::from(now % rate.period_ns);
    let (prev, cur) = match state[0] {
        s if s == window + 1 => (state[1] >> 32, state[1] & 0xffff_ffff),
        s if s == window => (state[1] & 0xffff_ffff, 0),
        _ => (0, 0),
    };
    let (prev, cur) = (u128::from(prev), u128::from(cur));
    let cost = u128::from(cost);
    let weighted_prev = prev * (period - elapsed);
    let used = weighted_prev + cur * period;
    let capacity = limit * period;
    let to_window_end = period - elapsed;
    let allowed = cost <= limit && used + cost * period <= capacity;
    let (used, cur) = if allowed {
        (used + cost * period, cur + cost)
    } else {
        (used, cur)
    };
    let reset_after = if cur > 0 {
        to_window_end + period
    } else if prev > 0 {
        to_window_end
    } else {
        0
    };
    let retry_after = if allowed {
        0
    } else if cost > limit {
        period
    } else if cur + cost <= limit {
        // Fits later in this window, once enough of the previous window has slid out.
        to_window_end.saturating_sub((limit - cur - cost) * period / prev)
    } else {
        // Fits in the next window, once enough of this window's count has slid out.
        to_window_end + period - (limit - cost) * period / cur
    };
    next[0] = window + 1;
    next[1] = ((prev as u64) << 32) | cur as u64;
    Outcome {
        allowed,
        remaining: ((capacity - used.min(capacity)) / period) as u64,
        reset_after_ns: reset_after as u64,
        retry_after_ns: retry_after as u64,
    }
}
