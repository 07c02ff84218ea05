//! Launch backoff after task failures (spec A3 "Backoff"; Marathon `docs/backoff.md`).
//!
//! After a failure the next launch of the app waits `backoffSeconds`; each
//! further consecutive failure multiplies the delay by `backoffFactor`, capped at
//! `maxLaunchDelaySeconds`. The caller decides what counts as a failure (kills do
//! not) and when to [`Backoff::reset`] (new app version, `DELETE
//! /v2/queue/{id}/delay`, a quiet period). Pure: time is passed in as `now`
//! (seconds, any epoch), nothing here reads a clock.

/// The backoff state of one app. `Default` = no delay.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Backoff {
    /// Current delay in seconds (0 before the first failure / after a reset).
    delay: f64,
    /// No launch before this time (seconds, same epoch as `now`).
    not_before: f64,
    /// Consecutive failures since the last reset.
    failures: u32,
}

/// Non-finite or negative inputs count as 0.
fn non_negative(x: f64) -> f64 {
    if x.is_finite() && x > 0.0 {
        x
    } else {
        0.0
    }
}

impl Backoff {
    /// Record a failure at `now`. First failure (since a reset): the delay is
    /// `backoff_seconds`; each further one multiplies it by `factor`. The delay
    /// never exceeds `max_delay`. The next launch may happen at `now + delay`.
    pub fn on_failure(&mut self, now: f64, backoff_seconds: f64, factor: f64, max_delay: f64) {
        let max_delay = non_negative(max_delay);
        let next = if self.failures == 0 {
            non_negative(backoff_seconds)
        } else {
            // A factor below 1 would shrink the delay; validation forbids it.
            let factor = if factor.is_finite() && factor >= 1.0 {
                factor
            } else {
                1.0
            };
            self.delay * factor
        };
        self.delay = next.min(max_delay);
        self.failures = self.failures.saturating_add(1);
        self.not_before = now + self.delay;
    }

    /// Forget all failures: launch immediately, next failure starts over.
    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// True if a launch may happen at `now`.
    pub fn ready(&self, now: f64) -> bool {
        now >= self.not_before
    }

    /// Seconds until a launch may happen (0 if ready).
    pub fn time_left(&self, now: f64) -> f64 {
        non_negative(self.not_before - now)
    }

    /// The current delay in seconds (0 if no failure since the last reset).
    pub fn delay(&self) -> f64 {
        self.delay
    }

    /// The earliest launch time (0 if no failure since the last reset).
    pub fn not_before(&self) -> f64 {
        self.not_before
    }

    /// Consecutive failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fresh_is_ready() {
        let b = Backoff::default();
        assert!(b.ready(0.0));
        assert_eq!(b.time_left(100.0), 0.0);
        assert_eq!(b.delay(), 0.0);
    }

    #[test]
    fn grows_by_factor_and_caps() {
        let mut b = Backoff::default();
        b.on_failure(100.0, 1.0, 2.0, 5.0);
        assert_eq!(b.delay(), 1.0);
        assert!(!b.ready(100.5));
        assert_eq!(b.time_left(100.25), 0.75);
        assert!(b.ready(101.0));
        b.on_failure(101.0, 1.0, 2.0, 5.0);
        assert_eq!(b.delay(), 2.0);
        assert_eq!(b.time_left(101.0), 2.0);
        b.on_failure(103.0, 1.0, 2.0, 5.0);
        assert_eq!(b.delay(), 4.0);
        b.on_failure(107.0, 1.0, 2.0, 5.0);
        assert_eq!(b.delay(), 5.0);
        b.on_failure(112.0, 1.0, 2.0, 5.0);
        assert_eq!(b.delay(), 5.0);
        assert_eq!(b.failures(), 5);
        assert_eq!(b.not_before(), 117.0);
    }

    #[test]
    fn marathon_defaults() {
        let mut b = Backoff::default();
        for _ in 0..3 {
            b.on_failure(0.0, 1.0, 1.15, 300.0);
        }
        assert!((b.delay() - 1.15 * 1.15).abs() < 1e-12);
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::default();
        b.on_failure(0.0, 3.0, 2.0, 100.0);
        b.on_failure(0.0, 3.0, 2.0, 100.0);
        assert_eq!(b.delay(), 6.0);
        b.reset();
        assert_eq!(b, Backoff::default());
        assert!(b.ready(0.0));
        b.on_failure(10.0, 3.0, 2.0, 100.0);
        assert_eq!(b.delay(), 3.0);
        assert_eq!(b.time_left(10.0), 3.0);
    }

    #[test]
    fn first_delay_is_capped_and_bad_inputs_are_zero() {
        let mut b = Backoff::default();
        b.on_failure(0.0, 10.0, 2.0, 4.0);
        assert_eq!(b.delay(), 4.0);
        let mut z = Backoff::default();
        z.on_failure(5.0, -1.0, f64::NAN, f64::INFINITY);
        assert_eq!(z.delay(), 0.0);
        assert!(z.ready(5.0));
        z.on_failure(5.0, 1.0, 0.5, 10.0);
        assert_eq!(z.delay(), 0.0, "the delay only grows from the first one");
    }

    proptest! {
        /// The delay never decreases without a reset, never exceeds the cap,
        /// and time_left is in [0, delay].
        #[test]
        fn monotone_and_bounded(
            base in 0.0f64..100.0,
            factor in 1.0f64..5.0,
            cap in 0.0f64..1000.0,
            steps in prop::collection::vec(0.0f64..50.0, 1..30),
        ) {
            let mut b = Backoff::default();
            let mut now = 0.0;
            let mut last = 0.0;
            for dt in steps {
                now += dt;
                b.on_failure(now, base, factor, cap);
                prop_assert!(b.delay() >= last);
                prop_assert!(b.delay() <= cap);
                prop_assert!(b.time_left(now) <= b.delay() * (1.0 + 1e-9) + 1e-9);
                prop_assert!(b.time_left(now + dt) >= 0.0);
                prop_assert_eq!(b.ready(now + b.delay()), true);
                last = b.delay();
            }
        }
    }
}
