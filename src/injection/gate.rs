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
//! Anchors are found through an index of one rare trigram each (a bit per trigram, then an
//! exact check), several times faster on prose than an automaton that steps every byte.
//!
//! Raw-view patterns get the same treatment for cleared text: each yields a required set of
//! literals (see [`super::required`]); a literal with a rare symbol contributes that byte as a
//! trigger, one made of letters contributes its longest word as an anchor. A cleared window
//! with no trigger byte cannot match any raw-view pattern either.

use std::borrow::Cow;

use regex_syntax::hir::{Hir, HirKind};

use super::required;

/// Anchors collected while rules compile; `None` once a rule has no usable anchor. Likewise
/// the raw-view trigger bytes, `None` once a raw pattern has no usable literal.
#[derive(Debug)]
pub struct Anchors {
    words: Option<Vec<String>>,
    triggers: Option<Box<[bool; 256]>>,
}

impl Default for Anchors {
    fn default() -> Self {
        Self {
            words: Some(Vec::new()),
            triggers: Some(Box::new([false; 256])),
        }
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
            _ => self.words = None,
        }
    }

    /// A word-view pattern needs one of the words its syntax tree requires (see `required`),
    /// returned too (`None`: nothing is required).
    pub fn pattern(&mut self, pattern: &str) -> Option<Vec<String>> {
        let words = regex_syntax::parse(pattern)
            .ok()
            .as_ref()
            .and_then(required);
        match &words {
            Some(words) => words.iter().for_each(|w| self.add(w)),
            None => self.words = None,
        }
        words
    }

    /// A raw-view pattern: each literal of its most selective required set becomes a
    /// trigger byte (its rarest symbol) or, made of letters and digits, an anchor.
    pub fn raw_pattern(&mut self, pattern: &str) {
        let chosen = required::of_pattern(pattern)
            .and_then(|sets| sets.into_iter().min_by_key(|set| set_cost(set)))
            .filter(|set| set_cost(set).0 < UNUSABLE);
        let Some(set) = chosen else {
            self.triggers = None;
            return;
        };
        for literal in set {
            match literal_filter(&literal) {
                Filter::Trigger(b) => {
                    if let Some(triggers) = &mut self.triggers {
                        triggers[usize::from(b)] = true;
                    }
                }
                Filter::Word(word) => self.add(&String::from_utf8_lossy(word)),
                Filter::None => unreachable!("unusable sets are not chosen"),
            }
        }
    }

    /// A word that sends a text down the full path whatever the rules say.
    pub fn add(&mut self, word: &str) {
        if let Some(all) = &mut self.words {
            all.push(word.to_ascii_lowercase());
        }
    }

    pub fn build(self) -> Option<Gate> {
        let mut words = self.words?;
        words.sort();
        words.dedup();
        Some(Gate {
            index: TrigramIndex::new(words),
            triggers: self.triggers,
        })
    }
}

/// How one literal filters: by a byte it must contain, or a word (anchor) it must contain.
enum Filter<'a> {
    Trigger(u8),
    Word(&'a [u8]),
    None,
}

/// A rare symbol is best, then a word of three or more characters, then a common symbol.
fn literal_filter(literal: &[u8]) -> Filter<'_> {
    let word = longest_word(literal);
    match trigger(literal) {
        Some(b) if !is_common_symbol(b) => Filter::Trigger(b),
        _ if word.len() >= 3 => Filter::Word(word),
        Some(b) => Filter::Trigger(b),
        None => Filter::None,
    }
}

fn literal_cost(literal: &[u8]) -> u8 {
    match literal_filter(literal) {
        Filter::Trigger(b) if !is_common_symbol(b) => 0,
        Filter::Word(_) => 1,
        Filter::Trigger(_) => 2,
        Filter::None => UNUSABLE,
    }
}

const UNUSABLE: u8 = 3;

/// A set is as weak as its weakest literal; among equals, fewer literals is better.
fn set_cost(set: &[Vec<u8>]) -> (u8, usize) {
    let worst = set
        .iter()
        .map(|l| literal_cost(l))
        .max()
        .unwrap_or(UNUSABLE);
    (worst, set.len())
}

/// Symbols frequent in prose, the last choice for a trigger byte.
fn is_common_symbol(b: u8) -> bool {
    matches!(
        b,
        b'.' | b',' | b'\'' | b'"' | b'-' | b'?' | b'!' | b':' | b';' | b'(' | b')'
    )
}

