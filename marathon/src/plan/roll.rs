//! The arithmetic of one rolling replacement (`RestartApplication`, spec A6
//! "Rolling restart"): from the counts of old and new instances, how many old
//! ones to kill and how many new ones to launch now, within the app's
//! `upgradeStrategy`. Re-exported from [`crate::plan`].

/// What a rolling replacement looks at for one app, each evaluation.
/// `*_ready` counts instances that are healthy and ready; they are at most the
/// matching `*_active` (larger values are treated as equal to it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollView {
    pub target: u32,
    pub min_health_capacity: f64,
    pub max_over_capacity: f64,
    pub old_active: u32,
    pub old_ready: u32,
    pub new_active: u32,
    pub new_ready: u32,
}

/// What to do now: kill `kill_old` old instances (not-ready ones first), launch
/// `launch_new` new ones. `done` once no old instance is left and at least
/// `target` new ones are ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollDecision {
    pub kill_old: u32,
    pub launch_new: u32,
    pub done: bool,
}

/// Clamp to [0, 1]; NaN counts as 0.
fn unit(x: f64) -> f64 {
    if x >= 0.0 {
        x.min(1.0)
    } else {
        0.0
    }
}

/// `ceil(min_health_capacity * target)`: ready instances to keep while rolling.
pub fn min_healthy(target: u32, min_health_capacity: f64) -> u32 {
    // The epsilon keeps 0.7 * 10 = 7.000000000000001 at 7.
    ((unit(min_health_capacity) * f64::from(target)) - 1e-9)
        .ceil()
        .max(0.0) as u32
}

/// `target + floor(max_over_capacity * target)`: instances allowed at once.
pub fn max_capacity(target: u32, max_over_capacity: f64) -> u32 {
    let extra = ((unit(max_over_capacity) * f64::from(target)) + 1e-9).floor() as u32;
    target.saturating_add(extra)
}

