//! Task status: updates from agents, acknowledgements, kills and reconciliation.

use super::*;
use mesos_proto::scheduler::{Acknowledge, Kill, ReconcileTask, Update};

impl Master {
    /// An update the master itself generates: no uuid, never retried (spec 1.6).
    pub(crate) fn master_update(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        agent: Option<AgentId>,
        mut status: TaskStatus,
        out: &mut Vec<Output>,
    ) {
        status.uuid = None;
        status.timestamp.get_or_insert(now);
        if status.agent_id.is_none() {
            status.agent_id = agent;
        }
        if let Some(fw) = self.frameworks.get(fid) {
            status.state = status.state.for_framework(fw.partition_aware());
        }
        self.send_event(fid, Event::Update(Update { status }), out);
    }

    /// A status update the agent relays from an executor (or makes itself). The task's
    /// state becomes the agent's `latest_state` (else the update's), and a terminal task
    /// never becomes live again: an older update resent after a newer terminal one (the
    /// agent re-registering with its tasks, say) is forwarded but changes no state.
    pub(crate) fn status_update(
        &mut self,
        now: f64,
        agent_id: &AgentId,
        fid: &FrameworkId,
        mut status: TaskStatus,
        latest_state: Option<TaskState>,
        out: &mut Vec<Output>,
    ) {
        status.agent_id.get_or_insert_with(|| agent_id.clone());
        status.timestamp.get_or_insert(now);
        let Some(fw) = self.frameworks.get_mut(fid) else {
            self.counters.invalid_status_updates += 1;
            tracing::debug!(framework = %fid, "status update for an unknown framework dropped");
            return;
        };
        let partition_aware = fw.partition_aware();
        let Some(task) = fw.tasks.get_mut(&status.task_id).map(Arc::make_mut) else {
            self.counters.invalid_status_updates += 1;
            tracing::debug!(task = %status.task_id, "status update for an unknown task dropped");
            return;
        };
        self.counters.valid_status_updates += 1;
        let was_terminal = task.state.is_terminal();
        if !was_terminal {
            task.state = latest_state.unwrap_or(status.state);
        }
        task.unreachable_time = None;
        push_short(&mut task.statuses, status.clone());
        if task.statuses.len() > 32 {
            task.statuses.remove(0);
        }
        task.unacked_uuid = status.uuid.clone();
        let task_state = task.state;
        let mut recover = None;
        if task.state.is_terminal() && !was_terminal && !task.resources_recovered {
            task.resources_recovered = true;
            recover = Some((task.role.clone(), task.resources.clone()));
            let name = task.state.as_str();
            *self.counters.tasks_terminal.entry(name).or_insert(0) += 1;
        }
        if let Some((role, res)) = recover {
            self.allocator.recover(
                fid,
                &role,
                agent_id,
                &res,
                None,
                Duration::from_secs_f64(now.max(0.0)),
            );
        }
        out.push(Output::Operator(OperatorEvent::TaskUpdated {
            framework_id: fid.clone(),
            status: status.clone(),
            state: task_state,
        }));
        let mut wire = status;
        wire.state = wire.state.for_framework(partition_aware);
        self.send_event(fid, Event::Update(Update { status: wire }), out);
    }

    pub(crate) fn acknowledge(
        &mut self,
        fid: &FrameworkId,
        ack: Acknowledge,
        out: &mut Vec<Output>,
    ) {
        self.send_agent(
            &ack.agent_id,
            MasterToAgent::Acknowledge {
                framework_id: fid.clone(),
                task_id: ack.task_id.clone(),
                uuid: ack.uuid.clone(),
            },
            out,
        );
        let complete = self
            .frameworks
            .get(fid)
            .and_then(|fw| fw.tasks.get(&ack.task_id))
            .is_some_and(|t| {
                // The acknowledged update itself must be the terminal one (the task's state
                // may already be terminal through `latest_state` while older updates are
                // still being delivered).
                let forwarded = t.statuses.last();
                t.state.is_terminal()
                    && forwarded.is_some_and(|s| s.state.is_terminal())
                    && t.unacked_uuid.as_deref() == Some(ack.uuid.as_str())
            });
        if complete {
            self.complete_task(fid, &ack.task_id);
        }
    }

