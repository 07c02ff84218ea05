//! The properties, and the bookkeeping they need.
//!
//! Checked after every step ([`check_continuous`] and the hooks called while events are
//! handled):
//! * `offers`: on every active agent, offers plus the resources of the master's live
//!   tasks and executors never exceed the agent's total, and no resource (port) is in two
//!   offers, or in an offer and a task, at once;
//! * `offers-vs-agent`: the same against the agent's own truth (its non-terminal tasks);
//! * `ack-resent`: an agent never sends again an update whose acknowledgement it took;
//! * `regress`: the reliable updates (with a uuid) a framework gets for a task never go
//!   back from a terminal state to a live one, nor from TASK_RUNNING to STAGING/STARTING;
//! * `master-regress`: the master's record of a task never goes back from a terminal
//!   state to a live one.
//!
//! Checked at the end, after the quiet phase ([`check_final`]):
//! * `registered`: every agent is up, registered and active at the master;
//! * `delivered`: no agent holds an unacknowledged update, and every update an agent ever
//!   took (checkpointed in a task's pending queue) reached its framework;
//! * `converged`: each framework's view of its tasks equals the master's and the agents';
//! * `accounted`: every task a framework launched is terminal in its view, or running and
//!   known as such to the master and to its agent, or unreachable on an agent the master
//!   holds unreachable (Mesos' answer for a partitioned agent that never came back);
//! * `instances`: each framework runs its N instances (when the cluster has room).

use crate::sim::Sim;
use mesos_agent::state::TaskRecord as AgentTask;
use mesos_master::state::{AgentStatus, Input as MasterInput};
use mesos_proto::ids::{AgentId, FrameworkId, TaskId};
use mesos_proto::internal::{AgentToMaster, MasterToAgent};
use mesos_proto::resources::Resources;
use mesos_proto::scheduler::{Call, Event};
use mesos_proto::v1::{TaskState, TaskStatus};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A property that failed.
#[derive(Clone, Debug)]
pub struct Violation {
    pub seed: u64,
    /// Simulated seconds.
    pub time: f64,
    pub step: u64,
    pub property: &'static str,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} at {:.3} s (step {}): [{}] {}",
            self.seed, self.time, self.step, self.property, self.detail
        )
    }
}

/// What the properties remember across steps.
#[derive(Default)]
pub(crate) struct Ledger {
    /// Every update uuid an agent checkpointed as pending: (host, framework, task).
    pub must_deliver: BTreeMap<String, (usize, FrameworkId, TaskId)>,
    /// Update uuids an agent dropped from its pending queue on an acknowledgement.
    pub agent_acked: BTreeSet<String>,
    /// Hosts whose agent was told by the master to forget everything.
    pub wiped: BTreeSet<usize>,
    /// The last state each framework got for a task from an update with a uuid.
    pub reliable: BTreeMap<(usize, TaskId), TaskState>,
}

pub(crate) fn on_checkpointed_task(sim: &mut Sim, h: usize, t: &AgentTask) {
    for s in &t.pending {
        if let Some(u) = &s.uuid {
            sim.ledger
                .must_deliver
                .entry(u.clone())
                .or_insert_with(|| (h, t.framework_id.clone(), t.info.task_id.clone()));
        }
    }
}

pub(crate) fn before_agent_ack(
    sim: &mut Sim,
    h: usize,
    fw: &FrameworkId,
    task: &TaskId,
    uuid: &str,
) {
    let front = sim.hosts[h]
        .agent
        .as_ref()
        .and_then(|a| a.tasks.get(&(fw.clone(), task.clone())))
        .and_then(|t| t.pending.front())
        .and_then(|s| s.uuid.clone());
    if front.as_deref() == Some(uuid) {
        sim.ledger.agent_acked.insert(uuid.to_string());
    }
}

pub(crate) fn on_agent_send(sim: &mut Sim, h: usize, m: &AgentToMaster) {
    if let AgentToMaster::StatusUpdate { status, .. } = m {
        if let Some(u) = &status.uuid {
            if sim.ledger.agent_acked.contains(u) {
                sim.ctx.violation(
                    "ack-resent",
                    format!(
                        "agent{h} sends update {u} ({} {}) again after it was acknowledged",
                        status.task_id,
                        status.state.as_str()
                    ),
                );
            }
        }
    }
}

