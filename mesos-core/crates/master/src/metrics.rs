//! `/metrics/snapshot` with Mesos' metric names, and the same figures as Prometheus text.

use crate::snapshot::Snapshot;
use crate::state::AgentStatus;
use mesos_proto::resources::Resources;
use mesos_proto::v1::TaskState;
use serde_json::{Map, Value};

fn total<'a>(it: impl Iterator<Item = &'a Resources>) -> Resources {
    // Reservations are flattened first: quantities are all that is read, and labelled
    // reservations unique to each agent would otherwise never merge.
    it.fold(Resources::new(), |acc, r| {
        if r.has_reservations() {
            acc.aggregate(&r.flatten())
        } else {
            acc.aggregate(r)
        }
    })
}

fn load_avg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text
        .split_whitespace()
        .map(|x| x.parse::<f64>().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

fn mem_info() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb * 1024.0)
            .unwrap_or(0.0)
    };
    (field("MemTotal:"), field("MemAvailable:"))
}

pub fn snapshot(s: &Snapshot) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), Value::from(v));
    };
    put("master/elected", if s.elected { 1.0 } else { 0.0 });
    put("master/uptime_secs", (s.taken_at - s.start_time).max(0.0));
    let active = s
        .agents
        .iter()
        .filter(|a| a.record.status == AgentStatus::Active);
    let n_active = active.clone().count() as f64;
    let n_connected = active.clone().filter(|a| a.record.conn.is_some()).count() as f64;
    let n_unreachable = s
        .agents
        .iter()
        .filter(|a| matches!(a.record.status, AgentStatus::Unreachable { .. }))
        .count() as f64;
    put("master/slaves_active", n_active);
    put("master/slaves_inactive", 0.0);
    put("master/slaves_connected", n_connected);
    put("master/slaves_disconnected", n_active - n_connected);
    put("master/slaves_unreachable", n_unreachable);
    let fw_active = s.frameworks.iter().filter(|f| f.active).count() as f64;
    let fw_connected = s.frameworks.iter().filter(|f| f.connected()).count() as f64;
    put("master/frameworks_active", fw_active);
    put(
        "master/frameworks_inactive",
        s.frameworks.len() as f64 - fw_active,
    );
    put("master/frameworks_connected", fw_connected);
    put(
        "master/frameworks_disconnected",
        s.frameworks.len() as f64 - fw_connected,
    );
    let live = |st: TaskState| {
        s.frameworks
            .iter()
            .map(|f| f.tasks.values().filter(|t| t.state == st).count())
            .sum::<usize>() as f64
    };
    for (name, st) in [
        ("staging", TaskState::TaskStaging),
        ("starting", TaskState::TaskStarting),
        ("running", TaskState::TaskRunning),
        ("killing", TaskState::TaskKilling),
        ("unreachable", TaskState::TaskUnreachable),
    ] {
        put(&format!("master/tasks_{name}"), live(st));
    }
    for (name, st) in [
        ("finished", TaskState::TaskFinished),
        ("failed", TaskState::TaskFailed),
        ("killed", TaskState::TaskKilled),
        ("lost", TaskState::TaskLost),
        ("error", TaskState::TaskError),
        ("dropped", TaskState::TaskDropped),
        ("gone", TaskState::TaskGone),
    ] {
        put(
            &format!("master/tasks_{name}"),
            s.counters
                .tasks_terminal
                .get(st.as_str())
                .copied()
                .unwrap_or(0) as f64,
        );
    }
    let active_agents: Vec<_> = s
        .agents
        .iter()
        .filter(|a| a.record.status == AgentStatus::Active)
        .collect();
    let t = total(active_agents.iter().map(|a| &a.record.total));
    let used = total(active_agents.iter().map(|a| &a.used));
    let offered = total(active_agents.iter().map(|a| &a.offered));
    for r in ["cpus", "mem", "disk", "gpus"] {
        let tot = t.quantity(r);
        let u = used.quantity(r);
        put(&format!("master/{r}_total"), tot);
        put(&format!("master/{r}_used"), u);
        put(
            &format!("master/{r}_percent"),
            if tot > 0.0 { u / tot } else { 0.0 },
        );
        put(&format!("master/{r}_revocable_total"), 0.0);
        put(&format!("master/{r}_revocable_used"), 0.0);
        put(&format!("master/{r}_revocable_percent"), 0.0);
        put(&format!("allocator/mesos/resources/{r}/total"), tot);
        put(
            &format!("allocator/mesos/resources/{r}/offered_or_allocated"),
            u + offered.quantity(r),
        );
    }
    put("master/outstanding_offers", s.offers.len() as f64);
    let c = &s.counters;
    put("master/dropped_messages", c.dropped_messages as f64);
    put("master/valid_status_updates", c.valid_status_updates as f64);
    put(
        "master/invalid_status_updates",
        c.invalid_status_updates as f64,
    );
    put("master/slave_registrations", c.agent_registrations as f64);
    put(
        "master/slave_reregistrations",
        c.agent_reregistrations as f64,
    );
    put("master/slave_removals", c.agent_removals as f64);
    put(
        "master/messages_launch_tasks",
        c.messages_launch_tasks as f64,
    );
    put("master/messages_kill_task", c.messages_kill_task as f64);
    put(
        "master/messages_decline_offers",
        c.messages_decline_offers as f64,
    );
    put(
        "master/messages_revive_offers",
        c.messages_revive_offers as f64,
    );
    put(
        "master/messages_suppress_offers",
        c.messages_suppress_offers as f64,
    );
    put(
        "master/messages_reconcile_tasks",
        c.messages_reconcile_tasks as f64,
    );
    put(
        "master/messages_framework_to_executor",
        c.messages_framework_to_executor as f64,
    );
    put("master/event_queue_messages", 0.0);
    put("master/event_queue_dispatches", 0.0);
    put("master/event_queue_http_requests", 0.0);
    put("allocator/mesos/allocation_runs", c.allocation_runs as f64);
    for role in &s.roles {
        let share = ["cpus", "mem", "disk", "gpus"]
            .iter()
            .map(|r| {
                let tot = t.quantity(r);
                if tot > 0.0 {
                    (role.allocated.quantity(r) + role.offered.quantity(r)) / tot
                } else {
                    0.0
                }
            })
            .fold(0.0, f64::max);
        put(
            &format!("allocator/mesos/roles/{}/shares/dominant", role.name),
            share / role.weight.max(f64::MIN_POSITIVE),
        );
    }
    put("registrar/state_fetch_ms", 0.0);
    put("registrar/state_store_ms", 0.0);
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    put("system/cpus_total", n as f64);
    let [l1, l5, l15] = load_avg();
    put("system/load_1min", l1);
    put("system/load_5min", l5);
    put("system/load_15min", l15);
    let (mt, mf) = mem_info();
    put("system/mem_total_bytes", mt);
    put("system/mem_free_bytes", mf);
    m
}

/// Prometheus text exposition: `mesos_master_tasks_running 3` etc.
pub fn prometheus(map: &Map<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in map {
        let name: String = format!("mesos_{k}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let val = v.as_f64().unwrap_or(0.0);
        out.push_str(&format!("# TYPE {name} gauge\n{name} {val}\n"));
    }
    out
}
