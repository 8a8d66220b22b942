//! Python bindings for `crate::tokens` (placeholder).

use pyo3::prelude::*;

#[allow(clippy::unnecessary_wraps)] // placeholder until these bindings land
pub fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
