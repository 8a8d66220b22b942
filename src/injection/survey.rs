//! One pass over a window's bytes that answers every question the cleared path asks: is it
//! ASCII, which symbols occur, does it hold a case hump, could it hold an encoded payload,
//! and where are its letters and digits (for the prefilter's anchor index and token checks).
//!
//! The bytes are read in 64-byte blocks, each becoming one bit mask per class (SSE2 compares
//! on x86-64, a byte loop elsewhere and as the tests' oracle); the questions are then bit
//! arithmetic on those masks. Symbols (ASCII other than letters, digits and space) are rare in
//! prose, so they are read one by one from their mask into a set of the symbols present.

/// What the cleared path needs to know of a window; see [`Survey::of`]. The flags are
/// independent answers, not states.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)]
pub struct Survey {
    /// No byte at or above 0x80.
    pub ascii: bool,
    /// Bit `b` set when ASCII byte `b`, neither a letter, a digit nor a space, occurs.
    symbols: u128,
    /// Whether a digit occurs.
    digits: bool,
    /// Line feeds, counted up to two.
    newlines: u8,
    /// A lowercase letter followed by an uppercase one (`aidArrayList`).
    pub hump: bool,
    /// What [`may_hold_candidate`](Survey::may_hold_candidate) answers.
    candidate: bool,
    /// Letters and digits, one mask per 64-byte block.
    alnum: Vec<u64>,
}

/// The set of `bytes` (all ASCII) as a [`Survey::symbols`]-style bit set.
pub const fn symbol_set(bytes: &[u8]) -> u128 {
    let mut set = 0u128;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii());
        set |= 1 << bytes[i];
        i += 1;
    }
    set
}

/// Symbols that continue a base64 run, and the colon that, like a space, ends a hex pair.
const BASE64_SYMBOLS: u128 = symbol_set(b"+/_-");
const COLON: u8 = b':';

/// One 64-byte block's classes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Block {
    letter: u64,
    /// Bit 5 of the byte (lowercase, for letters).
    bit5: u64,
    digit: u64,
    space: u64,
    hex_letter: u64,
    high: u64,
}

/// `mask` moved one position later in the text, the previous block's last bits shifted in.
pub fn after(mask: u64, prev: u64, k: u32) -> u64 {
    (mask << k) | (prev >> (64 - k))
}

impl Survey {
    pub fn of(text: &[u8]) -> Self {
        let mut s = Self {
            ascii: true,
            symbols: 0,
            digits: false,
            newlines: 0,
            hump: false,
            candidate: false,
            alnum: Vec::with_capacity(text.len().div_ceil(64)),
        };
        // Masks of the previous block: lowercase letters, hex digits, hex pair ends.
        let (mut lower, mut hex, mut pairs) = (0u64, 0u64, 0u64);
        // Base64 runs of 1, 2, 4 and 8 bytes ending at each position of the previous block.
        let mut runs = [0u64; 4];
        let mut blocks = text.chunks_exact(64);
        let mut step = |block: &[u8; 64], valid: u64, s: &mut Self| {
            let c = classify(block);
            let high = c.high & valid;
            s.ascii &= high == 0;
            let alnum = (c.letter | c.digit) & valid;
            s.digits |= c.digit & valid != 0;
            s.alnum.push(alnum);
            let (mut symbol_base64, mut colon) = (0u64, 0u64);
            let mut others = !(high | alnum | c.space) & valid;
            while others != 0 {
                let j = others.trailing_zeros();
                others &= others - 1;
                let b = block[j as usize];
                s.symbols |= 1 << b;
                s.newlines = (s.newlines + u8::from(b == b'\n')).min(2);
                symbol_base64 |= u64::from(BASE64_SYMBOLS >> b & 1 == 1) << j;
                colon |= u64::from(b == COLON) << j;
            }
            let lower_now = c.letter & c.bit5;
            s.hump |= (c.letter & !c.bit5 & valid) & after(lower_now, lower, 1) != 0;
            lower = lower_now;
            // A run of 2n base64 bytes ends where a run of n ends, n bytes after another.
            let mut run = alnum | symbol_base64;
            for (n, prev) in runs.iter_mut().enumerate() {
                let now = run;
                run &= after(now, *prev, 1 << n);
                *prev = now;
            }
            // A hex pair ends at a space or colon after two hex digits; seven chain when each
            // ends three bytes after the one before.
            let hex_now = (c.digit | c.hex_letter) & valid;
            let pairs_now =
                (c.space | colon) & valid & after(hex_now, hex, 1) & after(hex_now, hex, 2);
            hex = hex_now;
            let chain = (1..7).fold(pairs_now, |r, k| r & after(pairs_now, pairs, 3 * k));
            pairs = pairs_now;
            s.candidate |= run != 0 || chain != 0;
        };
        for block in &mut blocks {
            step(block.try_into().expect("64-byte block"), u64::MAX, &mut s);
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            let mut padded = [0u8; 64];
            padded[..tail.len()].copy_from_slice(tail);
            step(&padded, (1u64 << tail.len()) - 1, &mut s);
        }
        s.candidate |= s.symbols & symbol_set(b"%\\") != 0;
        s
    }

