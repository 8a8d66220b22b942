//! Recognizers: the compiled form of the rules in `src/rules/pii.json` and of user entities.

use std::ops::Range;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use super::validators::{self, Span, Validator};
use crate::error::{CoreError, ErrorKind, Result};

/// Size limit for user-supplied patterns (the built-ins stay far below it).
const USER_PATTERN_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Deserialize)]
pub(crate) struct RuleFile {
    pub threshold: f32,
    pub context_window: usize,
    pub context_boost: f32,
    pub negative_penalty: f32,
    pub recognizers: Vec<RuleSpec>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuleSpec {
    pub name: String,
    pub entity: String,
    pub score: f32,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub triggers: Vec<String>,
    #[serde(default)]
    pub triggers_any_case: bool,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub matcher: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub validator: Option<String>,
    #[serde(default)]
    pub context: Vec<String>,
    #[serde(default)]
    pub negative_context: Vec<String>,
}

/// How a recognizer finds candidates.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// A regex; the span is the named group when given, else the whole match.
    Regex { regex: Regex, group: Option<usize> },
    /// PEM private-key blocks, found by literal search (a block can be kilobytes long).
    Pem,
}

#[derive(Debug, Clone)]
pub struct Recognizer {
    pub name: String,
    pub entity: String,
    pub matcher: Matcher,
    /// Literals of which one must occur for the pattern to be tried (empty: see `Detector`).
    pub triggers: Vec<String>,
    /// Triggers also count in lower, UPPER and Capital case (`password`, `DB_PASSWORD`).
    pub triggers_any_case: bool,
    /// Runs only around digit runs (see `digits::regions`) instead of over the whole text.
    pub digits_only: bool,
    pub score: f32,
    pub validator: Option<Validator>,
    pub context: Vec<String>,
    pub negative_context: Vec<String>,
}

impl Recognizer {
    pub(crate) fn from_spec(spec: RuleSpec, size_limit: usize) -> Result<Self> {
        let invalid = |why: String| {
            CoreError::new(
                ErrorKind::InvalidRule,
                format!("entity {}: {why}", spec.name),
            )
        };
        if !(0.0..=1.0).contains(&spec.score) {
            return Err(CoreError::argument(
                "score",
                format!("must be within [0, 1], got {}", spec.score),
            ));
        }
        let matcher = match (spec.pattern.as_deref(), spec.matcher.as_deref()) {
            (_, Some("pem")) => Matcher::Pem,
            (Some(pattern), None) => {
                let regex = RegexBuilder::new(pattern)
                    .size_limit(size_limit)
                    .dfa_size_limit(size_limit)
                    .build()
                    .map_err(|e| invalid(format!("pattern does not compile: {e}")))?;
                let group = match spec.group.as_deref() {
                    None => None,
                    Some(g) => Some(
                        regex
                            .capture_names()
                            .position(|n| n == Some(g))
                            .ok_or_else(|| invalid(format!("pattern has no group named {g:?}")))?,
                    ),
                };
                Matcher::Regex { regex, group }
            }
            _ => return Err(invalid("needs a pattern".into())),
        };
        let validator = match spec.validator.as_deref() {
            None => None,
            Some(v) => Some(validators::by_name(v).ok_or_else(|| {
                let known: Vec<&str> = validators::VALIDATORS.iter().map(|(n, _)| *n).collect();
                CoreError::new(
                    ErrorKind::UnknownName,
                    format!("validator: unknown name {v:?}; known: {}", known.join(", ")),
                )
            })?),
        };
        let lower =
            |words: Vec<String>| words.into_iter().map(|w| w.to_ascii_lowercase()).collect();
        Ok(Self {
            name: spec.name,
            entity: spec.entity,
            matcher,
            triggers: spec.triggers,
            triggers_any_case: spec.triggers_any_case,
            digits_only: spec.scope.as_deref() == Some("digits"),
            score: spec.score,
            validator,
            context: lower(spec.context),
            negative_context: lower(spec.negative_context),
        })
    }

    /// A user entity (from `add_entity`): its pattern is compiled with a size limit.
    pub fn custom(
        name: &str,
        pattern: &str,
        validator: Option<&str>,
        context: Vec<String>,
        score: f32,
    ) -> Result<Self> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(CoreError::argument(
                "name",
                "must be non-empty UPPER_SNAKE_CASE",
            ));
        }
        Self::from_spec(
            RuleSpec {
                name: name.to_owned(),
                entity: name.to_owned(),
                score,
                pattern: Some(pattern.to_owned()),
                triggers: Vec::new(),
                triggers_any_case: false,
                scope: None,
                matcher: None,
                group: None,
                validator: validator.map(str::to_owned),
                context,
                negative_context: Vec::new(),
            },
            USER_PATTERN_SIZE_LIMIT,
        )
    }

    /// Pushes every candidate span found in `text[range]` (validated against the whole text,
    /// not yet context-scored) into `out`.
    pub fn candidates(&self, text: &str, range: Range<usize>, out: &mut Vec<Span>) {
        let base = range.start;
        let hay = &text[range];
        let mut push = |start: usize, end: usize| {
            let span = Span {
                start: base + start,
                end: base + end,
                score: self.score,
            };
            let kept = match self.validator {
                Some(v) => v(text, span),
                None => Some(span),
            };
            let ok = kept.filter(|s| s.end > s.start);
            if let Some(s) = ok {
                out.push(s);
            }
            ok.is_some()
        };
        match &self.matcher {
            Matcher::Regex { regex, group: None } => {
                for m in regex.find_iter(hay) {
                    push(m.start(), m.end());
                }
            }
            Matcher::Regex {
                regex,
                group: Some(g),
            } => {
                // When a value is rejected (`pwd = process.env.PWD || "real"`), search again
                // from the value itself: it may hold the key of the real pair.
                let mut at = 0;
                let mut locs = regex.capture_locations();
                while at < hay.len() {
                    let Some(whole) = regex.captures_read_at(&mut locs, hay, at) else {
                        break;
                    };
                    let Some((start, end)) = locs.get(*g) else {
                        at = whole.end().max(at + 1);
                        continue;
                    };
                    at = if push(start, end) {
                        end
                    } else {
                        start.max(whole.start() + 1)
                    };
                }
            }
            Matcher::Pem => super::pem::find(hay, &mut |s, e| {
                push(s, e);
            }),
        }
    }
}

pub(crate) fn builtin_rules() -> RuleFile {
    serde_json::from_str(include_str!("../rules/pii.json"))
        .expect("src/rules/pii.json is valid (tested)")
}
