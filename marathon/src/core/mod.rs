//! The scheduler core: Marathon's decisions as a plain state machine.
//!
//! Inputs are scheduler events from the master, health results, API commands and
//! ticks, each with `now` (seconds since the epoch). Outputs are scheduler calls,
//! store writes, Marathon events and health-check start/stop requests. No clock, no
//! I/O and no randomness here: ids come from a seeded generator, so tests replay
//! exactly.

mod commands;
mod deploy;
mod groups;
mod launch;
pub mod model;
mod persist;
pub mod view;

use std::collections::BTreeMap;

use mesos_core::proto::ids::{AgentId, TaskId};
use mesos_core::proto::scheduler::{
    Acknowledge, Call, Event, Kill, Reconcile, ReconcileTask, Roles,
};
use mesos_core::proto::v1::{KillPolicy, TaskState};
use serde_json::{json, Value};

use crate::app::{AppDefinition, HealthCheck};
use crate::backoff::Backoff;
use crate::events;
use crate::health::{iso8601, CheckState, Verdict};
use crate::store::StoreOp;

pub use commands::{ApiError, Created, DeploymentResult, UpdateOptions};
pub use model::{app_id_of_task, task_id_for, Deployment, GroupMeta, Instance};

/// Settings the core needs (a subset of the binary's flags).
#[derive(Debug, Clone)]
pub struct Config {
    pub framework_name: String,
    pub user: String,
    pub role: String,
    pub hostname: String,
    pub http_port: u16,
    pub master: String,
    pub zk: Option<String>,
    pub local_port_min: u16,
    pub local_port_max: u16,
    pub max_versions: usize,
    /// `refuse_seconds` of declined offers while something waits for offers.
    pub decline_offer_duration: f64,
    pub failover_timeout: f64,
    pub max_running_deployments: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            framework_name: "marathon".into(),
            user: "root".into(),
            role: "*".into(),
            hostname: "localhost".into(),
            http_port: 8080,
            master: "127.0.0.1:5050".into(),
            zk: None,
            local_port_min: 10000,
            local_port_max: 20000,
            max_versions: 50,
            decline_offer_duration: 5.0,
            failover_timeout: 604800.0,
            max_running_deployments: 100,
        }
    }
}

/// What the core asks its shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send a scheduler call to the master.
    Call(Box<Call>),
    /// Write to the store (before answering the request that caused it).
    Store(Vec<StoreOp>),
    /// Publish on `/v2/events`.
    Event(Value),
    /// Start Marathon-level health checks for a running task.
    StartHealth {
        task_id: String,
        host: String,
        ports: Vec<u16>,
        checks: Vec<HealthCheck>,
    },
    StopHealth {
        task_id: String,
    },
    /// Drop the subscription and subscribe again (e.g. the master forgot us).
    Resubscribe,
}

impl Output {
    pub fn call(c: Call) -> Output {
        Output::Call(Box::new(c))
    }
}

/// Deterministic uuid-shaped ids from a seed (the shell seeds it randomly).
#[derive(Debug, Clone)]
struct IdGen {
    seed: u64,
    n: u64,
}

impl IdGen {
    fn next(&mut self) -> String {
        self.n += 1;
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^ (z >> 31)
        };
        let a = mix(self
            .seed
            .wrapping_add(self.n.wrapping_mul(0x9e3779b97f4a7c15)));
        let b = mix(a ^ self.n);
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

/// Connection to the master, as the core sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Disconnected,
    Subscribed { master: String },
}

pub struct Marathon {
    pub(crate) cfg: Config,
    pub(crate) apps: BTreeMap<String, AppDefinition>,
    /// app id -> version -> definition (at most `max_versions` each).
    pub(crate) versions: BTreeMap<String, BTreeMap<String, AppDefinition>>,
    pub(crate) groups: BTreeMap<String, GroupMeta>,
    pub(crate) root_version: String,
    pub(crate) instances: BTreeMap<String, Instance>,
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) backoffs: BTreeMap<String, Backoff>,
    pub(crate) queued_since: BTreeMap<String, f64>,
    pub(crate) offer_stats: BTreeMap<String, model::OfferStats>,
    pub(crate) failures: BTreeMap<String, model::TaskFailure>,
    pub(crate) framework_id: Option<String>,
    pub(crate) connection: Connection,
    pub(crate) suppressed: bool,
    pub(crate) last_version_ms: i64,
    /// Launches wanted per app after the last convergence.
    pub(crate) demand: BTreeMap<String, u32>,
    /// Hostname and attributes of agents seen in offers (for constraints).
    pub(crate) agent_facts: BTreeMap<String, crate::constraints::AgentFacts>,
    ids: IdGen,
    last_reconcile_at: f64,
}

