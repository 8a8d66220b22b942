//! Python bindings for `crate::pii`: `detect`, `redact`, `redact_batch`, `add_entity`,
//! `Detector`, `Redactor`, `Vault` and `StreamRedactor`. Offsets reaching Python are code points.

// pyo3 hands list arguments over as owned `Vec`s; borrowing them is not an option.
#![allow(clippy::needless_pass_by_value)]

use std::sync::{Arc, Mutex, PoisonError};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rayon::prelude::*;

use super::convert::{owned_texts, text};
use crate::error::{CoreError, ErrorKind};
use crate::pii::{self, Finding, Operator, Operators, Recognizer};
use crate::text::bytes_to_chars;

/// A detected entity; offsets are code points into the original text.
#[pyclass(frozen, module = "ravelin._core", name = "Entity")]
#[allow(clippy::struct_field_names)] // `entity_type` is the public attribute's name
pub struct Entity {
    #[pyo3(get)]
    entity_type: String,
    #[pyo3(get)]
    start: usize,
    #[pyo3(get)]
    end: usize,
    #[pyo3(get)]
    score: f64,
    #[pyo3(get)]
    text: String,
}

#[pymethods]
impl Entity {
    // The value itself is left out: reprs end up in logs.
    fn __repr__(&self) -> String {
        format!(
            "Entity(entity_type={:?}, start={}, end={}, score={:.2})",
            self.entity_type, self.start, self.end, self.score
        )
    }
}

/// The redacted text and the entities found (positions in the original text).
#[pyclass(frozen, module = "ravelin._core", name = "RedactResult")]
pub struct RedactResult {
    #[pyo3(get)]
    text: String,
    #[pyo3(get)]
    entities: Vec<Py<Entity>>,
}

#[pymethods]
impl RedactResult {
    fn __repr__(&self) -> String {
        format!("RedactResult(entities={})", self.entities.len())
    }
}

/// Reversible pseudonyms for the `pseudonymize` operator.
#[pyclass(frozen, module = "ravelin._core", name = "Vault")]
pub struct Vault {
    inner: Arc<pii::Vault>,
}

#[pymethods]
impl Vault {
    #[new]
    fn new() -> Self {
        Self {
            inner: Arc::new(pii::Vault::new()),
        }
    }

    fn restore(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> String {
        let t = text_arg(text);
        py.detach(|| self.inner.restore(&t))
    }

    fn clear(&self) {
        self.inner.clear();
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!("Vault(len={})", self.inner.len())
    }
}

fn text_arg(s: &Bound<'_, PyString>) -> String {
    text(s).into_owned()
}

/// Byte-offset findings -> Python entities with code-point offsets.
fn to_entities(py: Python<'_>, text: &str, found: &[Finding]) -> PyResult<Vec<Py<Entity>>> {
    let mut offsets: Vec<usize> = found.iter().flat_map(|f| [f.start, f.end]).collect();
    bytes_to_chars(text, &mut offsets);
    found
        .iter()
        .zip(offsets.chunks_exact(2))
        .map(|(f, o)| {
            Py::new(
                py,
                Entity {
                    entity_type: f.entity_type.clone(),
                    start: o[0],
                    end: o[1],
                    score: (f64::from(f.score) * 100.0).round() / 100.0,
                    text: text[f.start..f.end].to_owned(),
                },
            )
        })
        .collect()
}

/// `operator`: one name for every entity, or a dict of entity type -> name (others replaced).
fn operators(
    detector: &pii::Detector,
    operator: Option<&Bound<'_, PyAny>>,
    keep: usize,
    salt: Option<&str>,
    vault: Option<&Bound<'_, Vault>>,
) -> PyResult<Operators> {
    let vault = vault.map(|v| v.get().inner.clone());
    let Some(operator) = operator else {
        return Ok(Operators::new(
            Operator::Replace,
            vec![],
            keep,
            salt,
            vault,
        )?);
    };
    if let Ok(name) = operator.cast::<PyString>() {
        return Ok(Operators::new(
            Operator::parse(&name.to_cow()?)?,
            vec![],
            keep,
            salt,
            vault,
        )?);
    }
    let Ok(map) = operator.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(
            "operator: must be str or dict[str, str]",
        ));
    };
    let known = detector.entity_names();
    let mut by_entity = Vec::with_capacity(map.len());
    for (k, v) in map.iter() {
        let (Ok(k), Ok(v)) = (k.extract::<String>(), v.extract::<String>()) else {
            return Err(PyTypeError::new_err(
                "operator: dict keys and values must be str",
            ));
        };
        if !known.contains(&k) {
            return Err(CoreError::new(
                ErrorKind::UnknownName,
                format!(
                    "operator: unknown entity {k:?}; known: {}",
                    known.join(", ")
                ),
            )
            .into());
        }
        by_entity.push((k, Operator::parse(&v)?));
    }
    Ok(Operators::new(
        Operator::Replace,
        by_entity,
        keep,
        salt,
        vault,
    )?)
}

