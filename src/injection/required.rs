//! Literals a raw-view pattern needs, read from its syntax tree (the `regex` crate's own
//! parser), so that ASCII text holding none of them can skip the raw-view patterns.
//!
//! For ASCII text (`Text::Ascii`) a class keeps only its ASCII members, lowercased (callers
//! compare without regard to ASCII case), so case-insensitive words stay single strings; for
//! any text (`Text::Any`, the word view) a class with a member beyond ASCII is a wildcard;
//! for text without the two characters `(?i)` folds into ASCII letters (`Text::Unfolded`), a
//! class with a member beyond ASCII other than those two is one.
//! The answer is a conjunction of alternatives: every match of the pattern on such text
//! contains, for each set, at least one of its strings (ASCII case aside).

use regex_syntax::hir::{Class, Hir, HirKind};

/// Bound on the strings of one alternative (products of small classes grow fast).
const MAX_SET: usize = 64;
/// A class with more ASCII members than this is a wildcard, not a small alternative.
const MAX_CLASS: usize = 8;

/// Sets of strings, each set required (one of its strings occurs in every match).
pub type Required = Vec<Vec<Vec<u8>>>;

/// How costly a set is to filter on (lower is better): where branches each require a set,
/// the cheapest of each branch is kept.
pub type Cost<'a> = &'a dyn Fn(&[Vec<u8>]) -> (u8, usize);

/// The text the answer must hold for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Ascii,
    Any,
    /// Text that holds none of [`FOLDS_TO_ASCII`].
    Unfolded,
}

/// One `T` for ASCII text and one for other text that holds none of [`FOLDS_TO_ASCII`]: what
/// the literal analysis answers for [`Text::Ascii`] and [`Text::Unfolded`].
#[derive(Debug, Clone, Default)]
pub struct ByText<T> {
    pub ascii: T,
    pub unfolded: T,
}

impl<T> ByText<T> {
    /// The one for ASCII text if `ascii`, else the one for other text.
    pub fn get(&self, ascii: bool) -> &T {
        if ascii {
            &self.ascii
        } else {
            &self.unfolded
        }
    }

    /// The one for `text` (`Text::Any` counts as other text).
    pub fn get_mut(&mut self, text: Text) -> &mut T {
        match text {
            Text::Ascii => &mut self.ascii,
            Text::Any | Text::Unfolded => &mut self.unfolded,
        }
    }
}

/// The characters beyond ASCII that Unicode simple case folding, and so `(?i)`, makes equal
/// to ASCII letters: KELVIN SIGN (`k`) and LATIN SMALL LETTER LONG S (`s`).
pub const FOLDS_TO_ASCII: [char; 2] = ['\u{212A}', '\u{017F}'];

/// Whether `text` holds one of [`FOLDS_TO_ASCII`] (then it is not `Text::Unfolded`).
pub fn folds_to_ascii(text: &str) -> bool {
    FOLDS_TO_ASCII.iter().any(|c| {
        let mut utf8 = [0; 4];
        memchr::memmem::find(text.as_bytes(), c.encode_utf8(&mut utf8).as_bytes()).is_some()
    })
}

/// What the analysis knows of a sub-pattern.
struct Facts {
    /// Every string it matches, if that language is finite and small.
    exact: Option<Vec<Vec<u8>>>,
    /// Required sets (see [`Required`]).
    all: Required,
}

impl Facts {
    fn exact(strings: Vec<Vec<u8>>) -> Self {
        Self {
            exact: Some(strings),
            all: Vec::new(),
        }
    }

    /// Required sets, the exact language included when it is one.
    fn into_required(self) -> Required {
        let mut all = self.all;
        all.extend(self.exact);
        all.retain(|set| !set.is_empty() && set.iter().all(|s| !s.is_empty()));
        all
    }
}

/// Required sets of `pattern`, or `None` if it does not parse.
pub fn of_pattern(pattern: &str, text: Text, cost: Cost) -> Option<Required> {
    regex_syntax::parse(pattern)
        .ok()
        .map(|hir| facts(&hir, text, cost).into_required())
}

fn facts(hir: &Hir, text: Text, cost: Cost) -> Facts {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Facts::exact(vec![Vec::new()]),
        HirKind::Literal(lit) => Facts::exact(vec![lit.0.to_ascii_lowercase()]),
        HirKind::Class(class) => match ascii_members(class, text) {
            Some(members) => Facts::exact(members.into_iter().map(|b| vec![b]).collect()),
            None => Facts {
                exact: None,
                all: Vec::new(),
            },
        },
        HirKind::Capture(group) => facts(&group.sub, text, cost),
        HirKind::Repetition(rep) if rep.min == 0 => Facts {
            exact: None,
            all: Vec::new(),
        },
        HirKind::Repetition(rep) => {
            let sub = facts(&rep.sub, text, cost);
            let single = rep.max == Some(1);
            let mut all = sub.all;
            // `x{n,}` contains n copies of `x` in a row.
            let copies = sub.exact.as_ref().and_then(|e| {
                let n = usize::try_from(rep.min).ok()?;
                (0..n).try_fold(vec![Vec::new()], |acc, _| product(&acc, e))
            });
            if single {
                return Facts {
                    exact: sub.exact,
                    all,
                };
            }
            all.extend(copies);
            Facts { exact: None, all }
        }
        HirKind::Concat(parts) => concat(parts, text, cost),
        HirKind::Alternation(branches) => alternation(branches, text, cost),
    }
}

