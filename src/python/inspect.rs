//! Python bindings for `crate::inspect`: `GuardInspector`, the guard pipeline's one call per
//! request side. It finds the prompt strings in the parsed JSON body itself (Python objects,
//! so the framework's own parse is reused), runs the core without the GIL, and writes
//! redacted prompts back in place.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::convert;
use super::injection::PyScanner;
use crate::injection::{self, Scanner};
use crate::inspect::{self, PiiAction, PiiPolicy};
use crate::pii::Detector;
use crate::tokens::{Counter, Mode};
use crate::usage;

/// Texts shorter than this are inspected without releasing the GIL. Releasing it hands the
/// interpreter to any other thread that wants it (a server's workers, a limiter's expiry
/// timer) and the request then waits for it back: tens of microseconds on a busy process, more
/// than the work on a typical prompt or answer takes.
const DETACH_ABOVE_BYTES: usize = 16 * 1024;

/// One step of a prompt-field path: a dict key, a list index, or every list item.
enum Segment {
    Key(Py<PyString>),
    Index(usize),
    Every,
}

/// Where a prompt string sits, so a redacted text can replace it.
enum Slot<'py> {
    Key(Bound<'py, PyDict>, Bound<'py, PyString>),
    Index(Bound<'py, PyList>, usize),
}

/// The verdict on one request's prompts (see `GuardInspector.inspect`).
#[pyclass(name = "InputReport", module = "ravelin._core", frozen, get_all)]
pub struct PyInputReport {
    prompts: Vec<Py<PyString>>,
    too_long: bool,
    flagged: bool,
    score: f64,
    rule_ids: Vec<String>,
    entities: Vec<(String, usize)>,
    blocked: Vec<String>,
    redacted_prompts: Option<Vec<Py<PyString>>>,
    tokens: u64,
}

#[pymethods]
impl PyInputReport {
    fn __repr__(&self) -> String {
        format!(
            "InputReport(prompts={}, flagged={}, entities={}, tokens={})",
            self.prompts.len(),
            if self.flagged { "True" } else { "False" },
            self.entities.len(),
            self.tokens
        )
    }
}

/// A guard policy's text checks, compiled once: prompt paths, scanner, PII actions, model.
#[pyclass(name = "GuardInspector", module = "ravelin._core", frozen)]
pub struct PyGuardInspector {
    paths: Vec<Vec<Segment>>,
    scanner: Option<Arc<Scanner>>,
    block_injection: bool,
    pii: PiiPolicy,
    model: String,
    max_field_chars: usize,
    canary: Option<String>,
    output_pii: bool,
}

fn segment(item: &Bound<'_, PyAny>) -> PyResult<Segment> {
    if item.is_none() {
        Ok(Segment::Every)
    } else if let Ok(key) = item.cast::<PyString>() {
        Ok(Segment::Key(key.clone().unbind()))
    } else if let Ok(index) = item.extract::<usize>() {
        Ok(Segment::Index(index))
    } else {
        Err(PyTypeError::new_err(
            "paths: segments must be str, int >= 0 or None (every item)",
        ))
    }
}

impl PyGuardInspector {
    /// `(container, slot)` of every string at the prompt paths, in path then document order.
    fn slots<'py>(
        &self,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<(Vec<Slot<'py>>, Vec<Bound<'py, PyString>>)> {
        let mut slots = Vec::new();
        let mut texts = Vec::new();
        for path in &self.paths {
            walk(value, path, &mut slots, &mut texts)?;
        }
        Ok((slots, texts))
    }

    fn counter(&self) -> PyResult<Counter> {
        Ok(Counter::new(&self.model, None, Mode::Auto, 1.0)?)
    }
}

