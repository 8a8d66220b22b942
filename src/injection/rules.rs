//! Rules: what they look like as data, and how a set of them compiles into automata.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::{dfa, Anchored, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use regex_automata::meta;
use serde::Deserialize;

use super::decode::CIPHER_HINTS;
use super::gate::{Anchors, Gate, Needed, RawFilter};
use super::required::{ByText, Text};
use super::survey::Survey;
use crate::error::{CoreError, ErrorKind, Result};
use crate::normalize::normalize;

/// Compiled-size and nesting limits for every pattern, so that a user-supplied regex cannot
/// exhaust memory (the `regex` crate already guarantees linear-time matching).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 64;
/// Lazy-DFA cache of each word-view regex: the default (2 MiB) fills up on prose with the
/// `(?: [^ ]+){0,n}` gaps of many rules, and a cleared cache is rebuilt state by state, which
/// is the slow tail of scan latency. It grows only as far as the text needs.
const DFA_CACHE_LIMIT: usize = 16 << 20;

/// Which text a pattern runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The normalized word view (see [`crate::normalize`]): lowercase words, one space apart.
    #[default]
    Words,
    /// The original text, for structure that normalization removes (`<|im_start|>`, URLs).
    Raw,
}

impl View {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "words" => Ok(Self::Words),
            "raw" => Ok(Self::Raw),
            other => Err(CoreError::new(
                ErrorKind::UnknownName,
                format!("view: unknown view {other:?} (known: \"words\", \"raw\")"),
            )),
        }
    }
}

/// One detection rule as written in `src/rules/injection.toml` or passed from Python.
///
/// A rule has phrases (matched as whole words in the normalized view; a trailing `*` makes
/// the last word a stem, for inflected languages) or a regex `pattern`. In patterns,
/// `{slot}` expands to the alternatives of a named word family from the rules file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    pub category: String,
    pub weight: f64,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub view: View,
    /// Its matches begin with the verb of a request (`reveal your instructions`) that a
    /// negation right before turns into its opposite (`never reveal your instructions`); such
    /// a match is not evidence, and nor are the matches of its category inside it (see
    /// [`super::negation`]). Word view only.
    #[serde(default)]
    pub negatable: bool,
    /// An exception: a match in which this regex (on the same view, with the same flags)
    /// finds a match is no evidence (`-----BEGIN CERTIFICATE-----` is no banner).
    #[serde(default)]
    pub unless: Option<String>,
}

impl RuleSpec {
    fn check(&self) -> Result<()> {
        let invalid = |problem: &str| {
            Err(CoreError::new(
                ErrorKind::InvalidRule,
                format!("rule {:?}: {problem}", self.id),
            ))
        };
        if self.id.is_empty() {
            return invalid("id must not be empty");
        }
        if !(self.weight > 0.0 && self.weight <= 1.0) {
            return invalid("weight must be within (0, 1]");
        }
        if self.negatable && self.view != View::Words {
            return invalid("negatable applies to the word view only");
        }
        match (&self.pattern, self.phrases.is_empty()) {
            (None, true) => invalid("needs phrases or a pattern"),
            (Some(_), false) => invalid("has both phrases and a pattern; split it in two"),
            _ if self
                .phrases
                .iter()
                .any(|p| normalize(p).as_str().is_empty()) =>
            {
                invalid("a phrase is empty after normalization")
            }
            _ => Ok(()),
        }
    }
}

/// Named word families: `{name}` in a pattern expands to their alternation.
pub type Slots = HashMap<String, Vec<String>>;

/// The rules file: named word families, then rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub slots: Slots,
    pub rule: Vec<RuleSpec>,
}

impl RuleFile {
    pub fn parse(toml_text: &str) -> Result<Self> {
        toml::from_str(toml_text)
            .map_err(|e| CoreError::new(ErrorKind::InvalidRule, format!("rules file: {e}")))
    }
}

/// A rule's identity and weight, shared by every match it produces.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: Arc<str>,
    pub category: Arc<str>,
    pub weight: f64,
    pub negatable: bool,
    pub unless: Option<regex::bytes::Regex>,
}

impl RuleInfo {
    /// Whether the rule's exception holds for a match (`found`: its bytes).
    pub fn excepted(&self, found: &[u8]) -> bool {
        self.unless.as_ref().is_some_and(|r| r.is_match(found))
    }
}

