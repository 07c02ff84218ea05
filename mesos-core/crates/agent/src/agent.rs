//! The agent state machine: `Agent::handle(now, input) -> Vec<Output>`.
//!
//! No I/O, no clock, no randomness: `now` is wall-clock time since the Unix epoch supplied by
//! the shell, and UUIDs come from an [`IdGen`] seeded by the shell. The executor-facing half
//! lives in `executors.rs`, the status update streams in `status_updates.rs`.

use crate::state::*;
use mesos_proto::ids::*;
use mesos_proto::internal::{
    AgentToMaster, ExecutorSnapshot, MasterToAgent, Registration, TaskSnapshot,
};
use mesos_proto::v1::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

pub type TaskKey = (FrameworkId, TaskId);
pub type ExecKey = (FrameworkId, ExecutorId);

/// How many completed tasks/executors/frameworks `/state` remembers.
pub const MAX_COMPLETED: usize = 1000;

#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    pub next: Duration,
    pub backoff: Duration,
}

pub struct Agent {
    pub cfg: AgentConfig,
    pub(crate) ids: IdGen,
    pub agent_id: Option<AgentId>,
    pub registered: bool,
    pub master_id: Option<String>,
    pub(crate) ping_timeout: Option<Duration>,
    pub(crate) last_ping: Duration,
    pub started: Duration,
    pub frameworks: BTreeMap<FrameworkId, FrameworkInfo>,
    pub(crate) shutting_down: BTreeSet<FrameworkId>,
    /// Changed only through `insert_executor` / `remove_executor` (they keep the index).
    pub executors: BTreeMap<ExecKey, ExecutorRecord>,
    /// Changed only through `insert_task` / `remove_task` (they keep the index).
    /// Shared with the checkpoint ops that carry them (changed through `Arc::make_mut`).
    pub tasks: BTreeMap<TaskKey, Arc<TaskRecord>>,
    /// Index: the executor of each container.
    by_container: HashMap<ContainerId, ExecKey>,
    /// Index: the tasks of each executor (a command executor has one, a default
    /// executor its groups'), so per-executor work does not scan every task.
    exec_tasks: HashMap<ExecKey, Vec<TaskId>>,
    pub(crate) retries: HashMap<TaskKey, Retry>,
    pub completed_tasks: VecDeque<TaskRecord>,
    pub completed_executors: VecDeque<ExecutorRecord>,
    pub completed_frameworks: VecDeque<FrameworkInfo>,
    /// Messages (EXECUTOR_EXITED, executor messages) held until the agent is registered.
    pub(crate) pending_master: Vec<AgentToMaster>,
    pub(crate) next_seq: u64,
}

impl Agent {
    pub fn new(cfg: AgentConfig, seed: u128, now: Duration) -> Self {
        Agent {
            cfg,
            ids: IdGen::new(seed),
            agent_id: None,
            registered: false,
            master_id: None,
            ping_timeout: None,
            last_ping: now,
            started: now,
            frameworks: BTreeMap::new(),
            shutting_down: BTreeSet::new(),
            executors: BTreeMap::new(),
            tasks: BTreeMap::new(),
            by_container: HashMap::new(),
            exec_tasks: HashMap::new(),
            retries: HashMap::new(),
            completed_tasks: VecDeque::new(),
            completed_executors: VecDeque::new(),
            completed_frameworks: VecDeque::new(),
            pending_master: Vec::new(),
            next_seq: 1,
        }
    }

