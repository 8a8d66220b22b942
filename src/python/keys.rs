//! Python bindings for `crate::keys`.
//!
//! Every call hashes at most a few hundred bytes (longer input is refused before any work), so
//! none releases the GIL: a detach/attach round trip would cost more than the work.

use std::borrow::Cow;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::convert::text;
use crate::keys;

/// The pepper as bytes: `str` is taken as UTF-8.
fn pepper_bytes<'a>(pepper: Option<&'a Bound<'_, PyAny>>) -> PyResult<Option<Cow<'a, [u8]>>> {
    let Some(pepper) = pepper else {
        return Ok(None);
    };
    if let Ok(bytes) = pepper.cast::<PyBytes>() {
        return Ok(Some(Cow::Borrowed(bytes.as_bytes())));
    }
    if let Ok(s) = pepper.cast::<PyString>() {
        return Ok(Some(Cow::Owned(s.to_cow()?.into_owned().into_bytes())));
    }
    Err(PyTypeError::new_err("pepper: must be str, bytes or None"))
}

#[pyfunction]
#[pyo3(signature = (prefix = None), text_signature = "(prefix='rk_live')")]
fn generate_key(prefix: Option<&Bound<'_, PyString>>) -> PyResult<String> {
    let prefix = prefix.map_or(Cow::Borrowed(keys::DEFAULT_PREFIX), text);
    Ok(keys::generate_key(&prefix)?)
}

#[pyfunction]
#[pyo3(signature = (key, prefix = None))]
fn check_key_format(key: &Bound<'_, PyString>, prefix: Option<&Bound<'_, PyString>>) -> bool {
    let key = text(key);
    match (keys::key_prefix(&key), prefix) {
        (Some(found), Some(wanted)) => found == text(wanted),
        (found, None) => found.is_some(),
        (None, Some(_)) => false,
    }
}

#[pyfunction]
#[pyo3(signature = (key, pepper = None))]
fn hash_key(key: &Bound<'_, PyString>, pepper: Option<&Bound<'_, PyAny>>) -> PyResult<String> {
    let pepper = pepper_bytes(pepper)?;
    Ok(keys::hash_key(&text(key), pepper.as_deref())?)
}

#[pyfunction]
#[pyo3(signature = (key, digest, pepper = None))]
fn verify_key(
    key: &Bound<'_, PyString>,
    digest: &Bound<'_, PyString>,
    pepper: Option<&Bound<'_, PyAny>>,
) -> PyResult<bool> {
    let pepper = pepper_bytes(pepper)?;
    Ok(keys::verify_key(
        &text(key),
        &text(digest),
        pepper.as_deref(),
    )?)
}

#[pyfunction]
fn mask_key(key: &Bound<'_, PyString>) -> String {
    keys::mask_key(&text(key))
}

#[pyfunction]
fn key_id(digest: &Bound<'_, PyString>) -> PyResult<String> {
    Ok(keys::key_id(&text(digest))?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(generate_key, m)?)?;
    m.add_function(wrap_pyfunction!(check_key_format, m)?)?;
    m.add_function(wrap_pyfunction!(hash_key, m)?)?;
    m.add_function(wrap_pyfunction!(verify_key, m)?)?;
    m.add_function(wrap_pyfunction!(mask_key, m)?)?;
    m.add_function(wrap_pyfunction!(key_id, m)?)?;
    Ok(())
}
