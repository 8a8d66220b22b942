//! Structure features: evidence that no phrase captures, computed from the text's shape.

use std::sync::Arc;

use once_cell::sync::Lazy;

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

    pub fn detect(&self, text: &str, _words: &str, base: usize, evidence: &mut Evidence) {
        static ID: Lazy<Arc<str>> = Lazy::new(|| ADVERSARIAL_SUFFIX.into());
        static CATEGORY: Lazy<Arc<str>> = Lazy::new(|| STRUCTURE.into());
        if self.adversarial_suffix {
            if let Some((start, end, weight)) = adversarial_suffix(text) {
                evidence.add(&ID, &CATEGORY, weight, (base + start, base + end));
            }
        }
    }
}

/// Optimised jailbreak suffixes (GCG and kin) read as token soup: words glued to brackets,
/// backslashes and quotes, in prose that is otherwise not code. Counts such "glued" tokens.
fn adversarial_suffix(text: &str) -> Option<(usize, usize, f64)> {
    let mut glued = 0usize;
    let mut first = None;
    let mut last = 0;
    let mut tokens = 0usize;
    for (start, token) in split_tokens(text) {
        tokens += 1;
        let letters = token.chars().filter(|c| c.is_alphabetic()).count();
        let odd = token
            .chars()
            .filter(|c| matches!(c, '{' | '}' | '[' | ']' | '(' | ')' | '\\' | '<' | '>' | '|' | '$' | '^' | '`' | '~' | '='))
            .count();
        if letters >= 2 && odd >= 2 {
            glued += 1;
            first.get_or_insert(start);
            last = start + token.len();
        }
    }
    let start = first?;
    (glued >= 2 && tokens <= 400).then_some((start, last, if glued >= 3 { 0.6 } else { 0.35 }))
}

fn split_tokens(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_ascii_whitespace()
        .map(move |t| (t.as_ptr() as usize - text.as_ptr() as usize, t))
}
