//! Behaviour tables (`tests/data/pii_cases.toml`, also run by pytest) and engine properties.

use std::fmt::Write as _;

use super::*;

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    text: String,
    found: Vec<(String, String)>,
}

#[test]
fn behaviour_table() {
    let cases: Cases = toml::from_str(include_str!("../../tests/data/pii_cases.toml")).unwrap();
    let detector = Detector::builtin();
    let mut failures = Vec::new();
    for c in &cases.case {
        let got: Vec<(String, String)> = detector
            .detect(&c.text, None)
            .unwrap()
            .into_iter()
            .map(|f| (f.entity_type, c.text[f.start..f.end].to_owned()))
            .collect();
        if got != c.found {
            failures.push(format!("{}: want {:?}, got {:?}", c.name, c.found, got));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.case.len(),
        failures.join("\n")
    );
}

#[test]
fn unknown_entity_lists_known_names() {
    let err = Detector::builtin()
        .detect("x", Some(&["NOPE".into()]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownName);
    assert!(err.message().contains("EMAIL_ADDRESS"));
}

#[test]
fn many_emails_and_a_long_base64_line_stay_linear() {
    let mut emails = String::new();
    for i in 0..100_000 {
        let _ = write!(emails, "user{i}@example.com ");
    }
    assert_eq!(
        Detector::builtin().detect(&emails, None).unwrap().len(),
        100_000
    );
    let blob: String = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        .repeat(100_000);
    assert!(Detector::builtin().detect(&blob, None).unwrap().is_empty());
}

#[test]
fn custom_entity_with_validator_and_allow_list() {
    let rec = Recognizer::custom(
        "EMPLOYEE_ID",
        r"\bEMP-\d{6}\b",
        None,
        vec!["employee".into()],
        0.6,
    )
    .unwrap();
    let d = Detector::builtin()
        .configured(None, vec![rec], vec!["EMP-000001".into()], None)
        .unwrap();
    let found = d
        .detect("employee EMP-123456 and EMP-000001", None)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].entity_type, "EMPLOYEE_ID");
    let bad = Recognizer::custom("X", "(", None, vec![], 0.5).unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidRule);
    let unknown = Recognizer::custom("X", "x", Some("nope"), vec![], 0.5).unwrap_err();
    assert!(unknown.message().contains("luhn"));
}

#[test]
fn operators_rewrite_spans() {
    let text = "card 4111 1111 1111 1111, mail ana@example.org";
    let found = Detector::builtin().detect(text, None).unwrap();
    let vault = Arc::new(Vault::new());
    let ops = |op, salt| Operators::new(op, vec![], 4, salt, Some(vault.clone())).unwrap();
    assert_eq!(
        redact(text, &found, &ops(Operator::Replace, None)),
        "card <CREDIT_CARD>, mail <EMAIL_ADDRESS>"
    );
    assert_eq!(
        redact(text, &found, &ops(Operator::Remove, None)),
        "card , mail "
    );
    assert_eq!(
        redact(text, &found, &ops(Operator::Mask, None)),
        "card ***************1111, mail ***********.org"
    );
    let h1 = redact(text, &found, &ops(Operator::Hash, Some("s1")));
    assert_eq!(h1, redact(text, &found, &ops(Operator::Hash, Some("s1"))));
    assert_ne!(h1, redact(text, &found, &ops(Operator::Hash, Some("s2"))));
    assert!(
        h1.starts_with("card <CREDIT_CARD_")
            && h1.len() == "card <CREDIT_CARD_123456>, mail <EMAIL_ADDRESS_123456>".len()
    );
    let p = redact(text, &found, &ops(Operator::Pseudonymize, None));
    assert_eq!(p, "card <CREDIT_CARD_1>, mail <EMAIL_ADDRESS_1>");
    assert_eq!(
        vault.restore("Sent to [email_address_1] from <Credit_Card_1>."),
        "Sent to [ana@example.org] from 4111 1111 1111 1111."
    );
}

#[test]
fn no_panic_on_odd_input() {
    for text in [
        "",
        "\0",
        "\u{fffd}\u{fffd}",
        "-----BEGIN",
        "+",
        "@",
        "a@",
        "::",
        "eyJ.eyJ.",
        "\0@\0.com",
    ] {
        let _ = Detector::builtin().detect(text, None).unwrap();
    }
}