/// Regexes of the raw view. Each pattern has a filter for ASCII text and one for other text
/// (see `filters`) that rule most of them out; the few left run alone. Only on text
/// holding KELVIN SIGN or LONG S, which the filters do not cover, a `RegexSet` says which
/// rules match (one pass), then only those rules' regexes run again for spans.
#[derive(Debug, Clone)]
pub struct PatternSet {
    pub set: RegexSet,
    pub regexes: Vec<Regex>,
    pub rule: Vec<usize>,
    /// Per pattern: its filters for ASCII text, and for other text without
    /// [`FOLDS_TO_ASCII`](super::required::FOLDS_TO_ASCII), where a class with members beyond
    /// ASCII matches more than its ASCII letters (see [`Text`]). `None`: no usable required
    /// literals, so the pattern runs.
    pub filters: Vec<ByText<Option<RawFilter>>>,
}

impl PatternSet {
    /// Whether pattern `index` may match `text` (surveyed in `survey`; if it is not ASCII, it
    /// holds none of `FOLDS_TO_ASCII`). `seen`: the raw patterns whose anchors (for text like
    /// this one) the phrase automaton found in its word view, or `None` if the gate cleared
    /// it (it then holds no anchor at all).
    pub fn may_match(
        &self,
        index: usize,
        text: &str,
        survey: &Survey,
        seen: Option<&[usize]>,
    ) -> bool {
        let Some(filter) = self.filters[index].get(survey.ascii) else {
            return true;
        };
        seen.is_some_and(|seen| !filter.in_view || seen.contains(&index))
            || ((filter.wide || survey.any_of(filter.triggers))
                && filter.around.iter().any(|l| l.occurs_in(text.as_bytes())))
    }
}

/// Regexes of the word view. Each runs only on a view that holds one of its anchors (words
/// every match contains, see [`Anchors::pattern`]) and a string of each of its other rare
/// required sets, found by the phrase automaton's pass:
/// on most texts few rules have an anchor, and one overlapping `RegexSet` over all of them
/// costs more than those few regexes (its lazy DFA keeps meeting new state combinations).
#[derive(Debug, Clone, Default)]
pub struct WordPatterns {
    /// Each searches the view's bytes (see [`super::bytewise`]).
    pub regexes: Vec<meta::Regex>,
    /// Per pattern: the regex of its head, if it has a long gap (see [`super::gap`]).
    pub heads: Vec<Option<meta::Regex>>,
    pub rule: Vec<usize>,
    /// Per pattern: whether it runs whatever the text (it has no anchor).
    pub always: Vec<bool>,
    /// Per pattern: how many words either side of an anchor a match reaches (see
    /// [`super::reach`]); `None`: it runs on the whole view.
    pub reach: Vec<Option<usize>>,
    /// Per pattern: a bit per required set it is looked for by (see [`PatternAnchor`]); it
    /// runs only on a view where each set has a string.
    pub sets: Vec<u8>,
}

/// What one pattern of the phrase automaton stands for.
#[derive(Debug)]
pub enum Hit {
    /// A phrase of `rule`, and whether it must start and end at a word boundary (not for CJK
    /// edges, which have no spaces, nor for a stem's end).
    Phrase {
        rule: usize,
        left: bool,
        right: bool,
    },
    /// An anchor (see [`Anchor`]).
    Anchor(Anchor),
}

impl WordPatterns {
    /// Adds the pattern of rule `rule`, written `source` and compiled as `regex` (and its
    /// head), `needs` its required sets (see [`Anchors::pattern`]), whose strings it enters in
    /// `anchored`.
    fn push(
        &mut self,
        rule: usize,
        source: &str,
        (regex, head): (meta::Regex, Option<meta::Regex>),
        needs: Vec<Vec<Needed>>,
        anchored: &mut Vec<(String, Anchor)>,
    ) {
        let pattern = self.regexes.len();
        self.always.push(needs.is_empty());
        self.reach.push(super::reach::max_spaces(source));
        self.sets
            .push((0..needs.len()).fold(0u8, |all, set| all | 1 << set));
        for (set, needs) in (0u8..).zip(needs) {
            for needed in needs {
                anchor_entry(anchored, needed.word)
                    .patterns
                    .push(PatternAnchor {
                        pattern,
                        set,
                        left: needed.left,
                        right: needed.right,
                    });
            }
        }
        self.rule.push(rule);
        self.regexes.push(regex);
        self.heads.push(head);
    }
}

