//! Which encoding counts a model's tokens, and what those tokens cost.
//!
//! The table ships as data (`models.json`, with its price date) and can be extended or
//! overridden at run time; every process-wide change goes through one lock.

use std::collections::BTreeMap;
use std::sync::{LazyLock, PoisonError, RwLock};

use serde::Deserialize;

use super::Encoding;
use crate::error::{CoreError, ErrorKind, Result};

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
}

/// How to count a model's tokens, and its price when known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    pub encoding: Encoding,
    /// Multiplies the encoding's count, for models whose own tokenizer is not bundled.
    pub factor: f64,
    pub price: Option<Price>,
}

#[derive(Deserialize)]
struct Shipped {
    prices_as_of: String,
    models: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    encoding: String,
    factor: Option<f64>,
    input: Option<f64>,
    output: Option<f64>,
}

static SHIPPED: LazyLock<Shipped> = LazyLock::new(|| {
    serde_json::from_str(include_str!("models.json")).expect("models.json is valid (tested)")
});

static REGISTRY: LazyLock<RwLock<BTreeMap<String, Model>>> = LazyLock::new(|| {
    let table = SHIPPED
        .models
        .iter()
        .map(|(name, e)| {
            let model = Model {
                encoding: Encoding::from_name(&e.encoding).expect("models.json encodings exist"),
                factor: e.factor.unwrap_or(1.0),
                price: e
                    .input
                    .zip(e.output)
                    .map(|(input, output)| Price { input, output }),
            };
            (name.clone(), model)
        })
        .collect();
    RwLock::new(table)
});

/// The date of the shipped price list (`YYYY-MM-DD`).
pub fn prices_as_of() -> &'static str {
    &SHIPPED.prices_as_of
}

/// Resolves a model name: an exact entry, else the longest entry it extends by `-suffix`
/// (`gpt-4o-2024-08-06` is `gpt-4o`, `claude-3-5-sonnet-20241022` is `claude-3-5-sonnet`).
/// A provider prefix (`openai/`) and letter case are ignored.
///
/// ```
/// use ravelin::tokens::{models, Encoding};
/// assert_eq!(models::lookup("GPT-4o-2024-08-06").unwrap().encoding, Encoding::O200k);
/// assert!(models::lookup("no-such-model").is_err());
/// ```
pub fn lookup(name: &str) -> Result<Model> {
    let key = checked_name(name).unwrap_or_default();
    let mut key = key.as_str();
    let table = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(model) = table.get(key) {
            return Ok(*model);
        }
        match key.rfind('-') {
            Some(cut) => key = &key[..cut],
            None => break,
        }
    }
    let known: Vec<&str> = table.keys().map(String::as_str).collect();
    Err(CoreError::new(
        ErrorKind::UnknownName,
        format!(
            "model: unknown model {:?} (pass encoding= to count anyway, or register it); known: {}",
            truncate(name),
            known.join(", ")
        ),
    ))
}

/// Adds or replaces a model's encoding and correction factor, keeping its price if it had one.
pub fn register(name: &str, encoding: Encoding, factor: f64) -> Result<()> {
    let key = checked_name(name)?;
    if !(factor.is_finite() && factor > 0.0 && factor <= 10.0) {
        return Err(CoreError::argument(
            "factor",
            format!("must be within (0, 10], got {factor}"),
        ));
    }
    let mut table = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    let price = table.get(&key).and_then(|m| m.price);
    table.insert(
        key,
        Model {
            encoding,
            factor,
            price,
        },
    );
    Ok(())
}

/// Sets the price of a known model (exact name or one it resolves to) for the whole process.
pub fn set_price(name: &str, price: Price) -> Result<()> {
    check_price(price)?;
    let key = checked_name(name)?;
    let resolved = lookup(&key)?;
    let mut table = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
    table.entry(key).or_insert(resolved).price = Some(price);
    Ok(())
}

/// A snapshot of the whole table, sorted by name.
pub fn table() -> Vec<(String, Model)> {
    let table = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
    table.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// Rejects negative or non-finite prices.
pub fn check_price(price: Price) -> Result<()> {
    for (name, value) in [("input_price", price.input), ("output_price", price.output)] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(CoreError::argument(
                name,
                format!("must be a finite USD amount >= 0, got {value}"),
            ));
        }
    }
    Ok(())
}

/// The table key of a name: lower case, without a provider prefix (as [`lookup`] reads it).
fn checked_name(name: &str) -> Result<String> {
    let lowered = name.trim().to_lowercase();
    let key = lowered.rsplit('/').next().unwrap_or_default().to_owned();
    if key.is_empty() || key.len() > 200 {
        return Err(CoreError::argument(
            "model",
            "must be a non-empty name of at most 200 bytes",
        ));
    }
    Ok(key)
}

/// Error messages quote at most a short prefix of a caller's string.
fn truncate(name: &str) -> String {
    name.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_is_dated() {
        assert!(table().len() > 20);
        assert_eq!(prices_as_of().len(), 10);
    }

    #[test]
    fn dated_and_prefixed_names_resolve_to_their_family() {
        assert_eq!(
            lookup("gpt-4o-mini-2024-07-18").unwrap().encoding,
            Encoding::O200k
        );
        assert_eq!(
            lookup("openai/gpt-3.5-turbo-0125").unwrap().encoding,
            Encoding::Cl100k
        );
        let claude = lookup("claude-3-5-sonnet-20241022").unwrap();
        assert!(claude.factor > 1.0);
        assert!((claude.price.unwrap().output - 15.0).abs() < 1e-12);
        assert!(lookup("claude-9-new").unwrap().price.is_none());
    }

    #[test]
    fn unknown_model_lists_known_names() {
        let err = lookup("zzz-model").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownName);
        assert!(err.message().contains("gpt-4o"));
    }

    #[test]
    fn registered_names_resolve_like_shipped_ones() {
        register("acme/Foo-LLM", Encoding::Cl100k, 1.5).unwrap();
        let m = lookup("foo-llm-2025-01-01").unwrap();
        assert_eq!(m.encoding, Encoding::Cl100k);
        assert!((m.factor - 1.5).abs() < 1e-12);
    }

    #[test]
    fn bad_overrides_are_rejected() {
        assert!(register("x-model", Encoding::O200k, f64::NAN).is_err());
        assert!(register("", Encoding::O200k, 1.0).is_err());
        let bad = Price {
            input: -1.0,
            output: 1.0,
        };
        assert!(set_price("gpt-4o", bad)
            .unwrap_err()
            .message()
            .starts_with("input_price"));
    }
}
