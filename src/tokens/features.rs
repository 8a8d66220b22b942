//! Character-class counts that predict BPE token counts without running BPE.
//!
//! The text is read in 64-byte blocks. Each block becomes one bit mask per ASCII class (lower,
//! upper, digit, space, other whitespace, non-ASCII), built with SIMD compares (AVX2 or SSE2,
//! SWAR elsewhere); the features are popcounts of those masks and of their shifted combinations
//! (run starts, letters deep inside long runs, case changes). Non-ASCII characters are counted
//! by script, keyed by their first two UTF-8 bytes: where a block's keys span a few runs of
//! one script each (most blocks of non-Latin text, AVX2 only), by how many keys lie below each
//! run's start; elsewhere by popcounts of leading-byte range masks, the rest by a table lookup
//! each. Every feature is a sum over the text, so an estimate is one dot product with the
//! weights fitted per encoding (`weights.rs`).

/// Feature names, in the order of [`Features::counts`] and of the fitted weights.
pub const NAMES: [&str; N_FEATURES] = [
    "texts",
    "letter_runs",
    "space_letter_runs",
    "letters",
    "letters_past_8",
    "lower_upper",
    "upper_upper",
    "upper_lower",
    "digit_runs",
    "digits_past_3",
    "punct",
    "punct_runs",
    "space_space",
    "breaks",
    "space_runs",
    "non_ascii_runs",
    "latin_ext",
    "greek",
    "cyrillic",
    "armenian_georgian",
    "hebrew_arabic",
    "devanagari",
    "other_indic",
    "thai_lao",
    "symbols",
    "kana",
    "cjk",
    "hangul",
    "astral",
];

pub const N_FEATURES: usize = 29;

const TEXTS: usize = 0;
const FIRST_SCRIPT: usize = 16;

/// The script class (an index into [`NAMES`]) of a non-ASCII code point. Blocks that tokenize
/// alike share a class, so rare scripts borrow the weight of a well-measured neighbour.
const fn script(cp: u32) -> u8 {
    FIRST_SCRIPT as u8
        + match cp {
            0x80..=0x36F | 0x1E00..=0x1EFF => 0, // Latin-1, Latin Extended, IPA, combining
            0x370..=0x3FF | 0x1F00..=0x1FFF => 1, // Greek
            0x400..=0x52F | 0x1C80..=0x1C8F => 2, // Cyrillic
            0x530..=0x58F | 0x10A0..=0x10FF => 3, // Armenian, Georgian
            0x590..=0x8FF => 4,                  // Hebrew, Arabic, Syriac, Thaana
            0x900..=0x97F => 5,                  // Devanagari
            0x980..=0xDFF | 0xF00..=0x109F | 0x1100..=0x1DFF => 6, // other Brahmic, Myanmar
            0xE00..=0xEFF => 7,                  // Thai, Lao
            0x2000..=0x2FFF | 0xFE00..=0xFFFF => 8, // punctuation, symbols, fullwidth, selectors
            0x3000..=0x31FF => 9,                // CJK punctuation, kana
            0xAC00..=0xD7FF => 11,               // Hangul syllables
            0x10000.. => 12,                     // emoji and other astral characters
            _ => 10,                             // CJK ideographs and the rest of the BMP
        }
}

/// [`script`] for every 16 code points of the BMP (every boundary above is a multiple of 16).
static SCRIPTS: [u8; 4096] = {
    let mut table = [0u8; 4096];
    let mut i = 0;
    while i < 4096 {
        table[i] = script(if i < 8 { 0x80 } else { (i as u32) << 4 });
        i += 1;
    }
    table
};

/// [`BY_LEAD`]'s mark for the two 64-code-point spans a script boundary cuts through
/// (U+1080..U+10BF, U+1C80..U+1CBF): those characters are decoded in full.
const SPLIT: u8 = u8::MAX;

/// The script of a character from its first two UTF-8 bytes, indexed by their low six bits
/// each: exact for two-byte characters, per 64 code points for three-byte ones, and astral for
/// four-byte ones. Saves decoding every character.
static BY_LEAD: [u8; 4096] = {
    let mut table = [0u8; 4096];
    let mut key = 0;
    while key < 4096 {
        table[key] = by_lead(key);
        key += 1;
    }
    table
};

/// [`BY_LEAD`]'s entry for `key`.
const fn by_lead(key: usize) -> u8 {
    let (lead, next) = ((key >> 6) as u32, (key & 0x3F) as u32);
    if lead < 0x20 {
        let cp = (lead << 6) | next;
        script(if cp < 0x80 { 0x80 } else { cp }) // below: overlong, never in a `str`
    } else if lead < 0x30 {
        let first = ((lead & 0x0F) << 12) | (next << 6);
        let class = script(first);
        let mut cp = first;
        while cp < first + 64 && script(cp) == class {
            cp += 16;
        }
        if cp == first + 64 {
            class
        } else {
            SPLIT
        }
    } else {
        script(0x10000)
    }
}

/// The most runs of [`RUNS`] a block's characters may span to be counted by runs: each run
/// past the first costs a count of the keys below its start.
const MAX_RUNS: usize = 8;

/// The keys of [`BY_LEAD`] (in UTF-8 order: first byte, then second) cut into runs of one
/// script, and each [`SPLIT`] key a run of its own. Keys that no `str` holds (overlong and
/// surrogate forms) join the run before them.
struct Runs {
    /// The run of each key.
    of: [u8; 4096],
    /// Each run's first key, as the SIMD code compares it: the leading byte minus `0xC0`,
    /// then the second byte; past the last run, a key above all (a run that no lead is in).
    start: [u16; 64],
    /// Each run's script class (a [`SPLIT`] run's is any: only runs without leads are
    /// counted past `splits`).
    class: [u8; 64],
    /// A bit for each [`SPLIT`] run.
    splits: u64,
}

static RUNS: Runs = {
    let mut runs = Runs {
        of: [0; 4096],
        start: [0x7FFF; 64],
        class: [FIRST_SCRIPT as u8; 64],
        splits: 0,
    };
    let (mut n, mut last) = (0, SPLIT);
    let mut key = 0;
    while key < 4096 {
        let (lead, next) = (key >> 6, key & 0x3F);
        // E0 80..9F (overlong), ED A0..BF (surrogates).
        let never = (lead == 0x20 && next < 0x20) || (lead == 0x2D && next >= 0x20);
        let class = by_lead(key);
        if n == 0 || !never && (class != last || class == SPLIT) {
            last = class;
            runs.start[n] = ((lead << 8) | 0x80 | next) as u16;
            if class == SPLIT {
                runs.splits |= 1 << n;
            } else {
                runs.class[n] = class;
            }
            n += 1;
        }
        runs.of[key] = (n - 1) as u8;
        key += 1;
    }
    runs
};