fn rank(s: TaskState) -> u8 {
    match s {
        TaskState::TaskStaging => 0,
        TaskState::TaskStarting => 1,
        TaskState::TaskRunning => 2,
        _ => 3,
    }
}

/// Before a framework takes an update: does the reliable stream (updates with a uuid,
/// which the agent delivers in order and retries until acknowledged) regress?
/// Reconciliation answers and master-made updates carry no uuid and are not part of that
/// stream: Mesos reports the latest state through them, which may be ahead of updates
/// still being retried, so a framework may see TASK_FAILED from reconciliation and then
/// the older TASK_RUNNING from the stream even in Mesos.
pub(crate) fn on_framework_update(sim: &mut Sim, fw: usize, status: &TaskStatus) {
    if status.uuid.is_none() {
        return;
    }
    let key = (fw, status.task_id.clone());
    let new = status.state;
    let Some(prior) = sim.ledger.reliable.insert(key, new) else {
        return;
    };
    let reverts = prior.is_terminal() && !new.is_terminal();
    let live_back = !prior.is_terminal() && !new.is_terminal() && rank(new) < rank(prior);
    if reverts || live_back {
        sim.ctx.violation(
            "regress",
            format!(
                "fw{fw} task {}: reliable update {:?} says {} after {}",
                status.task_id,
                status.uuid,
                new.as_str(),
                prior.as_str()
            ),
        );
    }
}

/// The master's state of a task, to compare before and after it handles an update.
pub(crate) fn master_task_state(sim: &Sim, fw: &FrameworkId, task: &TaskId) -> Option<TaskState> {
    let m = &sim.master.as_ref()?.m;
    m.frameworks().get(fw)?.tasks.get(task).map(|t| t.state)
}

/// After the master handled an agent's status update: its record of the task must not go
/// back from a terminal state to a live one (an older, retried update arriving after the
/// master learned the terminal state from the agent's re-registration).
pub(crate) fn after_master_update(
    sim: &mut Sim,
    fw: &FrameworkId,
    task: &TaskId,
    before: Option<TaskState>,
) {
    let after = master_task_state(sim, fw, task);
    if let (Some(b), Some(a)) = (before, after) {
        if b.is_terminal() && !a.is_terminal() {
            sim.ctx.violation(
                "master-regress",
                format!(
                    "master moves task {task} of {fw} from {} back to {} on a retried update",
                    b.as_str(),
                    a.as_str()
                ),
            );
        }
    }
}

fn add(sum: &mut Resources, r: &Resources) -> Result<(), String> {
    sum.try_add_assign(r).map_err(|e| e.to_string())
}

/// The resource properties, after every step.
pub(crate) fn check_continuous(sim: &mut Sim) {
    let Some(node) = &sim.master else { return };
    let m = &node.m;
    let mut offered: BTreeMap<&AgentId, Resources> = BTreeMap::new();
    let mut errors = Vec::new();
    for o in m.offers().values() {
        let sum = offered.entry(&o.agent_id).or_default();
        if let Err(e) = add(sum, &o.resources) {
            errors.push((
                "offers",
                format!(
                    "offer {} on {} overlaps another offer: {e}",
                    o.id, o.agent_id
                ),
            ));
        }
    }
    let mut used: BTreeMap<&AgentId, Resources> = BTreeMap::new();
    for fw in m.frameworks().values() {
        for t in fw.tasks.values() {
            if t.resources_recovered {
                continue;
            }
            let sum = used.entry(&t.agent_id).or_default();
            if let Err(e) = add(sum, &t.resources) {
                errors.push((
                    "offers",
                    format!(
                        "task {} on {} overlaps another task: {e}",
                        t.info.task_id, t.agent_id
                    ),
                ));
            }
        }
        for (agent, execs) in &fw.executors {
            for ex in execs.values() {
                let sum = used.entry(agent).or_default();
                let _ = add(sum, &ex.resources);
            }
        }
    }
    for (id, a) in m.agents() {
        if a.status != AgentStatus::Active {
            continue;
        }
        let mut sum = offered.get(id).cloned().unwrap_or_default();
        if let Some(u) = used.get(id) {
            if let Err(e) = add(&mut sum, u) {
                errors.push((
                    "offers",
                    format!("an offer on {id} holds resources in use: {e}"),
                ));
                continue;
            }
        }
        if !a.total.contains(&sum) {
            errors.push((
                "offers",
                format!(
                    "{id} over-committed: offers + used = {sum} > total {}",
                    a.total
                ),
            ));
        }
    }
    // Against the agents' own truth.
    for (h, host) in sim.hosts.iter().enumerate() {
        let Some(agent) = &host.agent else { continue };
        let Some(id) = &agent.agent_id else { continue };
        if m.agents().get(id).map(|a| &a.status) != Some(&AgentStatus::Active) {
            continue;
        }
        let mut sum = offered.get(id).cloned().unwrap_or_default();
        for t in agent.tasks.values() {
            if t.state.is_terminal() {
                continue;
            }
            let r = Resources::from_wire(&t.info.resources).unwrap_or_default();
            if let Err(e) = add(&mut sum, &r) {
                errors.push((
                    "offers-vs-agent",
                    format!(
                        "agent{h} ({id}): task {} overlaps an offer or task: {e}",
                        t.info.task_id
                    ),
                ));
            }
        }
        if !host.total.contains(&sum) {
            errors.push((
                "offers-vs-agent",
                format!("agent{h} ({id}) over-committed: offers + running tasks = {sum}"),
            ));
        }
    }
    for (p, d) in errors.into_iter().take(1) {
        sim.ctx.violation(p, d);
    }
}

