//! The default executor (`mesos-default-executor`): runs task groups (`LAUNCH_GROUP`).
//!
//! Each task runs as its own process (own process group) in `tasks/<task_id>` of the
//! executor sandbox, with its `stdout`/`stderr` there. Mesos semantics:
//! * several groups may run on one executor;
//! * when a task of a group fails or is killed, the other tasks of that group are killed;
//!   a KILL of one task kills its whole group;
//! * SHUTDOWN kills everything;
//! * once every task is terminal and every update acknowledged, the executor exits.

use super::session::{classify_exit, task_environment};
use super::session::{
    duration_of, grace_of, path_in, signal_group, spawn_in_own_group, task_process, Connection,
    ExecutorEnv, Session, DEFAULT_KILL_GRACE,
};
use mesos_proto::executor::{AcknowledgedEv, Event, KillEv};
use mesos_proto::ids::*;
use mesos_proto::v1::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Exit this long after the last task became terminal even if updates stay unacknowledged.
const EXIT_FAILSAFE: Duration = Duration::from_secs(60);

fn log(msg: &str) {
    eprintln!("[mesos-default-executor] {msg}");
}

/// The directory name of a task's sandbox under `tasks/` (task IDs may not contain `/`, but
/// do not trust that).
pub(crate) fn task_dir_name(task_id: &TaskId) -> String {
    let name: String = task_id
        .value
        .chars()
        .map(|c| if c == '/' || c == '\0' { '_' } else { c })
        .collect();
    match name.as_str() {
        "" | "." | ".." => format!("_{name}"),
        _ => name,
    }
}

/// `<executor sandbox>/tasks/<task_id>`.
pub(crate) fn task_sandbox(sandbox: &Path, task_id: &TaskId) -> PathBuf {
    sandbox.join("tasks").join(task_dir_name(task_id))
}

/// Whether a task ending in `state` takes the rest of its group down with it.
pub(crate) fn kills_group(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFailed | TaskState::TaskKilled | TaskState::TaskError | TaskState::TaskLost
    )
}

/// One task of a group.
#[derive(Clone, Debug)]
pub(crate) struct TaskRun {
    pub info: TaskInfo,
    pub group: u64,
    pub pid: Option<u32>,
    /// Whether the agent acknowledged any update of the task.
    pub acked: bool,
    pub killing: bool,
    pub kill_deadline: Option<Instant>,
    pub max_completion: Option<Instant>,
    pub max_completion_hit: bool,
    /// The terminal state sent, once sent.
    pub terminal: Option<TaskState>,
}

impl TaskRun {
    fn new(info: TaskInfo, group: u64) -> TaskRun {
        TaskRun {
            info,
            group,
            pid: None,
            acked: false,
            killing: false,
            kill_deadline: None,
            max_completion: None,
            max_completion_hit: false,
            terminal: None,
        }
    }
}

/// The live tasks of `group` other than `except`, in ID order.
pub(crate) fn live_group_members(
    tasks: &BTreeMap<TaskId, TaskRun>,
    group: u64,
    except: Option<&TaskId>,
) -> Vec<TaskId> {
    tasks
        .iter()
        .filter(|(id, t)| t.group == group && t.terminal.is_none() && Some(*id) != except)
        .map(|(id, _)| id.clone())
        .collect()
}

/// Whether the executor is done: every task terminal and every update acknowledged (with at
/// least one task seen, unless shutting down).
pub(crate) fn all_done(
    tasks: &BTreeMap<TaskId, TaskRun>,
    unacked: &[TaskStatus],
    shutdown: bool,
) -> bool {
    (shutdown || !tasks.is_empty())
        && tasks.values().all(|t| t.terminal.is_some())
        && unacked.is_empty()
}

struct DefaultExecutor {
    session: Session,
    framework: Option<FrameworkInfo>,
    agent_hostname: String,
    tasks: BTreeMap<TaskId, TaskRun>,
    next_group: u64,
    shutdown: bool,
    exit_failsafe: Option<Instant>,
    failsafe_hit: bool,
    exit_tx: mpsc::UnboundedSender<(TaskId, i32)>,
}