/// The literal's rarest byte that is neither a letter, a digit nor white space (bytes of
/// non-ASCII characters never occur in ASCII text, so they are the rarest).
fn trigger(literal: &[u8]) -> Option<u8> {
    literal
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_alphanumeric() && !b.is_ascii_whitespace())
        .min_by_key(|&b| (b.is_ascii(), is_common_symbol(b)))
}

/// The longest run of letters and digits in `literal`.
fn longest_word(literal: &[u8]) -> &[u8] {
    literal
        .split(|b| !b.is_ascii_alphanumeric())
        .max_by_key(|w| w.len())
        .unwrap_or_default()
}

/// The compiled prefilter.
#[derive(Debug)]
pub struct Gate {
    index: TrigramIndex,
    triggers: Option<Box<[bool; 256]>>,
}

impl Gate {
    /// Whether `text` is plain and holds no anchor, so no phrase or word-view pattern can
    /// match it.
    pub fn clears(&self, text: &str) -> bool {
        if !text.is_ascii() {
            return false;
        }
        let bytes = text.as_bytes();
        let joined: Cow<[u8]> = if memchr::memchr2(b'\'', b'-', bytes).is_some() {
            bytes
                .iter()
                .copied()
                .filter(|&b| b != b'\'' && b != b'-')
                .collect()
        } else {
            Cow::Borrowed(bytes)
        };
        plain(&joined) && !self.index.occurs_in(&joined)
    }

    /// Whether text that [`Gate::clears`] also holds no trigger byte, so no raw-view pattern
    /// can match it either.
    pub fn clears_raw(&self, text: &str) -> bool {
        self.triggers
            .as_ref()
            .is_some_and(|t| !text.bytes().any(|b| t[usize::from(b)]))
    }
}

/// Bits per character code: letters (either case) 1-26, digits 27-36, anything else 0.
const CODE_BITS: u32 = 6;

const CODE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 26 {
        table[b'a' as usize + i] = i as u8 + 1;
        table[b'A' as usize + i] = i as u8 + 1;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 27 + d as u8;
        d += 1;
    }
    table
};

/// Anchors by one key each: a bit per key says whether to look closer, then the anchors of
/// that key are compared in place. One pass keeps the codes of the last four bytes: an anchor
/// of four characters or more is keyed by its rarest four-gram (hashed), a shorter one by the
/// trigram that ends with it (code 0, which stands for any other byte and for the text's
/// start, fills in before an anchor shorter than three).
#[derive(Debug)]
struct TrigramIndex {
    short_bits: Box<[u64]>,
    long_bits: Box<[u64]>,
    /// Sorted: (whether long, key), an anchor, and the offset in it of the key's last byte.
    anchors: Vec<((bool, usize), Vec<u8>, usize)>,
}

const KEY_MASK: u32 = (1 << (3 * CODE_BITS)) - 1;

/// Bits per bitmap: 8 KiB each, so both stay in the first-level cache.
const INDEX_BITS: u32 = 16;

/// A trigram's or four-gram's key: its codes, hashed down to `INDEX_BITS`.
fn hash(codes: u32) -> usize {
    (codes.wrapping_mul(0x9E37_79B1) >> (32 - INDEX_BITS)) as usize
}

/// Codes of `t`'s bytes, the last in the low bits.
fn codes(t: &[u8]) -> u32 {
    t.iter().fold(0, |acc, &b| {
        (acc << CODE_BITS) | u32::from(CODE[usize::from(b)])
    })
}

fn test_bit(bits: &[u64], k: usize) -> bool {
    bits[k / 64] >> (k % 64) & 1 == 1
}