/// The end-of-run properties, after the quiet phase.
pub(crate) fn check_final(sim: &mut Sim) {
    let mut errors: Vec<(&'static str, String)> = Vec::new();
    let Some(node) = &sim.master else {
        sim.ctx
            .violation("registered", "no master after the quiet phase".into());
        return;
    };
    let m = &node.m;
    // Agents are back and active.
    for (h, host) in sim.hosts.iter().enumerate() {
        let Some(agent) = &host.agent else {
            errors.push(("registered", format!("agent{h} is not running")));
            continue;
        };
        let active = agent
            .agent_id
            .as_ref()
            .and_then(|id| m.agents().get(id))
            .is_some_and(|a| a.status == AgentStatus::Active);
        if !agent.registered || !active {
            errors.push((
                "registered",
                format!(
                    "agent{h} ({:?}) registered={} active at master={active}",
                    agent.agent_id, agent.registered
                ),
            ));
        }
        for t in agent.tasks.values() {
            if let Some(s) = t.pending.front() {
                errors.push((
                    "delivered",
                    format!(
                        "agent{h} still holds {} unacknowledged update(s) of {} (front {} {:?})",
                        t.pending.len(),
                        t.info.task_id,
                        s.state.as_str(),
                        s.uuid
                    ),
                ));
            }
        }
    }
    let by_id: BTreeMap<FrameworkId, usize> = sim
        .fws
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.id.clone().map(|id| (id, i)))
        .collect();
    for (uuid, (h, fid, task)) in &sim.ledger.must_deliver {
        if sim.ledger.wiped.contains(h) {
            continue;
        }
        let received = by_id
            .get(fid)
            .is_some_and(|i| sim.fws[*i].received.contains(uuid));
        if !received {
            errors.push((
                "delivered",
                format!("update {uuid} of {task} (agent{h}) never reached framework {fid}"),
            ));
        }
    }
    for f in &sim.fws {
        let Some(fid) = &f.id else {
            errors.push(("converged", format!("fw{} never subscribed", f.idx)));
            continue;
        };
        let Some(rec) = m.frameworks().get(fid) else {
            errors.push((
                "converged",
                format!("fw{} ({fid}) unknown to the master", f.idx),
            ));
            continue;
        };
        let pa = f.partition_aware();
        // Master -> framework.
        for (tid, t) in &rec.tasks {
            let want = t.state.for_framework(pa);
            match f.tasks.get(tid) {
                Some(v) if v.state == want => {}
                v => errors.push((
                    "converged",
                    format!(
                        "fw{} task {tid}: master says {}, framework says {:?}",
                        f.idx,
                        want.as_str(),
                        v.map(|v| v.state.as_str())
                    ),
                )),
            }
        }
        // Agents -> framework and master.
        let mut on_agents: BTreeMap<&TaskId, (usize, TaskState)> = BTreeMap::new();
        for (h, host) in sim.hosts.iter().enumerate() {
            let Some(agent) = &host.agent else { continue };
            for ((tf, tid), t) in &agent.tasks {
                if tf != fid || t.state.is_terminal() {
                    continue;
                }
                on_agents.insert(tid, (h, t.state));
                let view = f.tasks.get(tid).map(|v| v.state);
                let master = rec.tasks.get(tid).map(|r| r.state);
                if view != Some(t.state) || master != Some(t.state) {
                    errors.push((
                        "converged",
                        format!(
                            "fw{} task {tid} on agent{h}: agent says {}, framework {:?}, master {:?}",
                            f.idx,
                            t.state.as_str(),
                            view.map(|s| s.as_str()),
                            master.map(|s| s.as_str())
                        ),
                    ));
                }
            }
        }
        // Every launched task is accounted for: terminal in the framework's view, or live
        // as the master says (running on the agent the master names), or unreachable on
        // an agent the master holds unreachable (or has not heard from since it started,
        // in which case Mesos answers nothing until the agent is back or given up).
        for tid in &f.launched {
            let Some(v) = f.tasks.get(tid) else {
                errors.push(("accounted", format!("fw{} forgot task {tid}", f.idx)));
                continue;
            };
            if v.state.is_terminal() {
                continue;
            }
            let master = rec.tasks.get(tid).map(|r| r.state);
            let agent_status = m.agents().get(&v.agent_id).map(|a| &a.status);
            let ok = match master {
                Some(TaskState::TaskRunning) => {
                    v.state == TaskState::TaskRunning && on_agents.contains_key(tid)
                }
                Some(TaskState::TaskUnreachable) => {
                    v.state == TaskState::TaskUnreachable
                        && matches!(agent_status, Some(AgentStatus::Unreachable { .. }))
                }
                Some(_) => false,
                None => match agent_status {
                    Some(AgentStatus::Unreachable { .. }) => v.state == TaskState::TaskUnreachable,
                    Some(AgentStatus::Recovered { .. }) => true,
                    _ => false,
                },
            };
            if !ok {
                errors.push((
                    "accounted",
                    format!(
                        "fw{} task {tid} on {}: framework says {}, master {:?} (agent {:?}), on an agent: {:?}",
                        f.idx,
                        v.agent_id,
                        v.state.as_str(),
                        master.map(|s| s.as_str()),
                        agent_status,
                        on_agents.get(tid)
                    ),
                ));
            }
        }
        // Liveness of the scheduler: N instances running when there is room.
        let running = f
            .tasks
            .values()
            .filter(|t| t.state == TaskState::TaskRunning)
            .count();
        if sim.has_room() && running != sim.ctx.cfg.instances {
            errors.push((
                "instances",
                format!(
                    "fw{} runs {running} instances, wants {}",
                    f.idx, sim.ctx.cfg.instances
                ),
            ));
        }
    }
    if let Some((p, d)) = errors.into_iter().next() {
        sim.ctx.violation(p, d);
    }
}