/// A string of one of a word-view pattern's required sets (set 0 is its anchors, the others
/// only rule runs out; see [`Anchors::pattern`]), and whether it needs a space (or the view's
/// edge) before it (`left`) and after it (`right`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternAnchor {
    pub pattern: usize,
    pub set: u8,
    pub left: bool,
    pub right: bool,
}

/// What a word found in a view says: which word patterns may match (where it has the spaces
/// around it they ask for, see [`Needed`](super::gate::Needed)), whether it hints at a
/// cipher (see `CIPHER_HINTS`), and which raw-view patterns it is an anchor of (they then
/// may match the text).
#[derive(Debug, Default)]
pub struct Anchor {
    pub patterns: Vec<PatternAnchor>,
    pub cipher: bool,
    /// Raw-view patterns it is an anchor of in ASCII text, and in other text.
    pub raw: ByText<Vec<usize>>,
}

/// Phrases of every rule, and the anchors of the word patterns, in one Aho-Corasick
/// automaton.
#[derive(Debug)]
pub struct PhraseSet {
    automaton: dfa::DFA,
    /// Per automaton pattern.
    pub hits: Vec<Hit>,
}

impl PhraseSet {
    /// Calls `found(pattern, start, end)` for every occurrence of every pattern in `haystack`,
    /// in order of end, then of pattern (as an overlapping search reports them). The DFA is
    /// stepped directly: the crate's overlapping iterator keeps its position in memory
    /// between calls, which costs twice the transition itself.
    ///
    /// A haystack of more than a few patterns' length is walked in `WALKS` parts at once.
    /// Each step of a walk waits on the table load of the step before, often a miss of the
    /// first-level cache (the table is megabytes), so walks stepped side by side overlap
    /// their waits. A part's walk starts the longest pattern's length before the part, where
    /// it has caught up with the state the walk before would carry in, and reports only what
    /// ends inside its part; the later parts' matches wait in a buffer, to keep the order.
    pub fn for_each_match(&self, haystack: &[u8], mut found: impl FnMut(usize, usize, usize)) {
        let dfa = &self.automaton;
        let start = dfa
            .start_state(Anchored::No)
            .expect("an unanchored automaton");
        let overlap = dfa.max_pattern_len();
        // Walks start `stride` apart and each steps `stride + overlap` bytes (the last one
        // the remainder too), so that they stay side by side to the end.
        let stride = haystack.len().saturating_sub(overlap) / WALKS;
        if stride <= overlap {
            self.walk(haystack, 0, start, found);
            return;
        }
        let mut at: [usize; WALKS] = std::array::from_fn(|k| k * stride);
        // Walk k reports what ends in bounds[k] + 1..=ends[k].
        let bounds: [usize; WALKS] =
            std::array::from_fn(|k| if k == 0 { 0 } else { at[k] + overlap });
        let ends: [usize; WALKS] =
            std::array::from_fn(|k| bounds.get(k + 1).copied().unwrap_or(haystack.len()));
        let mut sid = [start; WALKS];
        // Matches of walks after the first: (walk, pattern, start, end).
        let mut late = Vec::new();
        while (0..WALKS).all(|k| at[k] < ends[k]) {
            self.step_all(haystack, &ends, &mut at, &mut sid);
            for k in 0..WALKS {
                if !dfa.is_special(sid[k]) || at[k] <= bounds[k] {
                    continue;
                }
                if k == 0 {
                    self.report(sid[k], at[k], &mut found);
                } else {
                    self.report(sid[k], at[k], &mut |p, s, e| late.push((k, p, s, e)));
                }
            }
        }
        for k in 0..WALKS {
            for &(_, p, s, e) in late.iter().filter(|m| m.0 == k) {
                found(p, s, e);
            }
            let bound = bounds[k];
            self.walk(&haystack[..ends[k]], at[k], sid[k], |p, s, e| {
                if e > bound {
                    found(p, s, e);
                }
            });
        }
    }

