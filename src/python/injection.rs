//! Python bindings for `crate::injection`: `scan`, `scan_batch`, `Scanner`, `ScanResult`,
//! `Match`. Offsets are converted to code points of the caller's original `str`.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rayon::prelude::*;

use super::convert;
use crate::error::{CoreError, ErrorKind};
use crate::injection::{self, RuleSpec, ScanResult, Scanner, View};
use crate::text::bytes_to_chars;

/// One rule that matched, and where (code-point offsets into the scanned text).
#[pyclass(name = "Match", module = "ravelin._core", frozen, get_all, eq)]
#[derive(Clone, PartialEq)]
pub struct PyMatch {
    rule_id: String,
    category: String,
    start: usize,
    end: usize,
}

#[pymethods]
impl PyMatch {
    fn __repr__(&self) -> String {
        format!(
            "Match(rule_id={:?}, category={:?}, start={}, end={})",
            self.rule_id, self.category, self.start, self.end
        )
    }
}

/// The verdict on one text.
#[pyclass(name = "ScanResult", module = "ravelin._core", frozen)]
pub struct PyScanResult {
    #[pyo3(get)]
    flagged: bool,
    #[pyo3(get)]
    score: f64,
    matches: Vec<PyMatch>,
}

#[pymethods]
impl PyScanResult {
    #[getter]
    fn matches(&self) -> Vec<PyMatch> {
        self.matches.clone()
    }

    fn __repr__(&self) -> String {
        let matches: Vec<String> = self.matches.iter().map(PyMatch::__repr__).collect();
        format!(
            "ScanResult(flagged={}, score={:.3}, matches=[{}])",
            if self.flagged { "True" } else { "False" },
            self.score,
            matches.join(", ")
        )
    }
}

/// Scans `text` and converts byte offsets to code-point offsets (runs without the GIL).
fn scan_text(scanner: &Scanner, text: &str) -> PyScanResult {
    let ScanResult {
        flagged,
        score,
        matches,
    } = scanner.scan(text);
    let mut offsets: Vec<usize> = matches.iter().flat_map(|m| [m.start, m.end]).collect();
    bytes_to_chars(text, &mut offsets);
    let matches = matches
        .iter()
        .zip(offsets.chunks_exact(2))
        .map(|(m, span)| PyMatch {
            rule_id: m.rule_id.to_string(),
            category: m.category.to_string(),
            start: span[0],
            end: span[1],
        })
        .collect();
    PyScanResult {
        flagged,
        score,
        matches,
    }
}

fn scan_one(py: Python<'_>, scanner: &Scanner, text: &Bound<'_, PyString>) -> PyScanResult {
    let text = convert::text(text);
    py.detach(|| scan_text(scanner, &text))
}

fn scan_many(
    py: Python<'_>,
    scanner: &Scanner,
    texts: &Bound<'_, PyAny>,
) -> PyResult<Vec<PyScanResult>> {
    let texts = convert::owned_texts(texts)?;
    Ok(py.detach(|| texts.par_iter().map(|t| scan_text(scanner, t)).collect()))
}

/// Scans one text with the built-in rules and the default threshold.
#[pyfunction]
fn scan(py: Python<'_>, text: &Bound<'_, PyString>) -> PyScanResult {
    scan_one(py, injection::shared(), text)
}

/// Scans many texts in parallel, without the GIL.
#[pyfunction]
fn scan_batch(py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<Vec<PyScanResult>> {
    scan_many(py, injection::shared(), texts)
}

/// A detector with its own threshold, extra rules and disabled rules.
#[pyclass(name = "Scanner", module = "ravelin._core", frozen)]
pub struct PyScanner {
    pub(crate) inner: Arc<Scanner>,
}

/// Reads one extra rule from a dict: id, category, weight, and phrases or pattern.
fn rule_spec(item: &Bound<'_, PyAny>) -> PyResult<RuleSpec> {
    let dict = item
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("extra_rules: every rule must be a dict"))?;
    let id: String = match dict.get_item("id")? {
        Some(v) => v.extract()?,
        None => return Err(invalid("?", "missing key 'id'").into()),
    };
    for key in dict.keys() {
        let key: String = key.extract()?;
        if !matches!(
            key.as_str(),
            "id" | "category" | "weight" | "phrases" | "pattern" | "view" | "negatable" | "unless"
        ) {
            return Err(invalid(&id, &format!("unknown key {key:?}")).into());
        }
    }
    let field = |name: &str| dict.get_item(name);
    let phrases = match field("phrases")? {
        None => Vec::new(),
        Some(p) if p.is_instance_of::<PyString>() => vec![p.extract()?],
        Some(p) => p
            .extract()
            .map_err(|_| invalid(&id, "phrases must be a str or a list of str"))?,
    };
    Ok(RuleSpec {
        category: match field("category")? {
            Some(c) => c.extract()?,
            None => "custom".to_owned(),
        },
        weight: match field("weight")? {
            Some(w) => w
                .extract()
                .map_err(|_| invalid(&id, "weight must be a number"))?,
            None => 1.0,
        },
        phrases,
        pattern: field("pattern")?.map(|p| p.extract()).transpose()?,
        view: match field("view")? {
            Some(v) => View::parse(&v.extract::<String>()?)?,
            None => View::Words,
        },
        negatable: match field("negatable")? {
            Some(n) => n
                .extract()
                .map_err(|_| invalid(&id, "negatable must be a bool"))?,
            None => false,
        },
        unless: field("unless")?
            .map(|u| u.extract())
            .transpose()
            .map_err(|_| invalid(&id, "unless must be a str"))?,
        id,
    })
}

fn invalid(id: &str, problem: &str) -> CoreError {
    CoreError::new(ErrorKind::InvalidRule, format!("rule {id:?}: {problem}"))
}

#[pymethods]
impl PyScanner {
    #[new]
    #[pyo3(signature = (*, threshold = None, extra_rules = None, disabled_rules = None))]
    fn new(
        py: Python<'_>,
        threshold: Option<f64>,
        extra_rules: Option<&Bound<'_, PyAny>>,
        disabled_rules: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let mut builder =
            Scanner::builder().threshold(threshold.unwrap_or(injection::DEFAULT_THRESHOLD));
        if let Some(rules) = extra_rules {
            for item in rules.try_iter()? {
                builder = builder.extra_rule(rule_spec(&item?)?);
            }
        }
        for id in disabled_rules.unwrap_or_default() {
            builder = builder.disable(id);
        }
        let inner = py.detach(|| builder.build())?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.threshold()
    }

    /// Ids of the rules this scanner runs.
    #[getter]
    fn rule_ids(&self) -> Vec<String> {
        self.inner.rule_ids().map(str::to_owned).collect()
    }

    fn scan(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyScanResult {
        scan_one(py, &self.inner, text)
    }

    fn scan_batch(&self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<Vec<PyScanResult>> {
        scan_many(py, &self.inner, texts)
    }

    fn __repr__(&self) -> String {
        format!(
            "Scanner(threshold={}, rules={})",
            self.inner.threshold(),
            self.inner.rule_ids().count()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMatch>()?;
    m.add_class::<PyScanResult>()?;
    m.add_class::<PyScanner>()?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_function(wrap_pyfunction!(scan_batch, m)?)?;
    Ok(())
}
