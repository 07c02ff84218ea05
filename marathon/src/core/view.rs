//! Reading the state: AppInfo, tasks, deployments, groups and the queue in the JSON
//! shapes of spec A4-A8 (1.5+ form, fields python marathon 0.13.0 accepts).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::model::Instance;
use super::{state_name, under, Marathon};
use crate::app::canonical_id;
use crate::health::{iso8601, result_json};
use crate::plan::{Action, ActionKind};

/// Which optional parts an AppInfo carries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Embed {
    pub counts: bool,
    pub deployments: bool,
    pub tasks: bool,
    pub last_task_failure: bool,
    pub task_stats: bool,
    pub readiness: bool,
}

impl Embed {
    /// `GET /v2/apps/{id}` embeds everything but task stats by default.
    pub fn for_app_get() -> Self {
        Embed {
            counts: true,
            deployments: true,
            tasks: true,
            last_task_failure: true,
            task_stats: false,
            readiness: true,
        }
    }

    /// From `embed` query values (prefixes `app.`, `apps.`, `group.apps.`); `base`
    /// is what is embedded regardless.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>, base: Embed) -> Self {
        let mut e = base;
        for v in values {
            let suffix = v
                .strip_prefix("group.apps.")
                .or_else(|| v.strip_prefix("apps."))
                .or_else(|| v.strip_prefix("app."))
                .unwrap_or("");
            match suffix {
                "counts" => e.counts = true,
                "deployments" => e.deployments = true,
                "tasks" => {
                    e.tasks = true;
                    e.deployments = true;
                }
                "lastTaskFailure" => e.last_task_failure = true,
                "taskStats" => e.task_stats = true,
                "readiness" => e.readiness = true,
                "failures" => {
                    e.tasks = true;
                    e.last_task_failure = true;
                    e.deployments = true;
                }
                _ => {}
            }
        }
        e
    }
}

