//! Status update streams: one per task, one update in flight, retried with doubling backoff
//! until the master acknowledges it, checkpointed with the task record.

use crate::agent::{push_capped, Agent, Retry, TaskKey};
use crate::state::*;
use mesos_proto::internal::AgentToMaster;
use mesos_proto::v1::*;
use std::sync::Arc;
use std::time::Duration;

impl Agent {
    /// Generate an update on the agent's behalf (source SOURCE_AGENT, fresh UUID).
    pub(crate) fn agent_update(
        &mut self,
        now: Duration,
        key: &TaskKey,
        state: TaskState,
        reason: &str,
        message: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(t) = self.tasks.get(key) else { return };
        let mut s = TaskStatus::new(key.1.clone(), state)
            .with_source("SOURCE_AGENT")
            .with_reason(reason)
            .with_message(message);
        s.agent_id = self.agent_id.clone();
        s.executor_id = Some(t.executor_id.clone());
        s.timestamp = Some(Self::ts(now));
        s.uuid = Some(self.ids.next_b64());
        self.enqueue_update(now, key, s, out);
    }

    /// Record an update on the task, checkpoint it and send it if it is the front one.
    pub(crate) fn enqueue_update(
        &mut self,
        now: Duration,
        key: &TaskKey,
        status: TaskStatus,
        out: &mut Vec<Output>,
    ) {
        let Some(t) = self.tasks.get_mut(key).map(Arc::make_mut) else {
            return;
        };
        let ts = status.timestamp.unwrap_or_else(|| Self::ts(now));
        t.state = status.state;
        t.latest = Some(status.clone());
        t.statuses.push((status.state, ts));
        if let Some(u) = &status.uuid {
            t.seen.push(u.clone());
        }
        // One slot at a time (usually one or two in flight), freed once all are acknowledged:
        // an empty queue otherwise keeps room for four `TaskStatus`es, about 1.4 KB per task.
        t.pending.reserve_exact(1);
        t.pending.push_back(status);
        let first = t.pending.len() == 1;
        self.checkpoint_task(key, out);
        if first {
            self.send_front(now, key, out);
        }
    }

    /// (Re)send the in-flight update of a task and arm its retry timer with the base interval.
    pub(crate) fn send_front(&mut self, now: Duration, key: &TaskKey, out: &mut Vec<Output>) {
        let Some(front) = self.tasks.get(key).and_then(|t| t.pending.front().cloned()) else {
            self.retries.remove(key);
            return;
        };
        if !self.registered {
            self.retries.remove(key);
            return;
        }
        let latest_state = self.tasks.get(key).map(|t| t.state);
        out.push(Output::ToMaster(AgentToMaster::StatusUpdate {
            framework_id: key.0.clone(),
            status: front,
            latest_state,
        }));
        let backoff = self.cfg.status_update_retry_base;
        self.retries.insert(
            key.clone(),
            Retry {
                next: now + backoff,
                backoff,
            },
        );
    }

    /// Resend every in-flight update whose retry time has come; the interval doubles up to
    /// the maximum.
    pub(crate) fn retry_due(&mut self, now: Duration, out: &mut Vec<Output>) {
        if !self.registered {
            return;
        }
        let mut due: Vec<TaskKey> = self
            .retries
            .iter()
            .filter(|(_, r)| now >= r.next)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        for key in due {
            let Some((front, latest)) = self
                .tasks
                .get(&key)
                .and_then(|t| Some((t.pending.front().cloned()?, t.state)))
            else {
                self.retries.remove(&key);
                continue;
            };
            out.push(Output::ToMaster(AgentToMaster::StatusUpdate {
                framework_id: key.0.clone(),
                status: front,
                latest_state: Some(latest),
            }));
            let max = self.cfg.status_update_retry_max;
            if let Some(r) = self.retries.get_mut(&key) {
                r.backoff = (r.backoff * 2).min(max);
                r.next = now + r.backoff;
            }
        }
    }

    /// The master acknowledged `uuid`: drop it and send the next update of the task. A task
    /// that is terminal with nothing pending is complete.
    pub(crate) fn acknowledge(
        &mut self,
        now: Duration,
        key: TaskKey,
        uuid: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(t) = self.tasks.get_mut(&key).map(Arc::make_mut) else {
            return;
        };
        if t.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
            return;
        }
        t.pending.pop_front();
        if t.pending.is_empty() {
            t.pending.shrink_to_fit();
        }
        self.retries.remove(&key);
        if !t.pending.is_empty() {
            self.checkpoint_task(&key, out);
            self.send_front(now, &key, out);
        } else if t.state.is_terminal() {
            self.complete_task(&key, out);
        } else {
            self.checkpoint_task(&key, out);
        }
    }

    pub(crate) fn complete_task(&mut self, key: &TaskKey, out: &mut Vec<Output>) {
        self.retries.remove(key);
        if let Some(t) = self.remove_task(key) {
            out.push(Output::Checkpoint(CheckpointOp::RemoveTask(
                key.0.clone(),
                key.1.clone(),
                t.seq,
            )));
            push_capped(&mut self.completed_tasks, t);
        }
        self.maybe_remove_framework(&key.0.clone(), out);
    }
}
