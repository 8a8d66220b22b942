//! API keys: generation with a checksum, digests for storage, constant-time verification and
//! masks for logs.
//!
//! A key is `PREFIX_BODYCHECK`: `PREFIX` is lowercase ASCII (`rk_live`, `rk_test`, ...), `BODY`
//! is 33 base62 characters from the OS CSPRNG (196 bits) and `CHECK` is the CRC32 of
//! `PREFIX_BODY` in 6 zero-padded base62 characters, as in GitHub's token format. The checksum
//! lets a typo or a random string be rejected without touching storage, and gives secret
//! scanners a precise pattern: `rk_(live|test)_[0-9A-Za-z]{39}`.
//!
//! ```
//! let key = ravelin::keys::generate_key("rk_live").unwrap();
//! assert!(ravelin::keys::check_key_format(&key));
//! let digest = ravelin::keys::hash_key(&key, None).unwrap();
//! assert!(ravelin::keys::verify_key(&key, &digest, None).unwrap());
//! ```

use hmac::{Hmac, Mac};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{CoreError, ErrorKind, Result};

/// The prefix of live keys.
pub const DEFAULT_PREFIX: &str = "rk_live";
/// The longest accepted prefix.
pub const MAX_PREFIX_LEN: usize = 32;
/// Random base62 characters per key: 33 * log2(62) = 196.5 bits.
const BODY_LEN: usize = 33;
/// CRC32 in base62: 62^6 > 2^32.
const CHECKSUM_LEN: usize = 6;
/// The longest well-formed key.
pub const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + 1 + BODY_LEN + CHECKSUM_LEN;
/// The longest string `hash_key` accepts: room for keys issued by other systems, not megabytes.
pub const MAX_HASH_INPUT_LEN: usize = 256;
/// Characters shown from each end of a key body by `mask_key`.
const MASK_HEAD: usize = 3;
const MASK_TAIL: usize = 4;
/// Non-key strings shorter than this are masked to the ellipsis alone.
const MASK_MIN_OTHER_LEN: usize = 20;
const ELLIPSIS: char = '\u{2026}';
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Domain separation, so a key id reveals nothing about the stored digest.
const KEY_ID_DOMAIN: &[u8] = b"ravelin key id\0";

/// Checks a key prefix: 1 to 32 lowercase ASCII letters, digits and underscores, starting with
/// a letter and not ending with an underscore.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let problem = if prefix.is_empty() || prefix.len() > MAX_PREFIX_LEN {
        Some(format!("must be 1 to {MAX_PREFIX_LEN} characters long"))
    } else if !prefix.bytes().all(is_prefix_byte) {
        Some("may contain only lowercase ASCII letters, digits and underscores".to_owned())
    } else if !prefix.as_bytes()[0].is_ascii_lowercase() || prefix.ends_with('_') {
        Some("must start with a letter and not end with an underscore".to_owned())
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(CoreError::argument("prefix", p)))
}

fn is_prefix_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

fn is_valid_prefix(prefix: &[u8]) -> bool {
    std::str::from_utf8(prefix).is_ok_and(|p| validate_prefix(p).is_ok())
}

/// A new key with `prefix`, its body drawn from the operating system's CSPRNG.
///
/// Fails on a bad prefix, or if the OS random source is unavailable (a broken sandbox without
/// `getrandom(2)` or `/dev/urandom`); never falls back to a weaker source.
pub fn generate_key(prefix: &str) -> Result<String> {
    validate_prefix(prefix)?;
    let mut key = String::with_capacity(prefix.len() + 1 + BODY_LEN + CHECKSUM_LEN);
    key.push_str(prefix);
    key.push('_');
    let mut random = [0u8; 64];
    let mut body = 0;
    while body < BODY_LEN {
        // The core's error kinds describe bad input; this is the closest (and never expected).
        getrandom::fill(&mut random).map_err(|e| {
            CoreError::new(
                ErrorKind::InvalidArgument,
                format!("generate_key: the OS random source failed: {e}"),
            )
        })?;
        // Rejection sampling: 248 = 4 * 62, so `b % 62` is uniform for b < 248.
        for &b in random.iter().filter(|&&b| b < 248).take(BODY_LEN - body) {
            key.push(char::from(BASE62[usize::from(b % 62)]));
            body += 1;
        }
    }
    let checksum = checksum(key.as_bytes());
    key.push_str(std::str::from_utf8(&checksum).unwrap_or_default());
    Ok(key)
}