/// The first and last run of [`RUNS`] that the keys `first..=last` (as in [`Runs::start`])
/// span, unless they are more than [`MAX_RUNS`] or one is a [`SPLIT`].
#[allow(clippy::inline_always)]
#[inline(always)]
fn runs_between(first: u16, last: u16) -> Option<(usize, usize)> {
    let run = |key: u16| usize::from(RUNS.of[usize::from(key >> 8) << 6 | usize::from(key & 0x3F)]);
    let (first, last) = (run(first), run(last));
    let few = last - first < MAX_RUNS; // and a run after `last`
    (few && RUNS.splits >> first & ((2 << (last - first)) - 1) == 0).then_some((first, last))
}

/// Leading-byte ranges that settle a script alone (inclusive), with its class: most
/// non-ASCII characters are counted by popcount, not one table lookup each.
const SETTLED: [(u8, u8, u8); 9] = [
    (0xC2, 0xCC, script(0x80)), // U+0080..U+033F: Latin-1, Latin Extended, IPA
    (0xCE, 0xCF, script(0x380)), // U+0380..U+03FF: Greek
    (0xD0, 0xD3, script(0x400)), // U+0400..U+04FF: Cyrillic
    (0xD5, 0xD5, script(0x540)), // U+0540..U+057F: Armenian
    (0xD7, 0xDF, script(0x5C0)), // U+05C0..U+07FF: Hebrew, Arabic, Syriac, Thaana
    (0xE2, 0xE2, script(0x2000)), // U+2000..U+2FFF: punctuation, symbols
    (0xE4, 0xE9, script(0x4000)), // U+4000..U+9FFF: CJK ideographs
    (0xEB, 0xED, script(0xB000)), // U+B000..U+D7FF: Hangul (U+D800.. cannot occur)
    (0xF0, 0xF4, script(0x10000)), // astral: emoji and the rest
];

/// A three-byte lead whose script its second byte settles: `rest` unless the second byte lies
/// in one of the `next` ranges.
struct ByNext {
    lead: u8,
    rest: u8,
    next: &'static [(u8, u8, u8)],
}

const BY_NEXT: [ByNext; 2] = [
    ByNext {
        lead: 0xE0, // U+0800..U+0FFF: Indic scripts and Thai
        rest: script(0x980),
        next: &[
            (0xA0, 0xA3, script(0x800)), // Samaritan, Mandaic, Arabic Extended
            (0xA4, 0xA5, script(0x900)), // Devanagari
            (0xB8, 0xBB, script(0xE00)), // Thai, Lao
        ],
    },
    ByNext {
        lead: 0xE3, // U+3000..U+3FFF: CJK punctuation, kana, then ideographs
        rest: script(0x3200),
        next: &[(0x80, 0x87, script(0x3000))],
    },
];

/// A byte range the classifier marks (inclusive), and when a block needs it.
#[derive(Clone, Copy)]
struct Range {
    lo: u8,
    hi: u8,
    need: Need,
}

#[derive(Clone, Copy, PartialEq)]
enum Need {
    /// In every block with non-ASCII bytes.
    Always,
    /// Where range `.0` (a group of leading bytes) has a byte.
    Leads(usize),
    /// Where lead range `.0` has a byte, or the block starts inside a character (whose lead
    /// the previous block holds).
    Next(usize),
}

/// Two- and three/four-byte leads: blocks without any skip their ranges.
const TWO_BYTE: usize = 0;
const LONGER: usize = 1;
const GROUPS: usize = 2;

/// How many byte ranges the classifier marks besides the ASCII classes.
const N_RANGES: usize = {
    let mut n = GROUPS + SETTLED.len();
    let mut i = 0;
    while i < BY_NEXT.len() {
        n += 1 + BY_NEXT[i].next.len();
        i += 1;
    }
    n
};

