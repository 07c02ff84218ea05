//! Read-only views of the agent state: `/state` JSON and `/metrics/snapshot`.

use crate::agent::Agent;
use crate::state::*;
use mesos_proto::ids::*;
use mesos_proto::resources::Resources;
use mesos_proto::v1::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Static facts the views need from the shell.
#[derive(Clone, Debug, Default)]
pub struct ViewContext {
    pub flags: BTreeMap<String, String>,
    pub master_hostname: Option<String>,
}

fn task_json(agent_id: &str, t: &TaskRecord, command_executor: bool) -> Value {
    let resources = Resources::from_wire(&t.info.resources).unwrap_or_default();
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(s, ts)| json!({"state": s.as_str(), "timestamp": ts}))
        .collect();
    let mut v = json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": t.framework_id.value,
        "executor_id": if command_executor { String::new() } else { t.executor_id.value.clone() },
        "slave_id": agent_id,
        "state": t.state.as_str(),
        "resources": resources.summary(),
        "statuses": statuses,
    });
    if let Some(d) = &t.info.discovery {
        v["discovery"] = d.clone();
    }
    if let Some(c) = &t.info.container {
        v["container"] = c.clone();
    }
    if let Some(l) = t.info.labels.as_ref().and_then(|l| l.get("labels")) {
        v["labels"] = l.clone();
    }
    v
}

impl Agent {
    fn executor_resources(&self, e: &ExecutorRecord) -> Resources {
        let mut r = Resources::from_wire(&e.info.resources).unwrap_or_default();
        let ekey = (e.framework_id.clone(), e.info.executor_id.clone());
        for t in self.executor_tasks(&ekey) {
            if !t.state.is_terminal() {
                if let Ok(tr) = Resources::from_wire(&t.info.resources) {
                    r = r.checked_add(&tr).unwrap_or(r);
                }
            }
        }
        r
    }

    fn executor_json(&self, aid: &str, e: &ExecutorRecord, live: bool) -> Value {
        let mine = |t: &&TaskRecord| {
            t.framework_id == e.framework_id && t.executor_id == e.info.executor_id
        };
        let (mut tasks, mut queued) = (Vec::new(), Vec::new());
        if live {
            let ekey = (e.framework_id.clone(), e.info.executor_id.clone());
            let mut active: Vec<&TaskRecord> = self.executor_tasks(&ekey).filter(mine).collect();
            active.sort_by_key(|t| t.seq);
            for t in active {
                let j = task_json(aid, t, e.command_executor);
                if t.launched || t.state != TaskState::TaskStaging {
                    tasks.push(j);
                } else {
                    queued.push(j);
                }
            }
        }
        let completed: Vec<Value> = self
            .completed_tasks
            .iter()
            .filter(mine)
            .map(|t| task_json(aid, t, e.command_executor))
            .collect();
        json!({
            "id": e.info.executor_id.value,
            "name": e.info.name.clone().unwrap_or_default(),
            "source": e.info.source.clone().unwrap_or_default(),
            "container": e.container_id.value,
            "directory": e.sandbox.display().to_string(),
            "framework_id": e.framework_id.value,
            "resources": if live { self.executor_resources(e).summary() } else { Resources::new().summary() },
            "tasks": tasks,
            "queued_tasks": queued,
            "completed_tasks": completed,
        })
    }

    /// A framework of `/state`: an active one (`live`) with its executors, or one in
    /// `completed_frameworks`, which runs nothing. A framework that came back after being
    /// completed is listed in both, its executors (running and completed) under the active
    /// entry only.
    fn framework_json(
        &self,
        aid: &str,
        id: &FrameworkId,
        info: &FrameworkInfo,
        live: bool,
    ) -> Value {
        let executors: Vec<Value> = self
            .executors
            .values()
            .filter(|e| live && &e.framework_id == id)
            .map(|e| self.executor_json(aid, e, true))
            .collect();
        let shown_here = live || !self.frameworks.contains_key(id);
        let completed: Vec<Value> = self
            .completed_executors
            .iter()
            .filter(|e| shown_here && &e.framework_id == id)
            .map(|e| self.executor_json(aid, e, false))
            .collect();
        let mut v = json!({
            "id": id.value,
            "name": info.name,
            "user": info.user,
            "failover_timeout": info.failover_timeout,
            "checkpoint": info.checkpoint,
            "hostname": info.hostname.clone().unwrap_or_default(),
            "capabilities": info.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
            "executors": executors,
            "completed_executors": completed,
        });
        if info.has_capability("MULTI_ROLE") {
            v["roles"] = json!(info.roles);
        } else {
            v["role"] = json!(info.role.clone().unwrap_or_else(|| "*".into()));
        }
        if let Some(p) = &info.principal {
            v["principal"] = json!(p);
        }
        v
    }

