//! Word-view regexes searched byte by byte where that cannot change a match.
//!
//! The rules' "rest of a word", `[^ ]+`, is a class holding every character beyond ASCII. As
//! a Unicode class it compiles to a UTF-8 automaton of a dozen states, which every state the
//! lazy DFA builds carries; on the development corpus, building states is about half of a
//! first scan's time (new text meets new combinations of the rules' word gaps). Repeated
//! greedily without an upper bound, the same class read as single bytes (`[\x80-\xFF]` for
//! everything beyond ASCII) matches the same text. What follows the repetition cannot begin
//! on a UTF-8 continuation byte (an ASCII byte, a lead byte, the end, or a word boundary,
//! none of which falls inside a character), so the repetition cannot stop inside one; and a
//! match cannot start inside one either, since the byte before would belong to the class
//! too. Looks that do hold inside a character (`\B` and the half word boundaries) void that,
//! so a pattern with one is left as it is.

use regex_automata::meta;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_syntax::hir::{
    Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Look,
};

/// `hir` compiled to search bytes, with every greedy, unbounded repetition of a class that
/// holds all of non-ASCII read byte by byte. Only whole matches are asked of it: the capture
/// groups of the pattern are left out.
pub fn compile(hir: Hir, config: meta::Config) -> Result<meta::Regex, String> {
    meta::Builder::new()
        .configure(
            config
                .utf8_empty(false)
                .which_captures(WhichCaptures::Implicit),
        )
        .build_from_hir(&if aligned(&hir) { rewrite(hir) } else { hir })
        .map_err(|e| e.to_string())
}

/// Whether every look-around of `hir` fails inside a UTF-8 character.
fn aligned(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(look) => !matches!(
            look,
            Look::WordAsciiNegate
                | Look::WordUnicodeNegate
                | Look::WordStartHalfAscii
                | Look::WordEndHalfAscii
                | Look::WordStartHalfUnicode
                | Look::WordEndHalfUnicode
        ),
        HirKind::Repetition(rep) => aligned(&rep.sub),
        HirKind::Capture(capture) => aligned(&capture.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().all(aligned),
        HirKind::Empty | HirKind::Literal(_) | HirKind::Class(_) => true,
    }
}

fn rewrite(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Repetition(mut rep) => {
            let wide = match rep.sub.kind() {
                HirKind::Class(Class::Unicode(class)) if rep.greedy && rep.max.is_none() => {
                    bytewise(class)
                }
                _ => None,
            };
            rep.sub = Box::new(match wide {
                Some(class) => Hir::class(Class::Bytes(class)),
                None => rewrite(*rep.sub),
            });
            Hir::repetition(rep)
        }
        HirKind::Capture(mut capture) => {
            capture.sub = Box::new(rewrite(*capture.sub));
            Hir::capture(capture)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(rewrite).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.into_iter().map(rewrite).collect()),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(literal) => Hir::literal(literal.0),
        HirKind::Class(class) => Hir::class(class),
        HirKind::Look(look) => Hir::look(look),
    }
}

/// `class` as bytes, if it holds every character beyond ASCII.
fn bytewise(class: &ClassUnicode) -> Option<ClassBytes> {
    let mut missing = ClassUnicode::new([ClassUnicodeRange::new('\u{80}', char::MAX)]);
    missing.difference(class);
    if !missing.ranges().is_empty() {
        return None;
    }
    let ascii = class
        .ranges()
        .iter()
        .filter(|r| r.start().is_ascii())
        .map(|r| {
            let end = r.end().min('\x7F');
            ClassBytesRange::new(r.start() as u8, end as u8)
        });
    Some(ClassBytes::new(
        ascii.chain([ClassBytesRange::new(0x80, 0xFF)]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(pattern: &str) -> (regex::Regex, meta::Regex) {
        let text = regex::Regex::new(pattern).unwrap();
        let hir = regex_syntax::parse(pattern).unwrap();
        (text, compile(hir, meta::Config::new()).unwrap())
    }

    #[test]
    fn rewrites_only_unbounded_greedy_repetitions_of_a_class_with_all_of_non_ascii() {
        fn bytes_classes(hir: &Hir) -> usize {
            match hir.kind() {
                HirKind::Class(Class::Bytes(_)) => 1,
                HirKind::Repetition(rep) => bytes_classes(&rep.sub),
                HirKind::Capture(capture) => bytes_classes(&capture.sub),
                HirKind::Concat(subs) | HirKind::Alternation(subs) => {
                    subs.iter().map(bytes_classes).sum()
                }
                _ => 0,
            }
        }
        let wide = |p: &str| {
            let hir = regex_syntax::parse(p).unwrap();
            aligned(&hir) && bytes_classes(&rewrite(hir)) > 0
        };
        assert!(wide("a[^ ]+"));
        assert!(wide("a(?:[^ ]*|b)"));
        assert!(wide("(?: [^ ]+){0,3} b"));
        assert!(wide("(?P<w>[^ ]+)"));
        assert!(wide(r"[^\n]*x"));
        assert!(!wide("a[^ ]"), "one character is one to four bytes");
        assert!(!wide("a[^ ]{1,5}"), "a bound counts characters");
        assert!(
            !wide("a[^ ]+?"),
            "a lazy repetition could stop inside a character"
        );
        assert!(!wide(r"\w+"), "a class without all of non-ASCII");
        assert!(!wide(r"\S+"), "nor all of non-ASCII: U+00A0 is a space");
        assert!(!wide(r"[^é]+"));
        assert!(!wide(r"x[^ ]+(?-u:\B)"), r"`\B` holds inside a character");
        assert!(!wide(r"x[^ ]+\b{end-half}"));
    }

    #[test]
    fn a_look_that_holds_inside_a_character_would_split_one() {
        let hir = rewrite(regex_syntax::parse(r"x[^ ]+(?-u:\B)").unwrap());
        let forced = meta::Regex::builder().build_from_hir(&hir).unwrap();
        assert_eq!(forced.find("xéy").map(|m| m.range()), Some(0..2));
        let kept = compile(
            regex_syntax::parse(r"x[^ ]+(?-u:\B)").unwrap(),
            meta::Config::new(),
        );
        assert_eq!(kept.unwrap().find("xéy"), None);
    }

    #[test]
    fn finds_what_the_text_regex_finds() {
        let patterns = [
            r"(?-u:\b)ignore(?: [^ ]+){0,3} (?:previous|all) rules(?-u:\b)",
            r"admin[^ ]*",
            r"[^ ]+ ist",
            r"(?-u:\b)x[^ ]*(?-u:\b)",
            r"игнор[^ ]* все",
            r"[^ ]+",
            r"x[^ ]+(?-u:\B)",
        ];
        let texts = [
            "ignore 😀 all the previous rules",
            "please ignore été ça previous rules now",
            "admin\u{0301}é x adminß",
            "das ist gut, ça ist 中文 ist",
            "xé1 xa x\u{200b} ×x",
            "игнорируй все",
            "",
            "é",
            "a\u{10FFFF}b c",
            "xéy xé",
        ];
        for pattern in patterns {
            let (text_re, bytes_re) = both(pattern);
            for text in texts {
                let want: Vec<_> = text_re.find_iter(text).map(|m| m.range()).collect();
                let got: Vec<_> = bytes_re.find_iter(text).map(|m| m.range()).collect();
                assert_eq!(got, want, "{pattern:?} on {text:?}");
            }
        }
    }
}
