//! Context enhancement (as Presidio's): words near a candidate raise or lower its score.

use super::recognizers::Recognizer;

/// Scoring knobs read from the rules file.
#[derive(Debug, Clone, Copy)]
pub struct ContextConfig {
    /// How many bytes before the candidate are searched for context words.
    pub window: usize,
    pub boost: f32,
    pub penalty: f32,
}

/// The lower-cased text around a candidate: `size` bytes before it, `size / 4` after it.
/// Returns the window and the length of its part before the candidate.
fn window(text: &str, start: usize, end: usize, size: usize) -> (String, usize) {
    let mut from = start.saturating_sub(size);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let mut to = (end + size / 4).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let mut w = String::with_capacity(to - from + end - start + 1);
    w.push_str(&text[from..start]);
    w.push(' ');
    w.push_str(&text[end..to]);
    w.make_ascii_lowercase();
    (w, start - from)
}

/// The candidate's score after context: +boost if a context word is near it, −penalty if a
/// negative word precedes it more closely than any context word. Negative words count only
/// before the candidate: the next field's label (`Card:` after a phone) says nothing of it.
pub fn score(
    text: &str,
    start: usize,
    end: usize,
    base: f32,
    rec: &Recognizer,
    cfg: ContextConfig,
) -> f32 {
    if rec.context.is_empty() && rec.negative_context.is_empty() {
        return base;
    }
    let (w, before) = window(text, start, end, cfg.window);
    // The nearest label before the candidate decides; a positive word after it also counts.
    let last = |words: &[String], hay: &str| {
        words
            .iter()
            .filter_map(|word| hay.rfind(word.as_str()))
            .max()
    };
    let pos = last(&rec.context, &w[..before]);
    let neg = last(&rec.negative_context, &w[..before]);
    let pos_after = rec
        .context
        .iter()
        .any(|word| w[before..].contains(word.as_str()));
    match (pos, neg) {
        (Some(p), Some(n)) if n > p => base - cfg.penalty,
        (Some(_), _) => (base + cfg.boost).min(1.0),
        (None, Some(_)) if pos_after => base,
        (None, Some(_)) => base - cfg.penalty,
        (None, None) if pos_after => (base + cfg.boost).min(1.0),
        (None, None) => base,
    }
}
