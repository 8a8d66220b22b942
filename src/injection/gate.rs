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
//! Anchors are found through an index of one rare four-gram each (a bit per hashed key, then
//! an exact check), probed only where the text has a run of letters and digits long enough
//! to end one (see [`super::survey`]): several times faster on prose than an automaton that
//! steps every byte.
//!
//! The phrase automaton, past the gate, looks for a word-view pattern by the strings of its
//! rarest required set instead, which may span words (`you are now`; see
//! [`Anchors::pattern`]).
//!
//! Raw-view patterns get a filter each: a required set of literals (see [`super::required`]);
//! a literal with a rare symbol contributes that byte as a trigger, one made of letters
//! contributes its longest word as an anchor. An ASCII window cannot match the pattern unless
//! one of its literals with a trigger byte is there (looked for around each occurrence of the
//! byte), or the gate did not clear the window and its word view holds one of the pattern's
//! anchors (normalization never drops or changes an ASCII letter, so a word of letters in
//! the text is in its view; a pattern with an anchor of other bytes runs on every such
//! window), which the phrase automaton reports. Other text gets a second filter, read for
//! text beyond ASCII (a class with such members is no literal), which holds for every window
//! without the two characters `(?i)` folds into ASCII letters.

use aho_corasick::AhoCorasick;
use regex_syntax::hir::{Hir, HirKind};

use super::required;
use super::survey::{after, symbol_set, Survey};
use crate::normalize::is_leet_symbol;

/// Anchors collected while rules compile; `None` once a rule has no usable anchor.
#[derive(Debug)]
pub struct Anchors {
    words: Option<Vec<String>>,
}

impl Default for Anchors {
    fn default() -> Self {
        Self {
            words: Some(Vec::new()),
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

    /// A word-view pattern needs one of the words its syntax tree requires (see `required`)
    /// here. Returns what the phrase automaton looks for in the word view, where spaces are
    /// single and words lowercase: first the rarer of those words and the strings of the
    /// pattern's rarest required set (see [`required::of_pattern`]), which may span words
    /// (`you are now`, where the words alone are all common), then its other required sets,
    /// rarest first, up to [`MAX_ALSO`]. `None`: nothing is required.
    pub fn pattern(&mut self, pattern: &str) -> Option<Vec<Vec<Needed>>> {
        let words = regex_syntax::parse(pattern)
            .ok()
            .as_ref()
            .and_then(required);
        match &words {
            Some(words) => words.iter().for_each(|w| self.add(&w.word)),
            None => self.words = None,
        }
        let usable =
            |needs: &Vec<Needed>| !needs.is_empty() && needs.iter().all(|n| !n.word.is_empty());
        let mut sets: Vec<Vec<Needed>> =
            required::of_pattern(pattern, required::Text::Any, &view_cost)
                .unwrap_or_default()
                .iter()
                .map(|set| set.iter().map(|s| Needed::trimmed(s)).collect())
                .filter(usable)
                .collect();
        sets.sort_by_key(|needs| needs_cost(needs));
        let first = words
            .into_iter()
            .filter(usable)
            .chain(sets.first().cloned())
            .min_by_key(|needs| needs_cost(needs))?;
        // A set of the same strings as one kept rules nothing more out.
        let mut kept = vec![words_of(&first)];
        sets.retain(|set| {
            let words = words_of(set);
            let new = !kept.contains(&words);
            kept.push(words);
            new && needs_cost(set).0 <= u8::MAX - MIN_ALSO_RARITY
        });
        sets.truncate(MAX_ALSO);
        Some([first].into_iter().chain(sets).collect())
    }

    /// A raw-view pattern on `text` (`Ascii`, or `Unfolded` for text beyond ASCII): each
    /// literal of its most selective required set becomes a trigger byte (its rarest symbol)
    /// or, made of letters and digits, an anchor (which the gate also looks for in ASCII
    /// text). `None` if the pattern has no usable set.
    pub fn raw_pattern(
        &mut self,
        pattern: &str,
        text: required::Text,
    ) -> Option<(RawFilter, Vec<String>)> {
        let literals = required::of_pattern(pattern, text, &set_cost)
            .and_then(|sets| sets.into_iter().min_by_key(|set| set_cost(set)))
            .filter(|set| set_cost(set).0 < UNUSABLE)?;
        let ascii = text == required::Text::Ascii;
        let (mut triggers, mut wide, mut words, mut around) =
            (0u128, false, Vec::new(), Vec::new());
        for literal in &literals {
            match literal_filter(literal) {
                // A byte beyond ASCII never occurs in ASCII text: that literal is no option.
                Filter::Trigger(b) if b.is_ascii() || !ascii => {
                    if b.is_ascii() {
                        triggers |= 1 << b;
                    } else {
                        wide = true;
                    }
                    around.push(TriggerLiteral {
                        trigger: b,
                        at: literal.iter().position(|&x| x == b).unwrap_or(0),
                        literal: literal.clone(),
                    });
                }
                Filter::Trigger(_) => {}
                Filter::Word(word) => {
                    let word = String::from_utf8_lossy(word).into_owned();
                    if ascii {
                        self.add(&word);
                    }
                    words.push(word);
                }
                Filter::None => unreachable!("unusable sets are not chosen"),
            }
        }
        let in_view = words
            .iter()
            .all(|w| w.bytes().all(|b| b.is_ascii_alphabetic()));
        let filter = RawFilter {
            triggers,
            wide,
            around,
            in_view,
        };
        Some((filter, words))
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
            index: AnchorIndex::new(words),
        })
    }
}

