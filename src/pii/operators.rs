//! Redaction operators: how each detected span is rewritten.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{Finding, Vault};
use crate::error::{CoreError, ErrorKind, Result};

pub const OPERATOR_NAMES: &[&str] = &["replace", "mask", "hash", "remove", "pseudonymize"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `<EMAIL_ADDRESS>`
    Replace,
    /// `*****1234`: keeps the last `keep` characters.
    Mask,
    /// `<EMAIL_ADDRESS_3f2a9c>`: a salted SHA-256 pseudonym, stable for one salt.
    Hash,
    /// Deletes the value.
    Remove,
    /// `<EMAIL_ADDRESS_1>`, reversible through the [`Vault`].
    Pseudonymize,
}

impl Operator {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "replace" => Self::Replace,
            "mask" => Self::Mask,
            "hash" => Self::Hash,
            "remove" => Self::Remove,
            "pseudonymize" => Self::Pseudonymize,
            _ => {
                return Err(CoreError::new(
                    ErrorKind::UnknownName,
                    format!(
                        "operator: unknown operator {name:?}; known: {}",
                        OPERATOR_NAMES.join(", ")
                    ),
                ))
            }
        })
    }
}

/// Operators per entity type, with the parameters they need.
#[derive(Debug, Clone)]
pub struct Operators {
    default: Operator,
    by_entity: HashMap<String, Operator>,
    keep: usize,
    salt: Vec<u8>,
    vault: Option<Arc<Vault>>,
}

/// 128 bits from the OS-seeded hasher keys: a salt no other process shares, so `hash`
/// tokens cannot be precomputed for low-entropy values (SSNs) unless the caller fixes a salt.
fn process_salt() -> Vec<u8> {
    let mut salt = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        salt.extend_from_slice(&h.finish().to_le_bytes());
    }
    salt
}

static PROCESS_SALT: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(process_salt);

impl Operators {
    /// `default` for every entity type, `by_entity` overriding it per type.
    ///
    /// ```
    /// use ravelin::pii::{Operator, Operators};
    /// let ops = Operators::new(Operator::Replace, vec![("CREDIT_CARD".into(), Operator::Mask)], 4, None, None).unwrap();
    /// assert_eq!(ops.apply("CREDIT_CARD", "4111111111111111"), "************1111");
    /// ```
    pub fn new(
        default: Operator,
        by_entity: Vec<(String, Operator)>,
        keep: usize,
        salt: Option<&str>,
        vault: Option<Arc<Vault>>,
    ) -> Result<Self> {
        let by_entity: HashMap<String, Operator> = by_entity.into_iter().collect();
        let needs_vault = default == Operator::Pseudonymize
            || by_entity.values().any(|o| *o == Operator::Pseudonymize);
        if needs_vault && vault.is_none() {
            return Err(CoreError::argument(
                "vault",
                "operator \"pseudonymize\" needs a Vault",
            ));
        }
        let salt = salt.map_or_else(|| PROCESS_SALT.clone(), |s| s.as_bytes().to_vec());
        Ok(Self {
            default,
            by_entity,
            keep,
            salt,
            vault,
        })
    }

    /// Every entity replaced by `<TYPE>`.
    pub fn replace() -> Self {
        Self {
            default: Operator::Replace,
            by_entity: HashMap::new(),
            keep: 4,
            salt: Vec::new(),
            vault: None,
        }
    }

    pub fn entity_types(&self) -> impl Iterator<Item = &str> {
        self.by_entity.keys().map(String::as_str)
    }

    /// The replacement for one value of `entity`.
    pub fn apply(&self, entity: &str, value: &str) -> String {
        match self.by_entity.get(entity).copied().unwrap_or(self.default) {
            Operator::Replace => format!("<{entity}>"),
            Operator::Remove => String::new(),
            Operator::Mask => {
                let n = value.chars().count();
                let hidden = n.saturating_sub(self.keep);
                let mut out: String = "*".repeat(hidden);
                out.extend(value.chars().skip(hidden));
                out
            }
            Operator::Hash => {
                let mut h = Sha256::new();
                h.update(&self.salt);
                h.update([0]);
                h.update(entity.as_bytes());
                h.update([0]);
                h.update(value.as_bytes());
                let digest = h.finalize();
                let mut out = format!("<{entity}_");
                for b in &digest[..3] {
                    let _ = write!(out, "{b:02x}");
                }
                out.push('>');
                out
            }
            Operator::Pseudonymize => match &self.vault {
                Some(v) => v.token_for(entity, value),
                // `new` refuses this combination; replacing is the safe answer regardless.
                None => format!("<{entity}>"),
            },
        }
    }
}

/// Rewrites `text` with each finding (sorted, non-overlapping) replaced by its operator.
pub fn redact(text: &str, findings: &[Finding], ops: &Operators) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.start]);
        out.push_str(&ops.apply(&f.entity_type, &text[f.start..f.end]));
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}
