//! Character-class counts that predict BPE token counts without running BPE.
//!
//! The text is read in 64-byte blocks. Each block becomes one bit mask per ASCII class (lower,
//! upper, digit, space, other whitespace, non-ASCII), built eight bytes at a time with SWAR
//! arithmetic; the features are popcounts of those masks and of their shifted combinations
//! (run starts, letters deep inside long runs, case changes). Non-ASCII characters are counted
//! by script, decoded from their UTF-8 leading byte. Every feature is a sum over the text, so
//! an estimate is one dot product with the weights fitted per encoding (`weights.rs`).

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
        let (lead, next) = ((key >> 6) as u32, (key & 0x3F) as u32);
        table[key] = if lead < 0x20 {
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
        };
        key += 1;
    }
    table
};

/// Leading-byte ranges that settle a script alone (inclusive), with its class: most CJK,
/// Hangul, symbol and emoji characters are counted by popcount, not one table lookup each.
const SETTLED: [(u8, u8, usize); 4] = [
    (0xE4, 0xE9, script(0x4000) as usize), // U+4000..U+9FFF: CJK ideographs
    (0xEB, 0xED, script(0xB000) as usize), // U+B000..U+D7FF: Hangul (U+D800.. cannot occur)
    (0xE2, 0xE2, script(0x2000) as usize), // U+2000..U+2FFF: punctuation, symbols
    (0xF0, 0xF4, script(0x10000) as usize), // astral: emoji and the rest
];

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
        let mut counts = [0u64; N_FEATURES];
        counts[TEXTS] = 1;
        let bytes = text.as_bytes();
        let mut prev = Masks::default();
        let mut blocks = bytes.chunks_exact(64);
        let mut start = 0;
        for block in &mut blocks {
            let m = Masks::of(block.try_into().expect("64-byte block"), u64::MAX);
            m.count(&prev, bytes, start, &mut counts);
            prev = m;
            start += 64;
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            let valid = (1u64 << tail.len()) - 1;
            Masks::of(&padded, valid).count(&prev, bytes, start, &mut counts);
        }
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
    /// Leading bytes in each [`SETTLED`] range (left empty where no SIMD classifier finds
    /// them: those leads take the table lookup, with the same result).
    settled: [u64; 4],
}

/// `mask` moved one position later in the text, with the previous block's last bits shifted in.
#[inline]
fn after(mask: u64, prev: u64, k: u32) -> u64 {
    (mask << k) | (prev >> (64 - k))
}

/// Per-class bit masks of a 64-byte block, in the order of [`Masks`]' fields.
type Classes = [u64; 11];

/// SSE2 classification, sixteen bytes per compare and one `movemask` per class. SSE2 is part of
/// every x86-64 CPU (the wheel's baseline target), so no runtime detection is needed. The
/// functions are `unsafe` only because `#[target_feature]` requires it at the crate's MSRV;
/// their one requirement is SSE2, which the `cfg` guarantees.
#[cfg(target_feature = "sse2")]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_set_epi64x, _mm_slli_epi16,
    };

    /// `0xFF` in each byte lying in `lo..=hi`: a wrapping bias moves the range to the bottom
    /// of the signed bytes, so one signed compare tests both ends (`lo <= hi`, a range of
    /// fewer than 128 bytes).
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn within(x: __m128i, lo: u8, hi: u8) -> __m128i {
        let signed = |b: u8| i8::from_ne_bytes([b]);
        let bias = _mm_set1_epi8(signed(0x80u8.wrapping_sub(lo)));
        let limit = _mm_set1_epi8(signed(0x81 + (hi - lo)));
        _mm_cmplt_epi8(_mm_add_epi8(x, bias), limit)
    }

    /// The high bit of each byte, as sixteen bits.
    #[inline]
    #[target_feature(enable = "sse2")]
    unsafe fn bits(x: __m128i) -> u64 {
        u64::from(_mm_movemask_epi8(x) as u32)
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn classify(block: &[u8; 64]) -> super::Classes {
        let load = |chunk: &[u8]| {
            let half = |at: usize| i64::from_le_bytes(chunk[at..at + 8].try_into().expect("8"));
            _mm_set_epi64x(half(8), half(0))
        };
        let mut c = [0u64; 11];
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            let x = load(chunk);
            // Case-folded, letters are one range; ASCII bit 5 (moved to bit 7) tells the case.
            let letter = bits(within(_mm_or_si128(x, _mm_set1_epi8(0x20)), b'a', b'z'));
            let bit5 = bits(_mm_slli_epi16::<2>(x));
            let high = bits(x);
            let at = 16 * i;
            c[0] |= (letter & bit5) << at;
            c[1] |= (letter & !bit5) << at;
            c[2] |= bits(within(x, b'0', b'9')) << at;
            c[3] |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8(0x20))) << at;
            c[4] |= bits(within(x, b'\t', b'\r')) << at;
            c[5] |= high << at;
            c[6] |= (high & bits(_mm_slli_epi16::<1>(x))) << at;
        }
        if c[5] != 0 {
            for (i, chunk) in block.chunks_exact(16).enumerate() {
                let x = load(chunk);
                for (k, &(lo, hi, _)) in super::SETTLED.iter().enumerate() {
                    c[7 + k] |= bits(within(x, lo, hi)) << (16 * i);
                }
            }
        }
        c
    }
}

