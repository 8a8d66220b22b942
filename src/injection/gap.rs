//! Word-view patterns with a long gap of words, searched anchored at the places they can start.
//!
//! A pattern such as "a trigger, up to twelve words, a target" searched unanchored makes its
//! lazy DFA follow every trigger of the last twelve words at once: each new mix of them is a
//! new state, built the first time a text shows it. With common trigger words that is most of
//! what such a rule costs on text it has not seen, and the slow tail of first scans. Every
//! match starts where the part before the gap (its head) matches, so the head alone, which
//! has no gap, finds the candidates from left to right and the whole pattern runs anchored at
//! each: one trigger followed at a time. The matches are those of an unanchored search.
//!
//! Runs may overlap, so the split is made only where their overlap is bounded and the search
//! stays linear in the text: the gap is bounded and begins with a space, the head has a bounded
//! length, and a whole match holds a bounded number of spaces. A run goes past its head only
//! through a space right after it, so the runs reading any one byte start within a head's
//! length of one of the few spaces before it.

use regex_automata::{meta, Anchored, Input, Match};
use regex_syntax::hir::{Hir, HirKind, Literal};

/// Gaps shorter than this stay in the unanchored search: few triggers fit in them at once.
const LONG_GAP: u32 = 6;

/// The head of `hir`: what comes before its first long gap of words (a repetition of at least
/// [`LONG_GAP`] and at most a bounded number of units, each beginning with a space), when
/// that is at the top of the pattern, the head is never empty and bounded in length, and a
/// match holds a bounded number of spaces.
pub fn head(hir: &Hir) -> Option<Hir> {
    let HirKind::Concat(parts) = hir.kind() else {
        return None;
    };
    let gap = parts.iter().position(|part| match part.kind() {
        HirKind::Repetition(rep) => {
            rep.max.is_some_and(|max| max >= LONG_GAP) && begins_with_space(&rep.sub)
        }
        _ => false,
    })?;
    let head = Hir::concat(parts[..gap].to_vec());
    let props = head.properties();
    let bounded = props.maximum_len().is_some() && super::reach::spaces(hir).is_some();
    (bounded && props.minimum_len() > Some(0)).then_some(head)
}

fn begins_with_space(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Literal(Literal(bytes)) => bytes.first() == Some(&b' '),
        HirKind::Concat(parts) => parts.first().is_some_and(begins_with_space),
        HirKind::Capture(group) => begins_with_space(&group.sub),
        _ => false,
    }
}

/// The matches of `whole` in `haystack`, left to right and not overlapping, as its `find_iter`
/// gives them, found by running it anchored where `head` (see [`head`]) matches.
pub fn find_iter<'h>(
    whole: &'h meta::Regex,
    head: &'h meta::Regex,
    haystack: &'h [u8],
) -> impl Iterator<Item = Match> + 'h {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at <= haystack.len() {
            let start = head.search(&Input::new(haystack).range(at..))?.start();
            let anchored = Input::new(haystack).range(start..).anchored(Anchored::Yes);
            match whole.search(&anchored) {
                Some(m) => {
                    at = m.end();
                    return Some(m);
                }
                None => at = start + 1,
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hir(pattern: &str) -> Hir {
        regex_syntax::parse(pattern).unwrap()
    }

    fn regex(hir: &Hir) -> meta::Regex {
        meta::Regex::builder().build_from_hir(hir).unwrap()
    }

    #[test]
    fn only_a_long_gap_at_the_top_after_a_non_empty_head_splits_a_pattern() {
        let split = |pattern: &str| head(&hir(pattern)).map(|h| h.to_string());
        assert!(split(r"\b(?:write|tell)\b(?: [^ ]+){0,12} (?:bomb|virus)\b").is_some());
        assert_eq!(split(r"\bwrite(?: [^ ]+){0,3} virus"), None);
        assert_eq!(split(r"a|b(?: [^ ]+){0,12} c"), None);
        assert_eq!(split(r"x?(?: [^ ]+){0,12} c"), None);
        assert_eq!(split(r"write[a-z]{0,12} c"), None);
        // Where runs could overlap without bound (a search quadratic in the text): an
        // unbounded gap or head, a gap not beginning with a space, a match with unbounded
        // spaces after the gap.
        assert_eq!(split(r"\bwrite(?: [^ ]+)* virus"), None);
        assert_eq!(split(r"\bwrite[^ ]*(?: [^ ]+){0,12} virus"), None);
        assert_eq!(split(r"\bwrite(?:[^ ]+ ){0,12}virus"), None);
        assert_eq!(split(r"\bwrite(?: [^ ]+){0,12} virus.*"), None);
    }

    /// The anchored walk finds what an unanchored search finds, on texts of words drawn from
    /// the pattern's own vocabulary, with triggers overlapping and repeated.
    #[test]
    fn matches_are_those_of_an_unanchored_search() {
        let pattern = r"(?-u:\b)(?:step by step|by|how to|write)(?-u:\b)(?: [^ ]+){0,6} (?:bomb|step)s?(?-u:\b)";
        let whole_hir = hir(pattern);
        let (whole, head) = (regex(&whole_hir), regex(&head(&whole_hir).unwrap()));
        let vocabulary = [
            "step", "by", "how", "to", "write", "bomb", "steps", "é", "a-b", "x",
        ];
        let mut seed = 0x9E37_79B9_u32;
        let mut compared = 0;
        for _ in 0..3000 {
            let words: Vec<&str> = (0..=seed as usize % 40)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    vocabulary[seed as usize % vocabulary.len()]
                })
                .collect();
            let text = words.join(" ");
            let expected: Vec<_> = whole.find_iter(text.as_bytes()).collect();
            let found: Vec<_> = find_iter(&whole, &head, text.as_bytes()).collect();
            assert_eq!(found, expected, "{text:?}");
            compared += expected.len();
        }
        assert!(compared > 3000, "{compared} matches compared");
    }
}