/// One evaluation of a rolling replacement (spec A6 "Rolling restart").
///
/// - Old instances that are not ready are always killed; ready old ones only
///   as far as `old ready + new ready >= min_healthy` stays true.
/// - New ones are launched up to `max_capacity` instances in all (after the
///   kills), and never beyond `target` new ones.
/// - When `min_healthy == max_capacity` and that many instances run (e.g.
///   `minimumHealthCapacity=1, maximumOverCapacity=0`), nothing could be killed
///   or launched, so one instance above `max_capacity` is allowed, as Marathon does.
pub fn roll(v: &RollView) -> RollDecision {
    let target = u64::from(v.target);
    let old_active = u64::from(v.old_active);
    let old_ready = u64::from(v.old_ready.min(v.old_active));
    let new_active = u64::from(v.new_active);
    let new_ready = u64::from(v.new_ready.min(v.new_active));

    let keep = u64::from(min_healthy(v.target, v.min_health_capacity));
    let mut cap = u64::from(max_capacity(v.target, v.max_over_capacity));
    if keep >= cap && old_active + new_active >= cap {
        cap += 1;
    }

    let spare = (old_ready + new_ready).saturating_sub(keep);
    let kill_old = (old_active - old_ready) + old_ready.min(spare);
    let running = old_active - kill_old + new_active;
    let launch_new = cap
        .saturating_sub(running)
        .min(target.saturating_sub(new_active));
    RollDecision {
        kill_old: kill_old as u32,
        launch_new: launch_new as u32,
        done: old_active == 0 && new_ready >= target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn view(t: u32, mhc: f64, moc: f64, oa: u32, or: u32, na: u32, nr: u32) -> RollView {
        RollView {
            target: t,
            min_health_capacity: mhc,
            max_over_capacity: moc,
            old_active: oa,
            old_ready: or,
            new_active: na,
            new_ready: nr,
        }
    }

    /// `(kill_old, launch_new, done)` of one evaluation.
    fn r(v: RollView) -> (u32, u32, bool) {
        let d = roll(&v);
        (d.kill_old, d.launch_new, d.done)
    }

    #[test]
    fn capacity_arithmetic() {
        assert_eq!(min_healthy(10, 0.7), 7);
        assert_eq!(min_healthy(3, 0.1), 1);
        assert_eq!(min_healthy(3, 1.0), 3);
        assert_eq!(min_healthy(3, 0.0), 0);
        assert_eq!(max_capacity(10, 0.3), 13);
        assert_eq!(max_capacity(3, 0.5), 4);
        assert_eq!(max_capacity(3, 2.0), 6);
        assert_eq!(max_capacity(3, f64::NAN), 3);
    }

    #[test]
    fn roll_defaults_start_all_then_stop() {
        // {1, 1}: launch all new first, kill old as new become ready.
        assert_eq!(r(view(3, 1.0, 1.0, 3, 3, 0, 0)), (0, 3, false));
        assert_eq!(r(view(3, 1.0, 1.0, 3, 3, 3, 1)), (1, 0, false));
        assert_eq!(r(view(3, 1.0, 1.0, 0, 0, 3, 3)), (0, 0, true));
    }

    #[test]
    fn roll_zero_health_kills_all_first() {
        assert_eq!(r(view(3, 0.0, 0.0, 3, 3, 0, 0)), (3, 3, false));
    }

    #[test]
    fn roll_one_extra_when_stuck() {
        assert_eq!(r(view(3, 1.0, 0.0, 3, 3, 0, 0)), (0, 1, false));
        assert_eq!(r(view(3, 1.0, 0.0, 3, 3, 1, 1)), (1, 1, false));
        // Not needed while old ones are missing (scale-up during the restart).
        assert_eq!(r(view(3, 1.0, 0.0, 1, 1, 0, 0)), (0, 2, false));
    }

    #[test]
    fn roll_unready_old_are_killed() {
        assert_eq!(r(view(2, 1.0, 0.0, 2, 0, 0, 0)), (2, 2, false));
    }

    #[test]
    fn roll_zero_target() {
        assert_eq!(r(view(0, 1.0, 1.0, 2, 2, 0, 0)), (2, 0, false));
        assert_eq!(r(view(0, 1.0, 1.0, 0, 0, 0, 0)), (0, 0, true));
    }

    /// Run `roll` until done: killed old go first among the not-ready ones,
    /// launched instances are seen as active but not ready in the next round
    /// and are ready from the round after. Returns the rounds taken.
    fn simulate(
        t: u32,
        mhc: f64,
        moc: f64,
        old_ready: u32,
        old_unready: u32,
    ) -> Result<u32, TestCaseError> {
        let (mut o_ready, mut o_unready, mut na, mut nr) = (old_ready, old_unready, 0u32, 0u32);
        let keep = min_healthy(t, mhc);
        let cap = max_capacity(t, moc);
        let bound = 3 * (t + old_ready + old_unready) + 5;
        for round in 0..bound {
            let v = view(t, mhc, moc, o_ready + o_unready, o_ready, na, nr);
            let d = roll(&v);
            if d.done {
                prop_assert_eq!((d.kill_old, d.launch_new), (0, 0));
                return Ok(round);
            }
            prop_assert!(d.kill_old <= v.old_active);
            prop_assert!(d.launch_new <= t - na);
            let ready_before = o_ready + nr;
            let killed_unready = d.kill_old.min(o_unready);
            o_unready -= killed_unready;
            o_ready -= d.kill_old - killed_unready;
            prop_assert!(o_ready + nr >= keep.min(ready_before), "{v:?} -> {d:?}");
            let running = o_ready + o_unready + na + d.launch_new;
            if d.launch_new > 0 {
                prop_assert!(running <= cap + 1, "{v:?} -> {d:?}");
                if running == cap + 1 {
                    prop_assert_eq!(keep, cap);
                }
            }
            nr = na;
            na += d.launch_new;
        }
        Err(TestCaseError::fail(format!(
            "not done in {bound} rounds: t={t} mhc={mhc} moc={moc} old={old_ready}+{old_unready}"
        )))
    }

    #[test]
    fn roll_simulation_corners() {
        for t in 0..20 {
            for mhc in [0.0, 0.5, 0.99, 1.0] {
                for moc in [0.0, 0.01, 0.5, 1.0] {
                    simulate(t, mhc, moc, t, 0).unwrap();
                }
            }
        }
    }

    proptest! {
        #[test]
        fn roll_always_finishes(
            t in 0u32..20,
            mhc in 0.0f64..=1.0,
            moc in 0.0f64..=1.0,
            extra_old in 0u32..10,
            old_unready in 0u32..5,
        ) {
            // Old instances: the target's worth (or more, for a scale-down) plus some not ready.
            simulate(t, mhc, moc, t + extra_old, old_unready)?;
        }

        /// One evaluation from any state keeps the kill and launch rules.
        #[test]
        fn roll_single_step_rules(
            t in 0u32..20, mhc in 0.0f64..=1.0, moc in 0.0f64..=1.0,
            oa in 0u32..30, or in 0u32..30, na in 0u32..20, nr in 0u32..20,
        ) {
            let (or, na) = (or.min(oa), na.min(t));
            let nr = nr.min(na);
            let d = roll(&view(t, mhc, moc, oa, or, na, nr));
            let keep = min_healthy(t, mhc);
            let kill_ready = d.kill_old.saturating_sub(oa - or);
            prop_assert!(d.kill_old <= oa);
            prop_assert!(or - kill_ready + nr >= keep.min(or + nr));
            prop_assert!(na + d.launch_new <= t);
            if d.launch_new > 0 {
                prop_assert!(oa - d.kill_old + na + d.launch_new <= max_capacity(t, moc) + 1);
            }
        }
    }
}
