use std::sync::Arc;

use super::*;

const SEC: u64 = 1_000_000_000;

fn limiter(spec: &str, algorithm: Algorithm) -> Limiter<Arc<ManualClock>> {
    let clock = Arc::new(ManualClock::new(1_000 * SEC));
    Limiter::with_clock(spec, algorithm, clock).unwrap()
}

impl Clock for Arc<ManualClock> {
    fn now_ns(&self) -> u64 {
        self.as_ref().now_ns()
    }
}

const BOTH: [Algorithm; 2] = [Algorithm::Gcra, Algorithm::SlidingWindow];

fn allowed(l: &Limiter<Arc<ManualClock>>, key: &str, n: usize) -> usize {
    (0..n).filter(|_| l.hit(key, 1).unwrap().allowed).count()
}

#[test]
fn parses_the_limits_library_syntax() {
    let cases: &[(&str, &[(u64, u64)])] = &[
        ("10/minute", &[(10, 60)]),
        ("10 / Minute", &[(10, 60)]),
        ("100 per hour; 1000/day", &[(100, 3_600), (1_000, 86_400)]),
        ("5/30 seconds", &[(5, 30)]),
        ("5 per 30 seconds", &[(5, 30)]),
        (
            "1/second, 2/2 hours | 3/month",
            &[(1, 1), (2, 7_200), (3, 2_592_000)],
        ),
        ("7/year", &[(7, 31_104_000)]),
        ("  3 PER DAYS ;", &[(3, 86_400)]),
    ];
    for (spec, want) in cases {
        let got: Vec<(u64, u64)> = parse_limits(spec)
            .unwrap()
            .iter()
            .map(|r| (r.count, r.period_ns / SEC))
            .collect();
        assert_eq!(&got, want, "{spec}");
    }
}

#[test]
fn rejects_absurd_limits_naming_the_argument() {
    let long = "1/second;".repeat(1_000);
    let many = "1/second;".repeat(MAX_LIMITS + 1);
    let bad = [
        "",
        " ; ",
        "ten/minute",
        "10/fortnight",
        "10/",
        "0/minute",
        "10/0 minutes",
        "10 minute",
        "-1/minute",
        "99999999999999999999999/minute",
        "2000000000/day",
        "1/11 years",
        "1/99999999999999999 years",
        "10/minute extra",
        "\0/minute",
        "5/1.5 seconds",
        long.as_str(),
        many.as_str(),
    ];
    for spec in bad {
        let err = parse_limits(spec).unwrap_err();
        assert!(err.message().starts_with("limits: "), "{spec:?}: {err}");
    }
}

#[test]
fn a_full_burst_admits_exactly_the_count() {
    for algorithm in BOTH {
        let l = limiter("1000/minute", algorithm);
        assert_eq!(allowed(&l, "k", 1_500), 1_000, "{algorithm:?}");
        let d = l.hit("k", 1).unwrap();
        assert!(!d.allowed);
        assert_eq!((d.remaining, d.limit, d.window_ns), (0, 1_000, 60 * SEC));
        assert!(d.retry_after_ns > 0);
    }
}

#[test]
fn gcra_refills_one_unit_per_interval() {
    let l = limiter("10/minute", Algorithm::Gcra);
    assert_eq!(allowed(&l, "k", 20), 10);
    let denied = l.hit("k", 1).unwrap();
    assert_eq!(denied.retry_after_ns, 6 * SEC);
    assert_eq!(denied.reset_after_ns, 60 * SEC);
    l.clock.advance_ns(6 * SEC - 1);
    assert!(!l.hit("k", 1).unwrap().allowed);
    l.clock.advance_ns(1);
    let d = l.hit("k", 1).unwrap();
    assert!(d.allowed);
    assert_eq!((d.remaining, d.retry_after_ns), (0, 0));
    l.clock.advance_ns(60 * SEC);
    assert_eq!(l.peek("k", 1).unwrap().remaining, 10);
    assert_eq!(allowed(&l, "k", 20), 10);
}

#[test]
fn sliding_window_weights_the_previous_window() {
    let l = limiter("10/minute", Algorithm::SlidingWindow);
    // The manual clock starts at 1000 s, 40 s into a 60 s window.
    assert_eq!(allowed(&l, "k", 20), 10);
    let denied = l.hit("k", 1).unwrap();
    // Next window: 10 * (60 - e)/60 + 1 <= 10 once e >= 6 s; 20 s to the boundary.
    assert_eq!(denied.retry_after_ns, 26 * SEC);
    l.clock.advance_ns(26 * SEC - 1);
    assert!(!l.hit("k", 1).unwrap().allowed);
    l.clock.advance_ns(1);
    assert!(l.hit("k", 1).unwrap().allowed);
    assert!(!l.hit("k", 1).unwrap().allowed);
    // Half-way into the window, half the previous count still weighs.
    l.clock.advance_ns(24 * SEC);
    assert_eq!(allowed(&l, "k", 20), 4);
}