fn walk<'py>(
    value: &Bound<'py, PyAny>,
    path: &[Segment],
    slots: &mut Vec<Slot<'py>>,
    texts: &mut Vec<Bound<'py, PyString>>,
) -> PyResult<()> {
    let Some((head, rest)) = path.split_first() else {
        return Ok(());
    };
    let mut visit = |child: Bound<'py, PyAny>, slot: Slot<'py>| -> PyResult<()> {
        if !rest.is_empty() {
            return walk(&child, rest, slots, texts);
        }
        if let Ok(text) = child.cast_into::<PyString>() {
            slots.push(slot);
            texts.push(text);
        }
        Ok(())
    };
    match head {
        Segment::Key(key) => {
            let Ok(dict) = value.cast::<PyDict>() else {
                return Ok(());
            };
            let key = key.bind(value.py());
            if let Some(child) = dict.get_item(key)? {
                visit(child, Slot::Key(dict.clone(), key.clone()))?;
            }
        }
        Segment::Index(i) => {
            let Ok(list) = value.cast::<PyList>() else {
                return Ok(());
            };
            if *i < list.len() {
                visit(list.get_item(*i)?, Slot::Index(list.clone(), *i))?;
            }
        }
        Segment::Every => {
            let Ok(list) = value.cast::<PyList>() else {
                return Ok(());
            };
            // By index, as the Python walk does: a list is only read here.
            for i in 0..list.len() {
                visit(list.get_item(i)?, Slot::Index(list.clone(), i))?;
            }
        }
    }
    Ok(())
}