/// The lead groups, then the ranges of [`SETTLED`] and [`BY_NEXT`] (each lead, then its
/// `next` ranges), in the order [`Masks::count_scripts`] reads them.
const RANGES: [Range; N_RANGES] = {
    const fn range(lo: u8, hi: u8, need: Need) -> Range {
        Range { lo, hi, need }
    }
    const fn group(lo: u8) -> Need {
        Need::Leads(if lo < 0xE0 { TWO_BYTE } else { LONGER })
    }
    let mut ranges = [range(0, 0, Need::Always); N_RANGES];
    ranges[TWO_BYTE] = range(0xC0, 0xDF, Need::Always);
    ranges[LONGER] = range(0xE0, 0xFF, Need::Always);
    let mut at = GROUPS;
    let mut i = 0;
    while i < SETTLED.len() {
        ranges[at] = range(SETTLED[i].0, SETTLED[i].1, group(SETTLED[i].0));
        at += 1;
        i += 1;
    }
    i = 0;
    while i < BY_NEXT.len() {
        let lead = at;
        ranges[at] = range(BY_NEXT[i].lead, BY_NEXT[i].lead, group(BY_NEXT[i].lead));
        at += 1;
        let mut j = 0;
        while j < BY_NEXT[i].next.len() {
            ranges[at] = range(BY_NEXT[i].next[j].0, BY_NEXT[i].next[j].1, Need::Next(lead));
            at += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(at == N_RANGES);
    ranges
};

/// Where [`BY_NEXT`]'s leads are in [`RANGES`].
const NEXT_LEADS: [usize; BY_NEXT.len()] = {
    let mut leads = [0; BY_NEXT.len()];
    let mut at = GROUPS + SETTLED.len();
    let mut i = 0;
    while i < BY_NEXT.len() {
        leads[i] = at;
        at += 1 + BY_NEXT[i].next.len();
        i += 1;
    }
    leads
};

/// Runs `$body` once per index of [`RANGES`], bound to the constant `$k`: unrolled, each
/// range's bounds fold into the compare's constants (LLVM leaves a loop over 17 ranges rolled,
/// re-deriving them at run time).
macro_rules! each_range {
    ($k:ident => $body:block) => {
        $crate::tokens::features::each_range!(@ $k $body 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16)
    };
    (@ $k:ident $body:block $($i:literal)*) => {{
        const _: () = assert!($crate::tokens::features::N_RANGES == [$($i),*].len());
        $({
            const $k: usize = $i;
            $body
        })*
    }};
}
use each_range;

/// Whether a block with non-ASCII bytes needs `range`'s mask (those it does not need stay
/// empty), given the masks of the ranges before it in `c`.
#[allow(clippy::inline_always)]
#[inline(always)]
fn needed(range: &Range, c: &Classes, block: &[u8; 64]) -> bool {
    match range.need {
        Need::Always => true,
        Need::Leads(j) => c[N_ASCII + j] != 0,
        Need::Next(j) => c[N_ASCII + j] != 0 || block[0] & 0xC0 == 0x80,
    }
}

/// Sums of the classifier's counts over a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub counts: [u64; N_FEATURES],
}

impl Features {
    /// Counts the features of `text`.
    ///
    /// ```
    /// use ravelin::tokens::features::{Features, NAMES};
    /// let f = Features::of("Hello World 2024");
    /// let letters = NAMES.iter().position(|n| *n == "letters").unwrap();
    /// assert_eq!(f.counts[letters], 10);
    /// ```
    pub fn of(text: &str) -> Self {
        #[cfg(target_arch = "x86_64")]
        let counts = simd::scan(text);
        #[cfg(not(target_arch = "x86_64"))]
        let counts = scan(text, swar::Swar);
        Self { counts }
    }

    /// The weighted sum of the counts: the estimated token count before rounding.
    pub fn dot(&self, weights: &[f64; N_FEATURES]) -> f64 {
        self.counts
            .iter()
            .zip(weights)
            .map(|(&c, &w)| c as f64 * w)
            .sum()
    }
}

/// The feature counts of `text`, its 64-byte blocks classified by `classifier`. Inlined into
/// each instruction set's entry point, so one body serves them all.
#[allow(clippy::inline_always)]
#[inline(always)]
fn scan(text: &str, classifier: impl Classify) -> [u64; N_FEATURES] {
    let mut counts = [0u64; N_FEATURES];
    counts[TEXTS] = 1;
    let bytes = text.as_bytes();
    let mut prev = Masks::default();
    let mut blocks = bytes.chunks_exact(64);
    let mut start = 0;
    for block in &mut blocks {
        let block = block.try_into().expect("64-byte block");
        prev = count_block(
            classifier,
            block,
            u64::MAX,
            &prev,
            bytes,
            start,
            &mut counts,
        );
        start += 64;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut padded = [0u8; 64];
        padded[..tail.len()].copy_from_slice(tail);
        let valid = (1u64 << tail.len()) - 1;
        count_block(classifier, &padded, valid, &prev, bytes, start, &mut counts);
    }
    counts
}

/// Adds the counts of `block` (`text[start..]`, its `valid` bytes) to `counts` and returns its
/// masks; `prev` are the previous block's. Non-ASCII characters are counted by runs where the
/// classifier can (a byte must follow the block, and no character the previous block's ranges
/// left open), else by ranges.
#[allow(clippy::inline_always)]
#[inline(always)]
fn count_block(
    classifier: impl Classify,
    block: &[u8; 64],
    valid: u64,
    prev: &Masks,
    text: &[u8],
    start: usize,
    counts: &mut [u64; N_FEATURES],
) -> Masks {
    let mut c = classifier.classify(block);
    let by_ranges = c[5] != 0
        && !(start + 64 < text.len()
            && !prev.pending()
            && classifier.count_runs(text, start, c[6], counts));
    if by_ranges {
        classifier.ranges(block, &mut c);
    }
    let m = Masks::of(c, valid);
    m.count(prev, counts);
    if by_ranges {
        m.count_scripts(prev, text, start, counts);
    }
    m
}

/// One bit per byte of a 64-byte block, for each byte class.
#[derive(Debug, Default, Clone, Copy)]
struct Masks {
    lower: u64,
    upper: u64,
    digit: u64,
    space: u64,
    /// `\t \n \v \f \r`: line breaks and indentation, which pre-tokenization keeps apart.
    breaks: u64,
    non_ascii: u64,
    /// Every other ASCII byte (punctuation, symbols, control characters).
    punct: u64,
    /// UTF-8 leading bytes of multi-byte characters (`0b11xx_xxxx`).
    lead: u64,
    /// Bytes in each of [`RANGES`] (left empty in blocks without non-ASCII bytes).
    ranges: [u64; N_RANGES],
}

/// `mask` moved one position later in the text, with the previous block's last bits shifted in.
#[inline]
fn after(mask: u64, prev: u64, k: u32) -> u64 {
    (mask << k) | (prev >> (64 - k))
}

/// Number of ASCII classes the classifiers mark before [`RANGES`].
const N_ASCII: usize = 7;

/// Per-class bit masks of a 64-byte block, in the order of [`Masks`]' fields.
type Classes = [u64; N_ASCII + N_RANGES];

/// A byte classifier for 64-byte blocks, one per instruction set.
trait Classify: Copy {
    /// The ASCII classes of a block, its [`RANGES`] left empty.
    fn classify(self, block: &[u8; 64]) -> Classes;

    /// Fills in the [`RANGES`] that a block with non-ASCII bytes needs.
    fn ranges(self, block: &[u8; 64], c: &mut Classes);

    /// Counts the scripts of the block at `text[start..]` (64 bytes, and at least one after
    /// them) by [`RUNS`], `leads` marking its leading bytes; `false` (nothing counted) where
    /// its keys span more than [`MAX_RUNS`] runs or a [`SPLIT`] one, or the classifier has no
    /// such path, which leaves the block to the [`RANGES`].
    fn count_runs(
        self,
        text: &[u8],
        start: usize,
        leads: u64,
        counts: &mut [u64; N_FEATURES],
    ) -> bool {
        let _ = (text, start, leads, counts);
        false
    }
}

/// SIMD classification: AVX2 (32 bytes per compare) with POPCNT where the CPU has them
/// (detected at run time), else SSE2 (16 bytes), part of every x86-64 CPU; one `movemask` per
/// class and chunk. This module holds the crate's only `unsafe` code: intrinsics, and the
/// AVX2 entry point, sound exactly where the CPU has AVX2 and POPCNT, which [`scan`] checks.
/// The classifiers carry no `#[target_feature]` of their own, so they (and the intrinsics)
/// inline into each entry point's loop (a closure around intrinsics that LLVM does not inline
/// first keeps them as calls, so the larger pieces are functions). AVX2 alone counts scripts
/// by [`RUNS`] (its byte shuffles and SSE4.1's `minpos` come with AVX2).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_add_epi16, _mm256_add_epi8, _mm256_castsi256_si128,
        _mm256_cmpeq_epi8, _mm256_cmpgt_epi16, _mm256_cmpgt_epi8, _mm256_extracti128_si256,
        _mm256_loadu_si256, _mm256_max_epu16, _mm256_max_epu8, _mm256_min_epu16,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_packs_epi16, _mm256_set1_epi16,
        _mm256_set1_epi8, _mm256_setr_epi8, _mm256_shuffle_epi8, _mm256_slli_epi16,
        _mm256_sub_epi16, _mm256_subs_epu16, _mm_cmpeq_epi8, _mm_extract_epi16, _mm_loadu_si128,
        _mm_max_epu16, _mm_min_epu16, _mm_minpos_epu16, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_slli_epi16, _mm_xor_si128,
    };

    use super::{script, Classes, Classify, N_ASCII, N_FEATURES, RANGES, RUNS};
    use crate::simd::{signed, within};

    /// The SSE2 classifier: SSE2 is part of the x86-64 baseline.
    #[derive(Clone, Copy)]
    struct Sse2;

    /// The AVX2 classifier; a value proves the CPU has AVX2 (only [`scan`] makes one).
    #[derive(Clone, Copy)]
    struct Avx2(());

    impl Classify for Sse2 {
        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Classes {
            // SAFETY: SSE2 is part of every x86-64 CPU.
            unsafe { classify_sse2(block) }
        }

        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn ranges(self, block: &[u8; 64], c: &mut Classes) {
            // SAFETY: as above.
            unsafe { ranges_sse2(block, c) }
        }
    }

    impl Classify for Avx2 {
        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn classify(self, block: &[u8; 64]) -> Classes {
            // SAFETY: an `Avx2` exists only where the CPU has AVX2.
            unsafe { classify_avx2(block) }
        }

        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn ranges(self, block: &[u8; 64], c: &mut Classes) {
            // SAFETY: as above.
            unsafe { ranges_avx2(block, c) }
        }

        #[allow(clippy::inline_always)]
        #[inline(always)]
        fn count_runs(
            self,
            text: &[u8],
            start: usize,
            leads: u64,
            counts: &mut [u64; N_FEATURES],
        ) -> bool {
            let bytes = text[start..start + 65].try_into().expect("65 bytes");
            // SAFETY: as above (AVX2 implies SSSE3 and SSE4.1).
            let mut keys = unsafe { keys(bytes) };
            // SAFETY: as above.
            let (mut first, mut last) = unsafe { key_bounds(&keys) };
            // Four-byte characters (one script) are counted apart, so that the keys of
            // emoji and the symbols around them (0xE2, 0xEF) span fewer runs.
            let mut four = 0;
            if last >= 0x3000 {
                // SAFETY: as above.
                unsafe {
                    four = four_byte_leads(bytes);
                    keys = three_byte_keys(&keys);
                    (first, last) = key_bounds(&keys);
                }
            }
            let Some((first, last)) = super::runs_between(first, last) else {
                return false;
            };
            // Each run takes the leads from its start up to the next run's. The first two
            // runs without a branch (most blocks span one or two; a run past `last` takes
            // none); the others walking down from `last`, until the runs left hold none.
            counts[usize::from(script(0x10000))] += u64::from(four.count_ones());
            let leads = (leads & !four).count_ones();
            // SAFETY: as above.
            let below = |r: usize| unsafe { keys_below(&keys, RUNS.start[r], leads) };
            let in_first = below(first + 1);
            let mut upper = leads;
            for r in (first + 2..=last).rev() {
                let lower = below(r);
                counts[usize::from(RUNS.class[r])] += u64::from(upper - lower);
                upper = lower;
                if lower == in_first {
                    break;
                }
            }
            counts[usize::from(RUNS.class[first + 1])] += u64::from(upper - in_first);
            counts[usize::from(RUNS.class[first])] += u64::from(in_first);
            true
        }
    }

    /// The feature counts of `text` with the best instruction set this CPU has.
    pub(super) fn scan(text: &str) -> [u64; N_FEATURES] {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt") {
            // SAFETY: both features were detected just above.
            unsafe { scan_avx2(text) }
        } else {
            super::scan(text, Sse2)
        }
    }

    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn scan_avx2(text: &str) -> [u64; N_FEATURES] {
        super::scan(text, Avx2(()))
    }

    /// [`within`] for 32 bytes.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn within32(x: __m256i, lo: u8, hi: u8) -> __m256i {
        let bias = _mm256_set1_epi8(signed(0x80u8.wrapping_sub(lo)));
        let limit = _mm256_set1_epi8(signed(0x81 + (hi - lo)));
        _mm256_cmpgt_epi8(limit, _mm256_add_epi8(x, bias))
    }

    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn classify_sse2(block: &[u8; 64]) -> Classes {
        // The high bit of each byte, as sixteen bits.
        let high_bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16);
        let mut c = [0u64; N_ASCII + super::N_RANGES];
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let at = 16 * i;
            // Case-folded, letters are one range; ASCII bit 5 (moved to bit 7) tells the case.
            let letter = high_bits(within(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', b'z'));
            let bit5 = high_bits(_mm_slli_epi16::<2>(x));
            let high = high_bits(x);
            c[0] |= (letter & bit5) << at;
            c[1] |= (letter & !bit5) << at;
            c[2] |= high_bits(within(x, b'0', b'9')) << at;
            c[3] |= high_bits(_mm_cmpeq_epi8(x, _mm_set1_epi8(0x20))) << at;
            c[4] |= high_bits(within(x, b'\t', b'\r')) << at;
            c[5] |= high << at;
            c[6] |= (high & high_bits(_mm_slli_epi16::<1>(x))) << at;
        }
        c
    }

    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn ranges_sse2(block: &[u8; 64], c: &mut Classes) {
        let high_bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16);
        let x: [__m128i; 4] =
            std::array::from_fn(|i| _mm_loadu_si128(block[16 * i..].as_ptr().cast()));
        super::each_range!(K => {
            let r = &RANGES[K];
            if super::needed(r, c, block) {
                c[N_ASCII + K] = high_bits(within(x[0], r.lo, r.hi))
                    | high_bits(within(x[1], r.lo, r.hi)) << 16
                    | high_bits(within(x[2], r.lo, r.hi)) << 32
                    | high_bits(within(x[3], r.lo, r.hi)) << 48;
            }
        });
    }

    /// Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn classify_avx2(block: &[u8; 64]) -> Classes {
        let high_bits = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
        let mut c = [0u64; N_ASCII + super::N_RANGES];
        for (i, chunk) in block.chunks_exact(32).enumerate() {
            let x = _mm256_loadu_si256(chunk.as_ptr().cast());
            let at = 32 * i;
            let letter = high_bits(within32(
                _mm256_or_si256(x, _mm256_set1_epi8(0x20)),
                b'a',
                b'z',
            ));
            let bit5 = high_bits(_mm256_slli_epi16::<2>(x));
            let high = high_bits(x);
            c[0] |= (letter & bit5) << at;
            c[1] |= (letter & !bit5) << at;
            c[2] |= high_bits(within32(x, b'0', b'9')) << at;
            c[3] |= high_bits(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x20))) << at;
            c[4] |= high_bits(within32(x, b'\t', b'\r')) << at;
            c[5] |= high << at;
            c[6] |= (high & high_bits(_mm256_slli_epi16::<1>(x))) << at;
        }
        c
    }

    /// Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn ranges_avx2(block: &[u8; 64], c: &mut Classes) {
        let high_bits = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
        let x0 = _mm256_loadu_si256(block.as_ptr().cast());
        let x1 = _mm256_loadu_si256(block[32..].as_ptr().cast());
        super::each_range!(K => {
            let r = &RANGES[K];
            if super::needed(r, c, block) {
                c[N_ASCII + K] = high_bits(within32(x0, r.lo, r.hi))
                    | high_bits(within32(x1, r.lo, r.hi)) << 32;
            }
        });
    }

    /// The key of each position of the block `bytes[..64]` (as in [`super::Runs::start`]: the
    /// byte minus `0xC0`, then the next one) minus one: `u16::MAX` where no leading byte is.
    /// Positions 0, 2, .., 30 in the first vector, 1, 3, .., 31 in the second, then 32.. as
    /// well. Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn keys(bytes: &[u8; 65]) -> [__m256i; 4] {
        // Swaps each 16-bit lane's bytes: the earlier byte becomes the high one.
        let swap = _mm256_setr_epi8(
            1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11,
            10, 13, 12, 15, 14,
        );
        let (lead, one) = (
            _mm256_set1_epi16(i16::from_ne_bytes([0, 0xC0])),
            _mm256_set1_epi16(1),
        );
        let mut keys = [_mm256_set1_epi16(0); 4];
        for (k, at) in keys.iter_mut().zip([0, 1, 32, 33]) {
            let pairs = _mm256_shuffle_epi8(_mm256_loadu_si256(bytes[at..].as_ptr().cast()), swap);
            // Saturating: bytes below 0xC0 give zero, and then the largest key.
            *k = _mm256_sub_epi16(_mm256_subs_epu16(pairs, lead), one);
        }
        keys
    }

    /// [`keys`] without the four-byte characters' (leading byte 0xF0 and up). Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn three_byte_keys(keys: &[__m256i; 4]) -> [__m256i; 4] {
        let three_byte = _mm256_set1_epi16(0x2FFE);
        let mut out = *keys;
        for k in &mut out {
            *k = _mm256_or_si256(*k, _mm256_cmpgt_epi16(*k, three_byte));
        }
        out
    }

    /// The four-byte leading bytes (0xF0 and up) of a block. Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn four_byte_leads(block: &[u8; 65]) -> u64 {
        let f0 = _mm256_set1_epi8(signed(0xF0));
        let x0 = _mm256_loadu_si256(block.as_ptr().cast());
        let x1 = _mm256_loadu_si256(block[32..].as_ptr().cast());
        let high_bits = |x: __m256i| u64::from(_mm256_movemask_epi8(x) as u32);
        high_bits(_mm256_cmpeq_epi8(_mm256_max_epu8(x0, f0), x0))
            | high_bits(_mm256_cmpeq_epi8(_mm256_max_epu8(x1, f0), x1)) << 32
    }

    /// The smallest and largest key of [`keys`] with a leading byte; `(0, 0)` without any.
    /// Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn key_bounds(keys: &[__m256i; 4]) -> (u16, u16) {
        let min = _mm256_min_epu16(
            _mm256_min_epu16(keys[0], keys[1]),
            _mm256_min_epu16(keys[2], keys[3]),
        );
        // Plus one, the positions without a leading byte are zero.
        let one = _mm256_set1_epi16(1);
        let max = _mm256_max_epu16(
            _mm256_max_epu16(
                _mm256_add_epi16(keys[0], one),
                _mm256_add_epi16(keys[1], one),
            ),
            _mm256_max_epu16(
                _mm256_add_epi16(keys[2], one),
                _mm256_add_epi16(keys[3], one),
            ),
        );
        let min = _mm_min_epu16(
            _mm256_castsi256_si128(min),
            _mm256_extracti128_si256::<1>(min),
        );
        let max = _mm_max_epu16(
            _mm256_castsi256_si128(max),
            _mm256_extracti128_si256::<1>(max),
        );
        // `minpos` finds the smallest of eight; the largest is the smallest complement.
        let max = _mm_xor_si128(max, _mm_set1_epi8(-1));
        let min = _mm_extract_epi16::<0>(_mm_minpos_epu16(min)) as u16;
        let max = _mm_extract_epi16::<0>(_mm_minpos_epu16(max)) as u16;
        (min.wrapping_add(1), !max)
    }

    /// How many of the `leads` keys of [`keys`] with a leading byte are below `key` (at
    /// least 2). Requires AVX2.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    unsafe fn keys_below(keys: &[__m256i; 4], key: u16, leads: u32) -> u32 {
        // Signed, the keys with a leading byte (minus one, as `keys` are) are positive, and
        // below `key - 1` where below `key`; the other positions are -1, below them all.
        let limit = _mm256_set1_epi16(i16::from_ne_bytes((key - 1).to_ne_bytes()));
        let below: [__m256i; 4] = [
            _mm256_cmpgt_epi16(limit, keys[0]),
            _mm256_cmpgt_epi16(limit, keys[1]),
            _mm256_cmpgt_epi16(limit, keys[2]),
            _mm256_cmpgt_epi16(limit, keys[3]),
        ];
        let low = _mm256_packs_epi16(below[0], below[1]);
        let high = _mm256_packs_epi16(below[2], below[3]);
        let n = _mm256_movemask_epi8(low).count_ones() + _mm256_movemask_epi8(high).count_ones();
        n - (64 - leads)
    }

    /// Each instruction set's classes against the portable SWAR ones.
    #[cfg(test)]
    pub(super) fn classifiers_agree(block: &[u8; 64]) -> bool {
        fn all(classifier: impl Classify, block: &[u8; 64]) -> Classes {
            let mut c = classifier.classify(block);
            classifier.ranges(block, &mut c);
            c
        }
        let mut want = super::swar::classify(block);
        super::swar::ranges(block, &mut want);
        // An `Avx2` only where the CPU has AVX2 and POPCNT.
        let avx2 = !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt"))
            || all(Avx2(()), block) == want;
        all(Sse2, block) == want && avx2
    }

    /// The SSE2 path's counts, whatever this CPU has.
    #[cfg(test)]
    pub(super) fn scan_sse2(text: &str) -> [u64; N_FEATURES] {
        super::scan(text, Sse2)
    }
}

