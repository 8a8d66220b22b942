//! Limit strings as the `limits` library (and flask-limiter, slowapi) writes them:
//! `"10/minute"`, `"100 per hour; 1000/day"`, `"5/30 seconds"`. Items are separated by `;`, `,`
//! or `|`; a unit may be plural and any case; `month` is 30 days and `year` 360, as in `limits`.

use crate::error::{CoreError, Result};

/// The most limits one limiter holds (each costs one timestamp or counter per key).
pub const MAX_LIMITS: usize = 16;
/// The largest count a limit may allow per window (sliding-window counters are 32-bit).
pub const MAX_COUNT: u64 = 1_000_000_000;
/// The longest window: ten `limits` years. Longer windows are configuration mistakes.
pub const MAX_PERIOD_NS: u64 = 10 * 360 * 86_400 * NS_PER_SEC;
/// Limit strings longer than this are rejected before parsing.
const MAX_SPEC_LEN: usize = 4096;
const NS_PER_SEC: u64 = 1_000_000_000;

const UNITS: [(&str, u64); 6] = [
    ("second", 1),
    ("minute", 60),
    ("hour", 3_600),
    ("day", 86_400),
    ("month", 30 * 86_400),
    ("year", 360 * 86_400),
];

/// One limit: at most `count` units per `period_ns` nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u64,
    pub period_ns: u64,
}

impl Rate {
    /// A rate from a count and a window in nanoseconds, checked like a parsed one.
    pub fn new(count: u64, period_ns: u64) -> Result<Self> {
        if count == 0 || count > MAX_COUNT {
            return Err(CoreError::argument(
                "limits",
                format!("the count must be within 1..={MAX_COUNT}, got {count}"),
            ));
        }
        if period_ns == 0 || period_ns > MAX_PERIOD_NS {
            return Err(CoreError::argument(
                "limits",
                "the window must be longer than zero and at most ten years",
            ));
        }
        if period_ns < count {
            return Err(CoreError::argument(
                "limits",
                "more than one hit per nanosecond cannot be measured",
            ));
        }
        Ok(Self { count, period_ns })
    }

    /// The window in seconds.
    pub fn window_secs(&self) -> f64 {
        self.period_ns as f64 / NS_PER_SEC as f64
    }
}

/// Parses a limit string into its rates, in the order written.
///
/// ```
/// use ravelin::ratelimit::parse_limits;
/// let rates = parse_limits("100 per hour; 5/30 seconds").unwrap();
/// assert_eq!((rates[0].count, rates[0].period_ns), (100, 3_600_000_000_000));
/// assert_eq!((rates[1].count, rates[1].period_ns), (5, 30_000_000_000));
/// ```
pub fn parse_limits(spec: &str) -> Result<Vec<Rate>> {
    if spec.len() > MAX_SPEC_LEN {
        return Err(CoreError::argument(
            "limits",
            format!("longer than {MAX_SPEC_LEN} bytes"),
        ));
    }
    let items: Vec<&str> = spec
        .split([';', ',', '|'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    if items.is_empty() {
        return Err(CoreError::argument(
            "limits",
            "empty: write limits like \"10/minute\" or \"100 per hour; 1000/day\"",
        ));
    }
    if items.len() > MAX_LIMITS {
        return Err(CoreError::argument(
            "limits",
            format!("at most {MAX_LIMITS} limits, got {}", items.len()),
        ));
    }
    items.into_iter().map(parse_item).collect()
}

fn parse_item(item: &str) -> Result<Rate> {
    let bad = || {
        CoreError::argument(
            "limits",
            format!(
                "cannot read {:?}: expected COUNT/[N] UNIT or COUNT per [N] UNIT, unit one of \
                 second, minute, hour, day, month, year",
                item.chars().take(64).collect::<String>()
            ),
        )
    };
    let (count, rest) = take_number(item).ok_or_else(bad)?;
    let rest = rest.trim_start();
    let rest = if let Some(r) = rest.strip_prefix('/') {
        r
    } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case("per") {
        &rest[3..]
    } else {
        return Err(bad());
    };
    let rest = rest.trim_start();
    let (multiple, rest) = take_number(rest).unwrap_or((1, rest));
    let word = rest.trim();
    let word = word
        .strip_suffix(['s', 'S'])
        .filter(|w| UNITS.iter().any(|(u, _)| u.eq_ignore_ascii_case(w)))
        .unwrap_or(word);
    let unit_secs = UNITS
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(word))
        .map(|&(_, secs)| secs)
        .ok_or_else(bad)?;
    if multiple == 0 {
        return Err(CoreError::argument("limits", "a window of zero units"));
    }
    let period_ns = multiple
        .checked_mul(unit_secs)
        .and_then(|s| s.checked_mul(NS_PER_SEC))
        .filter(|&ns| ns <= MAX_PERIOD_NS)
        .ok_or_else(|| CoreError::argument("limits", "the window is longer than ten years"))?;
    Rate::new(count, period_ns)
}

/// Leading ASCII digits as a number (`None` if there are none or they overflow).
fn take_number(s: &str) -> Option<(u64, &str)> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    let n = s[..end].parse().ok()?;
    Some((n, &s[end..]))
}
