//! Validators: the checks a regex cannot do (checksums, ranges, structure, neighbours).
//!
//! Each takes the whole text and a candidate span (byte offsets) and returns the span to keep
//! (possibly trimmed, with an adjusted score), or `None` to drop the candidate.

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// A candidate: byte offsets into the text and a score in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

pub type Validator = fn(&str, Span) -> Option<Span>;

/// Validators by the name used in rules and in `add_entity(validator=...)`.
pub const VALIDATORS: &[(&str, Validator)] = &[
    ("aws_secret", aws_secret),
    ("base58check", base58check),
    ("bech32", bech32),
    ("connection_url", connection_url),
    ("credit_card", credit_card),
    ("email", email),
    ("iban", iban),
    ("ipv4", ipv4),
    ("ipv6", ipv6),
    ("jwt", jwt),
    ("luhn", luhn_span),
    ("password", password),
    ("phone", phone),
    ("token_boundary", token_boundary),
    ("trim_punctuation", trim_punctuation),
    ("us_ssn", us_ssn),
];

pub fn by_name(name: &str) -> Option<Validator> {
    VALIDATORS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn before(text: &str, at: usize) -> Option<u8> {
    at.checked_sub(1).map(|i| text.as_bytes()[i])
}

fn after(text: &str, at: usize) -> Option<u8> {
    text.as_bytes().get(at).copied()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// True when the span is a fragment of a longer token: glued to a word character, or to a
/// `-`/`.`/`/` that itself continues a word (a UUID group, a digit run inside a hash).
fn embedded(text: &str, s: Span) -> bool {
    glued_left(text, s.start) || glued_right(text, s.end)
}

/// True when `start` follows a literal escape such as `\n` (text pasted from JSON or logs).
fn after_escape(text: &str, start: usize) -> bool {
    let b = text.as_bytes();
    start >= 2 && b[start - 2] == b'\\' && matches!(b[start - 1], b'n' | b't' | b'r')
}

fn glued_left(text: &str, start: usize) -> bool {
    match before(text, start) {
        _ if after_escape(text, start) => false,
        Some(c) if is_word(c) => true,
        Some(b'-' | b'.' | b'/' | b':' | b'+') => start >= 2 && is_word(text.as_bytes()[start - 2]),
        _ => false,
    }
}

fn glued_right(text: &str, end: usize) -> bool {
    let b = text.as_bytes();
    match after(text, end) {
        // `555 1234-Office`: a hyphen and a word label, not a longer token.
        Some(b'-')
            if b.get(end + 1..end + 3)
                .is_some_and(|w| w.iter().all(u8::is_ascii_alphabetic)) =>
        {
            false
        }
        Some(c) if is_word(c) => true,
        Some(b'-' | b'.' | b'/' | b':' | b'+') => {
            text.as_bytes().get(end + 1).is_some_and(|&c| is_word(c))
        }
        _ => false,
    }
}

/// A secret-shaped token must stand alone: not glued to letters, digits, `_` or `-`.
pub fn token_boundary(text: &str, s: Span) -> Option<Span> {
    let glued = |c: Option<u8>| c.is_some_and(|c| is_word(c) || c == b'-');
    (!glued(before(text, s.start)) && !glued(after(text, s.end))).then_some(s)
}

/// Drops trailing sentence punctuation a greedy pattern swallowed (`... db:5432/app.`).
pub fn trim_punctuation(text: &str, mut s: Span) -> Option<Span> {
    while s.end > s.start
        && matches!(
            text.as_bytes()[s.end - 1],
            b'.' | b',' | b';' | b':' | b')' | b']' | b'}' | b'!' | b'?'
        )
    {
        s.end -= 1;
    }
    (s.end > s.start).then_some(s)
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn (mod 10) checksum used by payment cards.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum % 10 == 0
}

fn luhn_span(text: &str, s: Span) -> Option<Span> {
    luhn(&digits(&text[s.start..s.end])).then_some(s)
}

/// Card networks by leading digits and allowed lengths (Visa, Mastercard, Amex, Discover,
/// JCB, Diners, Maestro, `UnionPay`).
fn known_issuer(d: &[u8]) -> bool {
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let len = d.len();
    match d.first() {
        Some(4) => matches!(len, 13 | 16 | 19),
        Some(5) => {
            (51..=55).contains(&prefix(2)) && len == 16
                || prefix(2) == 50
                || (56..=59).contains(&prefix(2))
        }
        Some(2) => {
            (2221..=2720).contains(&prefix(4)) && len == 16 || prefix(4) == 2131 && len == 15
        }
        Some(3) => {
            matches!(prefix(2), 34 | 37) && len == 15
                || (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len)
                || ((300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39))
                    && (14..=19).contains(&len)
        }
        Some(6) => (12..=19).contains(&len),
        // UATP cards are 15 digits starting with 1.
        Some(1) => len == 15,
        _ => false,
    }
}

pub fn credit_card(text: &str, mut s: Span) -> Option<Span> {
    let raw = &text[s.start..s.end];
    if embedded(text, s) || matches!(before(text, s.start), Some(b'+' | b'#' | b'$')) {
        return None;
    }
    let d = digits(raw);
    if !(12..=19).contains(&d.len()) || !luhn(&d) {
        return None;
    }
    // Separators, when present, must be of one kind and form card-like groups.
    let groups: Vec<usize> = raw.split([' ', '-']).map(str::len).collect();
    let uniform = !(raw.contains(' ') && raw.contains('-'));
    let grouped = groups.len() == 1
        || uniform
            && (groups.iter().take(groups.len() - 1).all(|&g| g == 4)
                || groups == [4, 6, 5]
                || groups == [4, 6, 4]);
    if !grouped {
        return None;
    }
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    s.score = if known_issuer(&d) {
        s.score + 0.15
    } else {
        s.score - 0.15
    };
    if groups.len() > 1 {
        s.score += 0.1;
    }
    Some(s)
}

pub fn us_ssn(text: &str, mut s: Span) -> Option<Span> {
    if embedded(text, s) {
        return None;
    }
    let raw = &text[s.start..s.end];
    let d = digits(raw);
    let num = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (area, group, serial) = (num(0..3), num(3..5), num(5..9));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return None;
    }
    // Well-known test numbers are never real.
    if matches!(raw, "123-45-6789" | "078-05-1120" | "219-09-9999") || d.iter().all(|&x| x == d[0])
    {
        return None;
    }
    if raw.len() == 9 {
        // Undashed nine digits are an SSN only when context says so.
        s.score -= 0.25;
    }
    Some(s)
}

/// IBAN length per country (SEPA members and the other ISO 13616 registry countries).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// ISO 7064 mod 97-10 over the rearranged IBAN (letters as 10..35).
fn iban_checksum(compact: &[u8]) -> bool {
    let mut rem = 0u32;
    for &c in compact[4..].iter().chain(&compact[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Takes exactly the country's length of characters (a greedy match may run into the next
/// word) and checks mod 97.
pub fn iban(text: &str, s: Span) -> Option<Span> {
    if glued_left(text, s.start) {
        return None;
    }
    let raw = &text.as_bytes()[s.start..s.end];
    let want = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == &raw[..2])?
        .1;
    let mut compact = Vec::with_capacity(want);
    let mut end = s.start;
    for (i, &c) in raw.iter().enumerate() {
        if compact.len() == want {
            break;
        }
        if c != b' ' {
            compact.push(c);
            end = s.start + i + 1;
        }
    }
    if compact.len() != want || after(text, end).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    iban_checksum(&compact).then_some(Span { end, ..s })
}

pub fn ipv4(text: &str, s: Span) -> Option<Span> {
    let raw = &text[s.start..s.end];
    raw.parse::<Ipv4Addr>().ok()?;
    // `1.2.3.4.5`, `v1.2.3.4`, `1.2.3.4-beta` are versions, not addresses.
    let b = text.as_bytes();
    let left_bad = match before(text, s.start) {
        _ if after_escape(text, s.start) => false,
        Some(b'.') => s.start >= 2 && b[s.start - 2].is_ascii_digit(),
        Some(b'v' | b'V') => true,
        Some(c) => c.is_ascii_alphanumeric(),
        None => false,
    };
    let right_bad = match after(text, s.end) {
        Some(b'.' | b'-') => b.get(s.end + 1).is_some_and(u8::is_ascii_alphanumeric),
        Some(c) => c.is_ascii_alphanumeric(),
        None => false,
    };
    (!left_bad && !right_bad).then_some(s)
}

pub fn ipv6(text: &str, mut s: Span) -> Option<Span> {
    let glued =
        |c: Option<u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == b':' || c == b'_');
    if glued(before(text, s.start)) || glued(after(text, s.end)) {
        return None;
    }
    let raw = &text[s.start..s.end];
    raw.parse::<Ipv6Addr>().ok()?;
    // `::1` alone is too short to matter; times and MACs do not parse at all.
    if raw.bytes().filter(u8::is_ascii_hexdigit).count() < 4 {
        s.score -= 0.3;
    }
    Some(s)
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Bitcoin legacy / P2SH addresses: base58 decoding, 25 bytes, double-SHA-256 checksum.
pub fn base58check(text: &str, s: Span) -> Option<Span> {
    if embedded(text, s) {
        return None;
    }
    let mut bytes: Vec<u8> = Vec::with_capacity(25);
    for c in text[s.start..s.end].bytes() {
        let mut carry = BASE58.iter().position(|&x| x == c)? as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text[s.start..s.end]
        .bytes()
        .take_while(|&c| c == b'1')
        .count();
    let mut full = vec![0u8; zeros];
    full.extend(bytes);
    if full.len() != 25 {
        return None;
    }
    let check = Sha256::digest(Sha256::digest(&full[..21]));
    (check[..4] == full[21..]).then_some(s)
}

fn bech32_polymod(values: &[u8]) -> u32 {
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    let mut chk: u32 = 1;
    for &v in values {
        let top = chk >> 25;
        chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

/// Segwit addresses: BIP-173 bech32 or BIP-350 bech32m checksum, one case throughout.
pub fn bech32(text: &str, s: Span) -> Option<Span> {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if embedded(text, s) {
        return None;
    }
    let raw = &text[s.start..s.end];
    if raw.bytes().any(|c| c.is_ascii_lowercase()) && raw.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    let (hrp, data) = lower.rsplit_once('1')?;
    let mut values: Vec<u8> = hrp.bytes().map(|c| c >> 5).collect();
    values.push(0);
    values.extend(hrp.bytes().map(|c| c & 31));
    for c in data.bytes() {
        values.push(CHARSET.iter().position(|&x| x == c)? as u8);
    }
    let m = bech32_polymod(&values);
    (m == 1 || m == 0x2bc8_30a3).then_some(s)
}

pub fn email(text: &str, mut s: Span) -> Option<Span> {
    if after_escape(text, s.start + 1) {
        s.start += 1; // `\nana@example.org`: the `n` belongs to the escape
    }
    let raw = &text[s.start..s.end];
    let (local, domain) = raw.split_once('@')?;
    if local.ends_with('.') || local.contains("..") || domain.contains("..") {
        return None;
    }
    // `user:pass@host` belongs to a connection string, `x@2x.png` to a file name.
    if matches!(before(text, s.start), Some(b':' | b'/'))
        || [".png", ".jpg", ".gif", ".svg"].iter().any(|x| {
            domain.len() > x.len() && domain[domain.len() - x.len()..].eq_ignore_ascii_case(x)
        })
    {
        return None;
    }
    Some(s)
}

/// Shapes that carry digits and separators but are not phone numbers.
fn looks_like_date(groups: &[&str], seps: &[u8]) -> bool {
    if groups.len() != 3
        || seps.is_empty()
        || seps.iter().any(|&c| c != seps[0])
        || !matches!(seps[0], b'.' | b'-' | b'/')
    {
        return false;
    }
    let n: Vec<u32> = groups
        .iter()
        .map(|g| g.parse().unwrap_or(u32::MAX))
        .collect();
    let year = |y: u32, g: &str| g.len() == 4 && (1900..=2100).contains(&y) || g.len() == 2;
    let md =
        |a: u32, b: u32| (1..=31).contains(&a) && (1..=31).contains(&b) && (a <= 12 || b <= 12);
    (year(n[0], groups[0]) && groups[0].len() == 4 && md(n[1], n[2]))
        || (year(n[2], groups[2]) && md(n[0], n[1]))
}

pub fn phone(text: &str, mut s: Span) -> Option<Span> {
    let raw = &text[s.start..s.end];
    let b = text.as_bytes();
    // Reject fragments: glued to words, prices, hex colours, ids, decimals and versions.
    let b_prev = |k: usize| s.start.checked_sub(k).map(|i| b[i]);
    let after_number =
        matches!(b_prev(1), Some(b'.' | b',')) && b_prev(2).is_some_and(|c| c.is_ascii_digit());
    if embedded(text, s)
        || after_number
        || matches!(b_prev(1), Some(b'$' | b'#' | b'@' | b'=' | b'/'))
        || matches!(after(text, s.end), Some(b'%' | b'/'))
        || (after(text, s.end) == Some(b',') && b.get(s.end + 1).is_some_and(u8::is_ascii_digit))
    {
        return None;
    }
    if let Some(c) = before(text, s.start) {
        if c >= 0x80 {
            // A currency sign (€ £ ¥ ₹) right before the number.
            let prev = text[..s.start].chars().next_back();
            if prev.is_some_and(|p| matches!(p, '€' | '£' | '¥' | '₹' | '₩' | '₽')) {
                return None;
            }
        }
    }
    let main = raw.split(['x', 'e', '#']).next().unwrap_or(raw);
    let d = digits(main);
    let plus = raw.starts_with('+') || raw.starts_with("00");
    if d.len() < 7 || d.len() > 15 || (plus && d.len() < 8) {
        return None;
    }
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    let groups: Vec<&str> = main
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let seps: Vec<u8> = main
        .bytes()
        .filter(|c| matches!(c, b'.' | b'-' | b' ' | b'/'))
        .collect();
    if looks_like_date(&groups, &seps) {
        return None;
    }
    // A single dot between two groups is a decimal; dotted quads are IP addresses.
    if !seps.is_empty()
        && seps.iter().all(|&c| c == b'.')
        && (groups.len() == 2 || groups.len() == 4 && groups.iter().all(|g| g.len() <= 3))
    {
        return None;
    }
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    // Postal codes such as `17012-390` (Brazil).
    if lens == [5, 3] && seps == [b'-'] {
        return None;
    }
    // A house number runs into a street name: `50963 254 Damvergi Street`.
    if !plus && !main.contains('(') && followed_by_name(text, s.end) {
        s.score -= 0.3;
    }
    // 3-2-4 with one separator kind is the SSN shape.
    if lens == [3, 2, 4] && !plus {
        s.score -= 0.3;
    }
    if plus {
        s.score += 0.2;
    } else if groups.len() == 1 {
        // A bare digit run: only with context (order numbers look the same).
        s.score -= 0.2;
    } else if main.contains('(') || lens == [3, 3, 4] || lens.len() >= 3 {
        s.score += 0.05;
    }
    Some(s)
}

/// True when the next word is capitalised or non-ASCII (a street or place name follows).
fn followed_by_name(text: &str, end: usize) -> bool {
    let rest = &text[end..];
    let Some(word) = rest.strip_prefix(' ') else {
        return false;
    };
    let first = word.chars().next();
    first.is_some_and(|c| c.is_uppercase() || (!c.is_ascii() && c.is_alphabetic()))
        || [
            "rue ",
            "str",
            "via ",
            "avenida ",
            "calle ",
            "boulevard",
            "st ",
            "rd ",
        ]
        .iter()
        .any(|w| word.starts_with(w))
}

/// The value after a password key: not a placeholder, a variable or a code expression.
pub fn password(text: &str, s: Span) -> Option<Span> {
    let untrimmed = &text[s.start..s.end];
    if untrimmed.ends_with(')') && untrimmed.contains('(') {
        return None; // a call such as getpass.getpass()
    }
    let s = trim_punctuation(text, s)?;
    let raw = &text[s.start..s.end];
    let lower = raw.to_ascii_lowercase();
    let variable = raw.starts_with('$')
        && raw[1..].bytes().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, b'_' | b'{' | b'}' | b'(' | b')' | b':' | b'?' | b'-')
        });
    let placeholder = variable
        || ["${", "{{", "%(", "%{", "<", "#{"]
            .iter()
            .any(|p| raw.starts_with(p))
        || raw
            .bytes()
            .all(|c| c == b'*' || c == b'x' || c == b'X' || c == b'.')
        || raw.contains("os.environ")
        || raw.contains("process.env")
        || raw.contains("getenv")
        || matches!(
            lower.as_str(),
            "null"
                | "none"
                | "nil"
                | "true"
                | "false"
                | "changeme"
                | "password"
                | "secret"
                | "required"
                | "optional"
                | "string"
                | "str"
                | "your_password"
                | "your-password"
                | "redacted"
                | "hidden"
                | "example"
                | "empty"
                | "undefined"
                | "env"
                | "the"
                | "a"
                | "an"
                | "not"
                | "incorrect"
                | "wrong"
                | "invalid"
                | "expired"
                | "correct"
                | "same"
                | "reset"
                | "set"
                | "too"
                | "required."
        );
    if placeholder || raw.len() < 4 {
        return None;
    }
    // In prose (`password is ...`) a plain word is usually English, not a password.
    let lead = text[..s.start].trim_end_matches(['"', '\'']).trim_end();
    let prose = !lead.ends_with(['=', ':', '|']);
    if prose && raw.bytes().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    Some(s)
}

/// AWS secret keys are 40 base64 characters that mix cases and digits (hex hashes do not).
pub fn aws_secret(text: &str, s: Span) -> Option<Span> {
    let raw = &text.as_bytes()[s.start..s.end];
    let glued = |c: Option<u8>| {
        c.is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'+' | b'='))
    };
    if glued(after(text, s.end)) {
        return None;
    }
    let upper = raw.iter().any(u8::is_ascii_uppercase);
    let lower = raw.iter().any(u8::is_ascii_lowercase);
    (upper && lower).then_some(s)
}

/// `scheme://user:password@host...`: trims trailing punctuation and rejects placeholders.
pub fn connection_url(text: &str, s: Span) -> Option<Span> {
    let s = trim_punctuation(text, s)?;
    let raw = &text[s.start..s.end];
    let creds = raw.split_once("://")?.1.split('@').next()?;
    let pass = creds.split_once(':')?.1;
    if pass.is_empty()
        || pass.starts_with(['$', '<', '{', '*'])
        || pass.chars().all(|c| c == '*' || c == 'x')
    {
        return None;
    }
    Some(s)
}

/// A JWT's header must be base64url JSON with an `alg` member.
pub fn jwt(text: &str, mut s: Span) -> Option<Span> {
    token_boundary(text, s)?;
    let raw = &text[s.start..s.end];
    let mut parts = raw.split('.');
    let header = parts.next()?;
    let payload = parts.next()?;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded = engine.decode(header.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&decoded).ok()?;
    value.as_object()?.get("alg")?;
    if engine.decode(payload.trim_end_matches('=')).is_err() {
        s.score -= 0.2;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(v: Validator, text: &str) -> bool {
        v(
            text,
            Span {
                start: 0,
                end: text.len(),
                score: 0.5,
            },
        )
        .is_some()
    }

    #[test]
    fn luhn_accepts_test_cards_only() {
        assert!(
            check(credit_card, "4111 1111 1111 1111") || check(credit_card, "4111111111111111")
        );
        assert!(check(credit_card, "4012888888881881"));
        assert!(!check(credit_card, "4012888888881882"));
    }

    #[test]
    fn iban_checks_length_and_mod97() {
        assert!(check(iban, "DE89370400440532013000"));
        assert!(check(iban, "GB82 WEST 1234 5698 7654 32"));
        assert!(!check(iban, "DE89370400440532013001"));
        assert!(!check(iban, "DE8937040044053201300"));
    }

    #[test]
    fn bitcoin_checksums() {
        assert!(check(base58check, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"));
        assert!(!check(base58check, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3"));
        assert!(check(bech32, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
        assert!(!check(bech32, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp"));
    }

    #[test]
    fn ssn_rejects_invalid_areas() {
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
        ] {
            assert!(!check(us_ssn, bad), "{bad}");
        }
        assert!(check(us_ssn, "536-22-1234"));
    }

    #[test]
    fn ip_ranges() {
        assert!(check(ipv4, "192.168.1.10"));
        assert!(!check(ipv4, "999.1.1.1"));
        assert!(check(ipv6, "2001:db8::8a2e:370:7334"));
        assert!(!check(ipv6, "12:30:45"));
    }
}
