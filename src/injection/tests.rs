//! Behaviour tables (`tests/data/injection_cases.toml`) and engine properties.

use serde::Deserialize;

use super::*;

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    flagged: bool,
    #[serde(default)]
    category: Option<String>,
}

#[test]
fn behaviour_table() {
    let cases: Cases = toml::from_str(include_str!("../../tests/data/injection_cases.toml"))
        .expect("cases parse");
    let mut failures = Vec::new();
    for case in &cases.case {
        let r = scan(&case.text);
        let categories: Vec<&str> = r.matches.iter().map(|m| m.category.as_ref()).collect();
        let category_ok = case
            .category
            .as_ref()
            .is_none_or(|c| categories.contains(&c.as_str()));
        if r.flagged != case.flagged || !category_ok {
            failures.push(format!(
                "{:?}: flagged={} score={:.2} {:?}",
                case.text, r.flagged, r.score, r.matches
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