/// SWAR classification: eight bytes per `u64`, classes by carry-free byte-wise compares. The
/// portable fallback for other CPUs (and the SIMD versions' oracle in tests).
#[cfg(any(test, not(target_arch = "x86_64")))]
mod swar {
    use super::{Classes, N_ASCII};

    /// The portable classifier.
    #[cfg(not(target_arch = "x86_64"))]
    #[derive(Clone, Copy)]
    pub(super) struct Swar;

    #[cfg(not(target_arch = "x86_64"))]
    impl super::Classify for Swar {
        fn classify(self, block: &[u8; 64]) -> Classes {
            classify(block)
        }

        fn ranges(self, block: &[u8; 64], c: &mut Classes) {
            ranges(block, c);
        }
    }

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// High bit of each byte set where the (7-bit) byte lies in `lo..=hi`.
    #[inline]
    fn within(low7: u64, lo: u8, hi: u8) -> u64 {
        let at_least = |c: u8| (low7 + ONES * u64::from(0x80 - c)) & HIGH;
        at_least(lo) & !at_least(hi + 1)
    }

    /// Transposes an 8x8 bit matrix (row `r` = byte `r`, column `c` = bit `c`): three delta
    /// swaps (Hacker's Delight 7-3).
    #[inline]
    pub(super) fn transpose(mut x: u64) -> u64 {
        let mut t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
        x ^= t ^ (t << 7);
        t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
        x ^= t ^ (t << 14);
        t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
        x ^ t ^ (t << 28)
    }