impl Sim {
    /// Whether the agents can hold every framework's instances.
    pub(crate) fn has_room(&self) -> bool {
        let cfg = &self.ctx.cfg;
        let Some(host) = self.hosts.first() else {
            return cfg.frameworks == 0 || cfg.instances == 0;
        };
        let t = &host.total;
        let by = |have: f64, need: f64| {
            if need <= 0.0 {
                usize::MAX
            } else {
                (have / need + 1e-9) as usize
            }
        };
        let ports = t.ranges("ports").map(|r| r.len() as usize).unwrap_or(0);
        let per_agent = by(t.scalar("cpus"), cfg.task_cpus)
            .min(by(t.scalar("mem"), cfg.task_mem))
            .min(ports);
        // Leave one agent's worth of slack for fragmentation across frameworks.
        per_agent.saturating_mul(self.hosts.len().saturating_sub(1))
            >= cfg.frameworks * cfg.instances
    }
}

// Trace formatting.

pub(crate) fn describe_event(e: &Event) -> String {
    match e {
        Event::Update(u) => format!(
            "UPDATE {} {} uuid={:?} reason={:?}",
            u.status.task_id,
            u.status.state.as_str(),
            u.status.uuid,
            u.status.reason
        ),
        Event::Offers(o) => format!(
            "OFFERS {}",
            o.offers
                .iter()
                .map(|o| format!("{}@{}", o.id, o.agent_id))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Event::Rescind(r) => format!("RESCIND {}", r.offer_id),
        Event::Subscribed(s) => format!("SUBSCRIBED {}", s.framework_id),
        Event::Error(e) => format!("ERROR {}", e.message),
        other => other.type_name().to_string(),
    }
}

pub(crate) fn describe_call(c: &Call) -> String {
    match c {
        Call::Accept(a) => format!(
            "ACCEPT {:?} launching {:?}",
            a.offer_ids.iter().map(|o| &o.value).collect::<Vec<_>>(),
            a.operations
                .iter()
                .flat_map(|o| o.launch.iter().flat_map(|l| l.task_infos.iter()))
                .map(|t| &t.task_id.value)
                .collect::<Vec<_>>()
        ),
        Call::Decline(d) => format!(
            "DECLINE {:?}",
            d.offer_ids.iter().map(|o| &o.value).collect::<Vec<_>>()
        ),
        Call::Acknowledge(a) => format!("ACKNOWLEDGE {} {}", a.task_id, a.uuid),
        Call::Kill(k) => format!("KILL {}", k.task_id),
        Call::Reconcile(r) => format!("RECONCILE {} tasks", r.tasks.len()),
        other => other.type_name().to_string(),
    }
}

pub(crate) fn describe_master_input(i: &MasterInput) -> String {
    match i {
        MasterInput::Scheduler { call, stream, .. } => {
            format!("{} (stream {:?})", describe_call(call), stream)
        }
        MasterInput::AgentMessage { envelope } => format!(
            "from {}: {}",
            envelope.agent_id,
            describe_agent_send(&envelope.message)
        ),
        MasterInput::AgentConnect { conn, registration } => match registration {
            mesos_proto::internal::Registration::Register { agent_info, .. } => {
                format!("REGISTER {} (conn {conn})", agent_info.hostname)
            }
            mesos_proto::internal::Registration::Reregister {
                agent_info, tasks, ..
            } => format!(
                "REREGISTER {} {:?} with {} tasks (conn {conn})",
                agent_info.hostname,
                agent_info.id.as_ref().map(|i| &i.value),
                tasks.len()
            ),
        },
        MasterInput::AgentDisconnected { conn } => format!("agent conn {conn} closed"),
        MasterInput::StreamClosed { stream } => format!("stream {stream} closed"),
        other => format!("{other:?}"),
    }
}

pub(crate) fn describe_agent_send(m: &AgentToMaster) -> String {
    match m {
        AgentToMaster::StatusUpdate { status, .. } => format!(
            "STATUS_UPDATE {} {} {:?}",
            status.task_id,
            status.state.as_str(),
            status.uuid
        ),
        AgentToMaster::ExecutorExited { executor_id, .. } => {
            format!("EXECUTOR_EXITED {executor_id}")
        }
        AgentToMaster::Pong => "PONG".into(),
        AgentToMaster::ExecutorMessage { .. } => "EXECUTOR_MESSAGE".into(),
    }
}

pub(crate) fn describe_agent_msg(m: &MasterToAgent) -> String {
    match m {
        MasterToAgent::RunTask { task, .. } => format!("RUN_TASK {}", task.task_id),
        MasterToAgent::KillTask { task_id, .. } => format!("KILL_TASK {task_id}"),
        MasterToAgent::Acknowledge { task_id, uuid, .. } => {
            format!("ACKNOWLEDGE {task_id} {uuid}")
        }
        MasterToAgent::Registered {
            agent_id, epoch, ..
        } => format!("REGISTERED {agent_id} epoch {epoch}"),
        MasterToAgent::Reregistered {
            agent_id, epoch, ..
        } => format!("REREGISTERED {agent_id} epoch {epoch}"),
        MasterToAgent::Error { message } => format!("ERROR {message}"),
        MasterToAgent::Ping => "PING".into(),
        MasterToAgent::ShutdownFramework { framework_id } => {
            format!("SHUTDOWN_FRAMEWORK {framework_id}")
        }
        MasterToAgent::ShutdownExecutor { executor_id, .. } => {
            format!("SHUTDOWN_EXECUTOR {executor_id}")
        }
        MasterToAgent::UpdateFramework { .. } => "UPDATE_FRAMEWORK".into(),
        MasterToAgent::RunTaskGroup { .. } => "RUN_TASK_GROUP".into(),
        MasterToAgent::FrameworkMessage { .. } => "FRAMEWORK_MESSAGE".into(),
    }
}