/// CRC32 of `prefix_body` as 6 base62 digits, most significant first.
fn checksum(prefix_and_body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut value = crc32fast::hash(prefix_and_body);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// The prefix of a well-formed key (right shape, valid prefix, matching checksum), else `None`.
pub fn key_prefix(key: &str) -> Option<&str> {
    let bytes = key.as_bytes();
    if bytes.len() > MAX_KEY_LEN || bytes.len() < 2 + BODY_LEN + CHECKSUM_LEN {
        return None;
    }
    let checksum_at = bytes.len() - CHECKSUM_LEN;
    let body_at = checksum_at - BODY_LEN;
    let prefix = &bytes[..body_at - 1];
    let well_formed = bytes[body_at - 1] == b'_'
        && is_valid_prefix(prefix)
        && bytes[body_at..].iter().all(u8::is_ascii_alphanumeric)
        && checksum(&bytes[..checksum_at])[..] == bytes[checksum_at..];
    if well_formed {
        key.get(..body_at - 1)
    } else {
        None
    }
}

/// True when `key` has a valid prefix, a base62 body of the right length and a matching
/// checksum. No storage is touched: this rejects typos and random strings cheaply.
pub fn check_key_format(key: &str) -> bool {
    key_prefix(key).is_some()
}

fn check_hash_input(key: &str) -> Result<()> {
    if key.is_empty()
        || key.len() > MAX_HASH_INPUT_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CoreError::argument(
            "key",
            format!("must be 1 to {MAX_HASH_INPUT_LEN} printable ASCII characters"),
        ));
    }
    Ok(())
}

fn check_pepper(pepper: Option<&[u8]>) -> Result<()> {
    match pepper {
        Some([]) => Err(CoreError::argument("pepper", "must not be empty")),
        _ => Ok(()),
    }
}

fn digest_bytes(key: &str, pepper: Option<&[u8]>) -> [u8; 32] {
    match pepper {
        Some(pepper) => {
            // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
            let mut mac = Hmac::<Sha256>::new_from_slice(pepper)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(key.as_bytes());
            mac.finalize().into_bytes().into()
        }
        None => Sha256::digest(key.as_bytes()).into(),
    }
}

/// The digest to store for `key`: SHA-256, or HMAC-SHA256 keyed by a server-side `pepper` so a
/// stolen table cannot be checked offline. Lowercase hex, 64 characters.
pub fn hash_key(key: &str, pepper: Option<&[u8]>) -> Result<String> {
    check_hash_input(key)?;
    check_pepper(pepper)?;
    Ok(format!(
        "{:x}",
        GenericArray::from(digest_bytes(key, pepper))
    ))
}

/// True when `key` hashes to `digest` (hex, either case), compared in constant time. A key
/// `hash_key` would refuse or a digest that is not 64 hex characters gives `false`; only an
/// empty pepper is an error, since it is a configuration mistake.
pub fn verify_key(key: &str, digest: &str, pepper: Option<&[u8]>) -> Result<bool> {
    check_pepper(pepper)?;
    let (Ok(()), Some(expected)) = (check_hash_input(key), from_hex(digest)) else {
        return Ok(false);
    };
    Ok(bool::from(digest_bytes(key, pepper).ct_eq(&expected)))
}

/// A log-safe form of `key`: `rk_live_AbC…xYz9` for a well-formed key (7 of its 39 random and
/// checksum characters). Anything else shows at most its last 4 ASCII alphanumerics, and only
/// when it is long enough for those to be a small part of it.
pub fn mask_key(key: &str) -> String {
    if let Some(prefix) = key_prefix(key) {
        let rest = &key[prefix.len() + 1..];
        return format!(
            "{prefix}_{}{ELLIPSIS}{}",
            &rest[..MASK_HEAD],
            &rest[rest.len() - MASK_TAIL..]
        );
    }
    let tail = key
        .len()
        .checked_sub(MASK_TAIL)
        .and_then(|at| key.get(at..));
    match tail {
        Some(tail)
            if key.chars().count() >= MASK_MIN_OTHER_LEN
                && tail.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!("{ELLIPSIS}{tail}")
        }
        _ => ELLIPSIS.to_string(),
    }
}