/// One term of a label selector.
enum LabelTerm {
    Exists(String),
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// Parse `k`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, joined by commas.
fn parse_selector(s: &str) -> Result<Vec<LabelTerm>, String> {
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    let mut parts = Vec::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    for p in parts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let r = rest.trim();
            let inner = r
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("Invalid label selector: {p}"))?;
            Ok(inner.split(',').map(|x| x.trim().to_string()).collect())
        };
        if let Some((k, v)) = p.split_once("==") {
            terms.push(LabelTerm::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("!=") {
            terms.push(LabelTerm::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = p.split_once(" notin ") {
            terms.push(LabelTerm::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = p.split_once(" in ") {
            terms.push(LabelTerm::In(k.trim().into(), set(rest)?));
        } else {
            terms.push(LabelTerm::Exists(p.to_string()));
        }
    }
    Ok(terms)
}

fn selector_matches(terms: &[LabelTerm], labels: &BTreeMap<String, String>) -> bool {
    terms.iter().all(|t| match t {
        LabelTerm::Exists(k) => labels.contains_key(k),
        LabelTerm::Eq(k, v) => labels.get(k) == Some(v),
        LabelTerm::Ne(k, v) => labels.get(k) != Some(v),
        LabelTerm::In(k, vs) => labels.get(k).is_some_and(|x| vs.contains(x)),
        LabelTerm::NotIn(k, vs) => labels.get(k).is_none_or(|x| !vs.contains(x)),
    })
}

fn action_json(a: &Action) -> Value {
    let name = match a.kind {
        ActionKind::StartApplication => "StartApplication",
        ActionKind::StopApplication => "StopApplication",
        ActionKind::ScaleApplication => "ScaleApplication",
        ActionKind::RestartApplication => "RestartApplication",
    };
    json!({"action": name, "app": a.app})
}

impl Marathon {
    pub(crate) fn task_json(&self, i: &Instance) -> Value {
        let app = self.apps.get(&i.app_id);
        let checks = app.map(super::marathon_level_checks).unwrap_or_default();
        let mut results: Vec<Value> = i
            .health
            .iter()
            .take(checks.len())
            .map(|h| result_json(h, i.instance_id()))
            .collect();
        if let Some(h) = i.mesos_healthy {
            results.push(json!({
                "alive": h, "consecutiveFailures": if h { 0 } else { 1 },
                "firstSuccess": if h { Value::from(iso8601(i.started_at.unwrap_or(i.staged_at))) } else { Value::Null },
                "lastSuccess": Value::Null, "lastFailure": Value::Null,
                "lastFailureCause": Value::Null, "instanceId": i.instance_id(),
            }));
        }
        let state = if i.killing && !i.state.is_terminal() {
            "TASK_KILLING"
        } else {
            state_name(i.state)
        };
        let mut t = json!({
            "appId": i.app_id, "id": i.task_id, "host": i.host, "slaveId": i.agent_id,
            "state": state, "stagedAt": iso8601(i.staged_at),
            "version": i.version, "ports": i.ports, "servicePorts": i.service_ports,
            "ipAddresses": i.ip_addresses_json(), "localVolumes": [],
        });
        if let Some(s) = i.started_at {
            t["startedAt"] = json!(iso8601(s));
        }
        if !results.is_empty() {
            t["healthCheckResults"] = json!(results);
        }
        t
    }

    fn counts(&self, app_id: &str) -> (usize, usize, usize, usize) {
        let app = self.apps.get(app_id);
        let has_checks = app.is_some_and(|a| !a.health_checks.is_empty());
        let (mut staged, mut running, mut healthy, mut unhealthy) = (0, 0, 0, 0);
        for i in self.instances.values().filter(|i| i.app_id == app_id) {
            if i.state.is_terminal() {
                continue;
            }
            if i.is_running() {
                running += 1;
                if has_checks {
                    if self.is_ready(i, app) {
                        healthy += 1;
                    } else if i
                        .health
                        .iter()
                        .any(|h| !h.alive && h.last_failure.is_some())
                        || i.mesos_healthy == Some(false)
                    {
                        unhealthy += 1;
                    }
                }
            } else if matches!(
                i.state,
                mesos_core::proto::v1::TaskState::TaskStaging
                    | mesos_core::proto::v1::TaskState::TaskStarting
            ) {
                staged += 1;
            }
        }
        (staged, running, healthy, unhealthy)
    }

    fn deployment_ids_of(&self, app_id: &str) -> Vec<Value> {
        self.deployments
            .iter()
            .filter(|d| d.affected.contains(app_id))
            .map(|d| json!({"id": d.id}))
            .collect()
    }

    fn render_app(&self, now: f64, app: &crate::app::AppDefinition, embed: &Embed) -> Value {
        let mut v = serde_json::to_value(app).expect("apps serialize");
        let id = app.id.as_str();
        if embed.counts {
            let (s, r, h, u) = self.counts(id);
            v["tasksStaged"] = json!(s);
            v["tasksRunning"] = json!(r);
            v["tasksHealthy"] = json!(h);
            v["tasksUnhealthy"] = json!(u);
        }
        if embed.deployments {
            v["deployments"] = json!(self.deployment_ids_of(id));
        }
        if embed.readiness {
            v["readinessCheckResults"] = json!([]);
        }
        if embed.tasks {
            v["tasks"] = json!(self
                .instances
                .values()
                .filter(|i| i.app_id == id && !i.state.is_terminal())
                .map(|i| self.task_json(i))
                .collect::<Vec<_>>());
        }
        if embed.last_task_failure {
            if let Some(f) = self.failures.get(id) {
                v["lastTaskFailure"] = json!({
                    "appId": f.app_id, "host": f.host, "message": f.message, "state": f.state,
                    "taskId": f.task_id, "timestamp": iso8601(f.timestamp), "version": f.version,
                    "slaveId": f.agent_id,
                });
            }
        }
        if embed.task_stats {
            v["taskStats"] = self.task_stats(now, app);
        }
        v
    }

    fn task_stats(&self, now: f64, app: &crate::app::AppDefinition) -> Value {
        let config = super::deploy::config_version(app);
        let scaled = app
            .version_info
            .as_ref()
            .map(|v| v.last_scaling_at.clone())
            .unwrap_or_default();
        let mut groups: BTreeMap<&str, Vec<&Instance>> = BTreeMap::new();
        for i in self
            .instances
            .values()
            .filter(|i| i.app_id == app.id && !i.state.is_terminal())
        {
            groups.entry("totalSummary").or_default().push(i);
            if i.config_version == config {
                groups.entry("withLatestConfig").or_default().push(i);
            } else {
                groups.entry("withOutdatedConfig").or_default().push(i);
            }
            if iso8601(i.staged_at) >= scaled {
                groups.entry("startedAfterLastScaling").or_default().push(i);
            }
        }
        let mut out = Map::new();
        for (k, list) in groups {
            let (mut staged, mut running, mut healthy, mut unhealthy) = (0, 0, 0, 0);
            let mut lifetimes: Vec<f64> = Vec::new();
            for i in &list {
                if i.is_running() {
                    running += 1;
                    if self.is_ready(i, Some(app)) && !app.health_checks.is_empty() {
                        healthy += 1;
                    } else if !app.health_checks.is_empty() {
                        unhealthy += 1;
                    }
                } else {
                    staged += 1;
                }
                if let Some(s) = i.started_at {
                    lifetimes.push((now - s).max(0.0));
                }
            }
            lifetimes.sort_by(f64::total_cmp);
            let mut stats = json!({"counts": {"staged": staged, "running": running,
                                              "healthy": healthy, "unhealthy": unhealthy}});
            if !lifetimes.is_empty() {
                let avg = lifetimes.iter().sum::<f64>() / lifetimes.len() as f64;
                let median = lifetimes[lifetimes.len() / 2];
                stats["lifeTime"] = json!({"averageSeconds": avg, "medianSeconds": median});
            }
            out.insert(k.to_string(), json!({"stats": stats}));
        }
        Value::Object(out)
    }

    /// `GET /v2/apps/{id}` body's `app`.
    pub fn app_info(&self, now: f64, id: &str, embed: &Embed) -> Option<Value> {
        let id = canonical_id(id);
        self.apps.get(&id).map(|a| self.render_app(now, a, embed))
    }

    /// `GET /v2/apps` with its filters. Counts and deployments are always embedded.
    pub fn list_apps(
        &self,
        now: f64,
        cmd: Option<&str>,
        id: Option<&str>,
        label: Option<&str>,
        embed: &Embed,
    ) -> Result<Vec<Value>, super::ApiError> {
        let terms = match label {
            Some(l) => parse_selector(l).map_err(|e| super::ApiError::new(400, e))?,
            None => Vec::new(),
        };
        let mut embed = *embed;
        embed.counts = true;
        embed.deployments = true;
        Ok(self
            .apps
            .values()
            .filter(|a| {
                cmd.is_none_or(|c| {
                    a.cmd
                        .as_deref()
                        .is_some_and(|x| x.to_lowercase().contains(&c.to_lowercase()))
                })
            })
            .filter(|a| id.is_none_or(|i| a.id.to_lowercase().contains(&i.to_lowercase())))
            .filter(|a| selector_matches(&terms, &a.labels))
            .map(|a| self.render_app(now, a, &embed))
            .collect())
    }

    /// Apps directly or indirectly under a group (`GET /v2/apps/<group>/*`).
    pub fn apps_under(&self, now: f64, group: &str, embed: &Embed) -> Vec<Value> {
        let g = canonical_id(group);
        self.apps
            .values()
            .filter(|a| under(&g, &a.id) && a.id != g)
            .map(|a| self.render_app(now, a, embed))
            .collect()
    }

    /// Tasks of an app, or None if the app does not exist.
    pub fn app_tasks(&self, id: &str) -> Option<Vec<Value>> {
        let id = canonical_id(id);
        self.apps.get(&id)?;
        Some(
            self.instances
                .values()
                .filter(|i| i.app_id == id && !i.state.is_terminal())
                .map(|i| self.task_json(i))
                .collect(),
        )
    }

    /// `GET /v2/tasks`, optionally only `running` / `staging` ones.
    pub fn all_tasks(&self, statuses: &[String]) -> Vec<Value> {
        self.instances
            .values()
            .filter(|i| !i.state.is_terminal())
            .filter(|i| {
                statuses.is_empty()
                    || statuses.iter().any(|s| match s.to_lowercase().as_str() {
                        "running" => i.is_running(),
                        "staging" => !i.is_running(),
                        _ => false,
                    })
            })
            .map(|i| self.task_json(i))
            .collect()
    }

    pub fn task_exists(&self, task_id: &str) -> bool {
        self.instances.contains_key(task_id)
    }

    pub fn app_versions(&self, id: &str) -> Option<Vec<String>> {
        let id = canonical_id(id);
        self.apps.get(&id)?;
        let mut v: Vec<String> = self
            .versions
            .get(&id)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.reverse();
        Some(v)
    }

    pub fn app_version(&self, id: &str, version: &str) -> Option<Value> {
        let id = canonical_id(id);
        let app = self.versions.get(&id)?.get(version)?;
        Some(serde_json::to_value(app).expect("apps serialize"))
    }

    /// `GET /v2/deployments`.
    pub fn deployments_json(&self) -> Vec<Value> {
        self.deployments
            .iter()
            .map(|d| {
                json!({
                    "id": d.id, "version": d.version,
                    "affectedApps": d.affected.iter().collect::<Vec<_>>(), "affectedPods": [],
                    "steps": d.steps.iter().map(|s| json!({"actions": s.iter().map(action_json).collect::<Vec<_>>()})).collect::<Vec<_>>(),
                    "currentActions": d.current_actions().iter().map(|a| {
                        let mut v = action_json(a);
                        v["readinessCheckResults"] = json!([]);
                        v
                    }).collect::<Vec<_>>(),
                    "currentStep": d.current_step.min(d.steps.len()),
                    "totalSteps": d.steps.len(),
                })
            })
            .collect()
    }

    /// A `deployment_*` event with the heavy plan (original/target groups), which
    /// python marathon 0.13.0 needs.
    pub(crate) fn deployment_event(&self, kind: &str, idx: usize, now: f64) -> Value {
        let d = &self.deployments[idx];
        let group = |apps: &BTreeMap<String, crate::app::AppDefinition>| {
            json!({"id": "/", "apps": apps.values().collect::<Vec<_>>(), "groups": [],
                   "pods": [], "dependencies": [], "version": d.version})
        };
        let steps: Vec<Value> = d
            .steps
            .iter()
            .map(|s| json!({"actions": s.iter().map(action_json).collect::<Vec<_>>()}))
            .collect();
        let plan = json!({"id": d.id, "original": group(&d.original), "target": group(&d.target),
                          "steps": steps, "version": d.version});
        let mut ev = json!({"eventType": kind, "timestamp": iso8601(now), "plan": plan});
        if kind == "deployment_success" || kind == "deployment_failed" {
            ev["id"] = json!(d.id);
        } else {
            ev["currentStep"] =
                json!({"actions": d.current_actions().iter().map(action_json).collect::<Vec<_>>()});
        }
        ev
    }

    /// Whether `id` names a group (explicit, implicit through apps, or the root).
    pub fn has_group(&self, id: &str) -> bool {
        let g = canonical_id(id);
        g == "/"
            || self.groups.contains_key(&g)
            || self.apps.keys().any(|a| a.starts_with(&format!("{g}/")))
    }

    /// GroupInfo of `id` (None if it does not exist).
    pub fn group_json(
        &self,
        now: f64,
        id: &str,
        embed_groups: bool,
        embed_apps: bool,
        app_embed: &Embed,
    ) -> Option<Value> {
        let g = canonical_id(id);
        if !self.has_group(&g) {
            return None;
        }
        Some(self.render_group(now, &g, embed_groups, embed_apps, app_embed))
    }

    fn render_group(
        &self,
        now: f64,
        g: &str,
        embed_groups: bool,
        embed_apps: bool,
        app_embed: &Embed,
    ) -> Value {
        let depth = if g == "/" { 0 } else { g.matches('/').count() };
        let direct_parent = |id: &str| -> Option<String> {
            let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
            (segs.len() > depth).then(|| format!("/{}", segs[..=depth].join("/")))
        };
        let apps: Vec<Value> = if embed_apps {
            self.apps
                .values()
                .filter(|a| under(g, &a.id) && a.id != g && a.id.matches('/').count() == depth + 1)
                .map(|a| self.render_app(now, a, app_embed))
                .collect()
        } else {
            Vec::new()
        };
        let mut children: Vec<String> = Vec::new();
        if embed_groups {
            let candidates = self
                .apps
                .keys()
                .filter(|a| a.matches('/').count() > depth + 1)
                .chain(self.groups.keys());
            for c in candidates {
                if !under(g, c) || c == g {
                    continue;
                }
                if let Some(p) = direct_parent(c) {
                    if p != g
                        && !children.contains(&p)
                        && (c.matches('/').count() > depth + 1 || self.groups.contains_key(c))
                    {
                        children.push(p);
                    }
                }
            }
            children.sort();
        }
        let groups: Vec<Value> = children
            .iter()
            .map(|c| self.render_group(now, c, embed_groups, embed_apps, app_embed))
            .collect();
        let meta = self.groups.get(g);
        let version = meta
            .map(|m| m.version.clone())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| {
                if self.root_version.is_empty() {
                    iso8601(now)
                } else {
                    self.root_version.clone()
                }
            });
        json!({
            "id": g, "apps": apps, "groups": groups, "pods": [],
            "dependencies": meta.map(|m| m.dependencies.clone()).unwrap_or_default(),
            "version": version,
        })
    }

    /// `GET /v2/queue`.
    pub fn queue_json(&self, now: f64, embed_offers: bool) -> Value {
        let mut items = Vec::new();
        for (app_id, since) in &self.queued_since {
            let Some(app) = self.apps.get(app_id) else {
                continue;
            };
            let wanted = self.demand.get(app_id).copied().unwrap_or(0);
            let active = self
                .instances
                .values()
                .filter(|i| i.app_id == *app_id && i.is_active())
                .count() as i64;
            let count = (app.instances - active).max(wanted as i64).max(0);
            let left = self
                .backoffs
                .get(app_id)
                .map(|b| b.time_left(now))
                .unwrap_or(0.0);
            let stats = self.offer_stats.get(app_id);
            let mut item = json!({
                "app": app, "count": count,
                "delay": {"timeLeftSeconds": left.ceil() as i64, "overdue": left <= 0.0},
                "since": iso8601(*since),
                "processedOffersSummary": {
                    "processedOffersCount": stats.map(|s| s.processed).unwrap_or(0),
                    "unusedOffersCount": stats.map(|s| s.unused).unwrap_or(0),
                    "rejectSummaryLastOffers": super::model::REJECT_REASONS.iter().map(|r| {
                        let (declined, processed) = stats.and_then(|s| s.reasons.get(r)).copied().unwrap_or((0, 0));
                        json!({"reason": r, "declined": declined, "processed": processed})
                    }).collect::<Vec<_>>(),
                    "rejectSummaryLaunchAttempt": [],
                },
            });
            if let Some(t) = stats.and_then(|s| s.last_unused_at) {
                item["processedOffersSummary"]["lastUnusedOfferAt"] = json!(iso8601(t));
            }
            if let Some(t) = stats.and_then(|s| s.last_used_at) {
                item["processedOffersSummary"]["lastUsedOfferAt"] = json!(iso8601(t));
            }
            if embed_offers {
                item["lastUnusedOffers"] = json!(stats
                    .map(|s| s
                        .last_unused
                        .iter()
                        .map(|u| json!({"offer": u.offer, "reason": u.reasons, "timestamp": iso8601(u.at)}))
                        .collect::<Vec<_>>())
                    .unwrap_or_default());
            }
            items.push(item);
        }
        json!({ "queue": items })
    }
}
