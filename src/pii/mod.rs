//! PII and secret detection and redaction.
//!
//! A [`Detector`] runs recognizers (patterns from `src/rules/pii.json` plus user entities)
//! over the original text: one Aho-Corasick pass over trigger literals (`@`, `sk-`, `password`)
//! says which recognizers can match at all (a `RegexSet` does the same for user patterns);
//! digit-led ones run only in windows around digit runs. Validators check each candidate,
//! context words adjust its score, and overlaps are resolved deterministically. [`redact`] then rewrites the spans with one
//! [`Operator`] per entity type. All offsets here are UTF-8 byte offsets.

mod context;
mod digits;
mod operators;
mod pem;
mod recognizers;
mod resolve;
mod stream;
pub mod validators;
mod vault;

use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use aho_corasick::AhoCorasick;
use regex::RegexSet;

pub use operators::{redact, Operator, Operators, OPERATOR_NAMES};
pub use recognizers::Recognizer;
pub use stream::StreamRedactor;
pub use vault::Vault;

use crate::error::{CoreError, ErrorKind, Result};
use context::ContextConfig;
use recognizers::Matcher;

/// One detected entity: byte offsets into the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub entity_type: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

/// A configured set of recognizers with its threshold and allow-list.
#[derive(Debug, Clone)]
pub struct Detector {
    recognizers: Vec<Recognizer>,
    /// Every recognizer's trigger literals in one automaton: a single cheap pass says which
    /// recognizers can match at all.
    triggers: AhoCorasick,
    /// Recognizers flagged by each automaton pattern.
    trigger_owners: Vec<Vec<usize>>,
    /// One-byte triggers (`@`), found with memchr: in the automaton they would make every
    /// byte of prose a candidate start.
    byte_triggers: Vec<(u8, usize)>,
    /// Patterns without triggers (user entities) as a `RegexSet`: the same filter for them.
    set: RegexSet,
    set_owner: Vec<usize>,
    threshold: f32,
    context: ContextConfig,
    allow: HashSet<String>,
}

static BUILTIN: LazyLock<Detector> = LazyLock::new(|| {
    let rules = recognizers::builtin_rules();
    let context = ContextConfig {
        window: rules.context_window,
        boost: rules.context_boost,
        penalty: rules.negative_penalty,
    };
    let recognizers = rules
        .recognizers
        .into_iter()
        .map(|spec| {
            Recognizer::from_spec(spec, 1 << 24).unwrap_or_else(|e| panic!("built-in rule: {e}"))
        })
        .collect();
    Detector::build(recognizers, rules.threshold, context, HashSet::new())
        .expect("built-in rule set compiles (tested)")
});

/// The process-wide detector used by `ravelin.detect`/`redact`; `add_entity` extends it.
static GLOBAL: LazyLock<RwLock<Arc<Detector>>> =
    LazyLock::new(|| RwLock::new(Arc::new(BUILTIN.clone())));

impl Detector {
    fn build(
        recognizers: Vec<Recognizer>,
        threshold: f32,
        context: ContextConfig,
        allow: HashSet<String>,
    ) -> Result<Self> {
        let (mut literals, mut trigger_owner, mut byte_triggers) =
            (Vec::new(), Vec::new(), Vec::new());
        let (mut patterns, mut set_owner) = (Vec::new(), Vec::new());
        for (i, r) in recognizers.iter().enumerate() {
            let Matcher::Regex { regex, .. } = &r.matcher else {
                continue;
            };
            if r.digits_only {
                continue;
            }
            if r.triggers.is_empty() {
                patterns.push(regex.as_str().to_owned());
                set_owner.push(i);
            }
            for t in &r.triggers {
                if let [b] = t.as_bytes() {
                    byte_triggers.push((*b, i));
                } else {
                    literals.push((t.clone(), r.triggers_any_case));
                    trigger_owner.push(i);
                }
            }
        }
        let (triggers, trigger_owners) = trigger_automaton(&literals, &trigger_owner)?;
        let set = regex::RegexSetBuilder::new(patterns)
            .size_limit(1 << 26)
            .dfa_size_limit(1 << 26)
            .build()
            .map_err(|e| {
                CoreError::new(
                    ErrorKind::InvalidRule,
                    format!("pattern set does not compile: {e}"),
                )
            })?;
        Ok(Self {
            recognizers,
            triggers,
            trigger_owners,
            byte_triggers,
            set,
            set_owner,
            threshold,
            context,
            allow,
        })
    }

