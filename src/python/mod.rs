//! The only pyo3 code in the crate: thin wrappers that extract arguments, run the core with the
//! GIL released, and convert results. Each concern registers its own classes and functions.

use pyo3::prelude::*;

mod budget;
mod convert;
mod error;
mod injection;
mod inspect;
mod keys;
mod pii;
mod ratelimit;
mod tokens;

#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    injection::register(m)?;
    inspect::register(m)?;
    pii::register(m)?;
    tokens::register(m)?;
    keys::register(m)?;
    ratelimit::register(m)?;
    budget::register(m)?;
    Ok(())
}