    /// Whether any byte of `set` (see [`symbol_set`]) occurs.
    pub fn any_of(&self, set: u128) -> bool {
        self.symbols & set != 0
    }

    /// Whether the text may hold an encoded run worth decoding: `%`, `\`, a run of 16 base64
    /// characters, or seven hex pairs each followed by a space or colon.
    pub fn may_hold_candidate(&self) -> bool {
        self.candidate
    }

    /// Whether the text has two line feeds or more.
    pub fn multi_line(&self) -> bool {
        self.newlines >= 2
    }

    /// Whether every run of letters, digits and `symbols` is made of letters only.
    pub fn only_letters_in(&self, symbols: u128) -> bool {
        !self.digits && !self.any_of(symbols)
    }

    /// Letters and digits, one mask per 64-byte block.
    pub fn alnum(&self) -> &[u64] {
        &self.alnum
    }
}

/// Bit masks of one block's classes.
fn classify(block: &[u8; 64]) -> Block {
    #[cfg(target_arch = "x86_64")]
    return sse2::classify(block);
    #[cfg(not(target_arch = "x86_64"))]
    return bytewise(block);
}

/// The portable classifier (and the SIMD one's oracle in tests).
#[cfg(any(test, not(target_arch = "x86_64")))]
fn bytewise(block: &[u8; 64]) -> Block {
    let mut c = Block::default();
    for (i, &b) in block.iter().enumerate() {
        let bit = |yes: bool| u64::from(yes) << i;
        c.letter |= bit(b.is_ascii_alphabetic());
        c.bit5 |= bit(b & 0x20 != 0);
        c.digit |= bit(b.is_ascii_digit());
        c.space |= bit(b == b' ');
        c.hex_letter |= bit(matches!(b | 0x20, b'a'..=b'f'));
        c.high |= bit(!b.is_ascii());
    }
    c
}

/// SSE2 classification, part of every x86-64 CPU: sixteen bytes per compare, one `movemask`
/// per class and chunk. The only `unsafe` here is the intrinsics, sound on any x86-64 CPU.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_slli_epi16,
    };

    use super::Block;
    use crate::simd::within;

    #[inline]
    pub(super) fn classify(block: &[u8; 64]) -> Block {
        let mut c = Block::default();
        for (i, chunk) in block.chunks_exact(16).enumerate() {
            let at = 16 * i;
            // SAFETY: SSE2 is part of every x86-64 CPU; the load reads the chunk's 16 bytes.
            unsafe {
                let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16) << at;
                let x = _mm_loadu_si128(chunk.as_ptr().cast());
                let folded = _mm_or_si128(x, _mm_set1_epi8(0x20));
                c.letter |= bits(within(folded, b'a', b'z'));
                c.bit5 |= bits(_mm_slli_epi16::<2>(x));
                c.digit |= bits(within(x, b'0', b'9'));
                c.space |= bits(_mm_cmpeq_epi8(x, _mm_set1_epi8(0x20)));
                c.hex_letter |= bits(within(folded, b'a', b'f'));
                c.high |= bits(x);
            }
        }
        c
    }
}

