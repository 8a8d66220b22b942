//! The prefilter: most text is plain ASCII prose that mentions none of the words any rule
//! needs. For such a window the normalized view, the phrase automaton and the word-view
//! patterns are skipped; the raw-view patterns, structure features and decoding still run.
//!
//! Each rule yields anchors: strings at least one of which every match contains within one
//! word of the normalized view (a phrase's longest word; for a pattern, the rarest words its
//! syntax tree, parsed by the `regex` crate's own parser, requires). In plain ASCII text each
//! normalized word is a substring of the text lowercased with `'` and `-` removed, so no
//! anchor in that text means no match. Text is plain unless it
//! holds something normalization would rewrite into new words: non-ASCII characters,
//! leetspeak (digits or `$@|!+` joined to letters) or runs of single letters (`i.g.n.o.r.e`).

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_syntax::hir::{Hir, HirKind};

/// Anchors collected while rules compile; `None` once a rule has no usable anchor.
#[derive(Debug)]
pub struct Anchors(Option<Vec<String>>);

impl Default for Anchors {
    fn default() -> Self {
        Self(Some(Vec::new()))
    }
}

impl Anchors {
    /// A phrase (already normalized) needs its longest word. A phrase with non-ASCII
    /// characters never matches ASCII text, so it needs nothing here.
    pub fn phrase(&mut self, words: &str) {
        if !words.is_ascii() {
            return;
        }
        match words.split(' ').max_by_key(|w| w.len()) {
            Some(word) if !word.is_empty() => self.add(word),
            _ => self.0 = None,
        }
    }

    /// A word-view pattern needs one of the words its syntax tree requires (see `required`).
    pub fn pattern(&mut self, pattern: &str) {
        match regex_syntax::parse(pattern)
            .ok()
            .as_ref()
            .and_then(required)
        {
            Some(words) => words.iter().for_each(|w| self.add(w)),
            None => self.0 = None,
        }
    }

    /// A word that sends a text down the full path whatever the rules say.
    pub fn add(&mut self, word: &str) {
        if let Some(all) = &mut self.0 {
            all.push(word.to_ascii_lowercase());
        }
    }

    pub fn build(self) -> Option<Gate> {
        let mut words = self.0?;
        words.sort();
        words.dedup();
        let automaton = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostFirst)
            // A few hundred short words make a small DFA, several times faster than the NFA.
            .kind(Some(AhoCorasickKind::DFA))
            .build(&words)
            .ok()?;
        Some(Gate { automaton })
    }
}

/// The compiled prefilter.
#[derive(Debug)]
pub struct Gate {
    automaton: AhoCorasick,
}

impl Gate {
    /// Whether `text` is plain and holds no anchor, so no phrase or word-view pattern can
    /// match it.
    pub fn clears(&self, text: &str) -> bool {
        if !text.is_ascii() {
            return false;
        }
        let joined: Cow<[u8]> = if text.bytes().any(|b| b == b'\'' || b == b'-') {
            text.bytes().filter(|&b| b != b'\'' && b != b'-').collect()
        } else {
            Cow::Borrowed(text.as_bytes())
        };
        plain(&joined) && !self.automaton.is_match(joined.as_ref())
    }
}

/// Words one of which every match of `hir` contains (as a substring of one normalized word),
/// chosen to be rare: from a sequence, the part whose shortest word is longest; from an
/// alternation, the words of every branch. `None` when nothing is required.
fn required(hir: &Hir) -> Option<Vec<String>> {
    match hir.kind() {
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).ok()?;
            let word = text.split(' ').max_by_key(|w| w.len())?;
            (!word.is_empty()).then(|| vec![word.to_owned()])
        }
        HirKind::Capture(group) => required(&group.sub),
        HirKind::Repetition(rep) if rep.min > 0 => required(&rep.sub),
        HirKind::Concat(parts) => parts.iter().filter_map(required).max_by_key(|words| {
            let shortest = words.iter().map(String::len).min().unwrap_or(0);
            (shortest, std::cmp::Reverse(words.len()))
        }),
        HirKind::Alternation(branches) => branches
            .iter()
            .map(required)
            .collect::<Option<Vec<_>>>()
            .map(|all| all.concat()),
        _ => None,
    }
}

/// Symbols leetspeak uses for letters (see `crate::normalize`).
fn is_leet_symbol(b: u8) -> bool {
    matches!(b, b'|' | b'!' | b'@' | b'$' | b'+')
}

/// No leetspeak and no run of three single letters in ASCII `text` (`'` and `-` removed).
fn plain(text: &[u8]) -> bool {
    let mut singles = 0;
    let mut i = 0;
    while i < text.len() {
        if !(text[i].is_ascii_alphanumeric() || is_leet_symbol(text[i])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < text.len() && (text[i].is_ascii_alphanumeric() || is_leet_symbol(text[i])) {
            i += 1;
        }
        let token = &text[start..i];
        // Trailing symbols are punctuation (`now!`), except `+`.
        let end = token
            .iter()
            .rposition(|&b| b.is_ascii_alphanumeric() || b == b'+')
            .map_or(0, |p| p + 1);
        let token = &token[..end];
        let letters = token.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if letters > 0 && letters < token.len() {
            return false;
        }
        match token.len() {
            0 => {}
            1 if letters == 1 => {
                singles += 1;
                if singles >= 3 {
                    return false;
                }
            }
            _ => singles = 0,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_told_from_disguises() {
        for (text, want) in [
            ("the committee reviewed the budget", true),
            ("don't stop, well-known rules!", true),
            ("1gn0r3 this", false),
            ("$ystem", false),
            ("ab!1", false),
            ("i.g.n.o.r.e", false),
            ("a b and c", true),
            ("c++ code", false),
        ] {
            assert_eq!(plain(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn anchors_come_from_phrases_and_literals() {
        let mut anchors = Anchors::default();
        anchors.phrase("ignore previous instructions");
        anchors.phrase("忽略");
        anchors.pattern(r"(?:just |simply )?(?:print|say) (?: [^ ]+){0,3} purposes");
        let gate = anchors.build().unwrap();
        // The pattern's suffix word is rarer than its prefixes: only it is an anchor.
        assert!(gate.clears("Please print this."));
        assert!(!gate.clears("for these PURPOSES"));
        assert!(!gate.clears("INSTRUCTIONS"));
        assert!(
            !gate.clears("ｂｕｄｇｅｔ"),
            "non-ASCII text takes the full path"
        );
        assert!(gate.clears("the committee reviewed the budget"));
        assert!(!gate.clears("the c0mmittee"));
        let mut open = Anchors::default();
        open.pattern("[a-z]+ [a-z]+");
        assert!(open.build().is_none());
    }
}
