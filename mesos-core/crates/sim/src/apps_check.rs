//! The end-of-run checks of a placement benchmark: every instance running in the
//! framework's, the master's and the executors' views, no agent over-committed, every
//! constraint held.

use crate::apps::Constraint;
use crate::sim::Sim;
use mesos_proto::ids::AgentId;
use mesos_proto::resources::Resources;
use mesos_proto::v1::TaskState;
use std::collections::{HashMap, HashSet};

/// What the final checks counted.
#[derive(Clone, Debug, Default)]
pub struct PlacementCheck {
    /// Instances submitted to the framework.
    pub submitted: u64,
    /// Tasks of the framework the master holds as TASK_RUNNING.
    pub master_running: u64,
    /// Tasks the simulated executors run.
    pub executors_running: u64,
    /// Agents holding at least one task.
    pub agents_used: usize,
    /// The most tasks on one agent.
    pub max_per_agent: usize,
}

impl Sim {
    /// Check framework `fw`'s placement once it says everything runs. `Err` lists what
    /// is wrong.
    pub fn check_placement(&self, fw: usize) -> Result<PlacementCheck, String> {
        let mut errors = Vec::new();
        let f = &self.fws[fw];
        let apps = f.apps.as_ref().ok_or("not an apps framework")?;
        let progress = apps.progress();
        let mut c = PlacementCheck {
            submitted: progress.submitted,
            ..PlacementCheck::default()
        };
        let not_running = apps.not_running();
        if not_running > 0 {
            errors.push(format!("{not_running} instances not running (framework)"));
        }
        let node = self.master.as_ref().ok_or("no master")?;
        let m = &node.m;
        let fid = f.id.as_ref().ok_or("framework never subscribed")?;
        let rec = m
            .frameworks()
            .get(fid)
            .ok_or("master does not know the framework")?;
        let specs: HashMap<&str, &Constraint> = apps
            .specs()
            .map(|s| (s.id.as_str(), &s.constraint))
            .collect();
        let mut per_agent: HashMap<&AgentId, usize> = HashMap::new();
        let mut unique: HashSet<(&str, &AgentId)> = HashSet::new();
        for (id, t) in &rec.tasks {
            if t.state == TaskState::TaskRunning {
                c.master_running += 1;
            }
            *per_agent.entry(&t.agent_id).or_default() += 1;
            let Some((app, _)) = id.value.rsplit_once('.') else {
                errors.push(format!("unknown task {id}"));
                continue;
            };
            let Some(agent) = m.agents().get(&t.agent_id) else {
                errors.push(format!("task {id} on unknown agent {}", t.agent_id));
                continue;
            };
            let attr = |name: &str| {
                agent
                    .info
                    .attributes
                    .iter()
                    .find(|a| a.name == name)
                    .and_then(|a| a.text.as_ref())
                    .map(|t| t.value.as_str())
            };
            let ok = match specs.get(app) {
                None => false,
                Some(Constraint::None) => true,
                Some(Constraint::UniqueHostname) => unique.insert((app, &t.agent_id)),
                Some(Constraint::Cluster { attr: a, value }) => attr(a) == Some(value.as_str()),
                Some(Constraint::Like { attr: a, prefix }) => {
                    attr(a).is_some_and(|v| v.starts_with(prefix.as_str()))
                }
            };
            if !ok && errors.len() < 20 {
                errors.push(format!("task {id} on {} breaks its constraint", t.agent_id));
            }
        }
        if c.master_running != c.submitted || rec.tasks.len() as u64 != c.submitted {
            errors.push(format!(
                "master holds {} tasks, {} running; {} submitted",
                rec.tasks.len(),
                c.master_running,
                c.submitted
            ));
        }
        c.agents_used = per_agent.len();
        c.max_per_agent = per_agent.values().copied().max().unwrap_or(0);

        // No over-commit: live tasks of every framework plus outstanding offers fit in
        // each agent's total.
        let mut used: HashMap<&AgentId, Resources> = HashMap::new();
        for f in m.frameworks().values() {
            for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
                let u = used.entry(&t.agent_id).or_default();
                match u.checked_add(&t.resources) {
                    Ok(sum) => *u = sum,
                    Err(e) => errors.push(format!("agent {}: {e}", t.agent_id)),
                }
            }
        }
        for o in m.offers().values() {
            let u = used.entry(&o.agent_id).or_default();
            match u.checked_add(&o.resources) {
                Ok(sum) => *u = sum,
                Err(e) => errors.push(format!("agent {}: {e}", o.agent_id)),
            }
        }
        for (id, u) in &used {
            match m.agents().get(*id) {
                Some(a) if a.total.contains(u) => {}
                Some(a) => errors.push(format!("agent {id} over-committed: {u} of {}", a.total)),
                None => errors.push(format!("resources used on unknown agent {id}")),
            }
        }

        // The executors' side.
        for h in &self.hosts {
            for p in h.procs.values().filter(|p| p.alive) {
                c.executors_running += p
                    .tasks
                    .values()
                    .filter(|t| t.state == Some(TaskState::TaskRunning))
                    .count() as u64;
            }
        }
        if c.executors_running != c.submitted {
            errors.push(format!(
                "executors run {} tasks; {} submitted",
                c.executors_running, c.submitted
            ));
        }
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors.join("; "))
        }
    }
}