/// Seconds between explicit reconciliations while subscribed.
const RECONCILE_INTERVAL: f64 = 600.0;
/// Seconds before an unanswered kill is sent again.
const KILL_RETRY: f64 = 10.0;

impl Marathon {
    pub fn new(cfg: Config, seed: u64) -> Self {
        Marathon {
            cfg,
            apps: BTreeMap::new(),
            versions: BTreeMap::new(),
            groups: BTreeMap::new(),
            root_version: String::new(),
            instances: BTreeMap::new(),
            deployments: Vec::new(),
            backoffs: BTreeMap::new(),
            queued_since: BTreeMap::new(),
            offer_stats: BTreeMap::new(),
            failures: BTreeMap::new(),
            framework_id: None,
            connection: Connection::Disconnected,
            suppressed: false,
            last_version_ms: 0,
            demand: BTreeMap::new(),
            agent_facts: BTreeMap::new(),
            ids: IdGen { seed, n: 0 },
            last_reconcile_at: 0.0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    pub(crate) fn new_uuid(&mut self) -> String {
        self.ids.next()
    }

    /// A fresh app/group version: `now` in ms, strictly increasing.
    pub(crate) fn new_version(&mut self, now: f64) -> String {
        let ms = ((now * 1000.0) as i64).max(self.last_version_ms + 1);
        self.last_version_ms = ms;
        iso8601(ms as f64 / 1000.0)
    }

    /// The master accepted our subscription.
    pub fn subscribed(&mut self, now: f64, framework_id: &str, master: &str) -> Vec<Output> {
        let mut out = Vec::new();
        let first = self.framework_id.as_deref() != Some(framework_id);
        if first {
            self.framework_id = Some(framework_id.to_string());
            out.push(Output::Store(vec![StoreOp::Put(
                "framework-id".into(),
                framework_id.as_bytes().to_vec(),
            )]));
        }
        self.connection = Connection::Subscribed {
            master: master.to_string(),
        };
        self.suppressed = false;
        let ts = iso8601(now);
        out.push(Output::Event(if first {
            events::scheduler_registered_event(&ts, framework_id, master)
        } else {
            events::scheduler_reregistered_event(&ts, master)
        }));
        out.extend(self.reconcile_all(now));
        self.step(now, &mut out);
        out
    }

    /// The subscription ended (stream closed, master gone).
    pub fn disconnected(&mut self, now: f64) -> Vec<Output> {
        self.connection = Connection::Disconnected;
        vec![Output::Event(events::scheduler_disconnected_event(
            &iso8601(now),
        ))]
    }

    fn reconcile_all(&mut self, now: f64) -> Vec<Output> {
        self.last_reconcile_at = now;
        let tasks = self
            .instances
            .values()
            .map(|i| ReconcileTask {
                task_id: TaskId::new(i.task_id.clone()),
                agent_id: Some(AgentId::new(i.agent_id.clone())),
            })
            .collect();
        // Explicit for what we know, then implicit for what we might not.
        vec![
            Output::call(Call::Reconcile(Reconcile { tasks })),
            Output::call(Call::Reconcile(Reconcile { tasks: Vec::new() })),
        ]
    }

    /// One scheduler event.
    pub fn event(&mut self, now: f64, event: Event) -> Vec<Output> {
        self.events(now, [event])
    }

    /// Scheduler events that arrived together, applied in order. Apps converge once, after
    /// the last one, instead of after each (converging walks every instance). Offers see
    /// every earlier event: matching them converges first.
    pub fn events(&mut self, now: f64, events: impl IntoIterator<Item = Event>) -> Vec<Output> {
        let mut out = Vec::new();
        let mut unconverged = false;
        for event in events {
            match event {
                Event::Subscribed(s) => {
                    // Converges on its own.
                    out.extend(self.subscribed(now, &s.framework_id.value, ""));
                    continue;
                }
                Event::Offers(o) => self.offers(now, o.offers, &mut out),
                Event::Update(u) => self.status_update(now, u.status, &mut out),
                Event::Error(e) => {
                    tracing::error!("master sent ERROR: {}", e.message);
                    if e.message.contains("removed") {
                        // The framework was torn down: forget the id and start over.
                        self.framework_id = None;
                        out.push(Output::Store(vec![StoreOp::Delete("framework-id".into())]));
                    }
                    out.push(Output::Resubscribe);
                }
                Event::Message(msg) => out.push(Output::Event(events::framework_message_event(
                    &iso8601(now),
                    &msg.agent_id.value,
                    &msg.executor_id.value,
                    &msg.data,
                ))),
                Event::Rescind(_) | Event::Failure(_) | Event::Heartbeat => {}
            }
            unconverged = true;
        }
        if unconverged {
            self.step(now, &mut out);
        }
        out
    }

    /// Periodic work: kill retries, reconciliation, backoff expiry, deployments.
    pub fn tick(&mut self, now: f64) -> Vec<Output> {
        let mut out = Vec::new();
        if matches!(self.connection, Connection::Subscribed { .. }) {
            if now - self.last_reconcile_at >= RECONCILE_INTERVAL {
                out.extend(self.reconcile_all(now));
            }
            let retry: Vec<(String, String)> = self
                .instances
                .values_mut()
                .filter(|i| i.killing && i.last_kill_at.is_some_and(|t| now - t >= KILL_RETRY))
                .map(|i| {
                    i.last_kill_at = Some(now);
                    (i.task_id.clone(), i.agent_id.clone())
                })
                .collect();
            for (t, a) in retry {
                out.push(kill_call(&t, &a, None));
            }
        }
        self.step(now, &mut out);
        out
    }

    /// A Marathon-level health check result for a task.
    pub fn health_result(
        &mut self,
        now: f64,
        task_id: &str,
        check_index: usize,
        result: Result<(), String>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(inst) = self.instances.get_mut(task_id) else {
            return out;
        };
        let Some(check) = self
            .apps
            .get(&inst.app_id)
            .and_then(|a| marathon_level_checks(a).into_iter().nth(check_index))
        else {
            return out;
        };
        if inst.health.len() <= check_index {
            inst.health.resize(check_index + 1, CheckState::new());
        }
        let started = inst.started_at.unwrap_or(inst.staged_at);
        let failed = result.is_err();
        let verdict = inst.health[check_index].record(now, started, &check, result);
        let ts = iso8601(now);
        let (app_id, version, instance_id) = (
            inst.app_id.clone(),
            inst.version.clone(),
            inst.instance_id().to_string(),
        );
        if failed {
            out.push(Output::Event(events::failed_health_check_event(
                &ts,
                &app_id,
                &instance_id,
                serde_json::to_value(&check).unwrap_or_default(),
            )));
        }
        match verdict {
            Verdict::Unchanged => {}
            Verdict::Changed => {
                let alive = inst.health[check_index].alive;
                out.push(Output::Event(events::health_status_changed_event(
                    &ts,
                    &app_id,
                    &instance_id,
                    &version,
                    alive,
                )));
                out.push(Output::Event(events::instance_health_changed_event(
                    &ts,
                    &instance_id,
                    &app_id,
                    &version,
                    Some(alive),
                )));
            }
            Verdict::Kill => {
                let host = inst.host.clone();
                let agent = inst.agent_id.clone();
                let reason = format!(
                    "{} consecutive health check failures",
                    check.max_consecutive_failures
                );
                out.push(Output::Event(events::unhealthy_instance_kill_event(
                    &ts,
                    &app_id,
                    task_id,
                    &instance_id,
                    &version,
                    &reason,
                    &host,
                    &agent,
                )));
                self.kill_instance(now, task_id, &mut out);
            }
        }
        self.step(now, &mut out);
        out
    }

    /// Send a kill for one instance and stop counting it.
    pub(crate) fn kill_instance(&mut self, now: f64, task_id: &str, out: &mut Vec<Output>) {
        let grace = self
            .instances
            .get(task_id)
            .and_then(|i| self.apps.get(&i.app_id))
            .and_then(|a| a.task_kill_grace_period_seconds);
        let Some(inst) = self.instances.get_mut(task_id) else {
            return;
        };
        if inst.state.is_terminal() {
            return;
        }
        inst.killing = true;
        inst.last_kill_at = Some(now);
        out.push(kill_call(&inst.task_id, &inst.agent_id, grace));
        if inst.health_started {
            out.push(Output::StopHealth {
                task_id: inst.task_id.clone(),
            });
        }
    }

    fn status_update(
        &mut self,
        now: f64,
        status: mesos_core::proto::v1::TaskStatus,
        out: &mut Vec<Output>,
    ) {
        let task_id = status.task_id.value.clone();
        if let (Some(uuid), Some(agent)) = (&status.uuid, &status.agent_id) {
            out.push(Output::call(Call::Acknowledge(Acknowledge {
                agent_id: agent.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            })));
        }
        let ts = iso8601(now);
        let Some(inst) = self.instances.get_mut(&task_id) else {
            // Not ours (any more): kill it if it still runs.
            if !status.state.is_terminal() {
                if let Some(app_id) = app_id_of_task(&task_id) {
                    out.push(Output::Event(json!({
                        "eventType": "unknown_instance_terminated_event", "timestamp": ts,
                        "instanceId": task_id, "runSpecId": app_id, "condition": "Killed",
                    })));
                }
                let agent = status.agent_id.map(|a| a.value).unwrap_or_default();
                out.push(kill_call(&task_id, &agent, None));
            }
            return;
        };
        let old_state = inst.state;
        inst.state = status.state;
        if let Some(h) = status.healthy {
            inst.mesos_healthy = Some(h);
        }
        let ips = reported_ips(status.container_status.as_ref());
        if !ips.is_empty() {
            inst.ip_addresses = ips;
        }
        if status.state == TaskState::TaskRunning && inst.started_at.is_none() {
            inst.started_at = Some(status.timestamp.unwrap_or(now));
        }
        if let Some(agent) = &status.agent_id {
            if inst.agent_id.is_empty() {
                inst.agent_id = agent.value.clone();
            }
        }
        let inst = inst.clone();
        let ports: Vec<u32> = inst.ports.iter().map(|p| u32::from(*p)).collect();
        out.push(Output::Event(events::status_update_event(
            &ts,
            &inst.agent_id,
            &task_id,
            state_name(status.state),
            status.message.as_deref().unwrap_or_default(),
            &inst.app_id,
            &inst.host,
            &inst.ip_addresses,
            &ports,
            &inst.version,
        )));
        if old_state != status.state {
            out.push(Output::Event(events::instance_changed_event(
                &ts,
                inst.instance_id(),
                condition_name(status.state),
                &inst.app_id,
                &inst.agent_id,
                &inst.host,
                &inst.version,
            )));
        }
        if status.state.is_terminal() {
            self.instances.remove(&task_id);
            out.push(Output::Store(vec![StoreOp::Delete(format!(
                "instance/{task_id}"
            ))]));
            if inst.health_started {
                out.push(Output::StopHealth {
                    task_id: task_id.clone(),
                });
            }
            let failed = matches!(
                status.state,
                TaskState::TaskFailed
                    | TaskState::TaskError
                    | TaskState::TaskLost
                    | TaskState::TaskDropped
                    | TaskState::TaskGone
                    | TaskState::TaskFinished
            );
            if failed && !inst.killing {
                if let Some(app) = self.apps.get(&inst.app_id) {
                    self.backoffs
                        .entry(inst.app_id.clone())
                        .or_default()
                        .on_failure(
                            now,
                            app.backoff_seconds as f64,
                            app.backoff_factor,
                            app.max_launch_delay_seconds as f64,
                        );
                }
            }
            if status.state != TaskState::TaskKilled && !inst.killing {
                self.failures.insert(
                    inst.app_id.clone(),
                    model::TaskFailure {
                        app_id: inst.app_id.clone(),
                        host: inst.host.clone(),
                        message: status.message.clone().unwrap_or_default(),
                        state: state_name(status.state).to_string(),
                        task_id: task_id.clone(),
                        timestamp: now,
                        version: inst.version.clone(),
                        agent_id: inst.agent_id.clone(),
                    },
                );
            }
            return;
        }
        if old_state != status.state {
            let value = serde_json::to_vec(&inst).expect("instances serialize");
            out.push(Output::Store(vec![StoreOp::Put(
                format!("instance/{task_id}"),
                value,
            )]));
        }
        if status.state == TaskState::TaskRunning && !inst.health_started && !inst.killing {
            let checks = self
                .apps
                .get(&inst.app_id)
                .map(marathon_level_checks)
                .unwrap_or_default();
            if !checks.is_empty() {
                if let Some(i) = self.instances.get_mut(&task_id) {
                    i.health_started = true;
                    i.health = vec![CheckState::new(); checks.len()];
                }
                out.push(Output::StartHealth {
                    task_id: task_id.clone(),
                    host: inst.host.clone(),
                    ports: inst.ports.clone(),
                    checks,
                });
            }
        }
    }

    /// Launch demand changed: SUPPRESS when nothing waits, REVIVE when something does.
    pub(crate) fn update_suppression(&mut self, wanted: bool, out: &mut Vec<Output>) {
        if !matches!(self.connection, Connection::Subscribed { .. }) {
            return;
        }
        let roles = Roles {
            roles: vec![self.cfg.role.clone()],
        };
        if wanted && self.suppressed {
            self.suppressed = false;
            out.push(Output::call(Call::Revive(roles)));
        } else if !wanted && !self.suppressed {
            self.suppressed = true;
            out.push(Output::call(Call::Suppress(roles)));
        }
    }

    /// Advance deployments and converge every app (after each input).
    pub(crate) fn step(&mut self, now: f64, out: &mut Vec<Output>) {
        let demand = self.converge(now, out);
        self.update_suppression(demand.values().any(|n| *n > 0), out);
    }
}

pub(crate) fn kill_call(task_id: &str, agent_id: &str, grace: Option<i64>) -> Output {
    Output::call(Call::Kill(Kill {
        task_id: TaskId::new(task_id),
        agent_id: (!agent_id.is_empty()).then(|| AgentId::new(agent_id)),
        kill_policy: grace.map(|g| KillPolicy {
            grace_period: Some(mesos_core::proto::v1::DurationInfo {
                nanoseconds: g * 1_000_000_000,
            }),
        }),
    }))
}

/// The IP addresses in a status update's `container_status.network_infos`.
fn reported_ips(container_status: Option<&Value>) -> Vec<String> {
    container_status
        .and_then(|c| c.get("network_infos"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.get("ip_addresses").and_then(Value::as_array))
        .flatten()
        .filter_map(|a| a.get("ip_address").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The checks Marathon itself runs (HTTP, HTTPS, TCP); the others go to the executor.
pub(crate) fn marathon_level_checks(app: &AppDefinition) -> Vec<HealthCheck> {
    app.health_checks
        .iter()
        .filter(|h| matches!(h.protocol.as_str(), "HTTP" | "HTTPS" | "TCP"))
        .cloned()
        .collect()
}

pub(crate) fn state_name(s: TaskState) -> &'static str {
    s.as_str()
}

/// Marathon's instance condition names.
fn condition_name(s: TaskState) -> &'static str {
    match s {
        TaskState::TaskStaging => "Staging",
        TaskState::TaskStarting => "Starting",
        TaskState::TaskRunning => "Running",
        TaskState::TaskKilling => "Killing",
        TaskState::TaskFinished => "Finished",
        TaskState::TaskFailed => "Failed",
        TaskState::TaskKilled => "Killed",
        TaskState::TaskError => "Error",
        TaskState::TaskLost | TaskState::TaskUnreachable => "Unreachable",
        TaskState::TaskDropped => "Dropped",
        TaskState::TaskGone | TaskState::TaskGoneByOperator => "Gone",
        TaskState::TaskUnknown => "Unknown",
    }
}

/// Apps whose ids start with `group/` (or equal it); `/` is every app.
pub(crate) fn under(group: &str, id: &str) -> bool {
    group == "/" || id == group || id.starts_with(&format!("{group}/"))
}
#[cfg(test)]
mod tests;
