//! The v1 operator API (`POST /api/v1`): responses in protobuf JSON (spec 6.3).

use crate::snapshot::*;
use crate::state::*;
use mesos_proto::v1::DurationInfo;
use serde_json::{json, Value};

fn time(t: f64) -> Value {
    json!(DurationInfo::from_secs_f64(t))
}

pub fn task_proto(t: &TaskRecord) -> Value {
    let mut v = json!({
        "name": t.info.name,
        "task_id": t.info.task_id,
        "framework_id": t.framework_id,
        "agent_id": t.agent_id,
        "state": t.state.as_str(),
        "resources": t.resources.to_wire(Some("*")),
        "statuses": t.statuses,
    });
    if let Some(e) = &t.executor_id {
        v["executor_id"] = json!(e);
    }
    if let Some(last) = t.statuses.last() {
        v["status_update_state"] = json!(last.state.as_str());
        if let Some(u) = &last.uuid {
            v["status_update_uuid"] = json!(u);
        }
    }
    for (k, f) in [
        ("labels", &t.info.labels),
        ("discovery", &t.info.discovery),
        ("container", &t.info.container),
        ("health_check", &t.info.health_check),
    ] {
        if let Some(x) = f {
            v[k] = x.clone();
        }
    }
    v
}

pub fn agent_proto(a: &AgentView) -> Value {
    let r = &a.record;
    let mut v = json!({
        "agent_info": r.info,
        "active": r.status == AgentStatus::Active,
        "deactivated": false,
        "version": r.version,
        "pid": r.pid(),
        "registered_time": time(r.registered_time),
        "total_resources": r.total.to_wire(Some("*")),
        "allocated_resources": a.used.to_wire(Some("*")),
        "offered_resources": a.offered.to_wire(Some("*")),
        "capabilities": [{"type":"MULTI_ROLE"},{"type":"HIERARCHICAL_ROLE"},{"type":"RESERVATION_REFINEMENT"}],
    });
    if let Some(t) = r.reregistered_time {
        v["reregistered_time"] = time(t);
    }
    v
}

pub fn framework_proto(f: &FrameworkRecord, offers: &[OfferRecord]) -> Value {
    let mine: Vec<&OfferRecord> = offers
        .iter()
        .filter(|o| &o.framework_id == f.id())
        .collect();
    let offered = mine
        .iter()
        .fold(mesos_proto::resources::Resources::new(), |acc, o| {
            acc.aggregate(&o.resources)
        });
    let allocated = f
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal() && !t.resources_recovered)
        .fold(mesos_proto::resources::Resources::new(), |acc, t| {
            acc.aggregate(&t.resources)
        });
    let mut v = json!({
        "framework_info": f.info,
        "active": f.active,
        "connected": f.connected(),
        "recovered": f.recovered,
        "registered_time": time(f.registered_time),
        "allocated_resources": allocated.to_wire(Some("*")),
        "offered_resources": offered.to_wire(Some("*")),
        "offers": mine.iter().map(|o| json!({
            "id": o.id, "framework_id": o.framework_id, "agent_id": o.agent_id,
            "resources": o.resources.to_wire(Some("*")), "allocation_info": {"role": o.role},
        })).collect::<Vec<_>>(),
    });
    if let Some(t) = f.reregistered_time {
        v["reregistered_time"] = time(t);
    }
    if let Some(t) = f.unregistered_time {
        v["unregistered_time"] = time(t);
    }
    v
}

pub fn get_agents(s: &Snapshot) -> Value {
    json!({
        "agents": s.agents.iter().filter(|a| a.record.status == AgentStatus::Active).map(agent_proto).collect::<Vec<_>>(),
        "recovered_agents": s.agents.iter().filter(|a| matches!(a.record.status, AgentStatus::Recovered{..})).map(|a| &a.record.info).collect::<Vec<_>>(),
    })
}

pub fn get_frameworks(s: &Snapshot) -> Value {
    json!({
        "frameworks": s.frameworks.iter().map(|f| framework_proto(f, &s.offers)).collect::<Vec<_>>(),
        "completed_frameworks": s.completed_frameworks.iter().map(|f| framework_proto(f, &[])).collect::<Vec<_>>(),
    })
}

pub fn get_tasks(s: &Snapshot) -> Value {
    let mut tasks = Vec::new();
    let mut unreachable = Vec::new();
    let mut completed = Vec::new();
    for f in s.frameworks.iter().chain(s.completed_frameworks.iter()) {
        for t in f.tasks.values() {
            if t.state == mesos_proto::v1::TaskState::TaskUnreachable {
                unreachable.push(task_proto(t));
            } else {
                tasks.push(task_proto(t));
            }
        }
        completed.extend(f.completed_tasks.iter().map(|t| task_proto(t)));
    }
    json!({"tasks": tasks, "unreachable_tasks": unreachable, "completed_tasks": completed})
}