    /// The agent's `/state` document.
    pub fn state_json(&self, now: Duration, ctx: &ViewContext) -> Value {
        let aid = self
            .agent_id
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        let mut attributes = Map::new();
        for a in &self.cfg.attributes {
            attributes.insert(a.name.clone(), a.state_value());
        }
        let frameworks: Vec<Value> = self
            .frameworks
            .iter()
            .map(|(id, f)| self.framework_json(&aid, id, f, true))
            .collect();
        let completed: Vec<Value> = self
            .completed_frameworks
            .iter()
            .filter_map(|f| {
                f.id.as_ref()
                    .map(|id| self.framework_json(&aid, id, f, false))
            })
            .collect();
        let mut v = json!({
            "version": mesos_proto::MESOS_VERSION,
            "id": aid,
            "pid": format!("slave(1)@{}:{}", self.cfg.ip, self.cfg.port),
            "hostname": self.cfg.hostname,
            "port": self.cfg.port,
            "start_time": self.started.as_secs_f64(),
            "uptime_secs": now.saturating_sub(self.started).as_secs_f64(),
            "resources": self.cfg.resources.summary(),
            "unreserved_resources": self.cfg.resources.summary(),
            "reserved_resources": {},
            "attributes": Value::Object(attributes),
            "flags": ctx.flags,
            "frameworks": frameworks,
            "completed_frameworks": completed,
            "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        });
        if let Some(h) = &ctx.master_hostname {
            v["master_hostname"] = json!(h);
        }
        v
    }

    /// The agent's `/metrics/snapshot` document.
    pub fn metrics(&self, now: Duration) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: f64| {
            m.insert(format!("slave/{k}"), json!(v));
        };
        put("registered", if self.registered { 1.0 } else { 0.0 });
        put(
            "uptime_secs",
            now.saturating_sub(self.started).as_secs_f64(),
        );
        let count = |s: TaskState| {
            let live = self.tasks.values().filter(|t| t.state == s).count();
            let done = self.completed_tasks.iter().filter(|t| t.state == s).count();
            (live + if s.is_terminal() { done } else { 0 }) as f64
        };
        for (name, s) in [
            ("staging", TaskState::TaskStaging),
            ("starting", TaskState::TaskStarting),
            ("running", TaskState::TaskRunning),
            ("killing", TaskState::TaskKilling),
            ("finished", TaskState::TaskFinished),
            ("failed", TaskState::TaskFailed),
            ("killed", TaskState::TaskKilled),
            ("lost", TaskState::TaskLost),
            ("error", TaskState::TaskError),
        ] {
            put(&format!("tasks_{name}"), count(s));
        }
        let (mut registering, mut running, mut terminating) = (0.0, 0.0, 0.0);
        let mut used = Resources::new();
        for e in self.executors.values() {
            match e.phase {
                Phase::Launching { .. } | Phase::Disconnected { .. } => registering += 1.0,
                Phase::Subscribed { .. } => running += 1.0,
                Phase::ShuttingDown { .. } | Phase::Destroying => terminating += 1.0,
            }
            let r = self.executor_resources(e);
            used = used.checked_add(&r).unwrap_or(used);
        }
        put("executors_registering", registering);
        put("executors_running", running);
        put("executors_terminating", terminating);
        put(
            "executors_terminated",
            self.completed_executors.len() as f64,
        );
        put("frameworks_active", self.frameworks.len() as f64);
        let total = &self.cfg.resources;
        for k in ["cpus", "mem", "disk", "gpus"] {
            let t = total.quantity(k);
            let u = used.quantity(k);
            put(&format!("{k}_total"), t);
            put(&format!("{k}_used"), u);
            put(&format!("{k}_percent"), if t > 0.0 { u / t } else { 0.0 });
        }
        Value::Object(m)
    }
}
