//! The executor half of the state machine: launching tasks and executors, the executor API
//! calls, kills, shutdowns and executor exits.

use crate::agent::{push_capped, Agent, ExecKey, TaskKey};
use crate::flags::format_duration;
use crate::state::*;
use mesos_proto::executor::{self as ex, Call, CallType, Event};
use mesos_proto::ids::*;
use mesos_proto::internal::AgentToMaster;
use mesos_proto::resources::Resources;
use mesos_proto::v1::*;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Resources added on top of a command task for its executor (not charged to the offer).
pub const COMMAND_EXECUTOR_CPUS: f64 = 0.1;
pub const COMMAND_EXECUTOR_MEM: f64 = 32.0;

/// The ExecutorInfo the agent synthesises for a command task (spec 2.3).
pub fn command_executor_info(
    framework_id: &FrameworkId,
    task: &TaskInfo,
    launcher: &str,
) -> ExecutorInfo {
    let cmd = task
        .command
        .clone()
        .unwrap_or_else(|| CommandInfo::shell(""));
    let value = cmd.value.clone().unwrap_or_default();
    let shown = if cmd.shell {
        let head: String = value.chars().take(12).collect();
        format!("sh -c '{head}...'")
    } else {
        let mut argv = vec![value.clone()];
        argv.extend(cmd.arguments.iter().cloned());
        let joined = argv.join(", ");
        let head: String = joined.chars().take(12).collect();
        format!("[{head}...]")
    };
    let shutdown_grace_period = task
        .kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
        .map(|g| DurationInfo {
            nanoseconds: g.nanoseconds.saturating_add(2_000_000_000),
        });
    let mut command = CommandInfo::shell(launcher.to_string());
    command.shell = false;
    command.arguments = vec![launcher.to_string()];
    command.environment = cmd.environment.clone();
    command.uris = cmd.uris.clone();
    command.user = cmd.user.clone();
    ExecutorInfo {
        executor_id: ExecutorId::new(task.task_id.value.clone()),
        kind: None,
        framework_id: Some(framework_id.clone()),
        command: Some(command),
        container: task.container.clone(),
        resources: Resources::new()
            .with_scalar("cpus", COMMAND_EXECUTOR_CPUS)
            .with_scalar("mem", COMMAND_EXECUTOR_MEM)
            .to_wire(None),
        name: Some(format!(
            "Command Executor (Task: {}) (Command: {shown})",
            task.task_id.value
        )),
        source: Some(task.task_id.value.clone()),
        data: None,
        labels: task.labels.clone(),
        shutdown_grace_period,
        discovery: task.discovery.clone(),
    }
}

/// The `type` of a `ContainerInfo` (`DOCKER` or `MESOS`), if any.
pub fn container_type(container: Option<&serde_json::Value>) -> Option<&str> {
    container?.get("type")?.as_str()
}

/// Whether a task (or executor) asks for a Docker container (`container.type: DOCKER`).
pub fn is_docker(container: Option<&serde_json::Value>) -> bool {
    container_type(container) == Some("DOCKER")
}

/// Whether a command executor runs its task in a Docker container (the docker executor).
pub fn is_docker_command_executor(command_executor: bool, info: &ExecutorInfo) -> bool {
    command_executor && is_docker(info.container.as_ref())
}

/// Why no enabled containerizer can run a task (or task group), if none can. A Docker
/// container needs the docker containerizer and is supported for command tasks only; any
/// other container needs the mesos containerizer.
pub fn containerizer_refusal(
    containerizers: &[String],
    executor: Option<&ExecutorInfo>,
    tasks: &[&TaskInfo],
) -> Option<String> {
    let enabled = |k: &str| containerizers.iter().any(|c| c == k);
    let flag = containerizers.join(",");
    let docker_executor = executor.is_some_and(|e| is_docker(e.container.as_ref()));
    let docker_task = tasks.iter().any(|t| is_docker(t.container.as_ref()));
    if docker_executor || docker_task {
        if !enabled("docker") {
            return Some(format!(
                "Failed to launch container: a container of type DOCKER needs the docker \
                 containerizer, and this agent runs with --containerizers={flag}"
            ));
        }
        if executor.is_some() || tasks.len() != 1 {
            return Some(
                "Failed to launch container: the docker containerizer runs command tasks only \
                 (no custom executors or task groups in Docker containers)"
                    .into(),
            );
        }
        return None;
    }
    if !enabled("mesos") {
        return Some(format!(
            "Failed to launch container: only tasks with a container of type DOCKER can run \
             on this agent (--containerizers={flag})"
        ));
    }
    None
}