    /// Steps every walk until one enters a special state or reaches its end (each has a byte
    /// left when called).
    #[inline(never)]
    fn step_all(
        &self,
        haystack: &[u8],
        ends: &[usize; WALKS],
        at: &mut [usize; WALKS],
        sid: &mut [StateID; WALKS],
    ) {
        let dfa = &self.automaton;
        let steps = (0..WALKS).map(|k| ends[k] - at[k]).min().unwrap_or(0);
        let parts: [&[u8]; WALKS] = std::array::from_fn(|k| &haystack[at[k]..][..steps]);
        let mut s = *sid;
        let mut done = 0;
        // One index into every part: each is `steps` long, so no bounds check is left.
        #[allow(clippy::needless_range_loop)]
        for i in 0..steps {
            let mut special = false;
            for k in 0..WALKS {
                s[k] = dfa.next_state(Anchored::No, s[k], parts[k][i]);
                special |= dfa.is_special(s[k]);
            }
            done = i + 1;
            if special {
                break;
            }
        }
        for a in at.iter_mut() {
            *a += done;
        }
        *sid = s;
    }

    /// One walk from state `sid` at `at` to the end of `haystack`.
    fn walk(
        &self,
        haystack: &[u8],
        mut at: usize,
        mut sid: StateID,
        mut found: impl FnMut(usize, usize, usize),
    ) {
        while let Some((end, special)) = self.next_special(haystack, at, sid) {
            if self.automaton.is_dead(special) {
                return;
            }
            self.report(special, end, &mut found);
            (at, sid) = (end, special);
        }
    }

    /// Reports the patterns that state `sid`, entered by the byte that ends at `end`, matches.
    fn report(&self, sid: StateID, end: usize, found: &mut impl FnMut(usize, usize, usize)) {
        let dfa = &self.automaton;
        for i in 0..dfa.match_len(sid) {
            let pattern = dfa.match_pattern(sid, i);
            found(pattern.as_usize(), end - dfa.pattern_len(pattern), end);
        }
    }

    /// Steps the DFA from `sid` over `haystack[at..]` to its first special (match or dead)
    /// state: the end of the byte that entered it, and that state. Not inlined, so that the
    /// caller's state does not crowd the loop out of registers.
    #[inline(never)]
    fn next_special(
        &self,
        haystack: &[u8],
        at: usize,
        mut sid: StateID,
    ) -> Option<(usize, StateID)> {
        let dfa = &self.automaton;
        for (i, &byte) in haystack[at..].iter().enumerate() {
            sid = dfa.next_state(Anchored::No, sid, byte);
            if dfa.is_special(sid) {
                return Some((at + i + 1, sid));
            }
        }
        None
    }
}

/// How many parts of a view the phrase automaton walks side by side. On 1 KB prompts, four
/// was quickest with warm caches; six and eight gain a little more on cold ones, three less.
const WALKS: usize = 4;

/// A compiled rule set.
#[derive(Debug)]
pub struct Compiled {
    pub rules: Vec<RuleInfo>,
    pub phrases: PhraseSet,
    pub words: WordPatterns,
    pub raw: PatternSet,
    /// Lets plain text skip phrases and word-view patterns (`None`: some rule has no anchor).
    pub gate: Option<Gate>,
}

/// Scripts written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}'
        | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FFFF}')
}

/// Replaces each `{slot}` naming a word family with a non-capturing alternation; other
/// braces (regex repetitions such as `{2,5}`) stay as they are.
fn expand_slots(pattern: &str, slots: &Slots) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let slot = after.find('}').and_then(|close| {
            let name = &after[..close];
            slots.get(name).map(|alts| (close, alts))
        });
        if let Some((close, alts)) = slot {
            out.push_str("(?:");
            out.push_str(&alts.join("|"));
            out.push(')');
            rest = &after[close + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A rule's pattern as it is compiled. `\b` means an ASCII word boundary: a Unicode `\b`
/// makes the lazy DFA give up on any non-ASCII text and fall back to an NFA a hundred times
/// slower. The raw view's flag goes into the text, which its `RegexSet` is built from as well.
fn pattern_text(spec: &RuleSpec, pattern: &str) -> String {
    let pattern = pattern.replace(r"\b", r"(?-u:\b)");
    match spec.view {
        View::Raw => format!("(?i:{pattern})"),
        View::Words => format!("(?:{pattern})"),
    }
}

fn raw_regex(spec: &RuleSpec, pattern: &str) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(DFA_CACHE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| invalid_pattern(spec, e))
}

/// A rule's exception (see [`RuleSpec::unless`]), with the limits of `raw_regex`, on bytes:
/// a word-view match need not end on a character boundary.
fn unless_regex(spec: &RuleSpec, pattern: &str) -> Result<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| invalid_pattern(spec, e))
}