    /// Classes of a block. Word `i`'s class bits (the high bit of each byte `j`) are packed at
    /// bit `8j + i`, which is the transpose of the block's byte order; one [`transpose`] per
    /// ASCII class then restores it. Shifts and ORs only: no multiply for the vectorizer to
    /// emulate. The [`RANGES`] (non-ASCII bytes, rare outside the SIMD builds) go byte by byte.
    #[inline]
    pub(super) fn classify(block: &[u8; 64]) -> Classes {
        let mut c = [0u64; N_ASCII + super::N_RANGES];
        for (i, word) in block.chunks_exact(8).enumerate() {
            let x = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            let high = x & HIGH;
            // Non-ASCII bytes become DEL (0x7F), which is in no class below.
            let low7 = (x & !HIGH) | (high - (high >> 7));
            // Case-folded, letters are one range; ASCII bit 5 then tells lower from upper.
            let letter = within(low7 | (ONES * 0x20), b'a', b'z');
            let shift = 7 - i;
            c[0] |= (letter & (x << 2)) >> shift;
            c[1] |= (letter & !(x << 2)) >> shift;
            c[2] |= within(low7, b'0', b'9') >> shift;
            c[3] |= within(low7, b' ', b' ') >> shift;
            c[4] |= within(low7, b'\t', b'\r') >> shift;
            c[5] |= high >> shift;
            c[6] |= (high & (x << 1)) >> shift;
        }
        for m in &mut c[..N_ASCII] {
            *m = transpose(*m);
        }
        c
    }

