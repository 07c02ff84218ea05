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
                let u = used.entry(t.agent_id.clone()).or_default();
                *u = u.aggregate(&t.resources);
                let r = role_alloc.entry(t.role.clone()).or_default();
                r.0 = r.0.aggregate(&t.resources);
            }
            for (agent, execs) in &fw.executors {
                for ex in execs.values() {
                    let u = used.entry(agent.clone()).or_default();
                    *u = u.aggregate(&ex.resources);
                }
            }
        }
        let mut offered: BTreeMap<AgentId, Resources> = BTreeMap::new();
        for o in master.offers().values() {
            let e = offered.entry(o.agent_id.clone()).or_default();
            *e = e.aggregate(&o.resources);
            let r = role_alloc.entry(o.role.clone()).or_default();
            r.1 = r.1.aggregate(&o.resources);
        }
        let agents = master
            .agents()
            .values()
            .map(|a| AgentView {
                used: used.remove(a.id()).unwrap_or_default(),
                offered: offered.remove(a.id()).unwrap_or_default(),
                record: a.clone(),
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