    pub fn handle(&mut self, now: Duration, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick => self.tick(now, &mut out),
            Input::Recover(r) => self.recover(now, r, &mut out),
            Input::Master(m) => self.on_master(now, m, &mut out),
            Input::MasterDisconnected => {
                self.registered = false;
            }
            Input::Executor { call, conn } => self.on_executor_call(now, call, conn, &mut out),
            Input::ExecutorStreamClosed { conn } => self.on_stream_closed(now, conn),
            Input::ContainerLaunched { container_id, pid } => {
                self.on_launched(container_id, pid, &mut out)
            }
            Input::ContainerLaunchFailed {
                container_id,
                message,
            } => {
                if let Some(key) = self.executor_by_container(&container_id) {
                    let msg = format!("Failed to launch container: {message}");
                    self.executor_terminated(
                        now,
                        &key,
                        None,
                        "REASON_CONTAINER_LAUNCH_FAILED",
                        &msg,
                        &mut out,
                    );
                }
            }
            Input::ContainerExited {
                container_id,
                status,
            } => {
                if let Some(key) = self.executor_by_container(&container_id) {
                    let msg = match status {
                        Some(s) => format!("Executor terminated: {}", describe_wait_status(s)),
                        None => "Executor terminated".to_string(),
                    };
                    self.executor_terminated(
                        now,
                        &key,
                        status,
                        "REASON_EXECUTOR_TERMINATED",
                        &msg,
                        &mut out,
                    );
                }
            }
        }
        out
    }

    /// The AgentInfo to register with (id set once known).
    pub fn agent_info(&self) -> AgentInfo {
        AgentInfo {
            hostname: self.cfg.hostname.clone(),
            port: self.cfg.port as u32,
            resources: self.cfg.resources.to_wire(None),
            attributes: self.cfg.attributes.clone(),
            id: self.agent_id.clone(),
        }
    }

    /// What to send on `/internal/agent/connect`.
    pub fn registration(&self) -> Registration {
        let version = mesos_proto::MESOS_VERSION.to_string();
        if self.agent_id.is_none() {
            return Registration::Register {
                agent_info: self.agent_info(),
                version,
            };
        }
        let tasks = self
            .tasks
            .values()
            .map(|t| TaskSnapshot {
                framework_id: t.framework_id.clone(),
                executor_id: t.executor_id.clone(),
                task: TaskInfo::clone(&t.info),
                state: t.state,
                status: t.latest.clone(),
            })
            .collect();
        let executors = self
            .executors
            .values()
            .map(|e| ExecutorSnapshot {
                framework_id: e.framework_id.clone(),
                executor: e.info.clone(),
                command_executor: e.command_executor,
            })
            .collect();
        Registration::Reregister {
            agent_info: self.agent_info(),
            version,
            tasks,
            executors,
            frameworks: self.frameworks.values().cloned().collect(),
        }
    }

    fn on_master(&mut self, now: Duration, msg: MasterToAgent, out: &mut Vec<Output>) {
        match msg {
            MasterToAgent::Registered {
                agent_id,
                master_id,
                ping_interval_secs,
                max_missed_pongs,
                ..
            }
            | MasterToAgent::Reregistered {
                agent_id,
                master_id,
                ping_interval_secs,
                max_missed_pongs,
                ..
            } => {
                if self.agent_id.as_ref() != Some(&agent_id) {
                    self.agent_id = Some(agent_id);
                    out.push(Output::Checkpoint(CheckpointOp::PutAgent(
                        self.agent_info(),
                    )));
                }
                self.registered = true;
                self.master_id = Some(master_id);
                self.last_ping = now;
                self.ping_timeout = if ping_interval_secs > 0.0 && ping_interval_secs.is_finite() {
                    Some(Duration::from_secs_f64(
                        ping_interval_secs * max_missed_pongs.max(1) as f64,
                    ))
                } else {
                    None
                };
                for m in std::mem::take(&mut self.pending_master) {
                    out.push(Output::ToMaster(m));
                }
                let keys: Vec<TaskKey> = self
                    .tasks
                    .iter()
                    .filter(|(_, t)| !t.pending.is_empty())
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    self.send_front(now, &k, out);
                }
            }
            MasterToAgent::Ping => {
                self.last_ping = now;
                out.push(Output::ToMaster(AgentToMaster::Pong));
            }
            MasterToAgent::RunTask { framework, task } => self.run_task(now, framework, task, out),
            MasterToAgent::RunTaskGroup {
                framework,
                executor,
                tasks,
            } => self.run_task_group(now, framework, executor, tasks, out),
            MasterToAgent::KillTask {
                framework_id,
                task_id,
                kill_policy,
            } => self.kill_task(now, (framework_id, task_id), kill_policy, out),
            MasterToAgent::Acknowledge {
                framework_id,
                task_id,
                uuid,
            } => self.acknowledge(now, (framework_id, task_id), &uuid, out),
            MasterToAgent::ShutdownFramework { framework_id } => {
                self.shutdown_framework(now, framework_id, out)
            }
            MasterToAgent::ShutdownExecutor {
                framework_id,
                executor_id,
            } => self.shutdown_executor(now, &(framework_id, executor_id), out),
            MasterToAgent::FrameworkMessage {
                framework_id,
                executor_id,
                data,
            } => {
                let key = (framework_id, executor_id);
                if let Some(conn) = self.executors.get(&key).and_then(|e| e.phase.conn()) {
                    out.push(Output::ToExecutor {
                        conn,
                        event: mesos_proto::executor::Event::Message {
                            message: mesos_proto::executor::Message { data },
                        },
                    });
                }
            }
            MasterToAgent::UpdateFramework { framework } => {
                if let Some(id) = framework.id.clone() {
                    if self.frameworks.contains_key(&id) {
                        self.put_framework(id, framework, out);
                    }
                }
            }
            MasterToAgent::Error { .. } => self.wipe(out),
        }
    }

    /// The master refused our agent ID: kill everything, forget everything, register anew.
    fn wipe(&mut self, out: &mut Vec<Output>) {
        for e in self.executors.values() {
            if let Some(conn) = e.phase.conn() {
                out.push(Output::CloseExecutorStream { conn });
            }
            out.push(Output::Destroy {
                container_id: e.container_id.clone(),
            });
        }
        self.executors.clear();
        self.tasks.clear();
        self.by_container.clear();
        self.exec_tasks.clear();
        self.retries.clear();
        self.frameworks.clear();
        self.shutting_down.clear();
        self.pending_master.clear();
        self.agent_id = None;
        self.registered = false;
        out.push(Output::Checkpoint(CheckpointOp::Wipe));
        out.push(Output::Reconnect);
    }

    pub(crate) fn put_framework(
        &mut self,
        id: FrameworkId,
        info: FrameworkInfo,
        out: &mut Vec<Output>,
    ) {
        if self.frameworks.get(&id) != Some(&info) {
            self.frameworks.insert(id, info.clone());
            out.push(Output::Checkpoint(CheckpointOp::PutFramework(info)));
        }
    }

    fn tick(&mut self, now: Duration, out: &mut Vec<Output>) {
        if self.registered {
            if let Some(t) = self.ping_timeout {
                if now > self.last_ping + t {
                    self.registered = false;
                    out.push(Output::Reconnect);
                }
            }
        }
        // Only executors whose phase ran out (no copy of every key on every tick).
        let keys: Vec<ExecKey> = self
            .executors
            .iter()
            .filter(|(_, e)| e.phase.deadline().is_some_and(|d| now >= d))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(e) = self.executors.get_mut(&key) else {
                continue;
            };
            match e.phase.clone() {
                Phase::Launching { deadline } if now >= deadline => {
                    e.phase = Phase::Destroying;
                    let cid = e.container_id.clone();
                    let msg = format!(
                        "Executor did not register within {}",
                        crate::flags::format_duration(self.cfg.executor_registration_timeout)
                    );
                    self.fail_executor_tasks(
                        now,
                        &key,
                        "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
                        &msg,
                        out,
                    );
                    out.push(Output::Destroy { container_id: cid });
                }
                Phase::Disconnected { deadline } | Phase::ShuttingDown { deadline, .. }
                    if now >= deadline =>
                {
                    if let Some(conn) = e.phase.conn() {
                        out.push(Output::CloseExecutorStream { conn });
                    }
                    e.phase = Phase::Destroying;
                    out.push(Output::Destroy {
                        container_id: e.container_id.clone(),
                    });
                }
                _ => {}
            }
        }
        self.retry_due(now, out);
    }

    fn recover(&mut self, now: Duration, r: Recovered, out: &mut Vec<Output>) {
        self.agent_id = r.agent_info.and_then(|a| a.id);
        for f in r.frameworks {
            if let Some(id) = f.id.clone() {
                self.frameworks.insert(id, f);
            }
        }
        for t in r.tasks {
            self.next_seq = self.next_seq.max(t.seq + 1);
            if let Some(g) = t.group {
                self.next_seq = self.next_seq.max(g + 1);
            }
            self.insert_task((t.framework_id.clone(), t.info.task_id.clone()), t);
        }
        let mut dead = Vec::new();
        for (mut e, alive) in r.executors {
            let key = (e.framework_id.clone(), e.info.executor_id.clone());
            match (alive, e.pid) {
                (true, Some(pid)) => {
                    out.push(Output::Watch {
                        container_id: e.container_id.clone(),
                        pid,
                    });
                    if self.cfg.recover_cleanup {
                        e.phase = Phase::Destroying;
                        out.push(Output::Destroy {
                            container_id: e.container_id.clone(),
                        });
                    } else {
                        e.phase = Phase::Disconnected {
                            deadline: now + self.cfg.executor_registration_timeout,
                        };
                    }
                }
                _ => {
                    e.phase = Phase::Destroying;
                    dead.push(key.clone());
                }
            }
            self.insert_executor(key, e);
        }
        for key in dead {
            self.executor_terminated(
                now,
                &key,
                None,
                "REASON_EXECUTOR_TERMINATED",
                "Executor terminated while the agent was down",
                out,
            );
        }
        // Tasks whose executor is unknown and that are not terminal cannot make progress.
        let orphans: Vec<TaskKey> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                !t.state.is_terminal()
                    && !self
                        .executors
                        .contains_key(&(t.framework_id.clone(), t.executor_id.clone()))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in orphans {
            self.agent_update(
                now,
                &k,
                TaskState::TaskFailed,
                "REASON_EXECUTOR_TERMINATED",
                "Executor terminated while the agent was down",
                out,
            );
        }
        // Frameworks without executors or tasks are done.
        let fws: Vec<FrameworkId> = self.frameworks.keys().cloned().collect();
        for fw in fws {
            self.maybe_remove_framework(&fw, out);
        }
    }

    pub(crate) fn maybe_remove_framework(&mut self, fw: &FrameworkId, out: &mut Vec<Output>) {
        let busy = self.framework_has_executors(fw) || self.framework_has_tasks(fw);
        if busy {
            return;
        }
        self.shutting_down.remove(fw);
        if let Some(info) = self.frameworks.remove(fw) {
            out.push(Output::Checkpoint(CheckpointOp::RemoveFramework(
                fw.clone(),
            )));
            push_capped(&mut self.completed_frameworks, info);
        }
    }

    pub(crate) fn send_master(&mut self, m: AgentToMaster, out: &mut Vec<Output>) {
        if self.registered {
            out.push(Output::ToMaster(m));
        } else {
            self.pending_master.push(m);
        }
    }

    pub(crate) fn executor_by_container(&self, cid: &ContainerId) -> Option<ExecKey> {
        self.by_container
            .get(cid)
            .filter(|k| self.executors.contains_key(*k))
            .cloned()
    }

    pub(crate) fn insert_executor(&mut self, key: ExecKey, rec: ExecutorRecord) {
        self.by_container
            .insert(rec.container_id.clone(), key.clone());
        if let Some(old) = self.executors.insert(key, rec) {
            if !self
                .executors
                .values()
                .any(|e| e.container_id == old.container_id)
            {
                self.by_container.remove(&old.container_id);
            }
        }
    }

    pub(crate) fn remove_executor(&mut self, key: &ExecKey) -> Option<ExecutorRecord> {
        let e = self.executors.remove(key)?;
        if self.by_container.get(&e.container_id) == Some(key) {
            self.by_container.remove(&e.container_id);
        }
        Some(e)
    }

    pub(crate) fn insert_task(&mut self, key: TaskKey, rec: TaskRecord) {
        let ekey = (key.0.clone(), rec.executor_id.clone());
        if let Some(old) = self.tasks.insert(key.clone(), Arc::new(rec)) {
            self.unindex_task(&(key.0.clone(), old.executor_id.clone()), &key.1);
        }
        self.exec_tasks.entry(ekey).or_default().push(key.1);
    }

    /// Checkpoint the task's record as it is now (shared, not copied).
    pub(crate) fn checkpoint_task(&self, key: &TaskKey, out: &mut Vec<Output>) {
        if let Some(t) = self.tasks.get(key) {
            out.push(Output::Checkpoint(CheckpointOp::PutTask(t.clone())));
        }
    }

    pub(crate) fn remove_task(&mut self, key: &TaskKey) -> Option<TaskRecord> {
        let t = self.tasks.remove(key)?;
        self.unindex_task(&(key.0.clone(), t.executor_id.clone()), &key.1);
        Some(Arc::unwrap_or_clone(t))
    }

    fn unindex_task(&mut self, ekey: &ExecKey, task: &TaskId) {
        if let Some(ids) = self.exec_tasks.get_mut(ekey) {
            ids.retain(|t| t != task);
            if ids.is_empty() {
                self.exec_tasks.remove(ekey);
            }
        }
    }

    /// The keys of an executor's tasks (terminal ones not yet completed included).
    pub(crate) fn executor_task_keys(&self, ekey: &ExecKey) -> Vec<TaskKey> {
        self.exec_tasks
            .get(ekey)
            .map(|ids| ids.iter().map(|t| (ekey.0.clone(), t.clone())).collect())
            .unwrap_or_default()
    }

    /// An executor's task records.
    pub(crate) fn executor_tasks<'a>(
        &'a self,
        ekey: &ExecKey,
    ) -> impl Iterator<Item = &'a TaskRecord> + 'a {
        let fw = ekey.0.clone();
        self.exec_tasks
            .get(ekey)
            .into_iter()
            .flatten()
            .filter_map(move |t| self.tasks.get(&(fw.clone(), t.clone())).map(|t| &**t))
    }

    /// Whether the framework still has executors here (a range lookup, no scan).
    pub(crate) fn framework_has_executors(&self, fw: &FrameworkId) -> bool {
        self.executors
            .range((fw.clone(), ExecutorId::new(""))..)
            .next()
            .is_some_and(|((f, _), _)| f == fw)
    }

    /// Whether the framework still has tasks here.
    pub(crate) fn framework_has_tasks(&self, fw: &FrameworkId) -> bool {
        self.tasks
            .range((fw.clone(), TaskId::new(""))..)
            .next()
            .is_some_and(|((f, _), _)| f == fw)
    }

    /// Seconds since the epoch for status timestamps.
    pub(crate) fn ts(now: Duration) -> f64 {
        now.as_secs_f64()
    }
}

pub(crate) fn push_capped<T>(q: &mut VecDeque<T>, item: T) {
    q.push_back(item);
    while q.len() > MAX_COMPLETED {
        q.pop_front();
    }
}

/// "exited with status N" / "terminated with signal X" for a raw wait status.
pub fn describe_wait_status(status: i32) -> String {
    if libc::WIFEXITED(status) {
        format!("exited with status {}", libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        format!(
            "terminated with signal {}",
            signal_name(libc::WTERMSIG(status))
        )
    } else {
        format!("wait status {status}")
    }
}

pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "Hangup",
        libc::SIGINT => "Interrupt",
        libc::SIGQUIT => "Quit",
        libc::SIGILL => "Illegal instruction",
        libc::SIGABRT => "Aborted",
        libc::SIGFPE => "Floating point exception",
        libc::SIGKILL => "Killed",
        libc::SIGSEGV => "Segmentation fault",
        libc::SIGPIPE => "Broken pipe",
        libc::SIGALRM => "Alarm clock",
        libc::SIGTERM => "Terminated",
        libc::SIGUSR1 => "User defined signal 1",
        libc::SIGUSR2 => "User defined signal 2",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}