/// Adjacent exact parts join into longer strings; every part's own sets stay required.
fn concat(parts: &[Hir], text: Text, cost: Cost) -> Facts {
    let mut all = Vec::new();
    let mut run = vec![Vec::new()];
    let mut whole = true;
    for part in parts {
        let part = facts(part, text, cost);
        all.extend(part.all);
        if let Some(exact) = part.exact {
            if let Some(joined) = product(&run, &exact) {
                run = joined;
            } else {
                all.push(std::mem::replace(&mut run, exact));
                whole = false;
            }
        } else {
            all.push(std::mem::replace(&mut run, vec![Vec::new()]));
            whole = false;
        }
    }
    if whole {
        Facts {
            exact: Some(run),
            all,
        }
    } else {
        all.push(run);
        Facts { exact: None, all }
    }
}

/// Every branch contributes its cheapest required set; the union is required.
fn alternation(branches: &[Hir], text: Text, cost: Cost) -> Facts {
    let facts: Vec<Facts> = branches.iter().map(|b| facts(b, text, cost)).collect();
    let exact = facts
        .iter()
        .map(|f| f.exact.clone())
        .collect::<Option<Vec<_>>>()
        .map(|sets| sets.concat())
        .filter(|union| union.len() <= MAX_SET);
    let union = facts
        .into_iter()
        .map(|f| f.into_required().into_iter().min_by_key(|set| cost(set)))
        .collect::<Option<Vec<_>>>()
        .map(|sets| sets.concat());
    Facts {
        exact,
        all: union.into_iter().collect(),
    }
}

fn product(left: &[Vec<u8>], right: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if left.len() * right.len() > MAX_SET {
        return None;
    }
    let mut out: Vec<Vec<u8>> = left
        .iter()
        .flat_map(|l| right.iter().map(move |r| [l.as_slice(), r].concat()))
        .collect();
    out.sort();
    out.dedup();
    Some(out)
}

/// A class's ASCII members, lowercased, if they are few (and, unless the text is ASCII, all
/// of them that count; see [`Text`]).
fn ascii_members(class: &Class, text: Text) -> Option<Vec<u8>> {
    // Members beyond ASCII in `start..=end`, the ones `text` cannot hold aside.
    let beyond = |start: u32, end: u32| {
        let start = start.max(0x80);
        let absent = match text {
            Text::Unfolded => FOLDS_TO_ASCII
                .iter()
                .filter(|&&c| (start..=end).contains(&u32::from(c)))
                .count(),
            Text::Ascii | Text::Any => 0,
        };
        end >= start && (end - start + 1) as usize > absent
    };
    let beyond_ascii = match class {
        Class::Unicode(c) => c
            .iter()
            .any(|r| beyond(u32::from(r.start()), u32::from(r.end()))),
        Class::Bytes(c) => c
            .iter()
            .any(|r| beyond(u32::from(r.start()), u32::from(r.end()))),
    };
    if text != Text::Ascii && beyond_ascii {
        return None;
    }
    let mut members: Vec<u8> = match class {
        Class::Unicode(c) => c
            .iter()
            .filter(|r| r.start().is_ascii())
            .flat_map(|r| u32::from(r.start())..=u32::from(r.end()).min(0x7F))
            .filter_map(|c| u8::try_from(c).ok())
            .take(4 * MAX_CLASS)
            .collect(),
        Class::Bytes(c) => c
            .iter()
            .filter(|r| r.start().is_ascii())
            .flat_map(|r| r.start()..=r.end().min(0x7F))
            .take(4 * MAX_CLASS)
            .collect(),
    };
    members.iter_mut().for_each(u8::make_ascii_lowercase);
    members.sort_unstable();
    members.dedup();
    (members.len() <= MAX_CLASS).then_some(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_two_characters_beyond_ascii_fold_into_ascii_letters() {
        for letter in (b'a'..=b'z').map(char::from) {
            let hir = regex_syntax::parse(&format!("(?i){letter}")).unwrap();
            let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
                panic!("{letter}: a class");
            };
            let beyond: Vec<char> = class
                .iter()
                .flat_map(|r| r.start()..=r.end())
                .filter(|c| !c.is_ascii())
                .collect();
            assert!(
                beyond.iter().all(|c| FOLDS_TO_ASCII.contains(c)),
                "{letter}: {beyond:?}"
            );
        }
        assert!(folds_to_ascii("\u{212A}ey") && folds_to_ascii("pa\u{017F}s"));
        assert!(!folds_to_ascii("Kelvin, long s, Привет"));
    }

    #[test]
    fn unfolded_text_keeps_case_insensitive_words_and_drops_wide_classes() {
        let cost: Cost = &|set| (0, set.len());
        let space = vec![
            b"\t".to_vec(),
            b"\n".to_vec(),
            b"\x0b".to_vec(),
            b"\x0c".to_vec(),
            b"\r".to_vec(),
            b" ".to_vec(),
        ];
        let ascii = of_pattern(r"(?i:ask\s+me)", Text::Ascii, cost).unwrap();
        assert!(
            ascii.contains(&vec![b"ask".to_vec()]) && ascii.contains(&space),
            "{ascii:?}"
        );
        // `\s` has members beyond ASCII, `(?i)k` only KELVIN SIGN.
        let unfolded = of_pattern(r"(?i:ask\s+me)", Text::Unfolded, cost).unwrap();
        assert_eq!(unfolded, vec![vec![b"ask".to_vec()], vec![b"me".to_vec()]]);
        let any = of_pattern(r"(?i:ask\s+me)", Text::Any, cost).unwrap();
        assert_eq!(any, vec![vec![b"a".to_vec()], vec![b"me".to_vec()]]);
    }
}
