//! Converging apps on their definitions, driven by deployments (spec A6).
//!
//! After every input the core walks the running deployments (advancing finished
//! steps) and then decides, app by app, what to launch and what to kill:
//! * an app in the current step of a deployment follows its action (start: nothing
//!   yet; scale: reach `instances`; restart: rolling replacement; stop: kill all);
//! * an app that a deployment will touch in a later step is left alone;
//! * any other app is kept at `instances` (failed tasks replaced, extras killed).

use std::collections::BTreeMap;

use super::{Marathon, Output};
use crate::app::{AppDefinition, KillSelection};
use crate::health::iso8601;
use crate::plan::{roll, ActionKind, RollView};
use crate::store::StoreOp;

impl Marathon {
    /// Whether an instance counts as up: running, and healthy where the app has
    /// health checks.
    pub(crate) fn is_ready(&self, inst: &super::Instance, app: Option<&AppDefinition>) -> bool {
        if !inst.is_active() || !inst.is_running() {
            return false;
        }
        let Some(app) = app else { return true };
        if app.health_checks.is_empty() {
            return true;
        }
        let marathon_checks = super::marathon_level_checks(app).len();
        let has_mesos_check = app.health_checks.len() > marathon_checks;
        let marathon_ok = marathon_checks == 0
            || (inst.health.len() == marathon_checks
                && inst
                    .health
                    .iter()
                    .all(|h| h.alive && h.first_success.is_some()));
        let mesos_ok = !has_mesos_check || inst.mesos_healthy == Some(true);
        marathon_ok && mesos_ok
    }

    /// The action a running deployment currently applies to `app`, and whether a
    /// deployment holds the app for a later step.
    fn deployment_action(&self, app: &str) -> (Option<ActionKind>, bool) {
        for d in &self.deployments {
            if !d.affected.contains(app) {
                continue;
            }
            if let Some(a) = d.current_actions().iter().find(|a| a.app == app) {
                return (Some(a.kind), false);
            }
            // Affected by this deployment but not in its current step: held, unless
            // every step touching it is already done.
            let later = d
                .steps
                .iter()
                .enumerate()
                .skip(d.current_step.max(1) - 1)
                .any(|(_, s)| s.iter().any(|a| a.app == app));
            if later || d.current_step == 0 {
                return (None, true);
            }
        }
        (None, false)
    }

    fn active_of(&self, app: &str) -> Vec<&super::Instance> {
        self.instances
            .values()
            .filter(|i| i.app_id == app && i.is_active())
            .collect()
    }

    fn killing_of(&self, app: &str) -> usize {
        self.instances
            .values()
            .filter(|i| i.app_id == app && i.killing && !i.state.is_terminal())
            .count()
    }

    /// Pick `n` instances to kill: not-yet-running first, then by kill selection.
    fn choose_victims(
        &self,
        mut candidates: Vec<&super::Instance>,
        selection: KillSelection,
        n: usize,
    ) -> Vec<String> {
        candidates.sort_by(|a, b| {
            let ra = self.is_ready(a, self.apps.get(&a.app_id));
            let rb = self.is_ready(b, self.apps.get(&b.app_id));
            ra.cmp(&rb).then_with(|| {
                let ord = a.staged_at.total_cmp(&b.staged_at);
                match selection {
                    KillSelection::YoungestFirst => ord.reverse(),
                    KillSelection::OldestFirst => ord,
                }
            })
        });
        candidates
            .into_iter()
            .take(n)
            .map(|i| i.task_id.clone())
            .collect()
    }

    /// Completion of one deployment action.
    fn action_done(&self, kind: ActionKind, app_id: &str) -> bool {
        let app = self.apps.get(app_id);
        match kind {
            ActionKind::StartApplication => true,
            ActionKind::StopApplication => !self.instances.values().any(|i| i.app_id == app_id),
            ActionKind::ScaleApplication => {
                let Some(app) = app else { return true };
                let active = self.active_of(app_id);
                active.len() == app.instances.max(0) as usize
                    && active.iter().all(|i| self.is_ready(i, Some(app)))
                    && self.killing_of(app_id) == 0
            }
            ActionKind::RestartApplication => {
                let Some(app) = app else { return true };
                roll(&self.roll_view(app)).done && self.killing_of(app_id) == 0
            }
        }
    }

    fn roll_view(&self, app: &AppDefinition) -> RollView {
        self.roll_view_of(app, &self.active_of(&app.id))
    }

    /// The rolling-restart view of `app` given its active instances.
    fn roll_view_of(&self, app: &AppDefinition, active: &[&super::Instance]) -> RollView {
        let config = config_version(app);
        let mut v = RollView {
            target: app.instances.max(0) as u32,
            min_health_capacity: app.upgrade_strategy.minimum_health_capacity,
            max_over_capacity: app.upgrade_strategy.maximum_over_capacity,
            old_active: 0,
            old_ready: 0,
            new_active: 0,
            new_ready: 0,
        };
        for i in active {
            let ready = self.is_ready(i, Some(app));
            if i.config_version == config {
                v.new_active += 1;
                v.new_ready += ready as u32;
            } else {
                v.old_active += 1;
                v.old_ready += ready as u32;
            }
        }
        v
    }

