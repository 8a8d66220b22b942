//! Token and cost budgets per key per UTC day and month.
//!
//! [`Limits::verdict`] turns usage into the caller's answer (allowed, what is left, when to
//! retry) for any store; [`Ledger`] keeps the usage in process. Costs are integer nano-dollars
//! so that sums stay exact. The caller names the periods (their ids and the seconds left in
//! each): calendar arithmetic stays with the caller's date library, and a new id means the
//! old period's counters say nothing any more.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Tokens per day, tokens per month, nano-dollars per day, nano-dollars per month; `None` where
/// no such budget is set. Usage arrays follow the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits(pub [Option<i64>; 4]);

/// The period a call falls in: ids that change when the period does, and seconds to its end.
#[derive(Debug, Clone, Copy)]
pub struct Period<'a> {
    pub day: &'a str,
    pub month: &'a str,
    pub day_left: f64,
    pub month_left: f64,
}

/// The answer to one reservation or charge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    /// What is left of the tighter of the day and month token budgets (`None`: neither set).
    pub tokens_left: Option<i64>,
    /// The same for cost, in nano-dollars.
    pub cost_left: Option<i64>,
    /// Seconds until the period that refused ends (0 when allowed).
    pub retry_after: f64,
}

impl Limits {
    /// The verdict on `used` (after the operation, or before it for a refused reservation).
    /// A reservation (`check`) that was refused retries when every period it would have
    /// overrun, counting its own `tokens` and `cost`, has ended.
    pub fn verdict(
        &self,
        allowed: bool,
        used: [i64; 4],
        (tokens, cost): (i64, i64),
        period: &Period<'_>,
        check: bool,
    ) -> Verdict {
        let mut retry_after = 0.0f64;
        if !allowed {
            let need = if check {
                [tokens, tokens, cost, cost]
            } else {
                [0; 4]
            };
            let ends = [
                period.day_left,
                period.month_left,
                period.day_left,
                period.month_left,
            ];
            for i in 0..4 {
                if self.0[i].is_some_and(|limit| used[i].saturating_add(need[i]) > limit) {
                    retry_after = retry_after.max(ends[i]);
                }
            }
        }
        Verdict {
            allowed,
            tokens_left: self.tightest(used, 0),
            cost_left: self.tightest(used, 2),
            retry_after,
        }
    }

    /// Every set limit holds `used`.
    fn within(&self, used: [i64; 4]) -> bool {
        self.0
            .iter()
            .zip(used)
            .all(|(limit, u)| limit.map_or(true, |limit| u <= limit))
    }

    /// What is left of the tighter of the day and month budgets at `first` and `first + 1`.
    fn tightest(&self, used: [i64; 4], first: usize) -> Option<i64> {
        let left = |i: usize| self.0[i].map(|limit| limit - used[i]);
        let left = match (left(first), left(first + 1)) {
            (Some(day), Some(month)) => Some(day.min(month)),
            (day, month) => day.or(month),
        };
        left.map(|l| l.max(0))
    }
}

/// Usage per key in process memory, under one lock (a call is a few map operations).
#[derive(Debug)]
pub struct Ledger {
    limits: Limits,
    usage: Mutex<Usage>,
}

/// (tokens, nano-dollars) per key for the current day and month.
#[derive(Debug, Default)]
struct Usage {
    day: String,
    month: String,
    days: HashMap<String, [i64; 2]>,
    months: HashMap<String, [i64; 2]>,
}

impl Usage {
    /// Forgets the counters of a period that has ended.
    fn enter(&mut self, period: &Period<'_>) {
        if self.day != period.day {
            self.days.clear();
            period.day.clone_into(&mut self.day);
        }
        if self.month != period.month {
            self.months.clear();
            period.month.clone_into(&mut self.month);
        }
    }

    fn of(&self, key: &str) -> [i64; 4] {
        let [day_tokens, day_cost] = self.days.get(key).copied().unwrap_or_default();
        let [month_tokens, month_cost] = self.months.get(key).copied().unwrap_or_default();
        [day_tokens, month_tokens, day_cost, month_cost]
    }
}