pub fn get_executors(s: &Snapshot) -> Value {
    let execs: Vec<Value> = s
        .frameworks
        .iter()
        .flat_map(|f| {
            f.executors.iter().flat_map(|(agent, m)| {
                m.values()
                    .map(move |e| json!({"agent_id": agent, "executor_info": e.info}))
            })
        })
        .collect();
    json!({"executors": execs})
}

pub fn get_state(s: &Snapshot) -> Value {
    json!({
        "get_tasks": get_tasks(s),
        "get_executors": get_executors(s),
        "get_frameworks": get_frameworks(s),
        "get_agents": get_agents(s),
    })
}

pub fn get_master(s: &Snapshot) -> Value {
    let mut v = json!({"master_info": s.master_info, "start_time": s.start_time});
    if let Some(t) = s.elected_time {
        v["elected_time"] = json!(t);
    }
    v
}

pub fn get_flags(s: &Snapshot) -> Value {
    json!({"flags": s.flags.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>()})
}

/// `UPDATE_QUOTA`'s payload: `force` and the configs (`{role, guarantees, limits}`, each
/// map `name -> {"value": x}`). Shape errors answer 400 as Mesos' protobuf parser would.
pub fn parse_update_quota(
    call: &Value,
) -> Result<(bool, Vec<crate::registry::QuotaRecord>), String> {
    let bad = |m: String| format!("Failed to convert JSON into Call protobuf: {m}");
    let body = &call["update_quota"];
    if !body.is_object() {
        return Err(
            "Failed to validate master::Call: Expecting 'update_quota' to be present".into(),
        );
    }
    let force = match &body["force"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        other => return Err(bad(format!("Not expecting a JSON {other} for 'force'"))),
    };
    let configs = match &body["quota_configs"] {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        _ => return Err(bad("Expecting 'quota_configs' to be an array".into())),
    };
    let map = |v: &Value, field: &str| -> Result<std::collections::BTreeMap<String, f64>, String> {
        let Some(obj) = v.as_object() else {
            return match v {
                Value::Null => Ok(Default::default()),
                _ => Err(bad(format!("Expecting '{field}' to be an object"))),
            };
        };
        obj.iter()
            .map(|(name, scalar)| match scalar["value"].as_f64() {
                Some(x) => Ok((name.clone(), x)),
                None => Err(bad(format!(
                    "Expecting '{field}.{name}' to be a scalar {{\"value\": <number>}}"
                ))),
            })
            .collect()
    };
    let mut out = Vec::new();
    for c in configs {
        out.push(crate::registry::QuotaRecord {
            role: c["role"].as_str().unwrap_or("").to_string(),
            guarantees: map(&c["guarantees"], "guarantees")?,
            limits: map(&c["limits"], "limits")?,
        });
    }
    Ok((force, out))
}

fn scalar_map(m: &std::collections::BTreeMap<String, f64>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), json!({ "value": v })))
            .collect(),
    )
}

/// `GET_QUOTA`'s `{"status": QuotaStatus}`: `infos` (guarantees as a Resource list, the
/// pre-1.9 form) and `configs`. `/quota` answers the `status` object.
pub fn get_quota(s: &Snapshot) -> Value {
    let infos: Vec<Value> = s
        .quotas
        .iter()
        .map(|q| {
            let g = q
                .guarantees
                .iter()
                .fold(mesos_proto::resources::Resources::new(), |r, (k, v)| {
                    r.with_scalar(k, *v)
                });
            json!({"role": q.role, "guarantee": g.to_wire(Some("*"))})
        })
        .collect();
    let configs: Vec<Value> = s
        .quotas
        .iter()
        .map(|q| {
            json!({"role": q.role, "guarantees": scalar_map(&q.guarantees), "limits": scalar_map(&q.limits)})
        })
        .collect();
    json!({"status": {"infos": infos, "configs": configs}})
}

/// The `quota` object of a `/master/roles` entry: `{role, guarantee, limit, consumed}`
/// with quantities as `{name: number}` (empty objects for a role without quota).
pub fn role_quota_json(s: &Snapshot, role: &str) -> Value {
    let q = s.quotas.iter().find(|q| q.role == role);
    let obj =
        |m: Option<&std::collections::BTreeMap<String, f64>>| json!(m.cloned().unwrap_or_default());
    let consumed: serde_json::Map<String, Value> = q
        .map(|q| {
            q.consumed
                .scalars()
                .map(|(k, v)| (k.to_string(), json!(v as f64 / 1000.0)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "role": role,
        "guarantee": obj(q.map(|q| &q.guarantees)),
        "limit": obj(q.map(|q| &q.limits)),
        "consumed": consumed,
    })
}