    /// Advance deployments, then decide launches and kills. Returns the launch
    /// demand per app (what offers should be used for).
    pub(crate) fn converge(&mut self, now: f64, out: &mut Vec<Output>) -> BTreeMap<String, u32> {
        self.advance_deployments(now, out);
        // Active instances by app, built once (this runs after every input).
        let mut active_by_app: BTreeMap<&str, Vec<&super::Instance>> = BTreeMap::new();
        for i in self.instances.values().filter(|i| i.is_active()) {
            active_by_app.entry(i.app_id.as_str()).or_default().push(i);
        }
        let mut ids: Vec<&str> = self.apps.keys().map(String::as_str).collect();
        ids.extend(active_by_app.keys().copied());
        ids.sort();
        ids.dedup();
        let mut demand = BTreeMap::new();
        let mut kills = Vec::new();
        for id in ids {
            let active = active_by_app.get(id).cloned().unwrap_or_default();
            let Some(app) = self.apps.get(id) else {
                // Removed: every instance goes.
                kills.extend(active.iter().map(|i| i.task_id.clone()));
                continue;
            };
            let (action, held) = self.deployment_action(id);
            if held {
                continue;
            }
            match action {
                Some(ActionKind::StartApplication) => {}
                Some(ActionKind::StopApplication) => {
                    kills.extend(active.iter().map(|i| i.task_id.clone()));
                }
                Some(ActionKind::RestartApplication) => {
                    let d = roll(&self.roll_view_of(app, &active));
                    if d.kill_old > 0 {
                        let config = config_version(app);
                        let old: Vec<_> = active
                            .iter()
                            .copied()
                            .filter(|i| i.config_version != config)
                            .collect();
                        kills.extend(self.choose_victims(
                            old,
                            app.kill_selection,
                            d.kill_old as usize,
                        ));
                    }
                    if d.launch_new > 0 {
                        demand.insert(id.to_string(), d.launch_new);
                    }
                }
                Some(ActionKind::ScaleApplication) | None => {
                    let want = app.instances.max(0) as usize;
                    let have = active.len();
                    if have > want {
                        kills.extend(self.choose_victims(active, app.kill_selection, have - want));
                    } else if have < want {
                        demand.insert(id.to_string(), (want - have) as u32);
                    }
                }
            }
        }
        for t in kills {
            self.kill_instance(now, &t, out);
        }
        // A delay is forgotten after a quiet period: maxLaunchDelaySeconds without a
        // failure (Marathon's RateLimiter.cleanUpOverdueDelays).
        let apps = &self.apps;
        self.backoffs.retain(|id, b| {
            let failed_at = b.not_before() - b.delay();
            apps.get(id)
                .is_some_and(|a| now <= failed_at + a.max_launch_delay_seconds.max(0) as f64)
        });
        // Backoff holds launches back (the queue shows the delay).
        for (app, n) in demand.iter_mut() {
            self.queued_since.entry(app.clone()).or_insert(now);
            if self.backoffs.get(app).is_some_and(|b| !b.ready(now)) {
                *n = 0;
            }
        }
        let waiting: Vec<String> = self.queued_since.keys().cloned().collect();
        for app in waiting {
            if !demand.contains_key(&app) {
                self.queued_since.remove(&app);
                self.offer_stats.remove(&app);
            }
        }
        self.demand = demand.clone();
        demand
    }

    fn advance_deployments(&mut self, now: f64, out: &mut Vec<Output>) {
        let mut finished = Vec::new();
        for idx in 0..self.deployments.len() {
            loop {
                let d = &self.deployments[idx];
                if d.current_step == 0 {
                    let d = &mut self.deployments[idx];
                    d.current_step = 1;
                    let ev = self.deployment_event("deployment_info", idx, now);
                    out.push(Output::Event(ev));
                    continue;
                }
                if d.current_step > d.steps.len() {
                    finished.push(d.id.clone());
                    break;
                }
                let done = d
                    .current_actions()
                    .iter()
                    .all(|a| self.action_done(a.kind, &a.app));
                if !done {
                    break;
                }
                let ev = self.deployment_event("deployment_step_success", idx, now);
                out.push(Output::Event(ev));
                let d = &mut self.deployments[idx];
                d.current_step += 1;
                if d.current_step <= d.steps.len() {
                    let ev = self.deployment_event("deployment_info", idx, now);
                    out.push(Output::Event(ev));
                }
            }
        }
        for id in finished {
            let Some(pos) = self.deployments.iter().position(|d| d.id == id) else {
                continue;
            };
            let ev = self.deployment_event("deployment_success", pos, now);
            let d = self.deployments.remove(pos);
            out.push(Output::Event(ev));
            for app in &d.affected {
                if !self.apps.contains_key(app) {
                    out.push(Output::Event(crate::events::app_terminated_event(
                        &iso8601(now),
                        app,
                    )));
                }
            }
            out.push(Output::Store(vec![StoreOp::Delete(format!(
                "deployment/{}",
                d.id
            ))]));
        }
    }
}

/// The config version of an app: what tasks compare against to know whether a
/// restart replaces them.
pub(crate) fn config_version(app: &AppDefinition) -> String {
    app.version_info
        .as_ref()
        .map(|v| v.last_config_change_at.clone())
        .or_else(|| app.version.clone())
        .unwrap_or_default()
}
