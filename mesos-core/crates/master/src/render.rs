//! The hand-written JSON of Mesos' read endpoints (spec 6.1, 6.2), rendered from a
//! [`Snapshot`].

use crate::snapshot::*;
use crate::state::*;
use mesos_proto::resources::Resources;
use mesos_proto::v1::TaskState;
use mesos_proto::MESOS_VERSION;
use serde_json::{json, Map, Value};

pub const BUILD_USER: &str = "mesos-rs";

pub fn version_json() -> Value {
    json!({
        "version": MESOS_VERSION,
        "build_date": "2026-12-01 00:00:00",
        "build_time": 1_796_083_200.0,
        "build_user": BUILD_USER,
        "git_sha": env!("CARGO_PKG_VERSION"),
    })
}

fn capability_names(caps: &[mesos_proto::v1::Capability]) -> Vec<Value> {
    caps.iter().map(|c| Value::String(c.kind.clone())).collect()
}

pub fn task_json(t: &TaskRecord) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(t.info.task_id.value));
    m.insert("name".into(), json!(t.info.name));
    m.insert("framework_id".into(), json!(t.framework_id.value));
    m.insert(
        "executor_id".into(),
        json!(t
            .executor_id
            .as_ref()
            .map(|e| e.value.clone())
            .unwrap_or_default()),
    );
    m.insert("slave_id".into(), json!(t.agent_id.value));
    m.insert("state".into(), json!(t.state.as_str()));
    m.insert("resources".into(), t.resources.summary());
    m.insert("role".into(), json!(t.role));
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("state".into(), json!(s.state.as_str()));
            o.insert("timestamp".into(), json!(s.timestamp.unwrap_or(0.0)));
            if let Some(h) = s.healthy {
                o.insert("healthy".into(), json!(h));
            }
            if let Some(l) = &s.labels {
                o.insert(
                    "labels".into(),
                    l.get("labels").cloned().unwrap_or(json!([])),
                );
            }
            if let Some(c) = &s.container_status {
                o.insert("container_status".into(), c.clone());
            }
            Value::Object(o)
        })
        .collect();
    m.insert("statuses".into(), Value::Array(statuses));
    if let Some(l) = &t.info.labels {
        m.insert(
            "labels".into(),
            l.get("labels").cloned().unwrap_or(json!([])),
        );
    }
    for (k, v) in [
        ("discovery", &t.info.discovery),
        ("container", &t.info.container),
        ("health_check", &t.info.health_check),
        ("limits", &t.info.limits),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), v.clone());
        }
    }
    if let Some(user) = t.info.command.as_ref().and_then(|c| c.user.clone()) {
        m.insert("user".into(), json!(user));
    }
    Value::Object(m)
}

/// The aggregate of `it`, added up in place (an overlap, which adding in place refuses,
/// falls back to `aggregate`, which allows it).
fn sum<'a>(it: impl Iterator<Item = &'a Resources>) -> Resources {
    let mut acc = Resources::new();
    for r in it {
        add(&mut acc, r);
    }
    acc
}

pub fn framework_json(fw: &FrameworkRecord, offers: &[OfferRecord]) -> Value {
    let mut m = framework_head(fw, offers);
    let (unreachable, tasks): (Vec<&TaskRecord>, Vec<&TaskRecord>) = fw
        .tasks
        .values()
        .map(|t| t.as_ref())
        .partition(|t| t.state == TaskState::TaskUnreachable);
    m.insert(
        "tasks".into(),
        Value::Array(tasks.into_iter().map(task_json).collect()),
    );
    m.insert(
        "unreachable_tasks".into(),
        Value::Array(unreachable.into_iter().map(task_json).collect()),
    );
    m.insert(
        "completed_tasks".into(),
        Value::Array(fw.completed_tasks.iter().map(|t| task_json(t)).collect()),
    );
    Value::Object(m)
}