/// A word-view regex, with the limits of `raw_regex`, searching the view's bytes; and the
/// regex of its head when it has a long gap (see [`super::gap`]).
fn word_regex(spec: &RuleSpec, pattern: &str) -> Result<(meta::Regex, Option<meta::Regex>)> {
    let hir = regex_syntax::ParserBuilder::new()
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .parse(pattern)
        .map_err(|e| invalid_pattern(spec, e))?;
    let config = meta::Config::new()
        .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
        .hybrid_cache_capacity(DFA_CACHE_LIMIT);
    let compile = |hir| super::bytewise::compile(hir, config.clone());
    let invalid = |e| invalid_pattern(spec, e);
    let head = super::gap::head(&hir)
        .map(compile)
        .transpose()
        .map_err(invalid)?;
    Ok((compile(hir).map_err(invalid)?, head))
}

fn invalid_pattern(spec: &RuleSpec, problem: impl std::fmt::Display) -> CoreError {
    CoreError::new(
        ErrorKind::InvalidRule,
        format!("rule {:?}: invalid pattern: {problem}", spec.id),
    )
}

fn pattern_set(
    entries: Vec<(usize, Regex)>,
    filters: Vec<ByText<Option<RawFilter>>>,
) -> Result<PatternSet> {
    let set = RegexSetBuilder::new(entries.iter().map(|(_, r)| r.as_str()))
        .size_limit(REGEX_SIZE_LIMIT * 64)
        .dfa_size_limit(REGEX_SIZE_LIMIT * 64)
        .build()
        .map_err(|e| CoreError::new(ErrorKind::InvalidRule, format!("rules: {e}")))?;
    let (rule, regexes) = entries.into_iter().unzip();
    Ok(PatternSet {
        set,
        regexes,
        rule,
        filters,
    })
}

/// The entry of `word` in `anchored`, added if new.
fn anchor_entry(anchored: &mut Vec<(String, Anchor)>, word: String) -> &mut Anchor {
    let at = anchored
        .iter()
        .position(|(w, _)| *w == word)
        .unwrap_or_else(|| {
            anchored.push((word, Anchor::default()));
            anchored.len() - 1
        });
    &mut anchored[at].1
}

/// A full DFA: a few hundred phrases make a small one, and overlapping search (every phrase
/// of every rule must be seen) is several times faster than on the NFA. No prefilter: in
/// prose every letter starts some phrase.
fn phrase_automaton(phrases: &[String]) -> Result<dfa::DFA> {
    dfa::DFA::builder()
        .match_kind(MatchKind::Standard)
        .prefilter(false)
        .build(phrases)
        .map_err(|e| CoreError::new(ErrorKind::InvalidRule, format!("phrases: {e}")))
}

