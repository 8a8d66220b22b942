//! How far a word-view match reaches from its anchor, counted in words.
//!
//! The word view is words one space apart. A pattern whose matches hold at most `n` spaces
//! matches only within `n` words either side of an anchor it contains, so it needs to run on
//! those words alone, not on the whole view. Cut at spaces, such a window gives the same
//! matches as the whole view: a word boundary at its edge sees the space beyond it as the
//! haystack's edge. Patterns that look at the text's start or end (`^`, `$`) have no bound.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// The most spaces a match of `pattern` holds; `None` if unbounded or not known.
pub fn max_spaces(pattern: &str) -> Option<usize> {
    spaces(&regex_syntax::parse(pattern).ok()?)
}

pub fn spaces(hir: &Hir) -> Option<usize> {
    match hir.kind() {
        HirKind::Empty => Some(0),
        HirKind::Look(look) => is_word_look(*look).then_some(0),
        HirKind::Literal(lit) => Some(memchr::memchr_iter(b' ', &lit.0).count()),
        HirKind::Class(class) => Some(usize::from(holds_space(class))),
        HirKind::Capture(group) => spaces(&group.sub),
        HirKind::Repetition(rep) => match spaces(&rep.sub)? {
            0 => Some(0),
            each => each.checked_mul(usize::try_from(rep.max?).ok()?),
        },
        HirKind::Concat(parts) => parts
            .iter()
            .try_fold(0usize, |sum, part| sum.checked_add(spaces(part)?)),
        HirKind::Alternation(branches) => branches
            .iter()
            .try_fold(0usize, |most, branch| Some(most.max(spaces(branch)?))),
    }
}

/// Word-boundary assertions, which a space and a window's edge satisfy alike.
fn is_word_look(look: Look) -> bool {
    matches!(
        look,
        Look::WordAscii
            | Look::WordAsciiNegate
            | Look::WordUnicode
            | Look::WordUnicodeNegate
            | Look::WordStartAscii
            | Look::WordEndAscii
            | Look::WordStartUnicode
            | Look::WordEndUnicode
            | Look::WordStartHalfAscii
            | Look::WordEndHalfAscii
            | Look::WordStartHalfUnicode
            | Look::WordEndHalfUnicode
    )
}

fn holds_space(class: &Class) -> bool {
    match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= ' ' && ' ' <= r.end()),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b' ' && b' ' <= r.end()),
    }
}

#[cfg(test)]
mod tests {
    use super::max_spaces;

    #[test]
    fn counts_the_spaces_a_match_can_hold() {
        assert_eq!(max_spaces(r"\bsystem prompt\b"), Some(1));
        assert_eq!(max_spaces(r"(?-u:\b)a(?: [^ ]+){0,3} b"), Some(4));
        assert_eq!(max_spaces(r"x (?:y|z w v)|q"), Some(3));
        assert_eq!(max_spaces(r"a\sb.c"), Some(2));
        assert_eq!(max_spaces(r"[^ ]+x[a-z]*"), Some(0));
    }

    #[test]
    fn unbounded_or_anchored_patterns_have_no_reach() {
        for pattern in [
            r"a(?: b)*",
            r"a.+b",
            r"^run\b",
            r"end$",
            r"(?m)^x",
            "(unclosed",
        ] {
            assert_eq!(max_spaces(pattern), None, "{pattern}");
        }
    }
}
