//! Deterministic overlap resolution: of overlapping findings keep the best, never two.

use std::collections::BTreeMap;

use super::Finding;

/// Drops findings strictly inside another one: the IP inside a connection string, the
/// password inside an ADO.NET string. O(n log n): one sort, one sweep.
fn drop_contained(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut widest: Option<(usize, usize)> = None;
    found.retain(|f| {
        let inside = widest.is_some_and(|(s, e)| e >= f.end && (s, e) != (f.start, f.end));
        if widest.map_or(true, |(_, e)| f.end > e) {
            widest = Some((f.start, f.end));
        }
        !inside
    });
    found
}

/// Then keeps a set of non-overlapping findings: higher score first, then the longer span, then
/// the earlier start, then the entity name (so equal inputs always give equal outputs).
/// A JWT beats the base64 pieces inside it; a connection string beats the email inside it.
pub fn resolve(found: Vec<Finding>) -> Vec<Finding> {
    let mut found = drop_contained(found);
    found.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(a.entity_type.cmp(&b.entity_type))
    });
    // Accepted spans by start: each overlap test is two ordered look-ups, O(log n).
    let mut kept: BTreeMap<usize, Finding> = BTreeMap::new();
    for f in found {
        let clash_left = kept
            .range(..=f.start)
            .next_back()
            .is_some_and(|(_, k)| k.end > f.start);
        let clash_right = kept
            .range(f.start..)
            .next()
            .is_some_and(|(&s, _)| s < f.end);
        if !clash_left && !clash_right {
            kept.insert(f.start, f);
        }
    }
    kept.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(t: &str, start: usize, end: usize, score: f32) -> Finding {
        Finding {
            entity_type: t.into(),
            start,
            end,
            score,
        }
    }

    #[test]
    fn best_wins_and_order_is_by_position() {
        let out = resolve(vec![
            f("A", 0, 10, 0.5),
            f("B", 2, 5, 0.9),
            f("C", 12, 14, 0.6),
            f("D", 5, 12, 0.9),
        ]);
        let names: Vec<&str> = out.iter().map(|x| x.entity_type.as_str()).collect();
        assert_eq!(names, ["D", "C"]); // B sits inside A, which loses to D
    }

    #[test]
    fn containers_beat_what_they_contain() {
        let out = resolve(vec![
            f("IP", 20, 30, 0.95),
            f("CONN", 10, 60, 0.9),
            f("PW", 40, 50, 0.8),
        ]);
        assert_eq!(out, vec![f("CONN", 10, 60, 0.9)]);
    }

    #[test]
    fn ties_prefer_longer_then_earlier() {
        let out = resolve(vec![
            f("A", 0, 4, 0.9),
            f("B", 0, 6, 0.9),
            f("C", 5, 8, 0.9),
        ]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].entity_type, "B");
    }
}
