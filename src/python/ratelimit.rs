//! Python bindings for `crate::ratelimit`: `RateLimiter` and its `Decision`.
//!
//! A hit is O(1) and takes well under a microsecond, so it runs with the GIL held: releasing
//! and re-taking it would cost more than the check itself.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::ratelimit::{self, Algorithm, Limiter};

const NS: f64 = 1e9;

/// The verdict on one hit.
#[pyclass(module = "ravelin", frozen, get_all, freelist = 64)]
#[derive(Clone)]
pub struct Decision {
    allowed: bool,
    remaining: u64,
    reset_after: f64,
    retry_after: f64,
    limit: u64,
    window: f64,
}

#[pymethods]
impl Decision {
    #[new]
    #[pyo3(signature = (*, allowed, remaining, reset_after, retry_after, limit, window))]
    fn new(
        allowed: bool,
        remaining: u64,
        reset_after: f64,
        retry_after: f64,
        limit: u64,
        window: f64,
    ) -> Self {
        Self {
            allowed,
            remaining,
            reset_after,
            retry_after,
            limit,
            window,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(allowed={}, remaining={}, reset_after={:.3}, retry_after={:.3}, limit={}, \
             window={})",
            if self.allowed { "True" } else { "False" },
            self.remaining,
            self.reset_after,
            self.retry_after,
            self.limit,
            self.window,
        )
    }
}

impl From<ratelimit::Decision> for Decision {
    fn from(d: ratelimit::Decision) -> Self {
        Self {
            allowed: d.allowed,
            remaining: d.remaining,
            reset_after: d.reset_after_ns as f64 / NS,
            retry_after: d.retry_after_ns as f64 / NS,
            limit: d.limit,
            window: d.window_ns as f64 / NS,
        }
    }
}

/// An in-process limiter over any number of keys.
#[pyclass(module = "ravelin", frozen)]
pub struct RateLimiter {
    core: Limiter,
    clock: Option<Py<PyAny>>,
}

#[pymethods]
impl RateLimiter {
    #[new]
    #[pyo3(signature = (limits, algorithm = "gcra", *, clock = None))]
    fn new(limits: &str, algorithm: &str, clock: Option<Py<PyAny>>) -> PyResult<Self> {
        let algorithm: Algorithm = algorithm.parse()?;
        Ok(Self {
            core: Limiter::new(limits, algorithm)?,
            clock,
        })
    }

    #[pyo3(signature = (key, cost = 1))]
    fn hit(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: i64) -> PyResult<Decision> {
        self.decide(py, key, cost, true)
    }

    #[pyo3(signature = (key, cost = 1))]
    fn peek(&self, py: Python<'_>, key: &Bound<'_, PyAny>, cost: i64) -> PyResult<Decision> {
        self.decide(py, key, cost, false)
    }

    fn reset(&self, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.core.reset(&key_hash(key)?);
        Ok(())
    }

    #[getter]
    fn limits(&self) -> Vec<(u64, f64)> {
        self.core
            .rates()
            .iter()
            .map(|r| (r.count, r.window_secs()))
            .collect()
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        match self.core.algorithm() {
            Algorithm::Gcra => "gcra",
            Algorithm::SlidingWindow => "sliding_window",
        }
    }

    fn __len__(&self) -> usize {
        self.core.len()
    }

    fn __repr__(&self) -> String {
        let limits: Vec<String> = self
            .core
            .rates()
            .iter()
            .map(|r| format!("{}/{}s", r.count, r.window_secs()))
            .collect();
        format!(
            "RateLimiter({:?}, algorithm={:?})",
            limits.join("; "),
            self.algorithm()
        )
    }
}

impl RateLimiter {
    fn decide(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        cost: i64,
        commit: bool,
    ) -> PyResult<Decision> {
        let key = key_hash(key)?;
        let cost = u64::try_from(cost)
            .map_err(|_| PyValueError::new_err(format!("cost: must be >= 0, got {cost}")))?;
        let decision = match &self.clock {
            None if commit => self.core.hit(&key, cost),
            None => self.core.peek(&key, cost),
            Some(clock) => {
                let now = clock_ns(clock.bind(py))?;
                if commit {
                    self.core.hit_at(&key, cost, now)
                } else {
                    self.core.peek_at(&key, cost, now)
                }
            }
        }?;
        Ok(decision.into())
    }
}

/// The key's Python hash: computed once per `str` object and cached by the interpreter, randomised per
/// process (SipHash-1-3), then re-hashed by the limiter's own keyed hasher. Two keys share a
/// bucket only if their 64-bit hashes collide. Borrowing the text instead would copy it into
/// a bytes object on every call (the stable ABI for 3.9 has no zero-copy UTF-8 access).
fn key_hash(key: &Bound<'_, PyAny>) -> PyResult<isize> {
    let key = key.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "key: must be str, got {}",
            key.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    key.hash()
}

/// Reads a user clock (seconds as float, monotonic) as nanoseconds.
fn clock_ns(clock: &Bound<'_, PyAny>) -> PyResult<u64> {
    let secs: f64 = clock.call0()?.extract()?;
    if !(0.0..=1e10).contains(&secs) {
        return Err(PyValueError::new_err(format!(
            "clock: must return seconds within [0, 1e10], got {secs}"
        )));
    }
    Ok((secs * NS) as u64)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RateLimiter>()?;
    m.add_class::<Decision>()?;
    Ok(())
}
