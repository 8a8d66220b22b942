//! Digit regions: where number-shaped entities (phones, cards, SSNs, IPs, IBANs, bitcoin
//! addresses) can be.
//!
//! Prose is mostly letters; instead of running five digit-led regexes over all of it, they run
//! only over the few windows around digit runs. Windows keep a margin on both sides so the
//! regexes see the `+`, `(` or country letters that lead a number, and validators and context
//! scoring always look at the whole text, so nothing near an edge is judged differently.

use std::ops::Range;

/// Digits closer than this belong to one region (a number grouped by separators).
const GAP: usize = 24;
/// Bytes kept on each side of a region's first and last digit: enough for the letters of
/// an IBAN's country code, or of a base58 address or IPv6 group after its last digit.
const MARGIN: usize = 40;

/// Byte ranges (on char boundaries, sorted, disjoint) covering every ASCII digit of `text`.
pub fn regions(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(u8::is_ascii_digit) {
        let first = i + off;
        let mut last = first;
        let mut j = first + 1;
        while j < bytes.len() && j - last <= GAP {
            if bytes[j].is_ascii_digit() {
                last = j;
            }
            j += 1;
        }
        let mut start = first.saturating_sub(MARGIN);
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (last + 1 + MARGIN).min(bytes.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match out.last_mut() {
            Some(prev) if prev.end >= start => prev.end = end,
            _ => out.push(start..end),
        }
        i = last + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::regions;

    #[test]
    fn groups_numbers_and_keeps_margins() {
        let text = format!(
            "no digits, then call +44 20 7946 0958 and {} on 5 é",
            "much later ".repeat(12)
        );
        let r = regions(&text);
        assert_eq!(r.len(), 2);
        assert!(text[r[0].clone()].contains("+44 20 7946 0958"));
        assert!(text[r[1].clone()].contains('5'));
        assert!(regions("plain words only").is_empty());
    }
}