#[pymethods]
impl PyGuardInspector {
    #[new]
    #[pyo3(signature = (paths, *, scanner = None, block_injection = true, pii_action = "redact",
                        pii_entities = None, model = "gpt-4o", max_field_chars = 1_000_000,
                        canary = None, output_pii = true))]
    // pyo3 hands list arguments over as owned `Vec`s; borrowing them is not an option.
    #[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
    fn new(
        paths: Vec<Vec<Bound<'_, PyAny>>>,
        scanner: Option<&Bound<'_, PyScanner>>,
        block_injection: bool,
        pii_action: &str,
        pii_entities: Option<Vec<(String, String)>>,
        model: &str,
        max_field_chars: usize,
        canary: Option<String>,
        output_pii: bool,
    ) -> PyResult<Self> {
        let paths = paths
            .iter()
            .map(|p| p.iter().map(segment).collect())
            .collect::<PyResult<Vec<Vec<Segment>>>>()?;
        let by_entity = pii_entities
            .unwrap_or_default()
            .into_iter()
            .map(|(name, action)| Ok((name, PiiAction::parse(&action)?)))
            .collect::<PyResult<_>>()?;
        if canary.as_deref() == Some("") {
            return Err(PyValueError::new_err("canary: must not be empty"));
        }
        let inspector = Self {
            paths,
            scanner: scanner.map(|s| s.get().inner.clone()),
            block_injection,
            pii: PiiPolicy {
                default: PiiAction::parse(pii_action)?,
                by_entity,
            },
            model: model.to_owned(),
            max_field_chars,
            canary,
            output_pii,
        };
        inspector.counter()?; // an unknown model fails here, not on the first request
        Ok(inspector)
    }

    /// Finds the prompts in a parsed JSON body; unless one is longer than `max_field_chars`,
    /// scans them, applies the PII policy (redacting in place, unless the request is refused;
    /// lone surrogates become U+FFFD in place too) and estimates their tokens.
    fn inspect(&self, value: &Bound<'_, PyAny>) -> PyResult<PyInputReport> {
        let py = value.py();
        let (slots, texts) = self.slots(value)?;
        let mut report = PyInputReport {
            prompts: texts.iter().map(|t| t.clone().unbind()).collect(),
            too_long: false,
            flagged: false,
            score: 0.0,
            rule_ids: Vec::new(),
            entities: Vec::new(),
            blocked: Vec::new(),
            redacted_prompts: None,
            tokens: 0,
        };
        if texts.is_empty() {
            return Ok(report);
        }
        for text in &texts {
            if text.len()? > self.max_field_chars {
                report.too_long = true;
                return Ok(report);
            }
        }
        // A prompt with lone surrogates (a client cutting an emoji in two) is checked with
        // U+FFFD in their place, and the endpoint gets that checked text: the original cannot
        // be encoded as UTF-8 on its way to a model, nor would it be what was checked.
        let (owned, replaced): (Vec<String>, Vec<bool>) = texts
            .iter()
            .map(|t| {
                let (text, lone) = convert::text_and_replaced(t);
                (text.into_owned(), lone)
            })
            .unzip();
        let counter = self.counter()?;
        let detector = Detector::global();
        let scanner: &Scanner = self
            .scanner
            .as_deref()
            .unwrap_or_else(|| injection::shared());
        let work = || {
            let prompts: Vec<&str> = owned.iter().map(String::as_str).collect();
            inspect::inspect_input(
                &prompts,
                scanner,
                self.block_injection,
                &self.pii,
                &detector,
                &counter,
            )
        };
        let size: usize = owned.iter().map(String::len).sum();
        let found = if size < DETACH_ABOVE_BYTES {
            work()
        } else {
            py.detach(work)
        }?;
        let refused = !found.blocked.is_empty() || (found.flagged && self.block_injection);
        // Per prompt, the text the endpoint gets instead of its own, if any.
        let changed: Vec<Option<&str>> = found
            .redacted
            .iter()
            .zip(&owned)
            .zip(&replaced)
            .map(|((red, text), &replaced)| red.as_deref().or(replaced.then_some(text.as_str())))
            .collect();
        if !refused && changed.iter().any(Option::is_some) {
            let mut prompts: Vec<Py<PyString>> =
                report.prompts.iter().map(|p| p.clone_ref(py)).collect();
            for ((slot, new), prompt) in slots.into_iter().zip(&changed).zip(&mut prompts) {
                let Some(new) = new else { continue };
                let text = PyString::new(py, new);
                match slot {
                    Slot::Key(dict, key) => dict.set_item(key, &text)?,
                    Slot::Index(list, i) => list.set_item(i, &text)?,
                }
                *prompt = text.unbind();
            }
            report.redacted_prompts = Some(prompts);
        }
        report.flagged = found.flagged;
        report.score = found.score;
        report.rule_ids = found.rule_ids;
        report.entities = found.entities;
        report.blocked = found.blocked;
        report.tokens = found.tokens;
        Ok(report)
    }

    /// A JSON response body read for the output policy: (the token estimate of its strings,
    /// whether it passes unchanged, the input and output tokens it reports); None when it does
    /// not parse as strict JSON.
    #[allow(clippy::type_complexity)]
    fn check_output(
        &self,
        body: &Bound<'_, PyBytes>,
    ) -> PyResult<Option<(u64, bool, Option<u64>, Option<u64>)>> {
        let counter = self.counter()?;
        let detector = Detector::global();
        let bytes = body.as_bytes();
        let canary = self.canary.as_deref();
        let work =
            || inspect::check_json_output(bytes, canary, self.output_pii, &detector, &counter);
        let read = if bytes.len() < DETACH_ABOVE_BYTES {
            work()
        } else {
            body.py().detach(work)
        }?;
        Ok(read.map(|r| (r.tokens, r.clean, r.usage.input, r.usage.output)))
    }

    fn __repr__(&self) -> String {
        format!(
            "GuardInspector(paths={}, model={:?})",
            self.paths.len(),
            self.model
        )
    }
}

/// The input and output tokens a JSON text (a streamed event) reports (see `crate::usage`).
#[pyfunction]
fn reported_usage(text: &Bound<'_, PyString>) -> (Option<u64>, Option<u64>) {
    let usage = serde_json::from_str(&convert::text(text))
        .map(|value| usage::reported(&value))
        .unwrap_or_default();
    (usage.input, usage.output)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyInputReport>()?;
    m.add_class::<PyGuardInspector>()?;
    m.add_function(wrap_pyfunction!(reported_usage, m)?)?;
    Ok(())
}
