//! Argument extraction shared by every binding ("extract, detach, convert").

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// Borrows a Python `str` as UTF-8. Lone surrogates (which UTF-8 cannot hold) become U+FFFD,
/// one code point for one, so code-point offsets computed on the result stay valid for the
/// caller's original string.
pub fn text<'a>(s: &'a Bound<'_, PyString>) -> Cow<'a, str> {
    text_and_replaced(s).0
}

/// [`text`], and whether it replaced lone surrogates.
pub fn text_and_replaced<'a>(s: &'a Bound<'_, PyString>) -> (Cow<'a, str>, bool) {
    match s.to_cow() {
        Ok(text) => (text, false),
        Err(_) => (Cow::Owned(replace_surrogates(s)), true),
    }
}

/// `to_string_lossy` turns one surrogate (3 bytes under `surrogatepass`) into 3 U+FFFD,
/// shifting every later offset; this makes it exactly one.
fn replace_surrogates(s: &Bound<'_, PyString>) -> String {
    let Ok(encoded) = s.call_method1("encode", ("utf-8", "surrogatepass")) else {
        return s.to_string_lossy().into_owned();
    };
    let Ok(bytes) = encoded.cast::<pyo3::types::PyBytes>() else {
        return s.to_string_lossy().into_owned();
    };
    let mut out = String::new();
    for chunk in bytes.as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        // A surrogate (ED A0..BF 80..BF) comes out as three one-byte invalid chunks; the
        // first starts with ED.
        let bad = chunk.invalid().len();
        if bad > 0 && chunk.invalid()[0] == 0xED {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    out
}

/// Copies a sequence of Python `str` into owned Rust strings, so the work can run detached
/// from the interpreter (rayon threads cannot touch Python objects).
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