pub(crate) async fn run(env: ExecutorEnv) -> i32 {
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<(TaskId, i32)>();
    let mut ex = DefaultExecutor {
        session: Session::new(env, log, true),
        framework: None,
        agent_hostname: String::new(),
        tasks: BTreeMap::new(),
        next_group: 1,
        shutdown: false,
        exit_failsafe: None,
        failsafe_hit: false,
        exit_tx,
    };
    let mut conn = Connection::new();
    loop {
        if ex.failsafe_hit || all_done(&ex.tasks, &ex.session.unacked, ex.shutdown) {
            return 0;
        }
        if conn
            .resubscribe(&ex.session, ex.unacknowledged_tasks())
            .await
            .is_err()
        {
            ex.kill_all_now();
            return 1;
        }
        let timer = conn.wake_at(ex.timers());
        tokio::select! {
            records = conn.next_records(&ex.session) => {
                for rec in records {
                    if let Some(e) = ex.session.event(&rec) {
                        ex.on_event(e).await;
                    }
                }
            }
            Some((task_id, status)) = exit_rx.recv() => ex.on_exit(task_id, status).await,
            _ = tokio::time::sleep_until(timer) => ex.on_timer().await,
        }
    }
}

impl DefaultExecutor {
    fn timers(&self) -> Vec<Instant> {
        let mut v: Vec<Instant> = self
            .tasks
            .values()
            .flat_map(|t| [t.kill_deadline, t.max_completion])
            .flatten()
            .collect();
        v.extend(self.exit_failsafe);
        v
    }

    /// The tasks none of whose updates the agent acknowledged.
    fn unacknowledged_tasks(&self) -> Vec<&TaskInfo> {
        self.tasks
            .values()
            .filter(|t| !t.acked)
            .map(|t| &t.info)
            .collect()
    }

    /// Queue an update for resending and POST it now (failures are retried on re-subscribe).
    async fn send(&mut self, status: TaskStatus) {
        if status.state.is_terminal() {
            if let Some(t) = self.tasks.get_mut(&status.task_id) {
                t.terminal = Some(status.state);
            }
            if self.tasks.values().all(|t| t.terminal.is_some()) {
                self.exit_failsafe = Some(Instant::now() + EXIT_FAILSAFE);
            }
        }
        self.session.send(status).await;
    }

    async fn on_event(&mut self, e: Event) {
        match e {
            Event::Subscribed { subscribed } => {
                self.agent_hostname = subscribed.agent_info.hostname.clone();
                self.framework = Some(subscribed.framework_info);
            }
            // A single task on a default executor runs as a group of one.
            Event::Launch { launch } => self.launch_group(vec![launch.task]).await,
            Event::LaunchGroup { launch_group } => {
                self.launch_group(launch_group.task_group.tasks).await
            }
            Event::Kill { kill } => self.kill(kill).await,
            Event::Acknowledged {
                acknowledged: AcknowledgedEv { task_id, uuid },
            } => {
                self.session.acknowledged(&uuid);
                if let Some(t) = self.tasks.get_mut(&task_id) {
                    t.acked = true;
                }
            }
            Event::Message { .. } | Event::Heartbeat => {}
            Event::Error { error } => log(&format!("Agent error: {}", error.message)),
            Event::Shutdown => {
                self.shutdown = true;
                let live: Vec<TaskId> = self
                    .tasks
                    .iter()
                    .filter(|(_, t)| t.terminal.is_none())
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in live {
                    let grace = self
                        .task_grace(&id, None)
                        .min(self.session.env.shutdown_grace);
                    self.kill_task(&id, grace).await;
                }
            }
        }
    }

    async fn launch_group(&mut self, tasks: Vec<TaskInfo>) {
        let mut seen = std::collections::BTreeSet::new();
        let tasks: Vec<TaskInfo> = tasks
            .into_iter()
            .filter(|t| !self.tasks.contains_key(&t.task_id) && seen.insert(t.task_id.clone()))
            .collect();
        if tasks.is_empty() {
            return;
        }
        let group = self.next_group;
        self.next_group += 1;
        for t in &tasks {
            self.tasks
                .insert(t.task_id.clone(), TaskRun::new(t.clone(), group));
        }
        self.exit_failsafe = None;
        if self.shutdown {
            for t in &tasks {
                let s = self.session.new_status(
                    &t.task_id,
                    TaskState::TaskKilled,
                    Some("Executor is shutting down".into()),
                    None,
                );
                self.send(s).await;
            }
            return;
        }
        for t in &tasks {
            let s = self
                .session
                .new_status(&t.task_id, TaskState::TaskStarting, None, None);
            self.send(s).await;
        }
        let mut failures = Vec::new();
        for t in &tasks {
            match self.spawn_task(t) {
                Ok(pid) => {
                    if let Some(run) = self.tasks.get_mut(&t.task_id) {
                        run.pid = Some(pid);
                        if let Some(d) = &t.max_completion_time {
                            run.max_completion = Some(Instant::now() + duration_of(d));
                        }
                    }
                }
                Err(e) => failures.push((t.task_id.clone(), e)),
            }
        }
        for t in &tasks {
            if failures.iter().any(|(id, _)| id == &t.task_id) {
                continue;
            }
            let s = self
                .session
                .new_status(&t.task_id, TaskState::TaskRunning, None, None);
            self.send(s).await;
        }
        for (id, e) in &failures {
            let s = self.session.new_status(
                id,
                TaskState::TaskFailed,
                Some(format!("Failed to launch the command: {e}")),
                None,
            );
            self.send(s).await;
        }
        if let Some((first, _)) = failures.first() {
            self.kill_group_members(group, Some(first)).await;
        }
    }