/// A framework's fields but its task lists (`tasks`, `unreachable_tasks`,
/// `completed_tasks`).
fn framework_head(fw: &FrameworkRecord, offers: &[OfferRecord]) -> Map<String, Value> {
    let tasks = sum(fw
        .tasks
        .values()
        .filter(|t| holds_resources(t))
        .map(|t| &t.resources));
    framework_head_with(fw, offers, tasks)
}

/// Whether a task's resources count as the framework's used resources.
fn holds_resources(t: &TaskRecord) -> bool {
    !t.state.is_terminal() && !t.resources_recovered
}

/// `acc + r`, allowing an overlap as [`sum`] does.
fn add(acc: &mut Resources, r: &Resources) {
    if acc.try_add_assign(r).is_err() {
        *acc = acc.aggregate(r);
    }
}

/// [`framework_head`] with the resources of the framework's tasks already added up.
fn framework_head_with(
    fw: &FrameworkRecord,
    offers: &[OfferRecord],
    mut used: Resources,
) -> Map<String, Value> {
    for e in fw.executors.values().flat_map(|m| m.values()) {
        add(&mut used, &e.resources);
    }
    let my_offers: Vec<&OfferRecord> = offers
        .iter()
        .filter(|o| &o.framework_id == fw.id())
        .collect();
    let offered = sum(my_offers.iter().map(|o| &o.resources));
    let mut m = Map::new();
    m.insert("id".into(), json!(fw.id().value));
    m.insert("name".into(), json!(fw.info.name));
    m.insert("used_resources".into(), used.summary());
    m.insert("offered_resources".into(), offered.summary());
    m.insert("resources".into(), used.aggregate(&offered).summary());
    m.insert(
        "capabilities".into(),
        Value::Array(capability_names(&fw.info.capabilities)),
    );
    m.insert(
        "hostname".into(),
        json!(fw.info.hostname.clone().unwrap_or_default()),
    );
    m.insert(
        "webui_url".into(),
        json!(fw.info.webui_url.clone().unwrap_or_default()),
    );
    m.insert("active".into(), json!(fw.active));
    m.insert("connected".into(), json!(fw.connected()));
    m.insert("recovered".into(), json!(fw.recovered));
    m.insert("user".into(), json!(fw.info.user));
    m.insert("failover_timeout".into(), json!(fw.info.failover_timeout));
    m.insert("checkpoint".into(), json!(fw.info.checkpoint));
    m.insert("registered_time".into(), json!(fw.registered_time));
    m.insert(
        "unregistered_time".into(),
        json!(fw.unregistered_time.unwrap_or(0.0)),
    );
    if let Some(t) = fw.reregistered_time {
        m.insert("reregistered_time".into(), json!(t));
    }
    if let Some(p) = &fw.info.principal {
        m.insert("principal".into(), json!(p));
    }
    if fw.info.has_capability("MULTI_ROLE") {
        m.insert("roles".into(), json!(fw.info.roles));
    } else {
        m.insert(
            "role".into(),
            json!(fw.info.role.clone().unwrap_or_else(|| "*".into())),
        );
    }
    m.insert(
        "offers".into(),
        Value::Array(
            my_offers
                .iter()
                .map(|o| {
                    json!({
                        "id": o.id.value,
                        "framework_id": o.framework_id.value,
                        "allocation_info": {"role": o.role},
                        "slave_id": o.agent_id.value,
                        "resources": o.resources.summary(),
                    })
                })
                .collect(),
        ),
    );
    let executors: Vec<Value> = fw
        .executors
        .iter()
        .flat_map(|(agent, m)| {
            m.values().map(move |e| {
                let cmd = e.info.command.as_ref();
                json!({
                    "executor_id": e.info.executor_id.value,
                    "name": e.info.name.clone().unwrap_or_default(),
                    "framework_id": fw.id().value,
                    "command": {
                        "shell": cmd.map(|c| c.shell).unwrap_or(true),
                        "value": cmd.and_then(|c| c.value.clone()).unwrap_or_default(),
                        "argv": cmd.map(|c| c.arguments.clone()).unwrap_or_default(),
                        "uris": cmd.map(|c| c.uris.clone()).unwrap_or_default(),
                    },
                    "resources": e.resources.summary(),
                    "role": e.role,
                    "type": e.info.kind.clone().unwrap_or_else(|| "CUSTOM".into()),
                    "slave_id": agent.value,
                })
            })
        })
        .collect();
    m.insert("executors".into(), Value::Array(executors));
    if let Some(l) = &fw.info.labels {
        m.insert(
            "labels".into(),
            l.get("labels").cloned().unwrap_or(json!([])),
        );
    }
    m.insert("offer_constraints".into(), json!({}));
    m
}