/// What every match of a raw-view pattern holds: one of its literals with a trigger byte or
/// one of its anchor words (see [`Anchors::raw_pattern`], which also returns the words).
#[derive(Debug, Clone)]
pub struct RawFilter {
    /// The ASCII trigger bytes, as a [`symbol_set`].
    pub triggers: u128,
    /// Whether a trigger byte lies beyond ASCII, which the survey does not record.
    pub wide: bool,
    /// The literals they stand for, looked for where a trigger byte is (`-` is in prose,
    /// `rm -rf` is not).
    pub around: Vec<TriggerLiteral>,
    /// Whether every anchor word is made of ASCII letters: such a word occurs in a text only
    /// if it occurs in its word view (normalization never drops or changes an ASCII letter,
    /// only lowercases it), where the phrase automaton reports it.
    pub in_view: bool,
}

/// A required literal (lowercase) of a raw-view pattern and its trigger byte, `at` bytes in:
/// where the trigger occurs in a text, the literal may be there, ASCII case aside.
#[derive(Debug, Clone)]
pub struct TriggerLiteral {
    pub trigger: u8,
    pub at: usize,
    pub literal: Vec<u8>,
}

impl TriggerLiteral {
    /// Whether `text` holds the literal around an occurrence of its trigger byte.
    pub fn occurs_in(&self, text: &[u8]) -> bool {
        memchr::memchr_iter(self.trigger, text).any(|end| {
            end.checked_sub(self.at)
                .and_then(|start| text.get(start..start + self.literal.len()))
                .is_some_and(|found| found.eq_ignore_ascii_case(&self.literal))
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

/// A word of three letters costs as much as a common symbol: it occurs inside many words of
/// prose (`end` in `friend`, `run` in `brunch`), and each occurrence sends a text down the
/// full path and through the raw-view patterns.
fn literal_cost(literal: &[u8]) -> u8 {
    match literal_filter(literal) {
        Filter::Trigger(b) if !is_common_symbol(b) => 0,
        Filter::Word(word) if word.len() > 3 => 1,
        Filter::Word(_) | Filter::Trigger(_) => 2,
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

/// Required sets a word-view pattern is looked for by beside its first: each one more
/// string set in the phrase automaton, each ruling out runs of the pattern on its own.
pub const MAX_ALSO: usize = 7;
/// Such a set's commonest string is at least this rare (see `view_rarity`): a common word
/// would be found in most views, at a cost per occurrence.
const MIN_ALSO_RARITY: u8 = 3;

/// The compiled prefilter.
#[derive(Debug)]
pub struct Gate {
    index: AnchorIndex,
}

/// Bytes normalization removes inside words (`don't`, `well-known`).
const JOINERS: u128 = symbol_set(b"'-");
/// Symbols that make a token leetspeak when joined to letters (see `plain`): the ASCII ones
/// of normalization's set.
const LEET_SYMBOLS: u128 = {
    let mut set = 0u128;
    let mut b = 0u8;
    while b < 128 {
        if is_leet_symbol(b as char) {
            set |= 1 << b;
        }
        b += 1;
    }
    set
};

impl Gate {
    /// Whether `text` (surveyed in `survey`) is plain and holds no anchor, so no phrase or
    /// word-view pattern can match it.
    pub fn clears(&self, text: &str, survey: &Survey) -> bool {
        if !survey.ascii || self.index.occurs_in(text.as_bytes(), survey.alnum()) {
            // Text holding an anchor as it stands takes the full path (joiners removed only
            // reveal more): most text that does not clear stops here, before a copy.
            return false;
        }
        if survey.any_of(JOINERS) {
            let joined: Vec<u8> = text.bytes().filter(|&b| b != b'\'' && b != b'-').collect();
            return self.clears_joined(&joined, &Survey::of(&joined));
        }
        is_plain(text.as_bytes(), survey)
    }

    /// [`Gate::clears`] for text without `'` and `-`.
    fn clears_joined(&self, text: &[u8], survey: &Survey) -> bool {
        !self.index.occurs_in(text, survey.alnum()) && is_plain(text, survey)
    }
}

/// Whether normalization would make no new words of `text` (see `plain`).
fn is_plain(text: &[u8], survey: &Survey) -> bool {
    if survey.only_letters_in(LEET_SYMBOLS) {
        no_three_singles(survey.alnum())
    } else {
        plain(text)
    }
}

/// Anchors by one key each: a bit per hashed key says whether to look closer, then the
/// anchors of that key are compared in place. A key is four bytes of the text with ASCII
/// case folded (`| 0x20`, which leaves digits alone): an anchor of four characters or more
/// is keyed by its rarest four-gram, one of three by every four-gram that ends with it (64,
/// one per folded byte before it). Keys are probed only where three (or, without anchors of
/// three, four) letters or digits end. Anchors of one or two bytes are compared at every
/// byte pair; longer ones with bytes other than letters and digits go to an automaton.
#[derive(Debug)]
struct AnchorIndex {
    bits: Box<[u64]>,
    /// Per word of `bits`: how many keys the words before it hold.
    ranks: Box<[u32]>,
    /// Per key, in key order: where its anchors start in `anchors`, then their end.
    firsts: Vec<u32>,
    /// Grouped by key: the four bytes keyed (folded), an anchor, and the offset in it of the
    /// key's last byte.
    anchors: Vec<(u32, Vec<u8>, usize)>,
    /// Whether some anchor has three characters.
    three: bool,
    pairs: Vec<[Byte; 2]>,
    others: Option<AhoCorasick>,
}

/// Bits per bitmap: 16 KiB, so it stays in the first-level cache.
const INDEX_BITS: u32 = 17;

fn hash(gram: u32) -> usize {
    (gram.wrapping_mul(0x9E37_79B1) >> (32 - INDEX_BITS)) as usize
}

/// Four bytes as a key, ASCII case folded.
fn gram(four: [u8; 4]) -> u32 {
    u32::from_le_bytes(four) | 0x2020_2020
}

/// The four bytes of `text` that end at `at`, spaces standing in before the text's start.
fn gram_at(text: &[u8], at: usize) -> u32 {
    if let Some(start) = at.checked_sub(3) {
        gram(text[start..=at].try_into().expect("four bytes"))
    } else {
        let mut four = [b' '; 4];
        four[3 - at..].copy_from_slice(&text[..=at]);
        gram(four)
    }
}

/// A byte of a short anchor: `b | fold == byte` matches it, ASCII case aside.
#[derive(Debug, Clone, Copy)]
struct Byte {
    fold: u8,
    byte: u8,
}

impl Byte {
    fn of(b: u8) -> Self {
        let fold = if b.is_ascii_alphabetic() { 0x20 } else { 0 };
        Self {
            fold,
            byte: b | fold,
        }
    }

    /// Any byte (the missing second byte of a one-byte anchor).
    const ANY: Self = Self {
        fold: 0xFF,
        byte: 0xFF,
    };

    fn matches(self, b: u8) -> bool {
        b | self.fold == self.byte
    }
}

impl AnchorIndex {
    fn new(words: Vec<String>) -> Self {
        let mut keyed = Vec::new();
        let (mut three, mut pairs, mut others) = (false, Vec::new(), Vec::new());
        for word in words {
            let bytes = word.into_bytes();
            match bytes.len() {
                0 => {}
                1 | 2 => pairs.push([
                    Byte::of(bytes[0]),
                    bytes.get(1).copied().map_or(Byte::ANY, Byte::of),
                ]),
                _ if !bytes.iter().all(u8::is_ascii_alphanumeric) => others.push(bytes),
                3 => {
                    three = true;
                    // Every byte folds to one of 64 values; the text's start reads as spaces.
                    for before in (0..0x80u8).filter(|b| b & 0x20 != 0) {
                        let g = gram([before, bytes[0], bytes[1], bytes[2]]);
                        keyed.push((hash(g), g, bytes.clone(), 2));
                    }
                }
                _ => {
                    let (start, t) = bytes
                        .windows(4)
                        .enumerate()
                        .max_by_key(|&(_, t)| {
                            let common = t.windows(3).filter(|t| is_common_trigram(t)).count();
                            (std::cmp::Reverse(common), rarity(&t[..3]) + rarity(&t[1..]))
                        })
                        .expect("four bytes or more");
                    let g = gram(t.try_into().expect("four bytes"));
                    keyed.push((hash(g), g, bytes, start + 3));
                }
            }
        }
        keyed.sort();
        keyed.dedup();
        let mut bits = vec![0u64; 1 << (INDEX_BITS - 6)].into_boxed_slice();
        let mut firsts = Vec::new();
        for (i, &(k, ..)) in keyed.iter().enumerate() {
            if bits[k / 64] >> (k % 64) & 1 == 0 {
                bits[k / 64] |= 1 << (k % 64);
                firsts.push(i as u32);
            }
        }
        firsts.push(keyed.len() as u32);
        let ranks = bits
            .iter()
            .scan(0, |before, w| {
                let rank = *before;
                *before += w.count_ones();
                Some(rank)
            })
            .collect();
        let others = (!others.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&others)
                .expect("a few words build")
        });
        Self {
            bits,
            ranks,
            firsts,
            anchors: keyed
                .into_iter()
                .map(|(_, g, a, end)| (g, a, end))
                .collect(),
            three,
            pairs,
            others,
        }
    }

    /// Whether any anchor occurs in `text`, ASCII case aside; `alnum` masks its letters and
    /// digits (see [`Survey::alnum`]).
    fn occurs_in(&self, text: &[u8], alnum: &[u64]) -> bool {
        // The keyed anchors first: text that holds one usually does early; the short anchors
        // and the automaton each read the whole text.
        self.keyed_occurs_in(text, alnum)
            || self.pairs.iter().any(|&pair| pair_occurs(text, pair))
            || self.others.as_ref().is_some_and(|ac| ac.is_match(text))
    }

    fn keyed_occurs_in(&self, text: &[u8], alnum: &[u64]) -> bool {
        let mut prev = 0;
        for (block, &a) in alnum.iter().enumerate() {
            let mut probes = a & after(a, prev, 1) & after(a, prev, 2);
            if !self.three {
                probes &= after(a, prev, 3);
            }
            prev = a;
            while probes != 0 {
                let at = 64 * block + probes.trailing_zeros() as usize;
                probes &= probes - 1;
                let k = hash(gram_at(text, at));
                if self.bits[k / 64] >> (k % 64) & 1 == 1 && self.verify(text, at) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether an anchor keyed by the four bytes ending at `at` ends its keyed part there.
    #[cold]
    fn verify(&self, text: &[u8], at: usize) -> bool {
        let g = gram_at(text, at);
        let k = hash(g);
        let word = k / 64;
        let below = self.bits[word] & ((1 << (k % 64)) - 1);
        let rank = self.ranks[word] as usize + below.count_ones() as usize;
        let group = self.firsts[rank] as usize..self.firsts[rank + 1] as usize;
        self.anchors[group].iter().any(|(gram, anchor, end)| {
            *gram == g
                && at
                    .checked_sub(*end)
                    .and_then(|start| text.get(start..start + anchor.len()))
                    .is_some_and(|found| found.eq_ignore_ascii_case(anchor))
        })
    }
}

/// Whether a one- or two-byte anchor occurs: every byte pair compared, in chunks whose loop
/// LLVM vectorizes.
fn pair_occurs(text: &[u8], [first, second]: [Byte; 2]) -> bool {
    let Some(&last) = text.last() else {
        return false;
    };
    let hit = |a: u8, b: u8| first.matches(a) & second.matches(b);
    let pairs = text
        .chunks(256)
        .zip(text[1..].chunks(256))
        .any(|(a, b)| a.iter().zip(b).fold(false, |acc, (&x, &y)| acc | hit(x, y)));
    pairs || (second.fold == Byte::ANY.fold && first.matches(last))
}

/// The most frequent trigrams of English prose (and common word prefixes): poor keys.
fn is_common_trigram(t: &[u8]) -> bool {
    const COMMON: &[&[u8; 3]] = &[
        b"the", b"and", b"ing", b"ent", b"ion", b"her", b"for", b"tha", b"nth", b"int", b"ere",
        b"tio", b"ter", b"est", b"ers", b"ati", b"hat", b"ate", b"all", b"eth", b"hes", b"ver",
        b"his", b"oft", b"ith", b"fth", b"sth", b"oth", b"res", b"ont", b"are", b"rea", b"ear",
        b"was", b"sin", b"sto", b"sta", b"thi", b"tin", b"ted", b"ons", b"wit", b"ort", b"con",
        b"com", b"pro", b"per", b"pre", b"men", b"nce", b"ive", b"ess", b"not", b"you", b"our",
        b"out", b"ect", b"ine", b"tor",
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

/// A word a pattern requires, and whether its literal puts a space right before it (`left`)
/// or right after it (`right`) in every match: an occurrence without that space (`rf` in
/// `perform`, for `rm rf`) is no sign of a match.
#[derive(Debug, Clone, PartialEq)]
pub struct Needed {
    pub word: String,
    pub left: bool,
    pub right: bool,
}

impl Needed {
    /// A string of the word view, its spaces at either end made flags.
    fn trimmed(string: &[u8]) -> Self {
        let text = String::from_utf8_lossy(string);
        let word = text.trim_matches(' ');
        Self {
            word: word.to_owned(),
            left: text.starts_with(' '),
            right: text.ends_with(' '),
        }
    }
}

/// How rare a string of the word view is, by its words: one of four bytes or more that is not
/// a common word counts 3, one of three 2, any other 1 (so `you are` counts 2, as `dan` does).
fn view_rarity(string: &[u8]) -> u8 {
    string
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .map(|w| match std::str::from_utf8(w) {
            Ok(w) if is_common_word(w) => 1,
            _ if w.len() >= 4 => 3,
            _ if w.len() == 3 => 2,
            _ => 1,
        })
        .fold(0u8, u8::saturating_add)
}

/// A set of word-view strings is as weak as its commonest string; among equals, fewer
/// strings is better (lower is better, as for [`set_cost`]).
fn view_cost(set: &[Vec<u8>]) -> (u8, usize) {
    let commonest = set.iter().map(|s| view_rarity(s)).min().unwrap_or(0);
    (u8::MAX - commonest, set.len())
}

/// The strings of a set, sorted, without their spaces.
fn words_of(needs: &[Needed]) -> Vec<String> {
    let mut words: Vec<String> = needs.iter().map(|n| n.word.clone()).collect();
    words.sort_unstable();
    words.dedup();
    words
}

fn needs_cost(needs: &[Needed]) -> (u8, usize) {
    let strings: Vec<Vec<u8>> = needs.iter().map(|n| n.word.as_bytes().to_vec()).collect();
    view_cost(&strings)
}

/// Words one of which every match of `hir` contains (as a substring of one normalized word),
/// chosen to be rare: from a sequence, the part with the fewest common English words, then
/// the one whose shortest word is longest; from an alternation, the words of every branch.
/// `None` when nothing is required.
fn required(hir: &Hir) -> Option<Vec<Needed>> {
    match hir.kind() {
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).ok()?;
            let (at, word) = text
                .split(' ')
                .scan(0, |at, w| {
                    let start = *at;
                    *at += w.len() + 1;
                    Some((start, w))
                })
                .max_by_key(|(_, w)| w.len())?;
            (!word.is_empty()).then(|| {
                vec![Needed {
                    word: word.to_owned(),
                    left: at > 0,
                    right: at + word.len() < text.len(),
                }]
            })
        }
        HirKind::Capture(group) => required(&group.sub),
        HirKind::Repetition(rep) if rep.min > 0 => required(&rep.sub),
        HirKind::Concat(parts) => parts.iter().filter_map(required).max_by_key(|words| {
            let common = words.iter().filter(|w| is_common_word(&w.word)).count();
            let shortest = words.iter().map(|w| w.word.len()).min().unwrap_or(0);
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
        } else if c == b'+' {
            PLUS
        } else if is_leet_symbol(c as char) {
            LEET
        } else {
            0
        };
        b += 1;
    }
    table
};

/// No run of three single letters in text whose tokens are runs of letters alone (what
/// `plain` asks of such text), read from the masks of its letters: a single letter starts and
/// ends a run; a longer run between two singles breaks their sequence.
fn no_three_singles(letters: &[u64]) -> bool {
    let mut singles = 0;
    for (block, &a) in letters.iter().enumerate() {
        let prev = if block > 0 { letters[block - 1] } else { 0 };
        let next = letters.get(block + 1).copied().unwrap_or(0);
        let starts = a & !after(a, prev, 1);
        let single = starts & !((a >> 1) | (next << 63));
        let longer = starts & !single;
        // Bits up to and including the last single counted.
        let mut done = 0u64;
        let mut rest = single;
        while rest != 0 {
            let j = rest.trailing_zeros();
            rest &= rest - 1;
            let upto = u64::MAX >> (63 - j);
            if longer & upto & !done != 0 {
                singles = 0;
            }
            singles += 1;
            if singles >= 3 {
                return false;
            }
            done = upto;
        }
        if longer & !done != 0 {
            singles = 0;
        }
    }
    true
}

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
    use super::super::survey::random_texts;
    use super::*;

    fn clears(gate: &Gate, text: &str) -> bool {
        gate.clears(text, &Survey::of(text.as_bytes()))
    }

    #[test]
    fn letter_masks_count_singles_as_the_token_loop_does() {
        for text in random_texts(&[b"ab c. D,\n", b"a b", b"Ab  cd.e"]) {
            let survey = Survey::of(&text);
            assert!(survey.only_letters_in(LEET_SYMBOLS));
            assert_eq!(
                no_three_singles(survey.alnum()),
                plain(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }

    #[test]
    fn the_index_finds_what_a_substring_search_finds_in_random_text() {
        let words: Vec<String> = ["ab", "abc", "bca", "cab1", "bbca", "a1c", "c-a", "aaaaa"]
            .map(String::from)
            .to_vec();
        let index = AnchorIndex::new(words.clone());
        for text in random_texts(&[b"abcC1 -", b"aAbBc", b"ab c1"]) {
            let lower = text.to_ascii_lowercase();
            let want = words
                .iter()
                .any(|w| lower.windows(w.len()).any(|t| t == w.as_bytes()));
            let got = index.occurs_in(&text, Survey::of(&text).alnum());
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&text));
        }
    }

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
    fn required_words_know_the_spaces_around_them() {
        let hir = regex_syntax::parse(r"\b(?:rm rf|import os|whoami)\b").unwrap();
        let needed = |word: &str, left, right| Needed {
            word: word.into(),
            left,
            right,
        };
        assert_eq!(
            required(&hir),
            Some(vec![
                needed("rf", true, false),
                needed("import", false, true),
                needed("whoami", false, false)
            ])
        );
    }

    #[test]
    fn word_patterns_are_also_looked_for_by_their_other_rare_sets() {
        let sets = Anchors::default()
            .pattern(r"\b(?:reveal|expose) (?:[^ ]+ ){0,3}(?:transcript|logs)\b")
            .unwrap();
        let words: Vec<Vec<&str>> = sets
            .iter()
            .map(|set| set.iter().map(|n| n.word.as_str()).collect())
            .collect();
        assert_eq!(
            words,
            [vec!["reveal", "expose"], vec!["transcript", "logs"]]
        );
        // A set of common words is found in most views: not worth looking for.
        let sets = Anchors::default()
            .pattern(r"\b(?:transcript|logs) (?:[^ ]+ ){0,2}(?:the|a)\b")
            .unwrap();
        assert_eq!(sets.len(), 1);
    }

    #[test]
    fn word_patterns_are_looked_for_by_their_rarest_strings() {
        let words = |pattern: &str| {
            let sets = Anchors::default().pattern(pattern).unwrap();
            sets[0].iter().map(|n| n.word.clone()).collect::<Vec<_>>()
        };
        // Every word is common: the phrase is the anchor.
        assert_eq!(
            words(r"\byou (?:are|re) now\b"),
            ["you are now", "you re now"]
        );
        // A rare word beats a phrase of common ones.
        assert_eq!(
            words(r"\byou (?:must|will)(?: always)? (?:obey|comply)"),
            ["obey", "comply"]
        );
        // In the word view, a class with a member beyond ASCII is no literal.
        let found = words(r"bypass [eé]very rule");
        assert!(found
            .iter()
            .all(|w| "bypass évery rule".contains(w.as_str())));
    }

    #[test]
    fn anchors_come_from_phrases_and_literals() {
        let mut anchors = Anchors::default();
        anchors.phrase("ignore previous instructions");
        anchors.phrase("忽略");
        anchors.pattern(r"(?:just |simply )?(?:print|say) (?: [^ ]+){0,3} purposes");
        let gate = anchors.build().unwrap();
        // The pattern's suffix word is rarer than its prefixes: only it is an anchor.
        assert!(clears(&gate, "Please print this."));
        assert!(!clears(&gate, "for these PURPOSES"));
        assert!(!clears(&gate, "INSTRUCTIONS"));
        assert!(
            !clears(&gate, "ｂｕｄｇｅｔ"),
            "non-ASCII text takes the full path"
        );
        assert!(clears(&gate, "the committee reviewed the budget"));
        assert!(!clears(&gate, "the c0mmittee"));
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
        let index = AnchorIndex::new(words.clone());
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
            let got = index.occurs_in(text.as_bytes(), Survey::of(text.as_bytes()).alnum());
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn trigger_literals_are_found_around_their_trigger() {
        let (filter, _) = Anchors::default()
            .raw_pattern(r"(?i:\brm -rf\b|\bnc -e\b)", required::Text::Ascii)
            .unwrap();
        let found = |text: &str| filter.around.iter().any(|l| l.occurs_in(text.as_bytes()));
        assert!(found("RM -RF /"), "at the start, ASCII case aside");
        assert!(found("then: nc -e"), "at the end");
        assert!(!found("a well-known, long-running job -- rm -r"));
        assert!(!found("-rf"), "the trigger too near the start");
    }

    #[test]
    fn raw_patterns_yield_triggers_or_anchors() {
        let mut anchors = Anchors::default();
        let mut filter = |pattern| {
            let (filter, words) = anchors.raw_pattern(pattern, required::Text::Ascii).unwrap();
            (filter.triggers, words)
        };
        let tokens = filter(r"(?i:<\|im_start\|>|\[/?INST\])");
        assert_eq!(tokens, (symbol_set(b"<["), vec![]), "rare symbols");
        let hooks = filter(r"(?i:\b(?:webhook|ngrok)\b)");
        assert_eq!(hooks, (0, vec!["webhook".into(), "ngrok".into()]));
        let gate = anchors.build().unwrap();
        assert!(clears(&gate, "plain prose, nothing more."));
        assert!(
            !clears(&gate, "post it to my Webhook"),
            "`webhook` is an anchor"
        );
        assert!(Anchors::default()
            .raw_pattern(r"(?i:\w+\s+\w+)", required::Text::Ascii)
            .is_none());
    }
}