/// Deterministic test texts: random mixes of each small alphabet, every length to 300 (blocks
/// and their edges).
#[cfg(test)]
pub fn random_texts(alphabets: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::new();
    for len in 0..300 {
        for alphabet in alphabets {
            let text = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scalar pre-check `Survey::may_hold_candidate` replaces: the oracle.
    fn may_hold_candidate(text: &[u8]) -> bool {
        if text.iter().any(|&b| b == b'%' || b == b'\\') {
            return true;
        }
        let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-');
        let (mut run, mut hex, mut pairs, mut last_pair_end) = (0u32, 0u32, 0u32, 0usize);
        for (i, &b) in text.iter().enumerate() {
            run = if base64(b) { run + 1 } else { 0 };
            if run >= 16 {
                return true;
            }
            if matches!(b, b' ' | b':') && hex >= 2 {
                pairs = if pairs > 0 && last_pair_end + 3 == i {
                    pairs + 1
                } else {
                    1
                };
                last_pair_end = i;
                if pairs >= 7 {
                    return true;
                }
            }
            hex = if b.is_ascii_hexdigit() { hex + 1 } else { 0 };
        }
        false
    }

    fn texts() -> Vec<Vec<u8>> {
        let mut out = random_texts(&[
            b"ab cdefAB:",
            b"0a1b fF9 :",
            b"aZ zA+/_-x",
            b"the end.\n%\\",
            "é aA\u{0}b{}".as_bytes(),
        ]);
        out.push(b"de ad be ef 01 23 45 67".to_vec());
        out.push(b"de ad be ef 01 23".to_vec());
        out.push(
            b"x".repeat(63)
                .into_iter()
                .chain(*b"de:ad:be:ef:01:23:45 ")
                .collect(),
        );
        out
    }

    #[test]
    fn answers_match_a_byte_by_byte_reading() {
        for text in texts() {
            let s = Survey::of(&text);
            let shown = String::from_utf8_lossy(&text);
            assert_eq!(s.ascii, text.is_ascii(), "{shown:?}");
            assert_eq!(
                s.may_hold_candidate(),
                may_hold_candidate(&text),
                "{shown:?}"
            );
            let hump = text
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
            assert_eq!(s.hump, hump, "{shown:?}");
            let lines = memchr::memchr_iter(b'\n', &text).count();
            assert_eq!(s.multi_line(), lines >= 2, "{shown:?}");
            for b in 0..128u8 {
                let symbol = !b.is_ascii_alphanumeric() && b != b' ';
                let want = symbol && text.contains(&b);
                assert_eq!(s.any_of(symbol_set(&[b])), want, "{shown:?} {b}");
            }
            let alnum: Vec<bool> = (0..text.len())
                .map(|i| s.alnum()[i / 64] >> (i % 64) & 1 == 1)
                .collect();
            let want: Vec<bool> = text.iter().map(u8::is_ascii_alphanumeric).collect();
            assert_eq!(alnum, want, "{shown:?}");
        }
    }

    #[test]
    fn simd_classes_match_the_byte_loop() {
        for text in texts() {
            let mut block = [0u8; 64];
            for (i, b) in text.iter().take(64).enumerate() {
                block[i] = *b;
            }
            block[63] = 0xFF;
            assert_eq!(classify(&block), bytewise(&block));
        }
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks_exact(64) {
            let block: &[u8; 64] = chunk.try_into().unwrap();
            assert_eq!(classify(block), bytewise(block));
        }
    }
}