impl Ledger {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            usage: Mutex::new(Usage::default()),
        }
    }

    /// Adds `tokens` and `cost` (negative to give back) to `key`'s usage. A reservation
    /// (`check`) is refused, and then changes nothing, if any budget would be overrun; a
    /// charge always counts (the model call has happened) and reports whether every budget
    /// still holds. Usage never goes below zero.
    pub fn apply(
        &self,
        key: &str,
        (tokens, cost): (i64, i64),
        period: &Period<'_>,
        check: bool,
    ) -> Verdict {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.enter(period);
        let before = usage.of(key);
        let delta = [tokens, tokens, cost, cost];
        let after: [i64; 4] = std::array::from_fn(|i| before[i].saturating_add(delta[i]));
        let fits = self.limits.within(after);
        let used = if fits || !check {
            let used = after.map(|u| u.max(0));
            store(&mut usage.days, key, [used[0], used[2]]);
            store(&mut usage.months, key, [used[1], used[3]]);
            used
        } else {
            before
        };
        drop(usage);
        let allowed = if check {
            fits
        } else {
            self.limits.within(used)
        };
        self.limits
            .verdict(allowed, used, (tokens, cost), period, check)
    }

    /// (tokens today, tokens this month, nano-dollars today, nano-dollars this month).
    pub fn usage(&self, key: &str, period: &Period<'_>) -> [i64; 4] {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.enter(period);
        usage.of(key)
    }

    pub fn reset(&self, key: &str) {
        let mut usage = self.usage.lock().unwrap_or_else(PoisonError::into_inner);
        usage.days.remove(key);
        usage.months.remove(key);
    }
}

/// Sets `key`'s counters, copying the key only the first time it is seen in the period.
fn store(counters: &mut HashMap<String, [i64; 2]>, key: &str, value: [i64; 2]) {
    match counters.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            counters.insert(key.to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY1: Period<'static> = Period {
        day: "20261122",
        month: "202611",
        day_left: 100.0,
        month_left: 1000.0,
    };

    /// Retry times are the caller's period ends, passed through: equal, not merely close.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits()
    }

    fn ledger(limits: [Option<i64>; 4]) -> Ledger {
        Ledger::new(Limits(limits))
    }

    #[test]
    fn a_reservation_over_budget_is_refused_and_counts_nothing() {
        let l = ledger([Some(100), None, None, None]);
        assert!(l.apply("k", (60, 0), &DAY1, true).allowed);
        let refused = l.apply("k", (60, 0), &DAY1, true);
        assert!(!refused.allowed);
        assert_eq!(refused.tokens_left, Some(40));
        assert!(same(refused.retry_after, 100.0));
        assert_eq!(l.usage("k", &DAY1), [60, 60, 0, 0]);
        assert_eq!(l.usage("other", &DAY1), [0; 4]);
    }

    #[test]
    fn a_charge_always_counts_and_says_when_the_budget_is_overrun() {
        let l = ledger([None, Some(100), None, Some(5_000)]);
        let over = l.apply("k", (150, 6_000), &DAY1, false);
        assert!(!over.allowed);
        assert_eq!((over.tokens_left, over.cost_left), (Some(0), Some(0)));
        assert!(same(over.retry_after, 1000.0));
        let back = l.apply("k", (-500, -10_000), &DAY1, false);
        assert!(back.allowed);
        assert_eq!(l.usage("k", &DAY1), [0, 0, 0, 0]);
    }

    #[test]
    fn the_tighter_of_day_and_month_is_what_is_left() {
        let l = ledger([Some(100), Some(1_000), Some(10), None]);
        let v = l.apply("k", (30, 4), &DAY1, true);
        assert_eq!((v.tokens_left, v.cost_left), (Some(70), Some(6)));
        let unlimited = ledger([None, None, None, Some(1)]).apply("k", (5, 0), &DAY1, true);
        assert_eq!(
            (unlimited.tokens_left, unlimited.cost_left),
            (None, Some(1))
        );
    }

    #[test]
    fn a_new_day_forgets_the_day_and_a_new_month_the_month() {
        let l = ledger([Some(100), Some(150), None, None]);
        l.apply("k", (90, 0), &DAY1, true);
        let day2 = Period {
            day: "20261123",
            ..DAY1
        };
        assert_eq!(l.usage("k", &day2), [0, 90, 0, 0]);
        let refused = l.apply("k", (90, 0), &day2, true);
        assert!(!refused.allowed && same(refused.retry_after, 1000.0));
        let next_month = Period {
            day: "20261201",
            month: "202612",
            ..DAY1
        };
        assert!(l.apply("k", (90, 0), &next_month, true).allowed);
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let l = ledger([None, None, Some(i64::MAX), None]);
        l.apply("k", (0, i64::MAX), &DAY1, false);
        let v = l.apply("k", (i64::MAX, i64::MAX), &DAY1, false);
        assert!(v.allowed);
        assert_eq!(
            l.usage("k", &DAY1),
            [i64::MAX, i64::MAX, i64::MAX, i64::MAX]
        );
        l.reset("k");
        assert_eq!(l.usage("k", &DAY1), [0; 4]);
    }
}