/// Whether an ExecutorInfo asks for the built-in default executor: `type: DEFAULT`, or no
/// type and no command.
pub fn is_default_executor(info: &ExecutorInfo) -> bool {
    match info.kind.as_deref() {
        Some("DEFAULT") => true,
        Some(_) => false,
        None => info.command.is_none(),
    }
}

/// Mark a default ExecutorInfo as such and, when it has none, give it the command the agent
/// runs (`<launcher_dir>/mesos-default-executor --launcher_dir=...`, like Mesos shows it).
pub fn fill_default_executor_info(info: &mut ExecutorInfo, command_executor_path: &str) {
    info.kind = Some("DEFAULT".into());
    if info.command.is_some() {
        return;
    }
    let launcher_dir = std::path::Path::new(command_executor_path)
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let bin = launcher_dir
        .join("mesos-default-executor")
        .display()
        .to_string();
    let mut command = CommandInfo::shell(bin.clone());
    command.shell = false;
    command.arguments = vec![bin, format!("--launcher_dir={}", launcher_dir.display())];
    info.command = Some(command);
}

impl Agent {
    pub(crate) fn new_task(
        &mut self,
        now: Duration,
        framework_id: &FrameworkId,
        executor_id: &ExecutorId,
        info: TaskInfo,
        group: Option<u64>,
    ) -> TaskKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (framework_id.clone(), info.task_id.clone());
        let rec = TaskRecord {
            framework_id: framework_id.clone(),
            executor_id: executor_id.clone(),
            info: Arc::new(info),
            state: TaskState::TaskStaging,
            latest: None,
            statuses: vec![(TaskState::TaskStaging, Self::ts(now))],
            pending: Default::default(),
            seen: Vec::new(),
            launched: false,
            kill_requested: false,
            group,
            seq,
        };
        self.insert_task(key.clone(), rec);
        key
    }

    pub(crate) fn run_task(
        &mut self,
        now: Duration,
        framework: FrameworkInfo,
        task: TaskInfo,
        out: &mut Vec<Output>,
    ) {
        let Some(fw) = framework.id.clone() else {
            return;
        };
        let key = (fw.clone(), task.task_id.clone());
        if self.tasks.contains_key(&key) {
            return;
        }
        self.put_framework(fw.clone(), framework, out);
        if let Some(msg) =
            containerizer_refusal(&self.cfg.containerizers, task.executor.as_ref(), &[&task])
        {
            let eid = task
                .executor
                .as_ref()
                .map(|e| e.executor_id.clone())
                .unwrap_or_else(|| ExecutorId::new(task.task_id.value.clone()));
            let k = self.new_task(now, &fw, &eid, task, None);
            self.agent_update(
                now,
                &k,
                TaskState::TaskFailed,
                "REASON_CONTAINER_LAUNCH_FAILED",
                &msg,
                out,
            );
            return;
        }
        let (info, command_executor) = match (&task.executor, &task.command) {
            (Some(e), _) => {
                let mut e = e.clone();
                e.framework_id = Some(fw.clone());
                if is_default_executor(&e) {
                    fill_default_executor_info(&mut e, &self.cfg_launcher());
                }
                (e, false)
            }
            (None, Some(_)) => {
                let launcher = self.cfg_launcher();
                (command_executor_info(&fw, &task, &launcher), true)
            }
            (None, None) => {
                let eid = ExecutorId::new(task.task_id.value.clone());
                let k = self.new_task(now, &fw, &eid, task, None);
                self.agent_update(
                    now,
                    &k,
                    TaskState::TaskError,
                    "REASON_TASK_INVALID",
                    "Task must set exactly one of 'command' or 'executor'",
                    out,
                );
                return;
            }
        };
        self.place_tasks(now, &fw, info, command_executor, vec![task], None, out);
    }

    pub(crate) fn run_task_group(
        &mut self,
        now: Duration,
        framework: FrameworkInfo,
        mut executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
        out: &mut Vec<Output>,
    ) {
        let Some(fw) = framework.id.clone() else {
            return;
        };
        self.put_framework(fw.clone(), framework, out);
        let tasks: Vec<TaskInfo> = tasks
            .into_iter()
            .filter(|t| !self.tasks.contains_key(&(fw.clone(), t.task_id.clone())))
            .collect();
        if tasks.is_empty() {
            return;
        }
        let refs: Vec<&TaskInfo> = tasks.iter().collect();
        if let Some(msg) = containerizer_refusal(&self.cfg.containerizers, Some(&executor), &refs) {
            let group = self.next_seq;
            self.next_seq += 1;
            for t in tasks {
                let k = self.new_task(now, &fw, &executor.executor_id, t, Some(group));
                self.agent_update(
                    now,
                    &k,
                    TaskState::TaskFailed,
                    "REASON_CONTAINER_LAUNCH_FAILED",
                    &msg,
                    out,
                );
            }
            return;
        }
        if is_default_executor(&executor) {
            // Run by our default executor (`executor::run_default_executor`).
            fill_default_executor_info(&mut executor, &self.cfg_launcher());
        }
        executor.framework_id = Some(fw.clone());
        let group = self.next_seq;
        self.next_seq += 1;
        self.place_tasks(now, &fw, executor, false, tasks, Some(group), out);
    }

    /// Put tasks on an existing executor or launch a new one.
    #[allow(clippy::too_many_arguments)]
    fn place_tasks(
        &mut self,
        now: Duration,
        fw: &FrameworkId,
        info: ExecutorInfo,
        command_executor: bool,
        tasks: Vec<TaskInfo>,
        group: Option<u64>,
        out: &mut Vec<Output>,
    ) {
        let ekey = (fw.clone(), info.executor_id.clone());
        let failure = if self.shutting_down.contains(fw) {
            Some("Framework is shutting down")
        } else {
            match self.executors.get(&ekey) {
                Some(_) if command_executor => {
                    Some("An executor with this task's ID is already running")
                }
                Some(e) if e.phase.terminating() => Some("Executor is terminating"),
                _ => None,
            }
        };
        if let Some(msg) = failure {
            for t in tasks {
                let k = self.new_task(now, fw, &info.executor_id, t, group);
                self.agent_update(
                    now,
                    &k,
                    TaskState::TaskFailed,
                    "REASON_EXECUTOR_TERMINATED",
                    msg,
                    out,
                );
            }
            return;
        }
        let keys: Vec<TaskKey> = tasks
            .into_iter()
            .map(|t| self.new_task(now, fw, &info.executor_id, t, group))
            .collect();
        if let Some(conn) = self.executors.get(&ekey).and_then(|e| match e.phase {
            Phase::Subscribed { conn } => Some(conn),
            _ => None,
        }) {
            self.deliver(conn, &keys, group, out);
            return;
        }
        for k in &keys {
            if let Some(t) = self.tasks.get(k) {
                out.push(Output::Checkpoint(CheckpointOp::PutTask(t.clone())));
            }
        }
        if !self.executors.contains_key(&ekey) {
            self.launch_executor(now, fw, info, command_executor, &keys, out);
        }
    }

    /// Send LAUNCH (or LAUNCH_GROUP) for tasks to a subscribed executor.
    fn deliver(&mut self, conn: u64, keys: &[TaskKey], group: Option<u64>, out: &mut Vec<Output>) {
        let mut infos = Vec::new();
        for k in keys {
            if let Some(t) = self.tasks.get_mut(k).map(Arc::make_mut) {
                t.launched = true;
                infos.push(TaskInfo::clone(&t.info));
                self.checkpoint_task(k, out);
            }
        }
        if group.is_some() {
            out.push(Output::ToExecutor {
                conn,
                event: Event::LaunchGroup {
                    launch_group: ex::LaunchGroupEv {
                        task_group: TaskGroupInfo { tasks: infos },
                    },
                },
            });
        } else {
            for task in infos {
                out.push(Output::ToExecutor {
                    conn,
                    event: Event::Launch {
                        launch: ex::LaunchEv { task },
                    },
                });
            }
        }
    }

    fn cfg_launcher(&self) -> String {
        self.cfg.command_executor_path.clone()
    }

    pub fn sandbox_path(&self, fw: &FrameworkId, eid: &ExecutorId, cid: &ContainerId) -> PathBuf {
        let aid = self
            .agent_id
            .as_ref()
            .map(|a| a.value.as_str())
            .unwrap_or("unregistered");
        self.cfg
            .work_dir
            .join("slaves")
            .join(aid)
            .join("frameworks")
            .join(&fw.value)
            .join("executors")
            .join(&eid.value)
            .join("runs")
            .join(&cid.value)
    }

    fn launch_executor(
        &mut self,
        now: Duration,
        fw: &FrameworkId,
        info: ExecutorInfo,
        command_executor: bool,
        keys: &[TaskKey],
        out: &mut Vec<Output>,
    ) {
        let cid = ContainerId::new(self.ids.next_text());
        let sandbox = self.sandbox_path(fw, &info.executor_id, &cid);
        let grace = info
            .shutdown_grace_period
            .as_ref()
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(self.cfg.executor_shutdown_grace_period);
        let dir = sandbox.display().to_string();
        let mut env = vec![
            ("MESOS_FRAMEWORK_ID".to_string(), fw.value.clone()),
            (
                "MESOS_EXECUTOR_ID".to_string(),
                info.executor_id.value.clone(),
            ),
            (
                "MESOS_AGENT_ENDPOINT".to_string(),
                format!("{}:{}", self.cfg.ip, self.cfg.port),
            ),
            ("MESOS_DIRECTORY".to_string(), dir.clone()),
            ("MESOS_SANDBOX".to_string(), dir),
            ("MESOS_CHECKPOINT".to_string(), "1".to_string()),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD".to_string(),
                format_duration(grace),
            ),
            ("MESOS_RECOVERY_TIMEOUT".to_string(), "15mins".to_string()),
            (
                "MESOS_SUBSCRIPTION_BACKOFF_MAX".to_string(),
                "2secs".to_string(),
            ),
        ];
        if let Some(sock) = &self.cfg.domain_socket {
            env.push((
                "MESOS_DOMAIN_SOCKET".to_string(),
                sock.display().to_string(),
            ));
        }
        if let Some(a) = &self.agent_id {
            env.push(("MESOS_SLAVE_ID".to_string(), a.value.clone()));
            env.push(("MESOS_AGENT_ID".to_string(), a.value.clone()));
        }
        if command_executor {
            env.push(("MESOS_HTTP_COMMAND_EXECUTOR".to_string(), "1".to_string()));
        }
        let mut resources = Resources::from_wire(&info.resources).unwrap_or_default();
        for k in keys {
            if let Some(t) = self.tasks.get(k) {
                if let Ok(r) = Resources::from_wire(&t.info.resources) {
                    resources = resources.checked_add(&r).unwrap_or(resources);
                }
            }
        }
        let user = info
            .command
            .as_ref()
            .and_then(|c| c.user.clone())
            .or_else(|| self.frameworks.get(fw).map(|f| f.user.clone()));
        let rec = ExecutorRecord {
            framework_id: fw.clone(),
            info: info.clone(),
            container_id: cid.clone(),
            command_executor,
            sandbox: sandbox.clone(),
            pid: None,
            phase: Phase::Launching {
                deadline: now + self.cfg.executor_registration_timeout,
            },
        };
        out.push(Output::Checkpoint(CheckpointOp::PutExecutor(rec.clone())));
        self.insert_executor((fw.clone(), info.executor_id.clone()), rec);
        out.push(Output::Launch(Box::new(LaunchRequest {
            framework_id: fw.clone(),
            executor_id: info.executor_id.clone(),
            container_id: cid,
            executor_info: info,
            command_executor,
            sandbox,
            env,
            resources,
            user,
        })));
    }

    pub(crate) fn kill_task(
        &mut self,
        now: Duration,
        key: TaskKey,
        kill_policy: Option<KillPolicy>,
        out: &mut Vec<Output>,
    ) {
        let Some(t) = self.tasks.get_mut(&key).map(Arc::make_mut) else {
            return;
        };
        if t.state.is_terminal() {
            return;
        }
        t.kill_requested = true;
        let ekey = (key.0.clone(), t.executor_id.clone());
        if !t.launched {
            // Killing one task of a task group kills the whole (queued) group.
            let group = t.group;
            let mut keys = vec![key.clone()];
            if group.is_some() {
                keys.extend(
                    self.tasks
                        .iter()
                        .filter(|(k, o)| {
                            **k != key && o.group == group && !o.launched && !o.state.is_terminal()
                        })
                        .map(|(k, _)| k.clone()),
                );
            }
            for k in keys {
                if let Some(o) = self.tasks.get_mut(&k).map(Arc::make_mut) {
                    o.kill_requested = true;
                }
                self.agent_update(
                    now,
                    &k,
                    TaskState::TaskKilled,
                    "REASON_TASK_KILLED_DURING_LAUNCH",
                    "Task killed before it was delivered to the executor",
                    out,
                );
            }
            if !self.executor_has_live_tasks(&ekey) {
                self.shutdown_executor(now, &ekey, out);
            }
            return;
        }
        self.checkpoint_task(&key, out);
        if let Some(Phase::Subscribed { conn }) = self.executors.get(&ekey).map(|e| e.phase.clone())
        {
            out.push(Output::ToExecutor {
                conn,
                event: Event::Kill {
                    kill: ex::KillEv {
                        task_id: key.1.clone(),
                        kill_policy,
                    },
                },
            });
        }
    }

    fn executor_has_live_tasks(&self, ekey: &ExecKey) -> bool {
        self.executor_tasks(ekey).any(|t| !t.state.is_terminal())
    }

    pub(crate) fn shutdown_framework(
        &mut self,
        now: Duration,
        fw: FrameworkId,
        out: &mut Vec<Output>,
    ) {
        if !self.frameworks.contains_key(&fw) {
            return;
        }
        self.shutting_down.insert(fw.clone());
        let keys: Vec<ExecKey> = self
            .executors
            .keys()
            .filter(|(f, _)| f == &fw)
            .cloned()
            .collect();
        for k in keys {
            self.shutdown_executor(now, &k, out);
        }
        if !self.framework_has_executors(&fw) {
            self.drop_framework_tasks(&fw, out);
        }
    }

    fn drop_framework_tasks(&mut self, fw: &FrameworkId, out: &mut Vec<Output>) {
        let keys: Vec<TaskKey> = self
            .tasks
            .keys()
            .filter(|(f, _)| f == fw)
            .cloned()
            .collect();
        for k in keys {
            self.complete_task(&k, out);
        }
        self.maybe_remove_framework(fw, out);
    }

    /// SHUTDOWN to a subscribed executor (destroyed after the grace period), or destroy now.
    pub(crate) fn shutdown_executor(
        &mut self,
        now: Duration,
        key: &ExecKey,
        out: &mut Vec<Output>,
    ) {
        let default_grace = self.cfg.executor_shutdown_grace_period;
        let Some(e) = self.executors.get_mut(key) else {
            return;
        };
        let grace = e
            .info
            .shutdown_grace_period
            .as_ref()
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or(default_grace);
        match e.phase.clone() {
            Phase::Subscribed { conn } => {
                out.push(Output::ToExecutor {
                    conn,
                    event: Event::Shutdown,
                });
                // One extra second so the executor can report its tasks killed.
                e.phase = Phase::ShuttingDown {
                    deadline: now + grace + Duration::from_secs(1),
                    conn: Some(conn),
                };
            }
            Phase::Launching { .. } | Phase::Disconnected { .. } => {
                e.phase = Phase::Destroying;
                out.push(Output::Destroy {
                    container_id: e.container_id.clone(),
                });
            }
            Phase::ShuttingDown { .. } | Phase::Destroying => return,
        }
        for k in self.executor_task_keys(key) {
            if let Some(t) = self.tasks.get_mut(&k).map(Arc::make_mut) {
                if !t.state.is_terminal() {
                    t.kill_requested = true;
                }
            }
        }
    }

    /// Fail (or report killed) every non-terminal task of an executor.
    pub(crate) fn fail_executor_tasks(
        &mut self,
        now: Duration,
        key: &ExecKey,
        reason: &str,
        message: &str,
        out: &mut Vec<Output>,
    ) {
        let mut keys: Vec<(u64, TaskKey, bool)> = self
            .executor_task_keys(key)
            .into_iter()
            .filter_map(|k| {
                let t = self.tasks.get(&k)?;
                (!t.state.is_terminal()).then(|| (t.seq, k.clone(), t.kill_requested))
            })
            .collect();
        keys.sort();
        for (_, k, killed) in keys {
            let state = if killed {
                TaskState::TaskKilled
            } else {
                TaskState::TaskFailed
            };
            self.agent_update(now, &k, state, reason, message, out);
        }
    }

    /// The executor's container is gone: report its tasks, tell the master, forget it.
    pub(crate) fn executor_terminated(
        &mut self,
        now: Duration,
        key: &ExecKey,
        status: Option<i32>,
        reason: &str,
        message: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(e) = self.remove_executor(key) else {
            return;
        };
        if let Some(conn) = e.phase.conn() {
            out.push(Output::CloseExecutorStream { conn });
        }
        out.push(Output::Checkpoint(CheckpointOp::RemoveExecutor(
            key.0.clone(),
            key.1.clone(),
        )));
        push_capped(&mut self.completed_executors, e);
        if self.shutting_down.contains(&key.0) {
            for k in self.executor_task_keys(key) {
                self.complete_task(&k, out);
            }
        } else {
            self.fail_executor_tasks(now, key, reason, message, out);
        }
        self.send_master(
            AgentToMaster::ExecutorExited {
                framework_id: key.0.clone(),
                executor_id: key.1.clone(),
                status: status.unwrap_or(-1),
            },
            out,
        );
        if self.shutting_down.contains(&key.0) && !self.framework_has_executors(&key.0) {
            self.drop_framework_tasks(&key.0.clone(), out);
        }
        self.maybe_remove_framework(&key.0.clone(), out);
    }

    pub(crate) fn on_launched(&mut self, cid: ContainerId, pid: u32, out: &mut Vec<Output>) {
        if let Some(key) = self.executor_by_container(&cid) {
            if let Some(e) = self.executors.get_mut(&key) {
                e.pid = Some(pid);
                out.push(Output::Checkpoint(CheckpointOp::PutExecutor(e.clone())));
            }
        }
    }

    pub(crate) fn on_stream_closed(&mut self, now: Duration, conn: u64) {
        let timeout = self.cfg.executor_registration_timeout;
        for e in self.executors.values_mut() {
            match e.phase {
                Phase::Subscribed { conn: c } if c == conn => {
                    e.phase = Phase::Disconnected {
                        deadline: now + timeout,
                    };
                }
                Phase::ShuttingDown {
                    deadline,
                    conn: Some(c),
                } if c == conn => {
                    e.phase = Phase::ShuttingDown {
                        deadline,
                        conn: None,
                    };
                }
                _ => {}
            }
        }
    }

    pub(crate) fn on_executor_call(
        &mut self,
        now: Duration,
        call: Call,
        conn: Option<u64>,
        out: &mut Vec<Output>,
    ) {
        let key = (call.framework_id.clone(), call.executor_id.clone());
        let Some(e) = self.executors.get(&key) else {
            out.push(Output::Reply(Err((
                400,
                format!(
                    "Unknown executor '{}' of framework '{}'",
                    call.executor_id.value, call.framework_id.value
                ),
            ))));
            return;
        };
        match call.kind {
            CallType::Subscribe => {
                let Some(conn) = conn else {
                    out.push(Output::Reply(Err((400, "SUBSCRIBE needs a stream".into()))));
                    return;
                };
                if e.phase.terminating() {
                    out.push(Output::Reply(Err((
                        400,
                        "Executor is shutting down".into(),
                    ))));
                    return;
                }
                self.subscribe(now, key, conn, call.subscribe.unwrap_or_default(), out);
            }
            CallType::Update => {
                let Some(update) = call.update else {
                    out.push(Output::Reply(Err((
                        400,
                        "Expecting 'update' to be present".into(),
                    ))));
                    return;
                };
                let conn = e.phase.conn();
                match self.executor_update(now, &key, update.status, conn, out) {
                    Ok(()) => out.push(Output::Reply(Ok(()))),
                    Err(m) => out.push(Output::Reply(Err((400, m)))),
                }
            }
            CallType::Message => {
                let data = call.message.map(|m| m.data).unwrap_or_default();
                self.send_master(
                    AgentToMaster::ExecutorMessage {
                        framework_id: key.0.clone(),
                        executor_id: key.1.clone(),
                        data,
                    },
                    out,
                );
                out.push(Output::Reply(Ok(())));
            }
            CallType::Heartbeat => out.push(Output::Reply(Ok(()))),
        }
    }

    fn subscribe(
        &mut self,
        now: Duration,
        key: ExecKey,
        conn: u64,
        sub: ex::Subscribe,
        out: &mut Vec<Output>,
    ) {
        let agent_info = self.agent_info();
        let framework_info = self
            .frameworks
            .get(&key.0)
            .cloned()
            .unwrap_or_else(|| FrameworkInfo::placeholder(key.0.clone()));
        let Some(e) = self.executors.get_mut(&key) else {
            return;
        };
        if let Some(old) = e.phase.conn() {
            if old != conn {
                out.push(Output::CloseExecutorStream { conn: old });
            }
        }
        e.phase = Phase::Subscribed { conn };
        let mut executor_info = e.info.clone();
        executor_info.framework_id = Some(key.0.clone());
        let container_id = e.container_id.clone();
        out.push(Output::Reply(Ok(())));
        out.push(Output::ToExecutor {
            conn,
            event: Event::Subscribed {
                subscribed: ex::Subscribed {
                    executor_info,
                    framework_info,
                    agent_info,
                    container_id: Some(container_id),
                },
            },
        });
        for t in &sub.unacknowledged_tasks {
            let k = (key.0.clone(), t.task_id.clone());
            if let Some(rec) = self.tasks.get_mut(&k) {
                if rec.executor_id == key.1 && !rec.launched {
                    Arc::make_mut(rec).launched = true;
                    self.checkpoint_task(&k, out);
                }
            }
        }
        for u in sub.unacknowledged_updates {
            if let Some(s) = u.status {
                if s.uuid.is_some() && s.state != TaskState::TaskStaging {
                    let _ = self.executor_update(now, &key, s, Some(conn), out);
                }
            }
        }
        // Queued tasks, in arrival order, grouped like they arrived.
        let mut queued: Vec<(u64, Option<u64>, TaskKey)> = self
            .executor_tasks(&key)
            .filter(|t| !t.launched && !t.state.is_terminal())
            .map(|t| (t.seq, t.group, (key.0.clone(), t.info.task_id.clone())))
            .collect();
        queued.sort();
        let mut i = 0;
        while i < queued.len() {
            let group = queued[i].1;
            let mut batch = vec![queued[i].2.clone()];
            let mut j = i + 1;
            while group.is_some() && j < queued.len() && queued[j].1 == group {
                batch.push(queued[j].2.clone());
                j += 1;
            }
            self.deliver(conn, &batch, group, out);
            i = j;
        }
        // Kills requested while the executor was away.
        let kills: Vec<TaskId> = self
            .executor_tasks(&key)
            .filter(|t| t.launched && t.kill_requested && !t.state.is_terminal())
            .map(|t| t.info.task_id.clone())
            .collect();
        for task_id in kills {
            out.push(Output::ToExecutor {
                conn,
                event: Event::Kill {
                    kill: ex::KillEv {
                        task_id,
                        kill_policy: None,
                    },
                },
            });
        }
    }

    /// An UPDATE from an executor: fill in IDs, persist, acknowledge to the executor, forward.
    fn executor_update(
        &mut self,
        now: Duration,
        key: &ExecKey,
        mut status: TaskStatus,
        conn: Option<u64>,
        out: &mut Vec<Output>,
    ) -> Result<(), String> {
        let uuid = status
            .uuid
            .clone()
            .ok_or("Expecting 'uuid' to be present")?;
        let tkey = (key.0.clone(), status.task_id.clone());
        let Some(t) = self.tasks.get_mut(&tkey).map(Arc::make_mut) else {
            return Err(format!("Unknown task '{}'", status.task_id.value));
        };
        if t.executor_id != key.1 {
            return Err(format!(
                "Task '{}' does not belong to executor '{}'",
                status.task_id.value, key.1.value
            ));
        }
        t.launched = true;
        let ack = |out: &mut Vec<Output>| {
            if let Some(conn) = conn {
                out.push(Output::ToExecutor {
                    conn,
                    event: Event::Acknowledged {
                        acknowledged: ex::AcknowledgedEv {
                            task_id: tkey.1.clone(),
                            uuid: uuid.clone(),
                        },
                    },
                });
            }
        };
        if t.seen.contains(&uuid) || t.state.is_terminal() {
            // A duplicate (already persisted) or an update after a terminal one: acknowledge
            // so the executor stops resending, but do not forward.
            ack(out);
            return Ok(());
        }
        status.agent_id = self.agent_id.clone();
        status.executor_id = Some(key.1.clone());
        if status.source.is_none() {
            status.source = Some("SOURCE_EXECUTOR".into());
        }
        if status.timestamp.is_none() {
            status.timestamp = Some(Self::ts(now));
        }
        self.enqueue_update(now, &tkey, status, out);
        ack(out);
        Ok(())
    }
}