/// A short, non-secret id for the key stored under `digest`, for logs, URLs and lookups:
/// `key_` + 16 hex characters (64 bits) of a domain-separated hash of the digest.
pub fn key_id(digest: &str) -> Result<String> {
    let digest = from_hex(digest).ok_or_else(|| {
        CoreError::argument(
            "digest",
            "must be 64 hexadecimal characters (a hash_key result)",
        )
    })?;
    let id = Sha256::new()
        .chain_update(KEY_ID_DOMAIN)
        .chain_update(digest)
        .finalize();
    Ok(format!("key_{}", to_hex(&id[..8])))
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Decodes a 64-character hex digest; `None` for any other input.
fn from_hex(digest: &str) -> Option<[u8; 32]> {
    let digits = digest.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *byte = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_matches_scanner_pattern(key: &str) -> bool {
        let re = regex::Regex::new(r"^rk_(live|test)_[0-9A-Za-z]{39}$").unwrap();
        re.is_match(key)
    }

    #[test]
    fn generated_keys_are_well_formed_unique_and_scanner_shaped() {
        let a = generate_key(DEFAULT_PREFIX).unwrap();
        let b = generate_key("rk_test").unwrap();
        assert_ne!(a, generate_key(DEFAULT_PREFIX).unwrap());
        assert!(check_key_format(&a) && check_key_format(&b));
        assert!(shape_matches_scanner_pattern(&a) && shape_matches_scanner_pattern(&b));
        assert_eq!(key_prefix(&b), Some("rk_test"));
        let custom = generate_key("acme_prod2").unwrap();
        assert_eq!(key_prefix(&custom), Some("acme_prod2"));
    }

    #[test]
    fn body_characters_cover_the_alphabet() {
        // 40 keys give 1320 body characters; missing one of 62 symbols would mean a biased
        // sampler (chance of a miss for a uniform one is below 1e-7).
        let mut seen = [false; 128];
        for _ in 0..40 {
            let key = generate_key("rk").unwrap();
            for b in key[3..3 + BODY_LEN].bytes() {
                seen[usize::from(b)] = true;
            }
        }
        assert!(BASE62.iter().all(|&c| seen[usize::from(c)]));
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let key = generate_key(DEFAULT_PREFIX).unwrap();
        for at in 0..key.len() {
            for &c in BASE62.iter().chain(b"_") {
                let mut typo = key.clone().into_bytes();
                if typo[at] == c {
                    continue;
                }
                typo[at] = c;
                let typo = String::from_utf8(typo).unwrap();
                assert!(!check_key_format(&typo), "typo at {at} accepted");
            }
        }
    }

    #[test]
    fn bad_prefixes_are_refused_with_the_argument_named() {
        for bad in [
            "",
            "RK_live",
            "rk-live",
            "_rk",
            "rk_",
            "1rk",
            "ключ",
            &"a".repeat(33),
        ] {
            let err = generate_key(bad).unwrap_err();
            assert!(err.message().starts_with("prefix: "), "{bad}: {err}");
        }
        assert!(validate_prefix(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn malformed_keys_are_rejected_without_panicking() {
        let key = generate_key(DEFAULT_PREFIX).unwrap();
        let huge = "a".repeat(1 << 20);
        let cases = [
            String::new(),
            "_".repeat(40),
            huge,
            key[1..].to_owned(),
            format!("{key}0"),
            key.replace("rk_live_", "rk_live-"),
            format!("é{}", &key[2..]),
            format!("{}é", &key[..key.len() - 2]),
            key.replacen("rk_live", "RK_LIVE", 1),
        ];
        for case in &cases {
            assert!(!check_key_format(case));
            let _ = mask_key(case);
        }
    }

    #[test]
    fn digests_match_sha256_and_hmac_and_verify_in_either_case() {
        let key = "rk_live_example";
        assert_eq!(
            hash_key(key, None).unwrap(),
            format!("{:x}", Sha256::digest(key))
        );
        let peppered = hash_key(key, Some(b"pepper")).unwrap();
        assert_ne!(peppered, hash_key(key, None).unwrap());
        assert!(verify_key(key, &peppered, Some(b"pepper")).unwrap());
        assert!(verify_key(key, &peppered.to_uppercase(), Some(b"pepper")).unwrap());
        assert!(!verify_key(key, &peppered, Some(b"other")).unwrap());
        assert!(!verify_key(key, &peppered, None).unwrap());
        assert!(!verify_key("rk_live_examplf", &peppered, Some(b"pepper")).unwrap());
    }

    #[test]
    fn hashing_refuses_what_no_key_looks_like() {
        for bad in ["", "has space", "tab\there", "é", &"k".repeat(257)] {
            let err = hash_key(bad, None).unwrap_err();
            assert!(err.message().starts_with("key: "));
            assert!(!verify_key(bad, &"0".repeat(64), None).unwrap());
        }
        assert!(hash_key("k", Some(b""))
            .unwrap_err()
            .message()
            .starts_with("pepper: "));
        let digest = hash_key("k", None).unwrap();
        for bad in ["", "zz", &digest[1..], &format!("{}g", &digest[1..])] {
            assert!(!verify_key("k", bad, None).unwrap());
        }
    }

    #[test]
    fn masks_show_the_prefix_and_a_few_characters_only() {
        let key = generate_key(DEFAULT_PREFIX).unwrap();
        let mask = mask_key(&key);
        assert_eq!(
            mask,
            format!("{}\u{2026}{}", &key[..11], &key[key.len() - 4..])
        );
        let other = "sk-abcdefghijklmnopqrstuvwxyz0123";
        assert_eq!(mask_key(other), "\u{2026}0123");
        for short in ["", "abc", "rk_live_short", "0123456789012345678"] {
            assert_eq!(mask_key(short), "\u{2026}");
        }
        assert_eq!(mask_key("line\nbreak and more text!\n"), "\u{2026}");
    }

    #[test]
    fn key_ids_are_short_stable_and_need_a_digest() {
        let digest = hash_key("k", None).unwrap();
        let id = key_id(&digest).unwrap();
        assert_eq!(id.len(), 4 + 16);
        assert!(id.starts_with("key_"));
        assert_eq!(id, key_id(&digest.to_uppercase()).unwrap());
        assert!(!digest.contains(&id[4..]));
        assert_ne!(id, key_id(&hash_key("l", None).unwrap()).unwrap());
        let err = key_id("not a digest").unwrap_err();
        assert!(err.message().starts_with("digest: "));
    }
}