    /// The [`super::RANGES`], byte by byte: non-ASCII text is rare outside the SIMD builds.
    pub(super) fn ranges(block: &[u8; 64], c: &mut Classes) {
        for (k, r) in super::RANGES.iter().enumerate() {
            if super::needed(r, c, block) {
                let bits = block.iter().enumerate();
                let within = |b: &u8| (r.lo..=r.hi).contains(b);
                c[N_ASCII + k] = bits.map(|(i, b)| u64::from(within(b)) << i).sum();
            }
        }
    }
}

impl Masks {
    // Both run once per block from one loop: inlined, the previous block's masks stay in
    // registers instead of being copied through memory between calls.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn of(classes: Classes, valid: u64) -> Self {
        let c = classes.map(|m| m & valid);
        let [lower, upper, digit, space, breaks, non_ascii, lead] =
            c[..N_ASCII].try_into().expect("ASCII classes");
        Self {
            lower,
            upper,
            digit,
            space,
            breaks,
            non_ascii,
            punct: valid & !(lower | upper | digit | space | breaks | non_ascii),
            lead,
            ranges: c[N_ASCII..].try_into().expect("ranges"),
        }
    }

    fn letters(&self) -> u64 {
        self.lower | self.upper
    }

    /// Adds this block's popcounts to `counts`; `prev` is the preceding block, zero at the start.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn count(&self, prev: &Self, counts: &mut [u64; N_FEATURES]) {
        let pop = |m: u64| u64::from(m.count_ones());
        // Every feature counts positions of this block, so a class absent here skips its
        // features (most blocks of a non-Latin script have no letters, spaces or punctuation).
        let (l, pl) = (self.letters(), prev.letters());
        if l != 0 {
            // Letters with 8 letters before them: doubling shifts (1, 2, 4), then one of 1.
            let l2 = l & after(l, pl, 1);
            let pl2 = pl & (pl << 1);
            let l4 = l2 & after(l2, pl2, 2);
            let pl4 = pl2 & (pl2 << 2);
            let l8 = l4 & after(l4, pl4, 4);
            let deep = l8 & after(l, pl, 8);
            counts[1] += pop(l & !after(l, pl, 1));
            counts[2] += pop(l & after(self.space, prev.space, 1));
            counts[3] += pop(l);
            counts[4] += pop(deep);
            if (self.upper | prev.upper) != 0 {
                counts[5] += pop(self.upper & after(self.lower, prev.lower, 1));
                counts[6] += pop(self.upper & after(self.upper, prev.upper, 1));
                counts[7] += pop(self.lower & after(self.upper, prev.upper, 1));
            }
        }
        let d = self.digit;
        if d != 0 {
            let d2 = d & after(d, prev.digit, 1);
            let pd2 = prev.digit & (prev.digit << 1);
            counts[8] += pop(d & !after(d, prev.digit, 1));
            counts[9] += pop(d2 & after(d2, pd2, 2));
        }
        let p = self.punct;
        if p != 0 {
            counts[10] += pop(p);
            counts[11] += pop(p & !after(p, prev.punct, 1));
        }
        let ws = self.space | self.breaks;
        if ws != 0 {
            let pws = prev.space | prev.breaks;
            counts[12] += pop(self.space & after(self.space, prev.space, 1));
            counts[13] += pop(self.breaks);
            counts[14] += pop(ws & !after(ws, pws, 1));
        }
        if self.non_ascii != 0 {
            counts[15] += pop(self.non_ascii & !after(self.non_ascii, prev.non_ascii, 1));
        }
    }

    /// Whether the block ends in a leading byte whose script the next block's bytes settle
    /// ([`BY_NEXT`]'s leads at the last position).
    fn pending(&self) -> bool {
        NEXT_LEADS.iter().any(|&k| self.ranges[k] >> 63 != 0)
    }

    /// Counts non-ASCII characters by script: by popcount for the leading bytes in
    /// [`SETTLED`] and [`BY_NEXT`], by the [`BY_LEAD`] table for the rest.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn count_scripts(
        &self,
        prev: &Self,
        text: &[u8],
        start: usize,
        counts: &mut [u64; N_FEATURES],
    ) {
        let pop = |m: u64| u64::from(m.count_ones());
        let mut leads = self.lead;
        for (&m, &(_, _, class)) in self.ranges[GROUPS..].iter().zip(&SETTLED) {
            counts[usize::from(class)] += pop(m);
            leads &= !m;
        }
        let mut at = GROUPS + SETTLED.len();
        for by in &BY_NEXT {
            // Each lead counts as `rest` here; its second byte (maybe in the next block, so
            // always after the lead is counted) moves it to its own class.
            let lead = self.ranges[at];
            let second = after(lead, prev.ranges[at], 1);
            leads &= !lead;
            counts[usize::from(by.rest)] += pop(lead);
            for &(_, _, class) in by.next {
                at += 1;
                let moved = pop(second & self.ranges[at]);
                counts[usize::from(by.rest)] -= moved;
                counts[usize::from(class)] += moved;
            }
            at += 1;
        }
        while leads != 0 {
            let at = start + leads.trailing_zeros() as usize;
            let key = (usize::from(text[at] & 0x3F) << 6) | usize::from(text[at + 1] & 0x3F);
            let class = match BY_LEAD[key] {
                SPLIT => SCRIPTS[(decode(text, at) >> 4) as usize],
                class => class,
            };
            counts[usize::from(class)] += 1;
            leads &= leads - 1;
        }
    }
}