pub fn agent_json(a: &AgentView) -> Value {
    let r = &a.record;
    let mut attrs = Map::new();
    for at in &r.info.attributes {
        attrs.insert(at.name.clone(), at.state_value());
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(r.id().value));
    m.insert("hostname".into(), json!(r.info.hostname));
    m.insert("port".into(), json!(r.info.port));
    m.insert("attributes".into(), Value::Object(attrs));
    m.insert("pid".into(), json!(r.pid()));
    m.insert("registered_time".into(), json!(r.registered_time));
    if let Some(t) = r.reregistered_time {
        m.insert("reregistered_time".into(), json!(t));
    }
    m.insert("resources".into(), r.total.summary());
    m.insert("used_resources".into(), a.used.summary());
    m.insert("offered_resources".into(), a.offered.summary());
    m.insert(
        "unreserved_resources".into(),
        r.total.unreserved().summary(),
    );
    m.insert("reserved_resources".into(), reserved_json(&r.total));
    m.insert("active".into(), json!(r.status == AgentStatus::Active));
    m.insert("deactivated".into(), json!(false));
    m.insert("version".into(), json!(r.version));
    m.insert(
        "capabilities".into(),
        json!(["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"]),
    );
    Value::Object(m)
}

fn master_pid(s: &Snapshot) -> String {
    s.master_info.pid.clone().unwrap_or_default()
}

fn leader_info(s: &Snapshot) -> Option<Value> {
    s.leader.as_ref().map(|l| {
        json!({
            "id": l.id,
            "pid": l.pid.clone().unwrap_or_default(),
            "port": l.port,
            "hostname": l.hostname.clone().unwrap_or_default(),
        })
    })
}

pub fn state_json(s: &Snapshot) -> Value {
    let mut m = state_head(s);
    m.insert(
        "slaves".into(),
        Value::Array(
            s.agents
                .iter()
                .filter(|a| a.record.status == AgentStatus::Active)
                .map(agent_json)
                .collect(),
        ),
    );
    m.insert(
        "frameworks".into(),
        Value::Array(
            s.frameworks
                .iter()
                .map(|f| framework_json(f, &s.offers))
                .collect(),
        ),
    );
    m.insert(
        "completed_frameworks".into(),
        Value::Array(
            s.completed_frameworks
                .iter()
                .map(|f| framework_json(f, &[]))
                .collect(),
        ),
    );
    Value::Object(m)
}