    fn spawn_task(&self, task: &TaskInfo) -> Result<u32, String> {
        let cmd = task.command.clone().ok_or("task has no command")?;
        let dir = task_sandbox(&self.session.env.sandbox, &task.task_id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create the task sandbox {}: {e}", dir.display()))?;
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .map_err(|e| format!("cannot open {name} in {}: {e}", dir.display()))
        };
        let (stdout, stderr) = (open("stdout")?, open("stderr")?);
        let env = task_environment(task, &dir, &self.agent_hostname);
        let mut c = task_process(&cmd, path_in(&env))?;
        c.envs(env).current_dir(&dir).stdout(stdout).stderr(stderr);
        let task_id = task.task_id.clone();
        spawn_in_own_group(c, self.exit_tx.clone(), move |status| (task_id, status))
    }

    /// The KILL's grace period, else the task's kill policy, else 3 s.
    fn task_grace(&self, id: &TaskId, kill: Option<&KillEv>) -> Duration {
        grace_of(kill.and_then(|k| k.kill_policy.as_ref()))
            .or_else(|| grace_of(self.tasks.get(id).and_then(|t| t.info.kill_policy.as_ref())))
            .unwrap_or(DEFAULT_KILL_GRACE)
    }

    async fn kill(&mut self, kill: KillEv) {
        let Some(group) = self.tasks.get(&kill.task_id).map(|t| t.group) else {
            // Never launched here: nothing runs; report it killed so the agent can move on.
            let group = self.next_group;
            self.next_group += 1;
            let info = TaskInfo::new("", kill.task_id.clone(), AgentId::new(""));
            let mut run = TaskRun::new(info, group);
            run.acked = true;
            self.tasks.insert(kill.task_id.clone(), run);
            let s = self.session.new_status(
                &kill.task_id,
                TaskState::TaskKilled,
                Some("Task was not running".into()),
                None,
            );
            self.send(s).await;
            return;
        };
        // Killing one task of a group kills the whole group.
        let grace = self.task_grace(&kill.task_id, Some(&kill));
        self.kill_task(&kill.task_id, grace).await;
        self.kill_group_members(group, Some(&kill.task_id)).await;
    }

    /// Kill every live task of `group` except `except`, each with its own grace period.
    async fn kill_group_members(&mut self, group: u64, except: Option<&TaskId>) {
        for id in live_group_members(&self.tasks, group, except) {
            let grace = self.task_grace(&id, None);
            self.kill_task(&id, grace).await;
        }
    }

    /// SIGTERM the task's process group now, SIGKILL after `grace`.
    async fn kill_task(&mut self, id: &TaskId, grace: Duration) {
        let capable = self
            .framework
            .as_ref()
            .is_some_and(|f| f.has_capability("TASK_KILLING_STATE"));
        let Some(run) = self.tasks.get_mut(id) else {
            return;
        };
        if run.terminal.is_some() {
            return;
        }
        let deadline = Instant::now() + grace;
        if run.killing {
            run.kill_deadline = Some(run.kill_deadline.map_or(deadline, |d| d.min(deadline)));
            return;
        }
        let Some(pid) = run.pid else { return };
        run.killing = true;
        run.kill_deadline = Some(deadline);
        if capable {
            let s = self
                .session
                .new_status(id, TaskState::TaskKilling, None, None);
            self.send(s).await;
        }
        signal_group(pid, libc::SIGTERM);
    }

