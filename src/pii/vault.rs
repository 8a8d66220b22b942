//! The pseudonym vault: reversible tokens (`<EMAIL_ADDRESS_1>`) for redact → LLM → restore.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use regex::Regex;

/// A token as a model may echo it: any case, with or without its angle brackets
/// (`<EMAIL_ADDRESS_1>`, `email_address_1`, `[Email_Address_1]`).
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)(<)?\b([a-z][a-z0-9_]*?)_(\d{1,9})\b(>)?").expect("static pattern compiles")
});

#[derive(Debug, Default)]
struct Inner {
    /// (entity, value) -> token number
    numbers: HashMap<(String, String), usize>,
    /// (entity, number) -> value
    values: HashMap<(String, usize), String>,
    next: HashMap<String, usize>,
}

/// Thread-safe map between values and tokens; the same value always gets the same token.
#[derive(Debug, Default)]
pub struct Vault {
    inner: Mutex<Inner>,
}

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    /// The token for `value` of `entity`, allocating the next number on first sight.
    ///
    /// ```
    /// let v = ravelin::pii::Vault::new();
    /// let t = v.token_for("EMAIL_ADDRESS", "ana@example.org");
    /// assert_eq!(t, "<EMAIL_ADDRESS_1>");
    /// assert_eq!(v.restore("Write to email_address_1."), "Write to ana@example.org.");
    /// ```
    pub fn token_for(&self, entity: &str, value: &str) -> String {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (entity.to_owned(), value.to_owned());
        let n = if let Some(&n) = inner.numbers.get(&key) {
            n
        } else {
            let next = inner.next.entry(entity.to_owned()).or_insert(0);
            *next += 1;
            let n = *next;
            inner.numbers.insert(key, n);
            inner
                .values
                .insert((entity.to_owned(), n), value.to_owned());
            n
        };
        format!("<{entity}_{n}>")
    }

    /// Replaces every known token in `text` with its original value. Unknown tokens and
    /// surrounding punctuation are left as they are; the token's own brackets are consumed.
    pub fn restore(&self, text: &str) -> String {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.values.is_empty() {
            return text.to_owned();
        }
        TOKEN
            .replace_all(text, |caps: &regex::Captures<'_>| {
                let entity = caps[2].to_ascii_uppercase();
                let value = caps[3]
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| inner.values.get(&(entity, n)));
                match value {
                    Some(v) => {
                        // Keep a lone bracket the model added on one side only.
                        let open = if caps.get(1).is_some() && caps.get(4).is_none() {
                            "<"
                        } else {
                            ""
                        };
                        let close = if caps.get(4).is_some() && caps.get(1).is_none() {
                            ">"
                        } else {
                            ""
                        };
                        format!("{open}{v}{close}")
                    }
                    None => caps[0].to_owned(),
                }
            })
            .into_owned()
    }

    /// Number of distinct values held.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every value.
    pub fn clear(&self) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = Inner::default();
    }
}
