//! Python bindings for `crate::budget`: `BudgetLedger` (usage in process) and
//! `budget_verdict` (the answer for usage kept elsewhere: Redis). Both answer with the fields
//! of `ravelin.budgets.BudgetDecision`, in order. A call is a few map operations, so it runs
//! with the GIL held.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::budget::{Ledger, Limits, Period, Verdict};

const NANO: f64 = 1e9;

/// allowed, tokens left, dollars left, retry after, tokens reserved, dollars reserved.
type Decision = (bool, Option<i64>, Option<f64>, f64, i64, f64);

fn decision(verdict: Verdict, (tokens, cost): (i64, i64), check: bool) -> Decision {
    let (reserved_tokens, reserved_cost) = if verdict.allowed && check {
        (tokens, cost as f64 / NANO)
    } else {
        (0, 0.0)
    };
    (
        verdict.allowed,
        verdict.tokens_left,
        verdict.cost_left.map(|c| c as f64 / NANO),
        verdict.retry_after,
        reserved_tokens,
        reserved_cost,
    )
}

/// Tokens per day and month, nano-dollars per day and month; -1 where none is set.
fn limits(values: [i64; 4]) -> PyResult<Limits> {
    if let Some(bad) = values.iter().find(|&&v| v < -1) {
        return Err(PyValueError::new_err(format!(
            "limits: must be >= 0, or -1 for none, got {bad}"
        )));
    }
    Ok(Limits(values.map(|v| (v >= 0).then_some(v))))
}

/// Token and cost usage per key for the current UTC day and month, in process.
#[pyclass(name = "BudgetLedger", module = "ravelin._core", frozen)]
pub struct BudgetLedger {
    core: Ledger,
}

#[pymethods]
impl BudgetLedger {
    #[new]
    fn new(limits: [i64; 4]) -> PyResult<Self> {
        Ok(Self {
            core: Ledger::new(self::limits(limits)?),
        })
    }

    /// Adds ``tokens`` and ``cost`` (nano-dollars; negative gives back) to ``key``'s usage in
    /// the period named by ``day`` and ``month``; a reservation (``check``) is refused, and
    /// then counts nothing, when a budget would be overrun.
    #[allow(clippy::too_many_arguments)] // the BudgetDecision fields' inputs, flat: one call
    #[pyo3(signature = (key, tokens, cost, check, day, month, day_left, month_left))]
    fn apply(
        &self,
        key: &str,
        tokens: i64,
        cost: i64,
        check: bool,
        day: &str,
        month: &str,
        day_left: f64,
        month_left: f64,
    ) -> Decision {
        let period = Period {
            day,
            month,
            day_left,
            month_left,
        };
        let verdict = self.core.apply(key, (tokens, cost), &period, check);
        decision(verdict, (tokens, cost), check)
    }

    /// (tokens today, tokens this month, nano-dollars today, nano-dollars this month).
    fn usage(&self, key: &str, day: &str, month: &str) -> [i64; 4] {
        let period = Period {
            day,
            month,
            day_left: 0.0,
            month_left: 0.0,
        };
        self.core.usage(key, &period)
    }

    fn reset(&self, key: &str) {
        self.core.reset(key);
    }
}

/// The decision on usage kept elsewhere: ``used`` after the operation (before it, for a
/// refused reservation), as `BudgetLedger.apply` answers.
#[allow(clippy::too_many_arguments)] // as BudgetLedger.apply
#[pyfunction]
#[pyo3(signature = (limits, allowed, used, tokens, cost, check, day_left, month_left))]
fn budget_verdict(
    limits: [i64; 4],
    allowed: bool,
    used: [i64; 4],
    tokens: i64,
    cost: i64,
    check: bool,
    day_left: f64,
    month_left: f64,
) -> PyResult<Decision> {
    let period = Period {
        day: "",
        month: "",
        day_left,
        month_left,
    };
    let verdict = self::limits(limits)?.verdict(allowed, used, (tokens, cost), &period, check);
    Ok(decision(verdict, (tokens, cost), check))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BudgetLedger>()?;
    m.add_function(wrap_pyfunction!(budget_verdict, m)?)?;
    Ok(())
}
