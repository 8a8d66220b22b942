//! Python bindings for `crate::tokens`: token counts, estimates, model table and prices.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::convert::{owned_texts, text};
use crate::tokens::{self, features, models, Counter, Encoding, Mode, Price};

/// Texts shorter than this (in characters) are counted without releasing the GIL: releasing
/// costs more than the count.
const DETACH_ABOVE_CHARS: usize = 16 * 1024;

/// Runs `f` on a long `str`'s UTF-8 with the GIL released. Under `abi3-py39` pyo3 cannot borrow
/// a `str`'s UTF-8 (`convert::text` encodes it to bytes, then copies those into a `String`), so
/// this borrows the encoded bytes instead: one copy, not two. Lone surrogates cannot be encoded
/// and take `convert::text`'s lossy path.
fn detached<R: Send>(
    py: Python<'_>,
    s: &Bound<'_, PyString>,
    f: impl FnOnce(&str) -> R + Send,
) -> R {
    if let Ok(bytes) = s.encode_utf8() {
        if let Ok(utf8) = std::str::from_utf8(bytes.as_bytes()) {
            return py.detach(|| f(utf8));
        }
    }
    let utf8 = text(s);
    py.detach(|| f(&utf8))
}

fn encoding_arg(encoding: Option<&str>) -> PyResult<Option<Encoding>> {
    Ok(encoding.map(Encoding::from_name).transpose()?)
}

fn price_arg(prices: Option<(f64, f64)>) -> Option<Price> {
    prices.map(|(input, output)| Price { input, output })
}

fn tokens_arg(name: &str, value: i64) -> PyResult<u64> {
    u64::try_from(value)
        .map_err(|_| PyValueError::new_err(format!("{name}: must be >= 0, got {value}")))
}

#[pyfunction]
#[pyo3(signature = (text, encoding = "o200k_base"))]
fn count_tokens(py: Python<'_>, text: &Bound<'_, PyString>, encoding: &str) -> PyResult<usize> {
    let encoding = Encoding::from_name(encoding)?;
    if text.len()? < DETACH_ABOVE_CHARS {
        return Ok(tokens::count_tokens(&self::text(text), encoding));
    }
    Ok(detached(py, text, |t| tokens::count_tokens(t, encoding)))
}

#[pyfunction]
#[pyo3(signature = (text, model = "gpt-4o", *, encoding = None, mode = "auto", margin = 1.0))]
fn estimate_tokens(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    model: &str,
    encoding: Option<&str>,
    mode: &str,
    margin: f64,
) -> PyResult<u64> {
    let counter = Counter::new(
        model,
        encoding_arg(encoding)?,
        Mode::from_name(mode)?,
        margin,
    )?;
    if text.len()? < DETACH_ABOVE_CHARS {
        return Ok(counter.count(&self::text(text)));
    }
    Ok(detached(py, text, |t| counter.count(t)))
}

#[pyfunction]
#[pyo3(signature = (texts, model = "gpt-4o", *, encoding = None, mode = "auto", margin = 1.0))]
fn estimate_tokens_batch(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    model: &str,
    encoding: Option<&str>,
    mode: &str,
    margin: f64,
) -> PyResult<Vec<u64>> {
    let counter = Counter::new(
        model,
        encoding_arg(encoding)?,
        Mode::from_name(mode)?,
        margin,
    )?;
    let texts = owned_texts(texts)?;
    Ok(py.detach(|| counter.count_batch(&texts)))
}

#[pyfunction]
#[pyo3(signature = (model, input_tokens, output_tokens = 0, *, prices = None))]
fn estimate_cost(
    model: &str,
    input_tokens: i64,
    output_tokens: i64,
    prices: Option<(f64, f64)>,
) -> PyResult<f64> {
    let input = tokens_arg("input_tokens", input_tokens)?;
    let output = tokens_arg("output_tokens", output_tokens)?;
    Ok(tokens::estimate_cost(
        model,
        input,
        output,
        price_arg(prices),
    )?)
}

#[pyfunction]
#[pyo3(signature = (model, encoding, factor = 1.0))]
fn register_model(model: &str, encoding: &str, factor: f64) -> PyResult<()> {
    Ok(models::register(
        model,
        Encoding::from_name(encoding)?,
        factor,
    )?)
}

#[pyfunction]
fn set_price(model: &str, input_price: f64, output_price: f64) -> PyResult<()> {
    let price = Price {
        input: input_price,
        output: output_price,
    };
    Ok(models::set_price(model, price)?)
}

#[pyfunction]
fn model_table(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for (name, m) in models::table() {
        let row = PyDict::new(py);
        row.set_item("encoding", m.encoding.name())?;
        row.set_item("factor", m.factor)?;
        row.set_item("input_price", m.price.map(|p| p.input))?;
        row.set_item("output_price", m.price.map(|p| p.output))?;
        out.set_item(name, row)?;
    }
    Ok(out)
}

/// The estimator's raw feature counts (used by `tools/fit_tokens.py` to fit the weights).
#[pyfunction]
fn _token_features(py: Python<'_>, text: &Bound<'_, PyString>) -> Vec<(&'static str, u64)> {
    let f = detached(py, text, features::Features::of);
    features::NAMES.iter().copied().zip(f.counts).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_tokens_batch, m)?)?;
    m.add_function(wrap_pyfunction!(estimate_cost, m)?)?;
    m.add_function(wrap_pyfunction!(register_model, m)?)?;
    m.add_function(wrap_pyfunction!(set_price, m)?)?;
    m.add_function(wrap_pyfunction!(model_table, m)?)?;
    m.add_function(wrap_pyfunction!(_token_features, m)?)?;
    m.add("PRICES_AS_OF", models::prices_as_of())?;
    m.add("AUTO_EXACT_BELOW_CHARS", tokens::AUTO_EXACT_BELOW_CHARS)?;
    Ok(())
}