/// Classes of a block: SSE2 where the build targets it (every x86-64 build), SWAR elsewhere.
#[inline]
fn classify(block: &[u8; 64]) -> Classes {
    #[cfg(target_feature = "sse2")]
    #[allow(unsafe_code)]
    // SAFETY: the only requirement of `sse2::classify` is SSE2, which this cfg guarantees at
    // compile time (rustc enables it for every x86-64 target).
    return unsafe { sse2::classify(block) };
    #[cfg(not(target_feature = "sse2"))]
    swar::classify(block)
}

/// SWAR classification: eight bytes per `u64`, classes by carry-free byte-wise compares. The
/// portable fallback for other CPUs (and the SSE2 version's oracle in tests).
#[cfg(any(test, not(target_feature = "sse2")))]
mod swar {
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

    /// Classes of a block (no [`super::SETTLED`] masks). Word `i`'s class bits (the high bit of each byte `j`) are packed at
    /// bit `8j + i`, which is the transpose of the block's byte order; one [`transpose`] per
    /// class then restores it. Shifts and ORs only: no multiply for the vectorizer to emulate.
    #[inline]
    pub(super) fn classify(block: &[u8; 64]) -> super::Classes {
        let mut c = [0u64; 11];
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
        c.map(transpose)
    }
}

impl Masks {
    // Both run once per block from one loop: inlined, the previous block's masks stay in
    // registers instead of being copied through memory between calls.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn of(block: &[u8; 64], valid: u64) -> Self {
        let [lower, upper, digit, space, breaks, non_ascii, lead, s0, s1, s2, s3] =
            classify(block).map(|m| m & valid);
        Self {
            lower,
            upper,
            digit,
            space,
            breaks,
            non_ascii,
            punct: valid & !(lower | upper | digit | space | breaks | non_ascii),
            lead,
            settled: [s0, s1, s2, s3],
        }
    }

    fn letters(&self) -> u64 {
        self.lower | self.upper
    }

    /// Adds this block's popcounts to `counts`; `prev` is the preceding block, zero at the start.
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn count(&self, prev: &Self, text: &[u8], start: usize, counts: &mut [u64; N_FEATURES]) {
        let pop = |m: u64| u64::from(m.count_ones());
        let (l, pl) = (self.letters(), prev.letters());
        let (p, pp) = (self.punct, prev.punct);
        let ws = self.space | self.breaks;
        let pws = prev.space | prev.breaks;
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
        let d = self.digit;
        if d != 0 {
            let d2 = d & after(d, prev.digit, 1);
            let pd2 = prev.digit & (prev.digit << 1);
            counts[8] += pop(d & !after(d, prev.digit, 1));
            counts[9] += pop(d2 & after(d2, pd2, 2));
        }
        counts[10] += pop(p);
        counts[11] += pop(p & !after(p, pp, 1));
        counts[12] += pop(self.space & after(self.space, prev.space, 1));
        counts[13] += pop(self.breaks);
        counts[14] += pop(ws & !after(ws, pws, 1));
        if self.non_ascii != 0 {
            counts[15] += pop(self.non_ascii & !after(self.non_ascii, prev.non_ascii, 1));
        }

        if self.lead == 0 {
            return;
        }
        let mut leads = self.lead;
        for (&m, &(_, _, class)) in self.settled.iter().zip(&SETTLED) {
            counts[class] += pop(m);
            leads &= !m;
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
    fn classifier_matches_std_predicates() {
        let ascii: String = (0..128u8).map(char::from).collect();
        let text = format!("{ascii}Hello wORLD \t\r\n ~!{{}}[] über 東京 🙂 ÿ").repeat(3);
        for block in text.as_bytes().chunks_exact(64) {
            let block: &[u8; 64] = block.try_into().unwrap();
            let c = swar::classify(block);
            #[cfg(target_feature = "sse2")]
            {
                let fast = classify(block);
                assert_eq!(fast[..7], c[..7]);
                for (k, &(lo, hi, _)) in SETTLED.iter().enumerate() {
                    for (i, &b) in block.iter().enumerate() {
                        assert_eq!(fast[7 + k] >> i & 1 == 1, (lo..=hi).contains(&b));
                    }
                }
            }
            for (i, &b) in block.iter().enumerate() {
                let bit = |m: u64| m >> i & 1 == 1;
                assert_eq!(bit(c[0]), b.is_ascii_lowercase());
                assert_eq!(bit(c[1]), b.is_ascii_uppercase());
                assert_eq!(bit(c[2]), b.is_ascii_digit());
                assert_eq!(bit(c[3]), b == b' ');
                assert_eq!(bit(c[4]), (b'\t'..=b'\r').contains(&b));
                assert_eq!(bit(c[5]), b >= 0x80);
                assert_eq!(bit(c[6]), b >= 0xC0);
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
        texts.push(texts.concat());
        for text in &texts {
            assert_eq!(Features::of(text).counts, reference(text), "{text:?}");
        }
    }

    #[test]
    fn empty_and_nul_text() {
        assert_eq!(Features::of("").counts.iter().sum::<u64>(), 1);
        assert_eq!(feature("\0\0\0", "punct"), 3);
        assert_eq!(feature("\0\0\0", "punct_runs"), 1);
    }
}