#[test]
fn retry_after_is_exactly_when_the_hit_fits() {
    for algorithm in BOTH {
        for cost in [1, 3, 7] {
            let l = limiter("10/minute; 25/hour", algorithm);
            for _ in 0..40 {
                l.hit("k", cost).unwrap();
            }
            let d = l.hit("k", cost).unwrap();
            assert!(!d.allowed);
            l.clock.advance_ns(d.retry_after_ns - 1);
            assert!(!l.peek("k", cost).unwrap().allowed, "{algorithm:?} {cost}");
            l.clock.advance_ns(1);
            assert!(l.hit("k", cost).unwrap().allowed, "{algorithm:?} {cost}");
        }
    }
}

#[test]
fn every_limit_must_allow_and_denials_consume_nothing() {
    for algorithm in BOTH {
        let l = limiter("3/second; 5/hour", algorithm);
        assert_eq!(allowed(&l, "k", 10), 3);
        l.clock.advance_ns(2 * SEC);
        assert_eq!(allowed(&l, "k", 10), 2);
        let d = l.hit("k", 1).unwrap();
        assert_eq!((d.limit, d.window_ns, d.remaining), (5, 3_600 * SEC, 0));
        // Hits refused by the second limit never spent the first.
        l.clock.advance_ns(2 * 3_600 * SEC);
        assert_eq!(allowed(&l, "k", 10), 3);
    }
}

#[test]
fn cost_weights_spend_several_units() {
    for algorithm in BOTH {
        let l = limiter("100/minute", algorithm);
        let d = l.hit("k", 60).unwrap();
        assert!(d.allowed);
        assert_eq!(d.remaining, 40);
        let d = l.hit("k", 41).unwrap();
        assert!(!d.allowed);
        assert_eq!(d.remaining, 40);
        assert!(l.hit("k", 40).unwrap().allowed);
        let never = l.hit("other", 101).unwrap();
        assert!(!never.allowed);
        assert_eq!(never.retry_after_ns, 60 * SEC);
        assert!(l.hit("other", 100).unwrap().allowed);
        assert!(l.hit("k", MAX_COUNT + 1).is_err());
    }
}

#[test]
fn peek_and_reset() {
    for algorithm in BOTH {
        let l = limiter("2/minute", algorithm);
        assert_eq!(allowed(&l, "k", 5), 2);
        assert!(!l.peek("k", 1).unwrap().allowed);
        l.reset("k");
        assert_eq!(l.peek("k", 1).unwrap().remaining, 2);
        assert_eq!(l.peek("k", 1).unwrap().remaining, 2);
        assert_eq!(allowed(&l, "k", 5), 2);
    }
}

#[test]
fn keys_are_independent() {
    let l = limiter("1/minute", Algorithm::Gcra);
    for key in ["a", "b", "c"] {
        assert!(l.hit(key, 1).unwrap().allowed);
        assert!(!l.hit(key, 1).unwrap().allowed);
    }
}

#[test]
fn stale_keys_are_evicted_so_memory_stays_bounded() {
    for algorithm in BOTH {
        let l = limiter("5/second", algorithm);
        for round in 0..20u64 {
            for i in 0..20_000u64 {
                l.hit(&(round, i), 1).unwrap();
            }
            l.clock.advance_ns(3 * SEC);
        }
        // 400,000 keys seen; only the rounds still inside a window (x2 slack) remain.
        assert!(l.len() <= 3 * 20_000, "{algorithm:?}: {}", l.len());
        assert!(l.len() >= 20_000);
    }
}

#[test]
fn eight_threads_on_one_key_admit_exactly_the_limit() {
    for algorithm in BOTH {
        let l = Arc::new(limiter("1000/minute", algorithm));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let l = Arc::clone(&l);
                std::thread::spawn(move || allowed(&l, "shared", 500))
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1_000, "{algorithm:?}");
    }
}

#[test]
fn the_monotonic_clock_never_goes_back() {
    let clock = MonotonicClock::default();
    let mut last = clock.now_ns();
    for _ in 0..1_000 {
        let now = clock.now_ns();
        assert!(now >= last);
        last = now;
    }
}
