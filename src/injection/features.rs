//! Structure features: evidence that no phrase captures, computed from the text's shape.

use std::sync::Arc;

use std::sync::LazyLock;

use super::Evidence;

const ADVERSARIAL_SUFFIX: &str = "structure.adversarial_suffix";
const STRUCTURE: &str = "structure";

/// Ids of every feature (they can be disabled like rules).
pub fn ids() -> [&'static str; 1] {
    [ADVERSARIAL_SUFFIX]
}

/// Which features run.
#[derive(Debug, Clone)]
pub struct Features {
    adversarial_suffix: bool,
}

impl Features {
    pub fn enabled(disabled: &[String]) -> Self {
        Self {
            adversarial_suffix: !disabled.iter().any(|d| d == ADVERSARIAL_SUFFIX),
        }
    }

    pub fn detect(&self, text: &str, base: usize, evidence: &mut Evidence) {
        static ID: LazyLock<Arc<str>> = LazyLock::new(|| ADVERSARIAL_SUFFIX.into());
        static CATEGORY: LazyLock<Arc<str>> = LazyLock::new(|| STRUCTURE.into());
        if self.adversarial_suffix {
            if let Some((start, end, weight)) = adversarial_suffix(text) {
                evidence.add(&ID, &CATEGORY, weight, (base + start, base + end));
            }
        }
    }
}

/// Optimised jailbreak suffixes (GCG and kin) read as token soup in one-line prose: words
/// glued to brackets and backslashes (`{\\isset`), symbol clusters (`];->{`), and mashed
/// identifiers (`aidArrayListswift`). Multi-line texts are left alone: they are usually code.
fn adversarial_suffix(text: &str) -> Option<(usize, usize, f64)> {
    if text.len() > 4096 || memchr::memchr_iter(b'\n', text.as_bytes()).nth(1).is_some() {
        return None;
    }
    // No odd symbol and no hump anywhere: no junk token (see `is_junk`), without splitting.
    let bytes = text.as_bytes();
    if !bytes.iter().any(|&b| is_odd(b)) && !bytes.windows(2).any(is_hump) {
        return None;
    }
    let (mut junk, mut first, mut last) = (0usize, None, 0);
    for (start, token) in split_tokens(text) {
        if is_junk(token) {
            junk += 1;
            first.get_or_insert(start);
            last = start + token.len();
        }
    }
    let weight = match junk {
        0 | 1 => return None,
        2 => 0.45,
        3 => 0.55,
        _ => 0.7,
    };
    Some((first?, last, weight))
}

/// Brackets, backslashes and operators that glue GCG-style token soup together.
const ODD: [bool; 256] = {
    let mut table = [false; 256];
    let odd = b"{}[]()\\<>|^`~=";
    let mut i = 0;
    while i < odd.len() {
        table[odd[i] as usize] = true;
        i += 1;
    }
    table
};

fn is_odd(b: u8) -> bool {
    ODD[b as usize]
}

/// A lowercase-to-uppercase turn (`aidArrayList`).
fn is_hump(w: &[u8]) -> bool {
    w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase()
}

fn is_junk(token: &str) -> bool {
    // Fast reject for the common prose token: no odd symbol and no hump anywhere in it means
    // none in its trimmed core either.
    let bytes = token.as_bytes();
    if !bytes.iter().any(|&b| is_odd(b)) && !bytes.windows(2).any(is_hump) {
        return false;
    }
    // Prose wraps words in brackets and ends them with punctuation; those do not count.
    let core = token
        .trim_start_matches(['(', '"', '\''])
        .trim_end_matches([')', '.', ',', ';', ':', '!', '?', '"', '\'']);
    let letters = core.chars().filter(|c| c.is_alphabetic()).count();
    let symbols = core.bytes().filter(|&b| is_odd(b)).count();
    // lowercase-to-uppercase turns inside a long word (`aidArrayListswift`, `principlesEN`).
    let humps = core.as_bytes().windows(2).filter(|w| is_hump(w)).count();
    (symbols >= 2 && (letters >= 1 || symbols >= 3)) || (humps >= 1 && core.len() >= 9)
}

fn split_tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_ascii_whitespace()
        .map(move |t| (t.as_ptr() as usize - text.as_ptr() as usize, t))
}