    fn kill_all_now(&mut self) {
        for t in self.tasks.values() {
            if let (Some(pid), None) = (t.pid, t.terminal) {
                signal_group(pid, libc::SIGKILL);
            }
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        for t in self.tasks.values_mut() {
            if t.kill_deadline.is_some_and(|d| now >= d) {
                t.kill_deadline = None;
                if let Some(pid) = t.pid {
                    signal_group(pid, libc::SIGKILL);
                }
            }
            if t.max_completion.is_some_and(|d| now >= d) {
                t.max_completion = None;
                if t.terminal.is_none() && !t.killing {
                    t.max_completion_hit = true;
                    if let Some(pid) = t.pid {
                        signal_group(pid, libc::SIGKILL);
                    }
                }
            }
        }
        if self.exit_failsafe.is_some_and(|d| now >= d) {
            log("Terminal updates were not acknowledged in time; exiting");
            self.failsafe_hit = true;
        }
    }

    async fn on_exit(&mut self, task_id: TaskId, status: i32) {
        let Some(run) = self.tasks.get_mut(&task_id) else {
            return;
        };
        // Clean up anything the command left running in its group.
        if let Some(pid) = run.pid.take() {
            signal_group(pid, libc::SIGKILL);
        }
        run.kill_deadline = None;
        run.max_completion = None;
        if run.terminal.is_some() {
            return;
        }
        let group = run.group;
        let (state, how, reason) = classify_exit(status, run.killing, run.max_completion_hit);
        let s = self.session.new_status(&task_id, state, Some(how), reason);
        self.send(s).await;
        if kills_group(state) {
            self.kill_group_members(group, Some(&task_id)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(id: &str) -> TaskInfo {
        serde_json::from_value(json!({
            "name": id, "task_id": {"value": id}, "agent_id": {"value": "A"},
            "resources": [{"name": "ports", "type": "RANGES",
                           "ranges": {"range": [{"begin": 31000, "end": 31002}]}}],
            "command": {"value": "true", "environment": {"variables": [{"name": "X", "value": "1"}]}}
        }))
        .unwrap()
    }

    #[test]
    fn task_dirs_stay_inside_the_sandbox() {
        let sb = Path::new("/sb");
        assert_eq!(
            task_sandbox(sb, &TaskId::new("t1")),
            PathBuf::from("/sb/tasks/t1")
        );
        assert_eq!(task_dir_name(&TaskId::new("a/../b")), "a_.._b");
        assert_eq!(task_dir_name(&TaskId::new("..")), "_..");
        assert_eq!(task_dir_name(&TaskId::new("")), "_");
    }

    #[test]
    fn task_environment_has_sandbox_ports_and_command_env() {
        let env = task_environment(&task("t1"), Path::new("/sb/tasks/t1"), "h1");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MESOS_SANDBOX"), Some("/sb/tasks/t1"));
        assert_eq!(get("MESOS_TASK_ID"), Some("t1"));
        assert_eq!(get("PORT0"), Some("31000"));
        assert_eq!(get("PORT2"), Some("31002"));
        assert_eq!(get("PORTS"), Some("31000,31001,31002"));
        assert_eq!(get("HOST"), Some("h1"));
        assert_eq!(get("X"), Some("1"));
    }

    #[test]
    fn exits_are_classified_like_mesos() {
        let exited = |code: i32| code << 8;
        let (s, m, r) = classify_exit(exited(0), false, false);
        assert_eq!(
            (s, m.as_str(), r),
            (
                TaskState::TaskFinished,
                "Command exited with status 0",
                None
            )
        );
        let (s, m, _) = classify_exit(exited(2), false, false);
        assert_eq!(
            (s, m.as_str()),
            (TaskState::TaskFailed, "Command exited with status 2")
        );
        let (s, m, _) = classify_exit(libc::SIGKILL, false, false);
        assert_eq!(s, TaskState::TaskFailed);
        assert!(m.contains("signal Killed"), "{m}");
        assert_eq!(
            classify_exit(libc::SIGTERM, true, false).0,
            TaskState::TaskKilled
        );
        assert_eq!(
            classify_exit(libc::SIGKILL, false, true).2,
            Some("REASON_MAX_COMPLETION_TIME_REACHED")
        );
        assert!(kills_group(TaskState::TaskFailed));
        assert!(kills_group(TaskState::TaskKilled));
        assert!(!kills_group(TaskState::TaskFinished));
    }

    #[test]
    fn group_members_and_completion() {
        let mut tasks = BTreeMap::new();
        for (id, g) in [("a", 1), ("b", 1), ("c", 2)] {
            tasks.insert(TaskId::new(id), TaskRun::new(task(id), g));
        }
        let ids = |v: Vec<TaskId>| v.into_iter().map(|t| t.value).collect::<Vec<_>>();
        assert_eq!(
            ids(live_group_members(&tasks, 1, Some(&TaskId::new("a")))),
            ["b"]
        );
        assert_eq!(ids(live_group_members(&tasks, 1, None)), ["a", "b"]);
        assert!(!all_done(&tasks, &[], false));
        for t in tasks.values_mut() {
            t.terminal = Some(TaskState::TaskFinished);
        }
        assert!(live_group_members(&tasks, 1, None).is_empty());
        let pending = TaskStatus::new(TaskId::new("a"), TaskState::TaskFinished);
        assert!(!all_done(&tasks, std::slice::from_ref(&pending), false));
        assert!(all_done(&tasks, &[], false));
        // No task yet: keep running unless told to shut down.
        assert!(!all_done(&BTreeMap::new(), &[], false));
        assert!(all_done(&BTreeMap::new(), &[], true));
    }
}