    /// Move a terminal, acknowledged task to the framework's completed tasks.
    pub(crate) fn complete_task(&mut self, fid: &FrameworkId, task_id: &TaskId) {
        let Some(fw) = self.frameworks.get_mut(fid) else {
            return;
        };
        let Some(task) = fw.tasks.remove(task_id) else {
            return;
        };
        if let Some(a) = self.agents.get_mut(&task.agent_id) {
            a.tasks.remove(&(fid.clone(), task_id.clone()));
        }
        fw.completed_tasks.push_back(task);
        while fw.completed_tasks.len() > self.config.max_completed_tasks_per_framework {
            fw.completed_tasks.pop_front();
        }
    }

    pub(crate) fn kill(&mut self, now: f64, fid: &FrameworkId, k: Kill, out: &mut Vec<Output>) {
        self.counters.messages_kill_task += 1;
        let known = self.frameworks[fid]
            .tasks
            .get(&k.task_id)
            .map(|t| t.agent_id.clone());
        match known {
            Some(agent) => {
                self.send_agent(
                    &agent,
                    MasterToAgent::KillTask {
                        framework_id: fid.clone(),
                        task_id: k.task_id,
                        kill_policy: k.kill_policy,
                    },
                    out,
                );
            }
            None => self.reconcile(
                now,
                fid,
                vec![ReconcileTask {
                    task_id: k.task_id,
                    agent_id: k.agent_id,
                }],
                out,
            ),
        }
    }

    fn reconciliation_status(task: &TaskRecord, now: f64) -> TaskStatus {
        let mut s = match task.statuses.last() {
            Some(last) => last.clone(),
            None => TaskStatus::new(task.info.task_id.clone(), task.state),
        };
        s.state = task.state;
        s.agent_id = Some(task.agent_id.clone());
        s.executor_id = task.executor_id.clone();
        s.source = Some("SOURCE_MASTER".into());
        s.reason = Some("REASON_RECONCILIATION".into());
        s.message = Some("Reconciliation: Latest task state".into());
        s.timestamp = Some(now);
        s.uuid = None;
        s.data = None;
        if let Some(t) = task.unreachable_time {
            s.unreachable_time = Some(DurationInfo::from_secs_f64(t));
        }
        s
    }

    pub(crate) fn reconcile(
        &mut self,
        now: f64,
        fid: &FrameworkId,
        tasks: Vec<ReconcileTask>,
        out: &mut Vec<Output>,
    ) {
        let fw = &self.frameworks[fid];
        let mut replies = Vec::new();
        if tasks.is_empty() {
            for task in fw.tasks.values() {
                replies.push(Self::reconciliation_status(task, now));
            }
        } else {
            let any_recovering = self
                .agents
                .values()
                .any(|a| matches!(a.status, AgentStatus::Recovered { .. }));
            for rt in tasks {
                if let Some(task) = fw.tasks.get(&rt.task_id) {
                    replies.push(Self::reconciliation_status(task, now));
                    continue;
                }
                let reason_status = |state: TaskState| {
                    let mut s = TaskStatus::new(rt.task_id.clone(), state)
                        .with_source("SOURCE_MASTER")
                        .with_reason("REASON_RECONCILIATION")
                        .with_message("Reconciliation: Task is unknown");
                    s.agent_id = rt.agent_id.clone();
                    s.timestamp = Some(now);
                    s
                };
                match &rt.agent_id {
                    Some(agent) => match self.agents.get(agent).map(|a| &a.status) {
                        Some(AgentStatus::Recovered { .. }) => {}
                        Some(AgentStatus::Active) => {
                            replies.push(reason_status(TaskState::TaskGone))
                        }
                        Some(AgentStatus::Unreachable { since }) => {
                            let mut s = reason_status(TaskState::TaskUnreachable);
                            s.unreachable_time = Some(DurationInfo::from_secs_f64(*since));
                            replies.push(s);
                        }
                        None => replies.push(reason_status(TaskState::TaskUnknown)),
                    },
                    None if any_recovering => {}
                    None => replies.push(reason_status(TaskState::TaskUnknown)),
                }
            }
        }
        let pa = fw.partition_aware();
        for mut s in replies {
            s.state = s.state.for_framework(pa);
            self.send_event(fid, Event::Update(Update { status: s }), out);
        }
    }
}