    /// The built-in recognizers only (user entities from `add_entity` excluded).
    pub fn builtin() -> &'static Detector {
        &BUILTIN
    }

    /// The process-wide detector, including entities added with [`add_entity`].
    pub fn global() -> Arc<Detector> {
        GLOBAL
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A detector restricted to `entities` (all when `None`), with extra recognizers, values
    /// never to report, and a score threshold.
    ///
    /// ```
    /// use ravelin::pii::Detector;
    /// let d = Detector::global().configured(Some(&["EMAIL_ADDRESS".into()]), vec![], vec!["ops@example.com".into()], None).unwrap();
    /// let found = d.detect("mail ops@example.com or ana@example.org, call +44 20 7946 0958", None).unwrap();
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].entity_type, "EMAIL_ADDRESS");
    /// ```
    pub fn configured(
        &self,
        entities: Option<&[String]>,
        extra: Vec<Recognizer>,
        allow: Vec<String>,
        threshold: Option<f32>,
    ) -> Result<Self> {
        let threshold = threshold.unwrap_or(self.threshold);
        if !(0.0..=1.0).contains(&threshold) {
            return Err(CoreError::argument(
                "threshold",
                format!("must be within [0, 1], got {threshold}"),
            ));
        }
        let mut recognizers: Vec<Recognizer> =
            self.recognizers.iter().cloned().chain(extra).collect();
        if let Some(wanted) = entities {
            self.check_names(wanted, &recognizers)?;
            recognizers.retain(|r| wanted.contains(&r.entity));
        }
        let mut allow_set = self.allow.clone();
        allow_set.extend(allow);
        Self::build(recognizers, threshold, self.context, allow_set)
    }

    /// Every entity type this detector can report, sorted.
    pub fn entity_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.recognizers.iter().map(|r| r.entity.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    fn check_names(&self, wanted: &[String], recognizers: &[Recognizer]) -> Result<()> {
        for w in wanted {
            if !recognizers.iter().any(|r| r.entity == *w) {
                return Err(CoreError::new(
                    ErrorKind::UnknownName,
                    format!(
                        "entities: unknown entity {w:?}; known: {}",
                        self.entity_names().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Finds entities in `text`, optionally only those of `entities`.
    pub fn detect(&self, text: &str, entities: Option<&[String]>) -> Result<Vec<Finding>> {
        if let Some(wanted) = entities {
            self.check_names(wanted, &self.recognizers)?;
        }
        let wanted = |r: &Recognizer| entities.map_or(true, |w| w.contains(&r.entity));
        let mut found = Vec::new();
        let mut spans = Vec::new();
        let mut run = |r: &Recognizer, range: Range<usize>| {
            spans.clear();
            r.candidates(text, range, &mut spans);
            for s in &spans {
                let score = context::score(text, s.start, s.end, s.score, r, self.context);
                if score >= self.threshold && !self.allow.contains(&text[s.start..s.end]) {
                    found.push(Finding {
                        entity_type: r.entity.clone(),
                        start: s.start,
                        end: s.end,
                        score,
                    });
                }
            }
        };
        // Which recognizers can match: trigger literals, then the set for patterns without
        // triggers.
        let mut hit = vec![false; self.recognizers.len()];
        for m in self.triggers.find_iter(text) {
            for &owner in &self.trigger_owners[m.pattern().as_usize()] {
                hit[owner] = true;
            }
        }
        for &(b, owner) in &self.byte_triggers {
            hit[owner] |= memchr::memchr(b, text.as_bytes()).is_some();
        }
        if !self.set_owner.is_empty() {
            for i in &self.set.matches(text) {
                hit[self.set_owner[i]] = true;
            }
        }
        for (r, _) in self.recognizers.iter().zip(&hit).filter(|(_, &h)| h) {
            if wanted(r) {
                run(r, 0..text.len());
            }
        }
        let mut regions: Option<Vec<Range<usize>>> = None;
        for r in &self.recognizers {
            if !wanted(r) {
                continue;
            }
            if r.digits_only {
                for range in regions.get_or_insert_with(|| digits::regions(text)).iter() {
                    run(r, range.clone());
                }
            } else if matches!(r.matcher, Matcher::Pem) {
                run(r, 0..text.len());
            }
        }
        Ok(resolve::resolve(found))
    }
}

/// One case-sensitive leftmost-first automaton (several times faster than an ASCII
/// case-insensitive or overlapping one, while it stays within the SIMD prefilter's few dozen
/// patterns) over each trigger as written, plus lower, UPPER and Capital forms for
/// `triggers_any_case`. Longer literals come first and also flag the recognizers of every trigger
/// they contain, so `sk-ant-` found first still runs the `sk-` recognizer.
fn trigger_automaton(
    literals: &[(String, bool)],
    owner: &[usize],
) -> Result<(AhoCorasick, Vec<Vec<usize>>)> {
    let lower: Vec<String> = literals
        .iter()
        .map(|(l, _)| l.to_ascii_lowercase())
        .collect();
    let mut variants: Vec<String> = Vec::new();
    for (l, any_case) in literals {
        let mut cap = l.to_ascii_lowercase();
        if let Some(first) = cap.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        let forms = if *any_case {
            vec![
                l.clone(),
                l.to_ascii_lowercase(),
                l.to_ascii_uppercase(),
                cap,
            ]
        } else {
            vec![l.clone()]
        };
        for v in forms {
            if !variants.contains(&v) {
                variants.push(v);
            }
        }
    }
    variants.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    let owners = variants
        .iter()
        .map(|v| {
            let v = v.to_ascii_lowercase();
            let mut o: Vec<usize> = lower
                .iter()
                .zip(owner)
                .filter(|(l, _)| v.contains(l.as_str()))
                .map(|(_, &i)| i)
                .collect();
            o.sort_unstable();
            o.dedup();
            o
        })
        .collect();
    let ac = AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(&variants)
        .map_err(|e| CoreError::new(ErrorKind::InvalidRule, format!("triggers: {e}")))?;
    Ok((ac, owners))
}

/// Adds a user entity to the process-wide detector (replacing one of the same name).
pub fn add_entity(recognizer: Recognizer) -> Result<()> {
    let mut global = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    let mut recognizers: Vec<Recognizer> = global
        .recognizers
        .iter()
        .filter(|r| r.name != recognizer.name)
        .cloned()
        .collect();
    recognizers.push(recognizer);
    *global = Arc::new(Detector::build(
        recognizers,
        global.threshold,
        global.context,
        global.allow.clone(),
    )?);
    Ok(())
}

#[cfg(test)]
mod tests;
