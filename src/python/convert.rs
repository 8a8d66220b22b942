//! Argument extraction shared by every binding ("extract, detach, convert").

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// Borrows a Python `str` as UTF-8. Lone surrogates (which UTF-8 cannot hold) become U+FFFD,
/// one code point for one, so code-point offsets computed on the result stay valid for the
/// caller's original string.
pub fn text<'a>(s: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    s.to_cow()
        .unwrap_or_else(|_| Cow::Owned(replace_surrogates(s)))
}

/// `to_string_lossy` turns one lone surrogate into up to three U+FFFD (one per UTF-8 byte),
/// which shifts every later offset; UTF-16 decoding replaces each with exactly one.
fn replace_surrogates(s: &Bound<'_, PyString>) -> String {
    s.call_method1("encode", ("utf-16-le", "surrogatepass"))
        .and_then(|b| b.extract::<Vec<u8>>())
        .map_or_else(
            |_| s.to_string_lossy().into_owned(),
            |bytes| {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            },
        )
}

/// Copies a sequence of Python `str` into owned Rust strings, so the work can run detached
/// from the interpreter (rayon threads cannot touch Python objects).
#[allow(dead_code)] // used by the bindings as they land
pub fn owned_texts(items: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for item in items.try_iter()? {
        let item = item?;
        let s = item.cast::<PyString>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "texts: every item must be str, got {}",
                item.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        out.push(text(s).into_owned());
    }
    Ok(out)
}