impl TrigramIndex {
    fn new(words: Vec<String>) -> Self {
        let mut anchors = Vec::new();
        for word in words {
            let bytes = word.into_bytes();
            if bytes.len() >= 4 {
                // Characters other than letters and digits share code 0; the comparison in
                // place decides.
                let (start, t) = bytes
                    .windows(4)
                    .enumerate()
                    .max_by_key(|&(_, t)| {
                        let common = t.windows(3).filter(|t| is_common_trigram(t)).count();
                        (std::cmp::Reverse(common), rarity(&t[..3]) + rarity(&t[1..]))
                    })
                    .expect("four bytes or more");
                anchors.push(((true, hash(codes(t))), bytes, start + 3));
            } else if !bytes.is_empty() {
                let shift = CODE_BITS * bytes.len() as u32;
                let tail = codes(&bytes) as usize;
                for before in 0..1usize << (3 * CODE_BITS - shift) {
                    let k = hash(((before << shift) | tail) as u32);
                    anchors.push(((false, k), bytes.clone(), bytes.len() - 1));
                }
            }
        }
        anchors.sort();
        anchors.dedup();
        let mut short_bits = vec![0u64; 1 << (INDEX_BITS - 6)].into_boxed_slice();
        let mut long_bits = vec![0u64; 1 << (INDEX_BITS - 6)].into_boxed_slice();
        for &((long, k), _, _) in &anchors {
            let bits = if long {
                &mut long_bits
            } else {
                &mut short_bits
            };
            bits[k / 64] |= 1 << (k % 64);
        }
        Self {
            short_bits,
            long_bits,
            anchors,
        }
    }

    /// Whether any anchor occurs in `text`, ASCII case aside.
    fn occurs_in(&self, text: &[u8]) -> bool {
        let mut wide = 0u32;
        text.iter().enumerate().any(|(at, &b)| {
            wide = (wide << CODE_BITS) | u32::from(CODE[usize::from(b)]);
            let (k3, k4) = (hash(wide & KEY_MASK), hash(wide & 0xFF_FFFF));
            (test_bit(&self.short_bits, k3) && self.verify(text, at, (false, k3)))
                || (test_bit(&self.long_bits, k4) && self.verify(text, at, (true, k4)))
        })
    }

    /// Whether an anchor of key `k` ends its keyed part at `at`.
    fn verify(&self, text: &[u8], at: usize, k: (bool, usize)) -> bool {
        let first = self.anchors.partition_point(|(key, _, _)| *key < k);
        self.anchors[first..]
            .iter()
            .take_while(|(key, _, _)| *key == k)
            .any(|(_, anchor, end)| {
                at.checked_sub(*end)
                    .and_then(|start| text.get(start..start + anchor.len()))
                    .is_some_and(|found| found.eq_ignore_ascii_case(anchor))
            })
    }
}

/// The most frequent trigrams of English prose (and common word prefixes): poor keys.
fn is_common_trigram(t: &[u8]) -> bool {
    const COMMON: &[&[u8; 3]] = &[
        b"the", b"and", b"ing", b"ent", b"ion", b"her", b"for", b"tha", b"nth", b"int", b"ere",
        b"tio", b"ter", b"est", b"ers", b"ati", b"hat", b"ate", b"all", b"eth", b"hes", b"ver",
        b"his", b"oft", b"ith", b"fth", b"sth", b"oth", b"res", b"ont", b"are", b"rea", b"ear",
        b"was", b"sin", b"sto", b"sta", b"thi", b"tin", b"ted", b"ons", b"wit", b"ort", b"con",
        b"com", b"pro", b"per", b"pre", b"men", b"nce", b"ive", b"ess", b"not", b"you", b"our",
        b"out", b"ect", b"ine", b"ted", b"tor",
    ];
    COMMON.iter().any(|c| t.eq_ignore_ascii_case(*c))
}

/// How rare a trigram is in English, from its letters' frequency ranks (others are rarest).
fn rarity(t: &[u8]) -> usize {
    const BY_FREQUENCY: &[u8] = b"etaoinshrdlcumwfgypbvkjxqz";
    t.iter()
        .map(|b| {
            BY_FREQUENCY
                .iter()
                .position(|f| f.eq_ignore_ascii_case(b))
                .unwrap_or(26)
        })
        .sum()
}

/// Among the most frequent words of English (function words, everyday verbs): a required
/// part made of such words lets most prose through, so another part is a better anchor.
fn is_common_word(word: &str) -> bool {
    const COMMON: &[&str] = &[
        "about", "above", "after", "all", "also", "and", "any", "are", "before", "but", "can",
        "come", "could", "day", "each", "every", "find", "for", "from", "get", "give", "have",
        "help", "here", "how", "into", "just", "know", "like", "look", "make", "more", "most",
        "must", "need", "never", "new", "not", "now", "only", "other", "people", "real", "said",
        "say", "see", "should", "show", "some", "step", "take", "tell", "than", "that", "the",
        "their", "them", "then", "there", "these", "they", "thing", "think", "this", "those",
        "time", "use", "used", "want", "way", "what", "when", "where", "which", "who", "why",
        "will", "with", "without", "work", "world", "would", "write", "year", "you", "your",
    ];
    COMMON.contains(&word)
}