/// The code point of the three-byte UTF-8 character starting at `text[at]`.
fn decode(text: &[u8], at: usize) -> u32 {
    let byte = |i: usize| u32::from(text[at + i] & 0x3F);
    ((byte(0) & 0x0F) << 12) | (byte(1) << 6) | byte(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(text: &str, name: &str) -> u64 {
        Features::of(text).counts[NAMES.iter().position(|n| *n == name).unwrap()]
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        for seed in [
            1u64,
            0x0123_4567_89AB_CDEF,
            u64::MAX / 3,
            0x8000_0000_0000_0001,
        ] {
            let t = swar::transpose(seed);
            for r in 0..8 {
                for c in 0..8 {
                    assert_eq!(t >> (8 * r + c) & 1, seed >> (8 * c + r) & 1);
                }
            }
        }
    }

    #[test]
    fn classifiers_match_std_predicates() {
        let ascii: String = (0..128u8).map(char::from).collect();
        let text =
            format!("{ascii}Hello wORLD \t\r\n ~!{{}}[] über 東京 🙂 ÿ नमस्ते ไทย かな").repeat(3);
        for block in text.as_bytes().chunks_exact(64) {
            let block: &[u8; 64] = block.try_into().unwrap();
            let mut c = swar::classify(block);
            swar::ranges(block, &mut c);
            #[cfg(target_arch = "x86_64")]
            assert!(simd::classifiers_agree(block));
            for (i, &b) in block.iter().enumerate() {
                let bit = |m: u64| m >> i & 1 == 1;
                assert_eq!(bit(c[0]), b.is_ascii_lowercase());
                assert_eq!(bit(c[1]), b.is_ascii_uppercase());
                assert_eq!(bit(c[2]), b.is_ascii_digit());
                assert_eq!(bit(c[3]), b == b' ');
                assert_eq!(bit(c[4]), (b'\t'..=b'\r').contains(&b));
                assert_eq!(bit(c[5]), b >= 0x80);
                assert_eq!(bit(c[6]), b >= 0xC0);
                for (k, r) in RANGES.iter().enumerate() {
                    // A range a block does not need stays empty.
                    let skipped = r.need != Need::Always && c[N_ASCII + k] == 0;
                    assert!(skipped || bit(c[N_ASCII + k]) == (r.lo..=r.hi).contains(&b));
                }
            }
        }
    }

    #[test]
    fn counts_match_a_byte_by_byte_reference() {
        // Long enough to cross several block boundaries, with runs straddling them.
        let text = "Hello wORLD  2024-11-22 12345678 camelCase\n\tüber 東京 🙂 ".repeat(7);
        let b = text.as_bytes();
        let class = |c: u8| match c {
            b'a'..=b'z' | b'A'..=b'Z' => 'L',
            b'0'..=b'9' => 'D',
            b' ' | b'\t'..=b'\r' => 'W',
            0x80.. => 'N',
            _ => 'P',
        };
        let runs = |k: char| {
            (0..b.len())
                .filter(|&i| class(b[i]) == k && (i == 0 || class(b[i - 1]) != k))
                .count() as u64
        };
        let past = |k: char, depth: usize| {
            (depth..b.len())
                .filter(|&i| (i - depth..=i).all(|j| class(b[j]) == k))
                .count() as u64
        };
        assert_eq!(feature(&text, "letter_runs"), runs('L'));
        assert_eq!(feature(&text, "digit_runs"), runs('D'));
        assert_eq!(feature(&text, "punct_runs"), runs('P'));
        assert_eq!(feature(&text, "space_runs"), runs('W'));
        assert_eq!(feature(&text, "non_ascii_runs"), runs('N'));
        assert_eq!(feature(&text, "letters_past_8"), past('L', 8));
        assert_eq!(feature(&text, "digits_past_3"), past('D', 3));
        assert_eq!(feature(&text, "lower_upper"), 2 * 7); // wORLD, camelCase
        assert_eq!(feature(&text, "latin_ext"), 7);
        assert_eq!(feature(&text, "cjk"), 2 * 7);
        assert_eq!(feature(&text, "astral"), 7);
        assert_eq!(feature(&text, "texts"), 1);
    }

    /// Every feature, byte by byte and character by character: the definition the block
    /// arithmetic must reproduce exactly (the fitted weights assume it).
    fn reference(text: &str) -> [u64; N_FEATURES] {
        #[derive(Clone, Copy, PartialEq)]
        enum C {
            Lower,
            Upper,
            Digit,
            Space,
            Break,
            NonAscii,
            Punct,
        }
        let class = |b: u8| match b {
            b'a'..=b'z' => C::Lower,
            b'A'..=b'Z' => C::Upper,
            b'0'..=b'9' => C::Digit,
            b' ' => C::Space,
            b'\t'..=b'\r' => C::Break,
            0x80.. => C::NonAscii,
            _ => C::Punct,
        };
        let cs: Vec<C> = text.bytes().map(class).collect();
        let at = |i: usize, back: usize| i.checked_sub(back).map(|j| cs[j]);
        let letter = |c: Option<C>| matches!(c, Some(C::Lower | C::Upper));
        let ws = |c: Option<C>| matches!(c, Some(C::Space | C::Break));
        let mut n = [0u64; N_FEATURES];
        n[TEXTS] = 1;
        for (i, &c) in cs.iter().enumerate() {
            let (this, prev) = (Some(c), at(i, 1));
            let same_run = |k: usize| (0..=k).all(|b| at(i, b) == this);
            let flags = [
                (1, letter(this) && !letter(prev)),
                (2, letter(this) && prev == Some(C::Space)),
                (3, letter(this)),
                (4, (0..=8).all(|b| letter(at(i, b)))),
                (5, c == C::Upper && prev == Some(C::Lower)),
                (6, c == C::Upper && prev == Some(C::Upper)),
                (7, c == C::Lower && prev == Some(C::Upper)),
                (8, c == C::Digit && prev != this),
                (9, c == C::Digit && same_run(3)),
                (10, c == C::Punct),
                (11, c == C::Punct && prev != this),
                (12, c == C::Space && prev == this),
                (13, c == C::Break),
                (14, ws(this) && !ws(prev)),
                (15, c == C::NonAscii && prev != this),
            ];
            for (f, on) in flags {
                n[f] += u64::from(on);
            }
        }
        for ch in text.chars().filter(|ch| !ch.is_ascii()) {
            n[usize::from(script(u32::from(ch)))] += 1;
        }
        n
    }

    #[test]
    fn counts_match_the_reference_everywhere() {
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/data/tokens_exact.json")).unwrap();
        let mut texts: Vec<String> = cases
            .iter()
            .map(|c| c["text"].as_str().unwrap().to_owned())
            .collect();
        // Every script boundary, with its neighbours, at every offset within a block.
        let edges: String = (0x80..0x11000u32)
            .step_by(16)
            .flat_map(|cp| [cp.saturating_sub(1), cp])
            .filter_map(char::from_u32)
            .collect();
        texts.push(edges.clone());
        for shift in 1..8 {
            texts.push(format!("{}{edges}", "a".repeat(shift)));
        }
        // A lone character whose second byte settles its script, at every block offset (its
        // lead may end a block whose successor holds no such lead), also in blocks counted by
        // ranges (U+10A0's span has two scripts) followed by blocks counted by runs.
        for c in ['\u{800}', '\u{905}', '\u{E01}', '\u{3042}'] {
            for shift in 0..64 {
                texts.push(format!("{}{c}{}", "a".repeat(shift), "a".repeat(64)));
                let split = "\u{10A0}".repeat(shift / 3);
                texts.push(format!(
                    "{split}{}{c}{}",
                    "a".repeat(shift % 3),
                    "a".repeat(64)
                ));
            }
        }
        // Blocks of one or two runs of scripts: neighbours at every script boundary, repeated
        // over blocks from several offsets.
        for cp in (0x80..0x11000u32).step_by(16) {
            let pair: String = [cp - 1, cp]
                .into_iter()
                .filter_map(char::from_u32)
                .collect();
            for shift in 0..4 {
                texts.push(format!("{}{}", "a".repeat(shift), pair.repeat(40)));
            }
        }
        texts.push(texts.concat());
        for text in &texts {
            let want = reference(text);
            assert_eq!(Features::of(text).counts, want, "{text:?}");
            #[cfg(target_arch = "x86_64")]
            assert_eq!(simd::scan_sse2(text), want, "SSE2: {text:?}");
        }
    }

    #[test]
    fn empty_and_nul_text() {
        assert_eq!(Features::of("").counts.iter().sum::<u64>(), 1);
        assert_eq!(feature("\0\0\0", "punct"), 3);
        assert_eq!(feature("\0\0\0", "punct_runs"), 1);
    }
}
