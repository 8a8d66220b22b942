//! Exact counts against tiktoken's (recorded in `tests/data/tokens_exact.json` by
//! `tools/fit_tokens.py --cases`), the estimator's sanity, and hostile input.

use super::*;

#[derive(serde::Deserialize)]
struct Case {
    text: String,
    o200k_base: usize,
    cl100k_base: usize,
}

fn cases() -> Vec<Case> {
    serde_json::from_str(include_str!("../../tests/data/tokens_exact.json")).unwrap()
}

#[test]
fn exact_counts_match_tiktoken() {
    let cases = cases();
    assert!(cases.len() >= 20);
    for case in cases {
        assert_eq!(
            count_tokens(&case.text, Encoding::O200k),
            case.o200k_base,
            "{:?}",
            case.text
        );
        assert_eq!(
            count_tokens(&case.text, Encoding::Cl100k),
            case.cl100k_base,
            "{:?}",
            case.text
        );
    }
}

#[test]
fn auto_is_exact_on_short_texts() {
    for case in cases()
        .iter()
        .filter(|c| c.text.chars().count() < AUTO_EXACT_BELOW_CHARS)
    {
        let n = estimate_tokens(&case.text, "gpt-4", None, Mode::Auto, 1.0).unwrap();
        assert_eq!(n, case.cl100k_base as u64);
    }
}

#[test]
fn estimator_is_close_on_long_prose_code_and_cjk() {
    let texts = [
        "Budgets hinge on knowing how many tokens a request will cost. ".repeat(60),
        "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * 2).collect();\n}\n".repeat(40),
        "東京都は日本の首都であり、世界最大の都市圏の一つです。".repeat(60),
    ];
    for text in &texts {
        for enc in Encoding::ALL {
            let exact = count_tokens(text, enc) as f64;
            let estimate = estimate_fast(text, enc);
            assert!(
                (estimate / exact - 1.0).abs() < 0.2,
                "{enc:?} {estimate} vs {exact}"
            );
        }
    }
}

#[test]
fn margin_and_factor_scale_the_count() {
    let text = "a few words of text";
    let plain = estimate_tokens(text, "gpt-4o", None, Mode::Exact, 1.0).unwrap();
    let padded = estimate_tokens(text, "gpt-4o", None, Mode::Exact, 1.5).unwrap();
    assert_eq!(padded, (plain as f64 * 1.5).ceil() as u64);
    let claude = estimate_tokens(text, "claude-sonnet-4", None, Mode::Exact, 1.0).unwrap();
    assert!(claude > estimate_tokens(text, "gpt-4", None, Mode::Exact, 1.0).unwrap());
}

#[test]
fn bad_arguments_name_themselves() {
    assert_eq!(
        Mode::from_name("slow")
            .unwrap_err()
            .message()
            .split(':')
            .next(),
        Some("mode")
    );
    let err = Counter::new("gpt-4o", None, Mode::Auto, 0.5).unwrap_err();
    assert!(err.message().starts_with("margin"));
    let err = Counter::new("my-model", None, Mode::Auto, 1.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownName);
    assert!(Counter::new("my-model", Some(Encoding::O200k), Mode::Auto, 1.0).is_ok());
    assert!(Encoding::from_name("p50k").is_err());
}

#[test]
fn hostile_text_counts_in_linear_time() {
    assert_eq!(count_tokens("", Encoding::O200k), 0);
    assert!(estimate_fast("", Encoding::O200k).abs() < f64::EPSILON);
    let nul = "\0".repeat(1000);
    assert!(count_tokens(&nul, Encoding::Cl100k) > 0);
    // One 1 MB "word" of random-looking letters: a single pre-token, the BPE worst case.
    let word: String = (0..1_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    let exact = count_tokens(&word, Encoding::O200k) as f64;
    assert!((estimate_fast(&word, Encoding::O200k) / exact - 1.0).abs() < 0.5);
}

#[test]
fn batch_equals_one_by_one() {
    let counter = Counter::new("gpt-4o", None, Mode::Auto, 1.0).unwrap();
    let texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    let one: Vec<u64> = texts.iter().map(|t| counter.count(t)).collect();
    assert_eq!(counter.count_batch(&texts), one);
}

#[test]
fn cost_uses_the_table_or_the_given_price() {
    let listed = estimate_cost("gpt-4o-mini", 2_000_000, 1_000_000, None).unwrap();
    assert!((listed - (2.0 * 0.15 + 0.6)).abs() < 1e-12);
    let given = Price {
        input: 1.0,
        output: 2.0,
    };
    assert!((estimate_cost("anything", 1_000_000, 0, Some(given)).unwrap() - 1.0).abs() < 1e-12);
    assert!(estimate_cost("claude", 1, 1, None).is_err());
}

#[test]
fn long_texts_are_counted_in_parallel_chunks_that_add_up() {
    let unit: String = cases().into_iter().map(|c| c.text + "\n").collect();
    let text = unit.repeat((3 << 20) / unit.len() + 1);
    let chunks: Vec<&str> = safe_chunks(&text, 64 << 10).collect();
    assert!(chunks.len() > 40);
    assert_eq!(chunks.concat(), text);
    for enc in Encoding::ALL {
        let whole = enc.tokenizer().count(&text);
        assert_eq!(count_tokens(&text, enc), whole);
        assert_eq!(count_serial(&text, enc), whole);
    }
}

#[test]
fn every_cut_place_is_a_piece_boundary() {
    // Cut at every place the rule allows (contractions, marks, CRLF, trailing spaces and
    // scripts included): the pieces must add up to the whole text's count, case by case.
    let mut texts: Vec<String> = cases().into_iter().map(|c| c.text).collect();
    texts.push("it's  ok \r\n x\u{301} 12 345\t\u{b}a \n\n  b1 \u{3000}z  ".repeat(3));
    for text in &texts {
        let chunks: Vec<&str> = safe_chunks(text, 1).collect();
        assert_eq!(chunks.concat(), *text);
        for enc in Encoding::ALL {
            let parts: usize = chunks.iter().map(|c| enc.tokenizer().count(c)).sum();
            assert_eq!(parts, enc.tokenizer().count(text), "{enc:?} {text:?}");
        }
    }
}
