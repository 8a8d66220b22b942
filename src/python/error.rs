//! The single mapping from core errors to Python exceptions (as polars' `exceptions.rs`).

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::{CoreError, ErrorKind};

create_exception!(
    ravelin,
    RavelinError,
    PyValueError,
    "Base of every error raised by ravelin's core."
);
create_exception!(
    ravelin,
    InvalidRuleError,
    RavelinError,
    "A user-supplied rule or pattern is invalid."
);
create_exception!(
    ravelin,
    UnknownNameError,
    RavelinError,
    "A model, encoding, entity or operator name is unknown."
);

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err.kind() {
            ErrorKind::InvalidRule => InvalidRuleError::new_err(err.to_string()),
            ErrorKind::UnknownName => UnknownNameError::new_err(err.to_string()),
            _ => RavelinError::new_err(err.to_string()),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("RavelinError", py.get_type::<RavelinError>())?;
    m.add("InvalidRuleError", py.get_type::<InvalidRuleError>())?;
    m.add("UnknownNameError", py.get_type::<UnknownNameError>())?;
    Ok(())
}