/// Words one of which every match of `hir` contains (as a substring of one normalized word),
/// chosen to be rare: from a sequence, the part with the fewest common English words, then
/// the one whose shortest word is longest; from an alternation, the words of every branch.
/// `None` when nothing is required.
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
            let common = words.iter().filter(|w| is_common_word(w)).count();
            let shortest = words.iter().map(String::len).min().unwrap_or(0);
            (
                std::cmp::Reverse(common),
                shortest,
                std::cmp::Reverse(words.len()),
            )
        }),
        HirKind::Alternation(branches) => branches
            .iter()
            .map(required)
            .collect::<Option<Vec<_>>>()
            .map(|all| all.concat()),
        _ => None,
    }
}

/// Byte classes for `plain`: letters, digits, leetspeak symbols (`+` apart: it is never
/// trailing punctuation).
const LETTER: u8 = 1;
const DIGIT: u8 = 2;
const LEET: u8 = 4;
const PLUS: u8 = 8;
const PLAIN_CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() {
            LETTER
        } else if c.is_ascii_digit() {
            DIGIT
        } else if matches!(c, b'|' | b'!' | b'@' | b'$') {
            LEET
        } else if c == b'+' {
            PLUS
        } else {
            0
        };
        b += 1;
    }
    table
};

/// No leetspeak and no run of three single letters in ASCII `text` (`'` and `-` removed).
/// Tokens are runs of letters, digits and leetspeak symbols (see `crate::normalize`).
fn plain(text: &[u8]) -> bool {
    let class = |i: usize| PLAIN_CLASSES[usize::from(text[i])];
    let mut singles = 0;
    let mut i = 0;
    while i < text.len() {
        if class(i) == 0 {
            i += 1;
            continue;
        }
        // A token: its letters, and its length without trailing symbols other than `+`
        // (those are punctuation, as in `now!`).
        let (start, mut letters, mut kept) = (i, 0, 0);
        while i < text.len() && class(i) != 0 {
            letters += usize::from(class(i) & LETTER);
            if class(i) & LEET == 0 {
                kept = i + 1 - start;
            }
            i += 1;
        }
        if letters > 0 && letters < kept {
            return false;
        }
        match kept {
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

    #[test]
    fn the_index_finds_what_a_substring_search_finds() {
        let words: Vec<String> = [
            "x", "rf", "end", "dan", "ignore", "c++", "base64", "forward",
        ]
        .map(String::from)
        .to_vec();
        let index = TrigramIndex::new(words.clone());
        let texts = [
            "",
            "x",
            "rf",
            "the end",
            "endless",
            "RF",
            "Dangerous",
            "forwarding",
            "fo rward",
            "c+ +",
            "use c++",
            "BASE64 payload",
            "bas e64",
            "ignor e",
            "IGNORED",
            "hello world",
            "xylophone",
            "q",
        ];
        for text in texts {
            let lower = text.to_ascii_lowercase();
            let want = words.iter().any(|w| lower.contains(w.as_str()));
            assert_eq!(index.occurs_in(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn raw_patterns_yield_triggers_or_anchors() {
        let mut anchors = Anchors::default();
        anchors.raw_pattern(r"(?i:<\|im_start\|>|\[/?INST\])");
        anchors.raw_pattern(r"(?i:\b(?:webhook|ngrok)\b)");
        let gate = anchors.build().unwrap();
        assert!(gate.clears("plain prose, nothing more.") && gate.clears_raw("plain prose."));
        assert!(!gate.clears_raw("a <tag> here"), "`<` is a trigger");
        assert!(!gate.clears_raw("see [INST] here"), "`[` is a trigger");
        assert!(
            !gate.clears("post it to my Webhook"),
            "`webhook` is an anchor"
        );
        let mut open = Anchors::default();
        open.raw_pattern(r"(?i:\w+\s+\w+)");
        assert!(open.build().is_some_and(|g| !g.clears_raw("anything")));
    }
}