/// Detection and redaction of one text, detached from the interpreter.
fn redact_one(
    detector: &pii::Detector,
    text: &str,
    entities: Option<&[String]>,
    ops: &Operators,
) -> Result<(String, Vec<Finding>), CoreError> {
    let found = detector.detect(text, entities)?;
    Ok((pii::redact(text, &found, ops), found))
}

fn to_result(
    py: Python<'_>,
    text: &str,
    redacted: String,
    found: &[Finding],
) -> PyResult<RedactResult> {
    Ok(RedactResult {
        text: redacted,
        entities: to_entities(py, text, found)?,
    })
}

fn batch(
    py: Python<'_>,
    detector: &pii::Detector,
    texts: &Bound<'_, PyAny>,
    entities: Option<&[String]>,
    ops: &Operators,
) -> PyResult<Vec<RedactResult>> {
    let owned = owned_texts(texts)?;
    let done: Vec<(String, Vec<Finding>)> = py.detach(|| {
        owned
            .par_iter()
            .map(|t| redact_one(detector, t, entities, ops))
            .collect::<Result<_, CoreError>>()
    })?;
    owned
        .iter()
        .zip(done)
        .map(|(t, (r, f))| to_result(py, t, r, &f))
        .collect()
}

/// A detector with its own entity set, allow-list and threshold.
#[pyclass(module = "ravelin._core", name = "Detector")]
pub struct Detector {
    inner: Arc<pii::Detector>,
}

fn custom(
    name: &str,
    pattern: &str,
    validator: Option<&str>,
    context: Option<Vec<String>>,
    score: f64,
) -> Result<Recognizer, CoreError> {
    Recognizer::custom(
        name,
        pattern,
        validator,
        context.unwrap_or_default(),
        score as f32,
    )
}

#[pymethods]
impl Detector {
    #[new]
    #[pyo3(signature = (entities=None, *, allow_list=None, threshold=None))]
    fn new(
        entities: Option<Vec<String>>,
        allow_list: Option<Vec<String>>,
        threshold: Option<f64>,
    ) -> PyResult<Self> {
        Ok(Self {
            inner: Arc::new(pii::Detector::global().configured(
                entities.as_deref(),
                vec![],
                allow_list.unwrap_or_default(),
                threshold.map(|t| t as f32),
            )?),
        })
    }

    #[pyo3(signature = (text, entities=None))]
    fn detect(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyString>,
        entities: Option<Vec<String>>,
    ) -> PyResult<Vec<Py<Entity>>> {
        detect_with(py, &self.inner, text, entities.as_deref())
    }

    #[pyo3(signature = (name, pattern, validator=None, context=None, score=0.6))]
    fn add_entity(
        &mut self,
        name: &str,
        pattern: &str,
        validator: Option<&str>,
        context: Option<Vec<String>>,
        score: f64,
    ) -> PyResult<()> {
        let rec = custom(name, pattern, validator, context, score)?;
        self.inner = Arc::new(self.inner.configured(None, vec![rec], vec![], None)?);
        Ok(())
    }

    #[getter]
    fn entities(&self) -> Vec<String> {
        self.inner.entity_names()
    }
}

fn detect_with(
    py: Python<'_>,
    detector: &pii::Detector,
    text: &Bound<'_, PyString>,
    entities: Option<&[String]>,
) -> PyResult<Vec<Py<Entity>>> {
    let t = text_arg(text);
    let found = py.detach(|| detector.detect(&t, entities))?;
    to_entities(py, &t, &found)
}

/// A detector plus operators: redacts texts, batches and streams the same way every time.
#[pyclass(frozen, module = "ravelin._core", name = "Redactor")]
pub struct Redactor {
    detector: Arc<pii::Detector>,
    ops: Operators,
}

