//! Token counts and cost before a request is sent.
//!
//! Two counters: [`count_tokens`] runs the real BPE (`o200k_base`, `cl100k_base`; identical to
//! tiktoken), and [`estimate_fast`] predicts the count from character classes at memory speed
//! without running BPE (`features.rs`, weights fitted per encoding by `tools/fit_tokens.py`).
//! [`estimate_tokens`] picks one per [`Mode`]: in `Auto`, short texts (where a few tokens are a
//! large share) are counted exactly and long ones estimated.

pub mod features;
pub mod models;
mod weights;

use std::collections::HashSet;
use std::sync::LazyLock;

use rayon::prelude::*;

use crate::error::{CoreError, ErrorKind, Result};
use features::{Features, N_FEATURES};
pub use models::{Model, Price};

/// A BPE vocabulary and its pre-tokenization rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-5 and the o-series.
    O200k,
    /// GPT-4, GPT-3.5 and the v3 embeddings.
    Cl100k,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::O200k, Encoding::Cl100k];

    /// The name tiktoken uses.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200k => "o200k_base",
            Encoding::Cl100k => "cl100k_base",
        }
    }

    /// Parses `o200k_base` / `cl100k_base` (the `_base` suffix is optional).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.trim().to_lowercase().trim_end_matches("_base") {
            "o200k" => Ok(Encoding::O200k),
            "cl100k" => Ok(Encoding::Cl100k),
            _ => Err(CoreError::new(
                ErrorKind::UnknownName,
                format!(
                    "encoding: unknown encoding {:?}; known: o200k_base, cl100k_base",
                    name.chars().take(80).collect::<String>()
                ),
            )),
        }
    }

    fn tokenizer(self) -> &'static bpe_openai::Tokenizer {
        match self {
            Encoding::O200k => bpe_openai::o200k_base(),
            Encoding::Cl100k => bpe_openai::cl100k_base(),
        }
    }

    /// Every token's bytes, for [`count_serial`]'s single-token shortcut.
    fn vocabulary(self) -> &'static Vocabulary {
        static O200K: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary_of(Encoding::O200k));
        static CL100K: LazyLock<Vocabulary> = LazyLock::new(|| vocabulary_of(Encoding::Cl100k));
        match self {
            Encoding::O200k => &O200K,
            Encoding::Cl100k => &CL100K,
        }
    }

    fn weights(self) -> &'static [f64; N_FEATURES] {
        match self {
            Encoding::O200k => &weights::O200K,
            Encoding::Cl100k => &weights::CL100K,
        }
    }
}

/// The byte strings of an encoding's tokens (FNV: short keys, built once).
type Vocabulary = HashSet<&'static [u8], fnv::FnvBuildHasher>;

fn vocabulary_of(encoding: Encoding) -> Vocabulary {
    let bpe = &encoding.tokenizer().bpe;
    (0..bpe.num_tokens() as u32)
        .map(|id| bpe.token_bytes(id))
        .collect()
}

/// How [`estimate_tokens`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exact below [`AUTO_EXACT_BELOW_CHARS`] characters, estimated above.
    Auto,
    /// Always the estimator.
    Fast,
    /// Always the real BPE.
    Exact,
}

impl Mode {
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "auto" => Ok(Mode::Auto),
            "fast" => Ok(Mode::Fast),
            "exact" => Ok(Mode::Exact),
            _ => Err(CoreError::argument(
                "mode",
                format!(
                    "must be \"auto\", \"fast\" or \"exact\", got {:?}",
                    name.chars().take(80).collect::<String>()
                ),
            )),
        }
    }
}

/// In `Auto` mode, texts shorter than this many characters are counted exactly.
pub const AUTO_EXACT_BELOW_CHARS: usize = 1000;

/// The exact token count of `text` under `encoding`, as tiktoken's `encode_ordinary` gives it
/// (special-token strings such as `<|endoftext|>` count as ordinary text).
///
/// ```
/// use ravelin::tokens::{count_tokens, Encoding};
/// assert_eq!(count_tokens("Hello, world!", Encoding::O200k), 4);
/// ```
pub fn count_tokens(text: &str, encoding: Encoding) -> usize {
    if text.len() < PARALLEL_EXACT_BYTES {
        return count_serial(text, encoding);
    }
    let chunks: Vec<&str> = safe_chunks(text, EXACT_CHUNK_BYTES).collect();
    chunks
        .par_iter()
        .map(|chunk| count_serial(chunk, encoding))
        .sum()
}

/// [`count_tokens`] on one thread: pre-tokenize, then BPE per piece. A piece that is itself a
/// token is one token (tiktoken's own first check), found by one hash lookup instead of the
/// BPE encoder's automaton walk and two allocations; most words of most texts are.
pub fn count_serial(text: &str, encoding: Encoding) -> usize {
    let tokenizer = encoding.tokenizer();
    let vocabulary = encoding.vocabulary();
    tokenizer
        .split(text)
        .map(|piece| {
            let piece = piece.as_bytes();
            if vocabulary.contains(piece) {
                1
            } else {
                tokenizer.bpe.count(piece)
            }
        })
        .sum()
}

/// Texts this long are cut into chunks of about [`EXACT_CHUNK_BYTES`] counted in parallel.
const PARALLEL_EXACT_BYTES: usize = 256 << 10;
const EXACT_CHUNK_BYTES: usize = 64 << 10;