/// Compiles `specs` (already filtered of disabled rules).
pub fn compile(specs: &[RuleSpec], slots: &Slots) -> Result<Compiled> {
    let mut rules = Vec::with_capacity(specs.len());
    let mut seen = HashMap::new();
    let (mut phrases, mut hits) = (Vec::new(), Vec::new());
    let (mut words, mut raw) = (WordPatterns::default(), Vec::new());
    // Anchor words and what they stand for, in order.
    let mut anchored: Vec<(String, Anchor)> = Vec::new();
    let mut filters = Vec::new();
    let mut anchors = Anchors::default();
    for (index, spec) in specs.iter().enumerate() {
        spec.check()?;
        if seen.insert(spec.id.as_str(), index).is_some() {
            return Err(CoreError::new(
                ErrorKind::InvalidRule,
                format!("rule {:?}: id is used twice", spec.id),
            ));
        }
        rules.push(RuleInfo {
            id: spec.id.as_str().into(),
            category: spec.category.as_str().into(),
            weight: spec.weight,
            negatable: spec.negatable,
            unless: spec
                .unless
                .as_deref()
                .map(|u| unless_regex(spec, &pattern_text(spec, &expand_slots(u, slots))))
                .transpose()?,
        });
        for phrase in &spec.phrases {
            let stem = phrase.ends_with('*');
            let words = normalize(phrase.trim_end_matches('*')).as_str().to_owned();
            let spaced = |c: Option<char>| c.is_some_and(|c| !is_cjk(c));
            let left = spaced(words.chars().next());
            let right = !stem && spaced(words.chars().next_back());
            anchors.phrase(&words);
            phrases.push(words);
            hits.push(Hit::Phrase {
                rule: index,
                left,
                right,
            });
        }
        if let Some(pattern) = &spec.pattern {
            let pattern = pattern_text(spec, &expand_slots(pattern, slots));
            match spec.view {
                View::Words => {
                    let (regex, head) = word_regex(spec, &pattern)?;
                    let needs = anchors.pattern(&pattern).unwrap_or_default();
                    words.push(index, &pattern, (regex, head), needs, &mut anchored);
                }
                View::Raw => {
                    let regex = raw_regex(spec, &pattern)?;
                    let mut filter = |text| {
                        let (filter, words) = anchors.raw_pattern(&pattern, text)?;
                        for word in words {
                            let anchor = anchor_entry(&mut anchored, word.to_ascii_lowercase());
                            anchor.raw.get_mut(text).push(raw.len());
                        }
                        Some(filter)
                    };
                    filters.push(ByText {
                        ascii: filter(Text::Ascii),
                        unfolded: filter(Text::Unfolded),
                    });
                    raw.push((index, regex));
                }
            }
        }
    }
    // Talk of ciphers sends a text down the full path, where its rot13 is scanned too.
    for hint in CIPHER_HINTS {
        anchors.add(hint);
        anchor_entry(&mut anchored, hint.to_owned()).cipher = true;
    }
    for (word, mut anchor) in anchored {
        anchor.patterns.dedup();
        anchor.raw.ascii.dedup();
        anchor.raw.unfolded.dedup();
        phrases.push(word);
        hits.push(Hit::Anchor(anchor));
    }
    Ok(Compiled {
        rules,
        phrases: PhraseSet {
            automaton: phrase_automaton(&phrases)?,
            hits,
        },
        words,
        raw: pattern_set(raw, filters)?,
        gate: anchors.build(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, pattern: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            category: "test".into(),
            weight: 0.5,
            phrases: vec![],
            pattern: Some(pattern.into()),
            view: View::Words,
            negatable: false,
            unless: None,
        }
    }

    #[test]
    fn phrase_matches_are_the_overlapping_iterators() {
        let phrases: Vec<String> = ["ab", "b", "abc", "bc", "c", "bca", "a b", "cab c"]
            .map(String::from)
            .to_vec();
        let set = PhraseSet {
            automaton: phrase_automaton(&phrases).unwrap(),
            hits: Vec::new(),
        };
        let reference = aho_corasick::AhoCorasick::new(&phrases).unwrap();
        for text in super::super::survey::random_texts(&[b"abc ", b"ab", b"cab c"]) {
            let mut got = Vec::new();
            set.for_each_match(&text, |p, s, e| got.push((p, s, e)));
            let want: Vec<_> = reference
                .find_overlapping_iter(&text)
                .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
                .collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&text));
        }
    }

    #[test]
    fn slots_expand_and_repetitions_survive() {
        let slots = HashMap::from([("verb".to_owned(), vec!["a".to_owned(), "b".to_owned()])]);
        assert_eq!(
            expand_slots("{verb} x{2,3} {nope}", &slots),
            "(?:a|b) x{2,3} {nope}"
        );
    }

    #[test]
    fn invalid_rules_are_named() {
        let slots = HashMap::new();
        for (bad, needle) in [
            (spec("broken", "(unclosed"), "\"broken\": invalid pattern"),
            (spec("huge", "\\w{1000}{1000}"), "\"huge\": invalid pattern"),
            (spec("", "x"), "id must not be empty"),
            (
                RuleSpec {
                    weight: 1.5,
                    ..spec("heavy", "x")
                },
                "weight",
            ),
            (
                RuleSpec {
                    pattern: None,
                    ..spec("empty", "x")
                },
                "needs phrases or a pattern",
            ),
        ] {
            let err = compile(&[bad], &slots).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRule);
            assert!(err.message().contains(needle), "{}", err.message());
        }
        let twice = compile(&[spec("a", "x"), spec("a", "y")], &slots).unwrap_err();
        assert!(twice.message().contains("used twice"));
    }
}