/// `/master/state` but its big lists (`slaves`, `frameworks`, `completed_frameworks`).
fn state_head(s: &Snapshot) -> Map<String, Value> {
    let active = s
        .agents
        .iter()
        .filter(|a| a.record.status == AgentStatus::Active)
        .count();
    let unreachable = s
        .agents
        .iter()
        .filter(|a| matches!(a.record.status, AgentStatus::Unreachable { .. }))
        .count();
    let mut m = match version_json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("start_time".into(), json!(s.start_time));
    if let Some(t) = s.elected_time {
        m.insert("elected_time".into(), json!(t));
    }
    m.insert("id".into(), json!(s.master_info.id));
    m.insert("pid".into(), json!(master_pid(s)));
    m.insert(
        "hostname".into(),
        json!(s.master_info.hostname.clone().unwrap_or_default()),
    );
    m.insert(
        "capabilities".into(),
        json!(["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]),
    );
    m.insert("activated_slaves".into(), json!(active as f64));
    m.insert("deactivated_slaves".into(), json!(0.0));
    m.insert("unreachable_slaves".into(), json!(unreachable as f64));
    if let Some(l) = &s.leader {
        m.insert("leader".into(), json!(l.pid.clone().unwrap_or_default()));
    }
    if let Some(li) = leader_info(s) {
        m.insert("leader_info".into(), li);
    }
    m.insert("flags".into(), json!(s.flags));
    m.insert(
        "recovered_slaves".into(),
        Value::Array(
            s.agents
                .iter()
                .filter(|a| matches!(a.record.status, AgentStatus::Recovered { .. }))
                .map(|a| {
                    json!({
                        "id": a.record.id().value,
                        "hostname": a.record.info.hostname,
                        "port": a.record.info.port,
                        "attributes": {},
                    })
                })
                .collect(),
        ),
    );
    m.insert("orphan_tasks".into(), json!([]));
    m.insert("unregistered_frameworks".into(), json!([]));
    m
}

pub fn state_summary_json(s: &Snapshot) -> Value {
    let mut task_counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for fw in &s.frameworks {
        for t in fw.tasks.values() {
            *task_counts
                .entry((t.agent_id.value.clone(), t.state.as_str().to_string()))
                .or_default() += 1;
        }
    }
    let state_key = |st: TaskState| match st {
        TaskState::TaskStaging => "TASK_STAGING",
        TaskState::TaskStarting => "TASK_STARTING",
        TaskState::TaskRunning => "TASK_RUNNING",
        TaskState::TaskKilling => "TASK_KILLING",
        TaskState::TaskFinished => "TASK_FINISHED",
        TaskState::TaskKilled => "TASK_KILLED",
        TaskState::TaskFailed => "TASK_FAILED",
        TaskState::TaskLost => "TASK_LOST",
        TaskState::TaskError => "TASK_ERROR",
        TaskState::TaskUnreachable => "TASK_UNREACHABLE",
        _ => "",
    };
    let slaves: Vec<Value> = s
        .agents
        .iter()
        .filter(|a| a.record.status == AgentStatus::Active)
        .map(|a| {
            let mut v = agent_json(a);
            let id = a.record.id().value.clone();
            for st in TaskState::ALL {
                let k = state_key(st);
                if !k.is_empty() {
                    v[k] = json!(task_counts
                        .get(&(id.clone(), st.as_str().to_string()))
                        .copied()
                        .unwrap_or(0));
                }
            }
            let fws: Vec<&str> = s
                .frameworks
                .iter()
                .filter(|f| f.tasks.values().any(|t| t.agent_id.value == id))
                .map(|f| f.id().value.as_str())
                .collect();
            v["framework_ids"] = json!(fws);
            v
        })
        .collect();
    let frameworks: Vec<Value> = s
        .frameworks
        .iter()
        .map(|f| {
            let mut m = framework_head(f, &s.offers);
            m.remove("offers");
            m.remove("executors");
            let mut v = Value::Object(m);
            for st in TaskState::ALL {
                let k = state_key(st);
                if !k.is_empty() {
                    v[k] = json!(f.tasks.values().filter(|t| t.state == st).count());
                }
            }
            let agents: std::collections::BTreeSet<&str> = f
                .tasks
                .values()
                .map(|t| t.agent_id.value.as_str())
                .collect();
            v["slave_ids"] = json!(agents);
            v
        })
        .collect();
    json!({
        "hostname": s.master_info.hostname.clone().unwrap_or_default(),
        "cluster": "",
        "slaves": slaves,
        "frameworks": frameworks,
    })
}

pub fn frameworks_json(s: &Snapshot) -> Value {
    json!({
        "frameworks": s.frameworks.iter().map(|f| framework_json(f, &s.offers)).collect::<Vec<_>>(),
        "completed_frameworks": s.completed_frameworks.iter().map(|f| framework_json(f, &[])).collect::<Vec<_>>(),
        "unregistered_frameworks": [],
    })
}

pub fn slaves_json(s: &Snapshot) -> Value {
    json!({
        "slaves": s.agents.iter().filter(|a| a.record.status == AgentStatus::Active).map(|a| {
            let mut v = agent_json(a);
            v["resources_full"] = json!(a.record.total.to_wire(Some("*")));
            v["used_resources_full"] = json!(a.used.to_wire(Some("*")));
            v["offered_resources_full"] = json!(a.offered.to_wire(Some("*")));
            v
        }).collect::<Vec<_>>(),
        "recovered_slaves": s.agents.iter().filter(|a| matches!(a.record.status, AgentStatus::Recovered{..})).map(|a| json!({
            "id": a.record.id().value, "hostname": a.record.info.hostname, "port": a.record.info.port, "attributes": {}
        })).collect::<Vec<_>>(),
    })
}

/// `/master/tasks?limit=&offset=&order=&framework_id=&task_id=`.
pub fn tasks_json(
    s: &Snapshot,
    q: &std::collections::HashMap<String, String>,
) -> Result<Value, String> {
    let limit: usize = match q.get("limit") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("Failed to parse limit: '{v}'"))?,
        None => 100,
    };
    let offset: usize = match q.get("offset") {
        Some(v) => v
            .parse()
            .map_err(|_| format!("Failed to parse offset: '{v}'"))?,
        None => 0,
    };
    let desc = match q.get("order").map(String::as_str) {
        None | Some("des") => true,
        Some("asc") => false,
        Some(o) => return Err(format!("Invalid order '{o}'")),
    };
    let mut tasks: Vec<&TaskRecord> = s
        .frameworks
        .iter()
        .chain(s.completed_frameworks.iter())
        .flat_map(|f| {
            f.tasks
                .values()
                .chain(f.completed_tasks.iter())
                .map(|t| t.as_ref())
        })
        .filter(|t| {
            q.get("framework_id")
                .is_none_or(|f| &t.framework_id.value == f)
        })
        .filter(|t| {
            q.get("task_id")
                .is_none_or(|id| &t.info.task_id.value == id)
        })
        .collect();
    let ts = |t: &TaskRecord| t.statuses.first().and_then(|s| s.timestamp).unwrap_or(0.0);
    tasks.sort_by(|a, b| {
        ts(a)
            .partial_cmp(&ts(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if desc {
        tasks.reverse();
    }
    let page: Vec<Value> = tasks
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(task_json)
        .collect();
    Ok(json!({ "tasks": page }))
}

/// `reserved_resources`: a `ResourceSummary` per role the agent has reservations for.
fn reserved_json(total: &Resources) -> Value {
    Value::Object(
        total
            .reserved_by_role()
            .into_iter()
            .map(|(role, r)| (role, r.summary()))
            .collect(),
    )
}

pub fn roles_json(s: &Snapshot) -> Value {
    json!({
        "roles": s.roles.iter().map(|r| json!({
            "name": r.name,
            "weight": r.weight,
            "resources": r.allocated.aggregate(&r.offered).summary(),
            "allocated": r.allocated.summary(),
            "offered": r.offered.summary(),
            "reserved": Resources::new().summary(),
            "quota": crate::operator::role_quota_json(s, &r.name),
            "frameworks": r.frameworks,
        })).collect::<Vec<_>>()
    })
}

/// `/master/state` of a master that is not leading: who it is and who leads.
pub fn follower_state_json(
    me: &mesos_proto::v1::MasterInfo,
    leader: Option<&mesos_proto::v1::MasterInfo>,
    flags: &std::collections::BTreeMap<String, String>,
    start_time: f64,
) -> Value {
    let mut m = match version_json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("start_time".into(), json!(start_time));
    m.insert("id".into(), json!(me.id));
    m.insert("pid".into(), json!(me.pid.clone().unwrap_or_default()));
    m.insert(
        "hostname".into(),
        json!(me.hostname.clone().unwrap_or_default()),
    );
    m.insert(
        "capabilities".into(),
        json!(["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]),
    );
    m.insert("activated_slaves".into(), json!(0.0));
    m.insert("deactivated_slaves".into(), json!(0.0));
    m.insert("unreachable_slaves".into(), json!(0.0));
    if let Some(l) = leader {
        m.insert("leader".into(), json!(l.pid.clone().unwrap_or_default()));
        m.insert(
            "leader_info".into(),
            json!({"id": l.id, "pid": l.pid.clone().unwrap_or_default(), "port": l.port, "hostname": l.hostname.clone().unwrap_or_default()}),
        );
    }
    m.insert("flags".into(), json!(flags));
    for k in [
        "slaves",
        "recovered_slaves",
        "frameworks",
        "completed_frameworks",
        "orphan_tasks",
        "unregistered_frameworks",
    ] {
        m.insert(k.into(), json!([]));
    }
    Value::Object(m)
}

/// `/master/state` written straight to bytes, handed to `sink` in pieces as they are ready
/// (at least after every framework): together, the same bytes as
/// `serde_json::to_vec(&state_json(s))` (keys in the same sorted order), without building a
/// `Value` per agent and per task, which at 400,000 tasks cost more than the writing. The
/// large arrays are not copied into one buffer, and the first bytes can be sent while the
/// rest is written.
pub fn stream_state(s: &Snapshot, sink: &mut dyn FnMut(Vec<u8>)) {
    let mut out = Vec::with_capacity(SEGMENT);
    let mut w = Writer::new(&mut out);
    w.sink = Some(sink);
    let mut head = state_head(s);
    for k in ["slaves", "frameworks", "completed_frameworks"] {
        head.insert(k.into(), Value::Null);
    }
    w.object(&head, |w, key| match key {
        "slaves" => {
            let active: Vec<&AgentView> = s
                .agents
                .iter()
                .filter(|a| a.record.status == AgentStatus::Active)
                .collect();
            w.chunks(chunks::render(
                &active,
                |w, a| w.agent(a),
                |_: &mut (), _| {},
            ));
            true
        }
        "frameworks" => {
            w.array(s.frameworks.iter(), |w, f| {
                w.framework(f, &s.offers);
                w.flush(SEGMENT);
            });
            true
        }
        "completed_frameworks" => {
            w.array(s.completed_frameworks.iter(), |w, f| {
                w.framework(f, &[]);
                w.flush(SEGMENT);
            });
            true
        }
        _ => false,
    });
    w.flush(0);
}

/// A streamed `/master/state` hands its bytes on in pieces of at least this size.
const SEGMENT: usize = 64 << 10;

/// How many distinct resource summaries [`Writer`] keeps written (tasks of one app share
/// their resources).
const SUMMARY_CACHE: usize = 16;

struct Writer<'a> {
    out: &'a mut Vec<u8>,
    /// Where a streaming writer hands on what it wrote (see [`Writer::flush`]).
    sink: Option<&'a mut dyn FnMut(Vec<u8>)>,
    /// Recently written resource summaries and their JSON.
    summaries: Vec<(Resources, Vec<u8>)>,
    next: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Writer {
            out,
            sink: None,
            summaries: Vec::new(),
            next: 0,
        }
    }
    /// A streaming writer hands on what it has written once that is at least `min` bytes.
    fn flush(&mut self, min: usize) {
        if let Some(sink) = &mut self.sink {
            if !self.out.is_empty() && self.out.len() >= min {
                sink(std::mem::replace(self.out, Vec::with_capacity(SEGMENT)));
            }
        }
    }
    fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }
    fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        serde_json::to_writer(&mut *self.out, v).expect("JSON into memory");
    }
    /// A JSON string, as [`value`](Self::value) writes it: copied as is when nothing in it
    /// needs escaping (the usual IDs and names), else through serde_json.
    fn str(&mut self, s: &str) {
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.out.reserve(s.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        } else {
            self.value(s);
        }
    }
    /// `"key":`, preceded by a comma unless it is the object's first key. Keys must come in
    /// sorted order, as `serde_json::Map` writes them.
    fn key(&mut self, first: &mut bool, key: &str) {
        if !std::mem::take(first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.raw(key.as_bytes());
        self.raw(b"\":");
    }
    /// The entries of `m` in order; `heavy` writes the value of a key itself (true) or
    /// leaves it to `m` (false).
    fn object(&mut self, m: &Map<String, Value>, mut heavy: impl FnMut(&mut Self, &str) -> bool) {
        self.out.push(b'{');
        let mut first = true;
        for (k, v) in m {
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            self.value(k.as_str());
            self.out.push(b':');
            if !heavy(self, k) {
                self.value(v);
            }
        }
        self.out.push(b'}');
    }
    fn array<T>(&mut self, items: impl Iterator<Item = T>, mut each: impl FnMut(&mut Self, T)) {
        self.out.push(b'[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            each(self, item);
        }
        self.out.push(b']');
    }
    fn summary(&mut self, r: &Resources) {
        if let Some((_, json)) = self.summaries.iter().find(|(k, _)| k == r) {
            self.out.extend_from_slice(json);
            return;
        }
        let json = serde_json::to_vec(&r.summary()).expect("JSON into memory");
        self.raw(&json);
        if self.summaries.len() < SUMMARY_CACHE {
            self.summaries.push((r.clone(), json));
        } else {
            self.summaries[self.next] = (r.clone(), json);
            self.next = (self.next + 1) % SUMMARY_CACHE;
        }
    }
    /// `labels` as the Value form shows them: the list inside `{"labels": [...]}`.
    fn labels(&mut self, l: &Value) {
        match l.get("labels") {
            Some(v) => self.value(v),
            None => self.raw(b"[]"),
        }
    }

    fn framework(&mut self, fw: &FrameworkRecord, offers: &[OfferRecord]) {
        // The task lists first (in chunks, on several threads when long), adding up the
        // resources the head reports on the way.
        let (unreachable, live): (Vec<&TaskRecord>, Vec<&TaskRecord>) = fw
            .tasks
            .values()
            .map(|t| t.as_ref())
            .partition(|t| t.state == TaskState::TaskUnreachable);
        let render = |tasks: &[&TaskRecord]| {
            chunks::render(
                tasks,
                |w, t| w.task(t),
                |used: &mut Resources, t| {
                    if holds_resources(t) {
                        add(used, &t.resources);
                    }
                },
            )
        };
        let (live, unreachable) = (render(&live), render(&unreachable));
        let used = sum(live.iter().chain(&unreachable).map(|c| &c.acc));
        let mut head = framework_head_with(fw, offers, used);
        for k in ["tasks", "unreachable_tasks", "completed_tasks"] {
            head.insert(k.into(), Value::Null);
        }
        let (mut live, mut unreachable) = (Some(live), Some(unreachable));
        self.object(&head, |w, key| match key {
            "tasks" => {
                w.chunks(live.take().unwrap_or_default());
                true
            }
            "unreachable_tasks" => {
                w.chunks(unreachable.take().unwrap_or_default());
                true
            }
            "completed_tasks" => {
                w.array(fw.completed_tasks.iter(), |w, t| w.task(t));
                true
            }
            _ => false,
        });
    }

    /// [`task_json`], written.
    fn task(&mut self, t: &TaskRecord) {
        let first = &mut true;
        self.out.push(b'{');
        let info = &t.info;
        if let Some(v) = &info.container {
            self.key(first, "container");
            self.value(v);
        }
        if let Some(v) = &info.discovery {
            self.key(first, "discovery");
            self.value(v);
        }
        self.key(first, "executor_id");
        self.str(t.executor_id.as_ref().map_or("", |e| e.value.as_str()));
        self.key(first, "framework_id");
        self.str(&t.framework_id.value);
        if let Some(v) = &info.health_check {
            self.key(first, "health_check");
            self.value(v);
        }
        self.key(first, "id");
        self.str(&info.task_id.value);
        if let Some(l) = &info.labels {
            self.key(first, "labels");
            self.labels(l);
        }
        if let Some(v) = &info.limits {
            self.key(first, "limits");
            self.value(v);
        }
        self.key(first, "name");
        self.str(&info.name);
        self.key(first, "resources");
        self.summary(&t.resources);
        self.key(first, "role");
        self.str(&t.role);
        self.key(first, "slave_id");
        self.str(&t.agent_id.value);
        self.key(first, "state");
        self.str(t.state.as_str());
        self.key(first, "statuses");
        self.array(t.statuses.iter(), |w, s| {
            let first = &mut true;
            w.out.push(b'{');
            if let Some(c) = &s.container_status {
                w.key(first, "container_status");
                w.value(c);
            }
            if let Some(h) = s.healthy {
                w.key(first, "healthy");
                w.value(&h);
            }
            if let Some(l) = &s.labels {
                w.key(first, "labels");
                w.labels(l);
            }
            w.key(first, "state");
            w.str(s.state.as_str());
            w.key(first, "timestamp");
            w.value(&s.timestamp.unwrap_or(0.0));
            w.out.push(b'}');
        });
        if let Some(user) = info.command.as_ref().and_then(|c| c.user.as_ref()) {
            self.key(first, "user");
            self.value(user);
        }
        self.out.push(b'}');
    }

    /// [`agent_json`], written.
    fn agent(&mut self, a: &AgentView) {
        let r = &a.record;
        let first = &mut true;
        self.out.push(b'{');
        self.key(first, "active");
        self.value(&(r.status == AgentStatus::Active));
        self.key(first, "attributes");
        if r.info.attributes.is_empty() {
            self.raw(b"{}");
        } else {
            let attrs: Map<String, Value> = r
                .info
                .attributes
                .iter()
                .map(|at| (at.name.clone(), at.state_value()))
                .collect();
            self.value(&attrs);
        }
        self.key(first, "capabilities");
        self.raw(br#"["MULTI_ROLE","HIERARCHICAL_ROLE","RESERVATION_REFINEMENT"]"#);
        self.key(first, "deactivated");
        self.raw(b"false");
        self.key(first, "hostname");
        self.str(&r.info.hostname);
        self.key(first, "id");
        self.str(&r.id().value);
        self.key(first, "offered_resources");
        self.summary(&a.offered);
        self.key(first, "pid");
        self.value(&r.pid());
        self.key(first, "port");
        self.value(&r.info.port);
        self.key(first, "registered_time");
        self.value(&r.registered_time);
        if let Some(t) = r.reregistered_time {
            self.key(first, "reregistered_time");
            self.value(&t);
        }
        self.key(first, "reserved_resources");
        if r.total.has_reservations() {
            self.value(&reserved_json(&r.total));
        } else {
            self.raw(b"{}");
        }
        self.key(first, "resources");
        self.summary(&r.total);
        self.key(first, "unreserved_resources");
        if r.total.has_reservations() {
            self.summary(&r.total.unreserved());
        } else {
            self.summary(&r.total);
        }
        self.key(first, "used_resources");
        self.summary(&a.used);
        self.key(first, "version");
        self.value(&r.version);
        self.out.push(b'}');
    }
}

mod chunks;
#[cfg(test)]
mod tests;