/// Cuts `text` into pieces of about `size` bytes whose token counts add up to the whole's.
///
/// A cut goes between an ASCII letter or digit and an ASCII whitespace byte. Both encodings'
/// pre-tokenizers end a piece there: a letter or digit lies in a letter piece (letters and
/// marks, an optional non-letter first, an optional `'s`-style suffix) or a number piece, and
/// neither takes whitespace after its first character. The pre-tokenizer matches each piece
/// on the rest of the text only, so the pieces after the cut are the same; a chunk ending in a
/// letter or digit gives the end-of-text patterns (`\s+$`) nothing to match. BPE then runs per
/// piece, so counts add. A text without such a place (one long "word") stays whole.
fn safe_chunks(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let from = (start + size).min(bytes.len());
        let cut = (from..bytes.len())
            .find(|&at| bytes[at].is_ascii_whitespace() && bytes[at - 1].is_ascii_alphanumeric())
            .unwrap_or(bytes.len());
        let chunk = &text[start..cut];
        start = cut;
        Some(chunk)
    })
}

/// The estimator: a fitted weighted sum of character-class counts, never below zero.
///
/// ```
/// use ravelin::tokens::{estimate_fast, Encoding};
/// let text = "The quick brown fox jumps over the lazy dog. ".repeat(40);
/// let estimate = estimate_fast(&text, Encoding::O200k) as f64;
/// assert!((estimate / 400.0 - 1.0).abs() < 0.15);
/// ```
pub fn estimate_fast(text: &str, encoding: Encoding) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    Features::of(text).dot(encoding.weights()).max(1.0)
}

/// The count [`Mode`] asks for, before any model factor or margin.
pub fn count_with_mode(text: &str, encoding: Encoding, mode: Mode) -> f64 {
    let exact = match mode {
        Mode::Exact => true,
        Mode::Fast => false,
        Mode::Auto => is_short(text),
    };
    if exact {
        count_tokens(text, encoding) as f64
    } else {
        estimate_fast(text, encoding)
    }
}

fn is_short(text: &str) -> bool {
    // Fewer bytes than the limit means fewer characters; past 4 bytes per character, more.
    text.len() < AUTO_EXACT_BELOW_CHARS
        || (text.len() < 4 * AUTO_EXACT_BELOW_CHARS
            && text.chars().count() < AUTO_EXACT_BELOW_CHARS)
}

/// What to count with: a model (resolved through the model table) or an explicit encoding.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    pub encoding: Encoding,
    /// The model's correction factor times the caller's safety margin.
    pub scale: f64,
    pub mode: Mode,
}

impl Counter {
    /// Resolves `model` (or uses `encoding` when given: then an unknown model is fine) and
    /// checks `margin`, a safety multiplier within [1, 10].
    pub fn new(model: &str, encoding: Option<Encoding>, mode: Mode, margin: f64) -> Result<Self> {
        if !(margin.is_finite() && (1.0..=10.0).contains(&margin)) {
            return Err(CoreError::argument(
                "margin",
                format!("must be within [1, 10], got {margin}"),
            ));
        }
        let (encoding, factor) = match (encoding, models::lookup(model)) {
            (Some(enc), Ok(m)) => (enc, m.factor),
            (Some(enc), Err(_)) => (enc, 1.0),
            (None, Ok(m)) => (m.encoding, m.factor),
            (None, Err(e)) => return Err(e),
        };
        Ok(Self {
            encoding,
            scale: factor * margin,
            mode,
        })
    }

    /// The token count of one text, rounded up.
    pub fn count(&self, text: &str) -> u64 {
        let raw = count_with_mode(text, self.encoding, self.mode) * self.scale;
        raw.ceil() as u64
    }

    /// Counts many texts in parallel.
    pub fn count_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<u64> {
        texts.par_iter().map(|t| self.count(t.as_ref())).collect()
    }
}

/// Counts `text`'s tokens for `model`; see [`Counter::new`] for the arguments.
///
/// ```
/// use ravelin::tokens::{estimate_tokens, Mode};
/// assert_eq!(estimate_tokens("Hello, world!", "gpt-4o", None, Mode::Auto, 1.0).unwrap(), 4);
/// ```
pub fn estimate_tokens(
    text: &str,
    model: &str,
    encoding: Option<Encoding>,
    mode: Mode,
    margin: f64,
) -> Result<u64> {
    Ok(Counter::new(model, encoding, mode, margin)?.count(text))
}

/// USD for `input_tokens` in and `output_tokens` out, at `price` or else the model's listed one.
///
/// ```
/// use ravelin::tokens::estimate_cost;
/// let usd = estimate_cost("gpt-4o", 1_000_000, 100_000, None).unwrap();
/// assert!((usd - 3.5).abs() < 1e-9);
/// ```
pub fn estimate_cost(
    model: &str,
    input_tokens: u64,
    output_tokens: u64,
    price: Option<Price>,
) -> Result<f64> {
    let price = match price {
        Some(p) => {
            models::check_price(p)?;
            p
        }
        None => models::lookup(model)?.price.ok_or_else(|| {
            CoreError::new(
                ErrorKind::UnknownName,
                format!(
                    "model: no price listed for {:?}; set one with set_price() or pass prices=",
                    model.chars().take(80).collect::<String>()
                ),
            )
        })?,
    };
    Ok((input_tokens as f64 * price.input + output_tokens as f64 * price.output) / 1e6)
}

#[cfg(test)]
mod tests;
