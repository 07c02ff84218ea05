//! A published, immutable copy of what the read endpoints show, so that rendering
//! `/master/state` never blocks the state machine.

use crate::state::*;
use mesos_proto::ids::AgentId;
use mesos_proto::resources::Resources;
use mesos_proto::v1::MasterInfo;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct AgentView {
    pub record: AgentRecord,
    pub used: Resources,
    pub offered: Resources,
}

#[derive(Clone, Debug)]
pub struct RoleView {
    pub name: String,
    pub weight: f64,
    pub allocated: Resources,
    pub offered: Resources,
    pub frameworks: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub master_info: MasterInfo,
    pub leader: Option<MasterInfo>,
    pub elected: bool,
    pub start_time: f64,
    pub elected_time: Option<f64>,
    pub taken_at: f64,
    pub flags: BTreeMap<String, String>,
    pub frameworks: Vec<FrameworkRecord>,
    pub completed_frameworks: Vec<FrameworkRecord>,
    pub agents: Vec<AgentView>,
    pub offers: Vec<OfferRecord>,
    pub counters: Counters,
    pub roles: Vec<RoleView>,
    /// Configured quotas with their consumption, by role.
    pub quotas: Vec<QuotaView>,
    pub allocation_interval: f64,
    pub heartbeat_interval: f64,
}

/// `acc += r` in place (`aggregate`, which never fails, when adding in place refuses an
/// overlap): a new `Resources` per task made taking a snapshot of 400,000 tasks slow.
fn add(acc: &mut Resources, r: &Resources) {
    if acc.try_add_assign(r).is_err() {
        *acc = acc.aggregate(r);
    }
}

/// An agent's record without its task index, which no read endpoint uses (copying it
/// was most of the cost of a snapshot: two strings per task).
fn without_tasks(a: &AgentRecord) -> AgentRecord {
    AgentRecord {
        info: a.info.clone(),
        total: a.total.clone(),
        conn: a.conn,
        status: a.status.clone(),
        version: a.version.clone(),
        registered_time: a.registered_time,
        reregistered_time: a.reregistered_time,
        missed_pongs: a.missed_pongs,
        pong_seen: a.pong_seen,
        next_ping: a.next_ping,
        tasks: Default::default(),
    }
}

/// The resources of `id` in `it` (sorted by agent ID, walked in that order), skipping
/// agents before it.
fn take_for(
    it: &mut std::iter::Peekable<std::collections::btree_map::IntoIter<AgentId, Resources>>,
    id: &AgentId,
) -> Resources {
    while it.next_if(|(k, _)| k < id).is_some() {}
    it.next_if(|(k, _)| k == id)
        .map(|(_, r)| r)
        .unwrap_or_default()
}

impl Snapshot {
    pub fn take(master: &Master, flags: &BTreeMap<String, String>, now: f64) -> Snapshot {
        let mut used: BTreeMap<AgentId, Resources> = BTreeMap::new();
        let mut role_alloc: BTreeMap<String, (Resources, Resources, Vec<String>)> = BTreeMap::new();
        for fw in master.frameworks().values() {
            for role in fw.roles() {
                role_alloc
                    .entry(role)
                    .or_default()
                    .2
                    .push(fw.id().value.clone());
            }
            for t in fw.tasks.values() {
                if t.state.is_terminal() || t.resources_recovered {
                    continue;
                }
                add(used.entry(t.agent_id.clone()).or_default(), &t.resources);
                add(
                    &mut role_alloc.entry(t.role.clone()).or_default().0,
                    &t.resources,
                );
            }
            for (agent, execs) in &fw.executors {
                for ex in execs.values() {
                    add(used.entry(agent.clone()).or_default(), &ex.resources);
                }
            }
        }
        let mut offered: BTreeMap<AgentId, Resources> = BTreeMap::new();
        for o in master.offers().values() {
            add(offered.entry(o.agent_id.clone()).or_default(), &o.resources);
            add(
                &mut role_alloc.entry(o.role.clone()).or_default().1,
                &o.resources,
            );
        }
        // Both maps and the agents are sorted by agent ID: walk them together (removing
        // from a B-tree of 40,000 agents moved its nodes' entries around on every call).
        let mut used = used.into_iter().peekable();
        let mut offered = offered.into_iter().peekable();
        let agents = master
            .agents()
            .values()
            .map(|a| AgentView {
                used: take_for(&mut used, a.id()),
                offered: take_for(&mut offered, a.id()),
                record: without_tasks(a),
            })
            .collect();
        let quotas = master.quota_views();
        for q in &quotas {
            role_alloc.entry(q.role.clone()).or_default();
        }
        let roles = role_alloc
            .into_iter()
            .map(|(name, (allocated, offered, frameworks))| RoleView {
                weight: master.weights().get(&name).copied().unwrap_or(1.0),
                name,
                allocated,
                offered,
                frameworks,
            })
            .collect();
        Snapshot {
            master_info: master.config().master_info.clone(),
            leader: Some(master.config().master_info.clone()),
            elected: true,
            start_time: master.start_time(),
            elected_time: Some(master.start_time()),
            taken_at: now,
            flags: flags.clone(),
            frameworks: master.frameworks().values().cloned().collect(),
            completed_frameworks: master.completed_frameworks().iter().cloned().collect(),
            agents,
            offers: master.offers().values().cloned().collect(),
            counters: master.counters().clone(),
            roles,
            quotas,
            allocation_interval: master.config().allocation_interval,
            heartbeat_interval: master.config().heartbeat_interval,
        }
    }
}