#[pymethods]
impl Redactor {
    #[new]
    #[pyo3(signature = (operator=None, entities=None, *, allow_list=None, threshold=None, keep=4, salt=None, vault=None, detector=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        operator: Option<&Bound<'_, PyAny>>,
        entities: Option<Vec<String>>,
        allow_list: Option<Vec<String>>,
        threshold: Option<f64>,
        keep: usize,
        salt: Option<&str>,
        vault: Option<&Bound<'_, Vault>>,
        detector: Option<&Bound<'_, Detector>>,
    ) -> PyResult<Self> {
        let base = match detector {
            Some(d) => d.borrow().inner.clone(),
            None => pii::Detector::global(),
        };
        // Only a changed entity set, allow-list or threshold needs a new pattern set.
        let detector = if entities.is_none() && allow_list.is_none() && threshold.is_none() {
            base
        } else {
            Arc::new(base.configured(
                entities.as_deref(),
                vec![],
                allow_list.unwrap_or_default(),
                threshold.map(|t| t as f32),
            )?)
        };
        let ops = operators(&detector, operator, keep, salt, vault)?;
        Ok(Self { detector, ops })
    }

    fn detect(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<Vec<Py<Entity>>> {
        detect_with(py, &self.detector, text, None)
    }

    fn redact(&self, py: Python<'_>, text: &Bound<'_, PyString>) -> PyResult<RedactResult> {
        let t = text_arg(text);
        let (r, f) = py.detach(|| redact_one(&self.detector, &t, None, &self.ops))?;
        to_result(py, &t, r, &f)
    }

    fn redact_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<RedactResult>> {
        batch(py, &self.detector, texts, None, &self.ops)
    }

    #[pyo3(signature = (hold=256))]
    fn stream(&self, hold: usize) -> PyResult<StreamRedactor> {
        let inner = pii::StreamRedactor::new(self.detector.clone(), self.ops.clone(), None, hold)?;
        Ok(StreamRedactor {
            inner: Mutex::new(inner),
        })
    }
}

/// Redacts a streamed answer chunk by chunk (see `Redactor.stream`).
#[pyclass(frozen, module = "ravelin._core", name = "StreamRedactor")]
pub struct StreamRedactor {
    inner: Mutex<pii::StreamRedactor>,
}

#[pymethods]
impl StreamRedactor {
    #[new]
    #[pyo3(signature = (operator=None, entities=None, *, keep=4, salt=None, vault=None, hold=256))]
    fn new(
        operator: Option<&Bound<'_, PyAny>>,
        entities: Option<Vec<String>>,
        keep: usize,
        salt: Option<&str>,
        vault: Option<&Bound<'_, Vault>>,
        hold: usize,
    ) -> PyResult<Self> {
        let r = Redactor::new(operator, entities, None, None, keep, salt, vault, None)?;
        r.stream(hold)
    }

    fn push(&self, py: Python<'_>, chunk: &Bound<'_, PyString>) -> PyResult<String> {
        let c = text_arg(chunk);
        Ok(py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(&c)
        })?)
    }

    fn finish(&self, py: Python<'_>) -> PyResult<String> {
        Ok(py.detach(|| {
            self.inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finish()
        })?)
    }
}

#[pyfunction]
#[pyo3(signature = (text, entities=None))]
fn detect(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    entities: Option<Vec<String>>,
) -> PyResult<Vec<Py<Entity>>> {
    detect_with(py, &pii::Detector::global(), text, entities.as_deref())
}

#[pyfunction]
#[pyo3(signature = (text, operator=None, entities=None, *, keep=4, salt=None, vault=None))]
fn redact(
    py: Python<'_>,
    text: &Bound<'_, PyString>,
    operator: Option<&Bound<'_, PyAny>>,
    entities: Option<Vec<String>>,
    keep: usize,
    salt: Option<&str>,
    vault: Option<&Bound<'_, Vault>>,
) -> PyResult<RedactResult> {
    let detector = pii::Detector::global();
    let ops = operators(&detector, operator, keep, salt, vault)?;
    let t = text_arg(text);
    let (red, f) = py.detach(|| redact_one(&detector, &t, entities.as_deref(), &ops))?;
    to_result(py, &t, red, &f)
}

#[pyfunction]
#[pyo3(signature = (texts, operator=None, entities=None, *, keep=4, salt=None, vault=None))]
fn redact_batch(
    py: Python<'_>,
    texts: &Bound<'_, PyAny>,
    operator: Option<&Bound<'_, PyAny>>,
    entities: Option<Vec<String>>,
    keep: usize,
    salt: Option<&str>,
    vault: Option<&Bound<'_, Vault>>,
) -> PyResult<Vec<RedactResult>> {
    let detector = pii::Detector::global();
    let ops = operators(&detector, operator, keep, salt, vault)?;
    batch(py, &detector, texts, entities.as_deref(), &ops)
}

#[pyfunction]
#[pyo3(signature = (name, pattern, validator=None, context=None, score=0.6))]
fn add_entity(
    name: &str,
    pattern: &str,
    validator: Option<&str>,
    context: Option<Vec<String>>,
    score: f64,
) -> PyResult<()> {
    Ok(pii::add_entity(custom(
        name, pattern, validator, context, score,
    )?)?)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Entity>()?;
    m.add_class::<RedactResult>()?;
    m.add_class::<Vault>()?;
    m.add_class::<Detector>()?;
    m.add_class::<Redactor>()?;
    m.add_class::<StreamRedactor>()?;
    m.add_function(wrap_pyfunction!(detect, m)?)?;
    m.add_function(wrap_pyfunction!(redact, m)?)?;
    m.add_function(wrap_pyfunction!(redact_batch, m)?)?;
    m.add_function(wrap_pyfunction!(add_entity, m)?)?;
    Ok(())
}
