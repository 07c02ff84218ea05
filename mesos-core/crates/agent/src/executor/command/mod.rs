//! The command executor: subscribes to the agent, runs exactly one task with `/bin/sh -c`,
//! reports its states, kills it on request, and exits once the terminal update is
//! acknowledged.
//!
//! In docker mode (the docker executor) the task runs in a Docker container instead
//! (`super::docker`): TASK_STARTING while the image is found or pulled, TASK_RUNNING once
//! the container runs, `docker stop --time=<grace>` on KILL, and the terminal update after
//! the container exited and was removed.
//!
//! A task with a `health_check` is probed by `super::health` once it runs (command mode
//! only): health changes go out as `TASK_RUNNING` with `healthy` and
//! `REASON_TASK_HEALTH_CHECK_STATUS_UPDATED`, and too many consecutive failures kill the
//! task, whose terminal `TASK_KILLED` then carries `healthy: false` (as Mesos' command
//! executor does).
//!
//! The decisions are made here, by [`Executor`], a state machine without I/O: it takes
//! [`Input`]s (the agent's events, the task's process starting and ending, health results,
//! the container's events, the time) and answers with [`Output`]s (updates to send,
//! processes to start or signal, probes and containers to start or stop). Two shells carry
//! them out:
//! * `blocking.rs`, for command tasks: one thread, blocking sockets and `poll(2)`. An
//!   executor lives for a handful of requests, and a runtime costs more to start than
//!   it saves (measured in the W4 launch benchmark); health probes, when the task has
//!   them, run on a thread of their own.
//! * `tokio_shell.rs`, for Docker tasks, whose engine client is asynchronous.

mod blocking;
mod tokio_shell;

pub(crate) use blocking::run as run_blocking;
pub(crate) use tokio_shell::run as run_tokio;

use super::docker::{self as dk, DockerEvent};
use super::health::{HealthAction, HealthTracker, ProbeContext};
use super::session::{
    classify_exit, duration_of, grace_of, new_status, task_environment, ExecutorEnv,
    DEFAULT_KILL_GRACE,
};
use crate::docker::DockerSettings;
use mesos_proto::executor::{AcknowledgedEv, Event, KillEv};
use mesos_proto::v1::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// Exit this long after the terminal update even if it was never acknowledged.
const EXIT_FAILSAFE: Duration = Duration::from_secs(60);

fn log(msg: &str) {
    eprintln!("[mesos-executor] {msg}");
}

/// What happened, for the executor to decide on.
#[derive(Debug)]
pub(super) enum Input {
    /// An event of the agent's stream.
    Event(Event),
    /// The task's process was started (its pid) or could not be.
    Spawned(Result<u32, String>),
    /// The task's process ended with this wait status.
    Exited(i32),
    /// A health probe's result.
    Health(Result<(), String>),
    /// Docker mode: what the container did.
    Docker(DockerEvent),
    /// Docker mode: the engine could not be reached to launch the container.
    EngineUnreachable(String),
    /// The time passed [`Executor::deadline`].
    Tick,
    /// The agent stayed away past the recovery timeout: the executor gives up.
    AgentLost,
}

/// What the shell is to do, in order.
#[derive(Debug)]
pub(super) enum Output {
    /// Send this update (and resend it on every re-subscription until acknowledged).
    Send(TaskStatus),
    /// Start the task's command with this environment (on top of the executor's), in its
    /// own process group, in the sandbox; answer with [`Input::Spawned`].
    Spawn {
        command: CommandInfo,
        env: Vec<(String, String)>,
    },
    /// Send this signal to the task's process group.
    Signal(u32, i32),
    /// Start probing the task's health; results come back as [`Input::Health`].
    StartHealth(mesos_proto::v1::HealthCheck, ProbeContext),
    /// Stop probing.
    StopHealth,
    /// Docker mode: run this container; its events come back as [`Input::Docker`].
    LaunchContainer(Box<dk::Plan>),
    /// Docker mode: `docker stop` with this grace period.
    StopContainer(Duration),
    /// Docker mode: `docker kill`.
    KillContainer,
}

/// The executor's state.
pub(super) struct Executor {
    env: ExecutorEnv,
    framework: Option<FrameworkInfo>,
    agent_hostname: String,
    agent_id: String,
    task: Option<TaskInfo>,
    /// Whether the agent acknowledged any update of the task.
    task_acked: bool,
    pid: Option<u32>,
    killing: bool,
    kill_deadline: Option<Instant>,
    max_completion: Option<Instant>,
    max_completion_hit: bool,
    terminal_uuid: Option<String>,
    terminal_done: bool,
    exit_failsafe: Option<Instant>,
    shutdown: bool,
    /// Docker mode: the task's container.
    docker: Option<DockerTask>,
    /// The task's health checks, while they run: what they found so far, and when the
    /// task was launched.
    health: Option<(HealthTracker, Instant)>,
    /// The task is being killed because its health checks failed.
    killed_by_health_check: bool,
}

/// The docker executor's container (docker mode).
pub(super) struct DockerTask {
    pub settings: DockerSettings,
    pub container_id: String,
    pub name: String,
    /// Started and not yet exited.
    running: bool,
    /// The grace period of a kill requested before the container ran.
    pending_stop: Option<Duration>,
}

impl DockerTask {
    /// The container this docker executor runs (from its environment).
    pub fn from_env() -> DockerTask {
        let container_id = std::env::var(crate::docker::ENV_CONTAINER_ID).unwrap_or_default();
        DockerTask {
            settings: DockerSettings::from_env(),
            name: crate::docker::container_name(&container_id),
            container_id,
            running: false,
            pending_stop: None,
        }
    }
}

impl Executor {
    pub fn new(env: ExecutorEnv, docker: Option<DockerTask>) -> Executor {
        Executor {
            env,
            framework: None,
            agent_hostname: String::new(),
            agent_id: std::env::var("MESOS_AGENT_ID").unwrap_or_default(),
            task: None,
            task_acked: false,
            pid: None,
            killing: false,
            kill_deadline: None,
            max_completion: None,
            max_completion_hit: false,
            terminal_uuid: None,
            terminal_done: false,
            exit_failsafe: None,
            shutdown: false,
            docker,
            health: None,
            killed_by_health_check: false,
        }
    }

    pub fn env(&self) -> &ExecutorEnv {
        &self.env
    }

    pub fn docker(&self) -> Option<&DockerTask> {
        self.docker.as_ref()
    }

    /// Done: the terminal update was acknowledged (or given up on), or SHUTDOWN came
    /// before any task.
    pub fn finished(&self) -> bool {
        self.terminal_done || (self.shutdown && self.task.is_none())
    }

    /// The task while the agent has acknowledged none of its updates (resent with every
    /// SUBSCRIBE).
    pub fn unacknowledged_tasks(&self) -> Vec<&TaskInfo> {
        if self.task_acked {
            vec![]
        } else {
            self.task.iter().collect()
        }
    }

    /// When [`Input::Tick`] is next due, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        [self.kill_deadline, self.max_completion, self.exit_failsafe]
            .into_iter()
            .flatten()
            .min()
    }

    /// Decide on `input`, at `now`.
    pub fn handle(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Event(e) => self.on_event(now, e, &mut out),
            Input::Spawned(r) => self.on_spawned(now, r, &mut out),
            Input::Exited(status) => self.on_exit(now, status, &mut out),
            Input::Health(r) => self.on_health(now, r, &mut out),
            Input::Docker(e) => self.on_docker(now, e, &mut out),
            Input::EngineUnreachable(e) => {
                if let Some(t) = self.task.clone() {
                    let message = format!("Failed to launch container: {e}");
                    self.fail_launch(now, &t, message, &mut out);
                }
            }
            Input::Tick => self.on_timer(now, &mut out),
            Input::AgentLost => self.kill_now(&mut out),
        }
        out
    }

    fn status(
        &self,
        task_id: &mesos_proto::ids::TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<&str>,
    ) -> TaskStatus {
        new_status(&self.env, task_id, state, message, reason)
    }

    fn send(&mut self, now: Instant, status: TaskStatus, out: &mut Vec<Output>) {
        if status.state.is_terminal()
            && self
                .task
                .as_ref()
                .is_some_and(|t| t.task_id == status.task_id)
        {
            self.terminal_uuid = status.uuid.clone();
            self.exit_failsafe = Some(now + EXIT_FAILSAFE);
        }
        out.push(Output::Send(status));
    }

    fn on_event(&mut self, now: Instant, e: Event, out: &mut Vec<Output>) {
        match e {
            Event::Subscribed { subscribed } => {
                self.agent_hostname = subscribed.agent_info.hostname.clone();
                if let Some(id) = &subscribed.agent_info.id {
                    self.agent_id = id.value.clone();
                }
                self.framework = Some(subscribed.framework_info);
            }
            Event::Launch { launch } => self.launch(now, launch.task, out),
            Event::LaunchGroup { launch_group } => {
                for t in launch_group.task_group.tasks {
                    let s = self.status(
                        &t.task_id,
                        TaskState::TaskFailed,
                        Some("The command executor cannot run task groups".into()),
                        None,
                    );
                    self.send(now, s, out);
                }
            }
            Event::Kill { kill } => self.kill(now, kill, out),
            Event::Acknowledged {
                acknowledged: AcknowledgedEv { task_id, uuid },
            } => {
                if self.task.as_ref().is_some_and(|t| t.task_id == task_id) {
                    self.task_acked = true;
                }
                if self.terminal_uuid.as_deref() == Some(uuid.as_str()) {
                    self.terminal_done = true;
                }
            }
            Event::Message { .. } | Event::Heartbeat => {}
            Event::Error { error } => log(&format!("Agent error: {}", error.message)),
            Event::Shutdown => {
                self.shutdown = true;
                if let Some(t) = self.task.clone() {
                    let grace = self.task_grace(None).min(self.env.shutdown_grace);
                    self.kill_with(now, &t, grace, out);
                }
            }
        }
    }

    fn launch(&mut self, now: Instant, task: TaskInfo, out: &mut Vec<Output>) {
        if let Some(current) = &self.task {
            if current.task_id != task.task_id {
                let s = self.status(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some("Attempted to run multiple tasks using a \"command\" executor".into()),
                    None,
                );
                self.send(now, s, out);
            }
            return;
        }
        self.task = Some(task.clone());
        let starting = self.status(&task.task_id, TaskState::TaskStarting, None, None);
        self.send(now, starting, out);
        let env = task_environment(&task, &self.env.sandbox, &self.agent_hostname);
        if self.docker.is_some() {
            if task.health_check.is_some() {
                log("This executor does not run health checks of Docker tasks");
            }
            self.launch_container(now, &task, &env, out);
            return;
        }
        match task.command.clone() {
            Some(command) => out.push(Output::Spawn { command, env }),
            None => {
                let failed = self.status(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some("Failed to launch the command: task has no command".into()),
                    None,
                );
                self.send(now, failed, out);
            }
        }
    }

    fn on_spawned(&mut self, now: Instant, result: Result<u32, String>, out: &mut Vec<Output>) {
        let Some(task) = self.task.clone() else {
            return;
        };
        match result {
            Ok(pid) => {
                self.pid = Some(pid);
                if let Some(d) = &task.max_completion_time {
                    self.max_completion = Some(now + duration_of(d));
                }
                let running = self.status(&task.task_id, TaskState::TaskRunning, None, None);
                self.send(now, running, out);
                self.start_health_checks(now, &task, out);
            }
            Err(e) => {
                let failed = self.status(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some(format!("Failed to launch the command: {e}")),
                    None,
                );
                self.send(now, failed, out);
            }
        }
    }

    /// Start the task's health checks, if it has any (an invalid one is logged and ignored,
    /// as Mesos' executor does; the master refuses such tasks anyway).
    fn start_health_checks(&mut self, now: Instant, task: &TaskInfo, out: &mut Vec<Output>) {
        let check = match task.health_check_spec() {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                log(&format!("Not running the task's invalid health check: {e}"));
                return;
            }
        };
        let ctx = ProbeContext {
            sandbox: self.env.sandbox.clone(),
            env: task_environment(task, &self.env.sandbox, &self.agent_hostname),
        };
        self.health = Some((HealthTracker::new(&check), now));
        out.push(Output::StartHealth(check, ctx));
    }

    fn stop_health_checks(&mut self, out: &mut Vec<Output>) {
        if self.health.take().is_some() {
            out.push(Output::StopHealth);
        }
    }

    /// A health probe result: report a change, kill the task when it failed too often.
    fn on_health(&mut self, now: Instant, result: Result<(), String>, out: &mut Vec<Output>) {
        // Nothing is reported once the task is being killed or has ended.
        if self.killing || self.terminal_uuid.is_some() {
            self.stop_health_checks(out);
            return;
        }
        let (Some((tracker, launched)), Some(task)) = (&mut self.health, self.task.clone()) else {
            return;
        };
        if let Err(e) = &result {
            log(&format!("Health check failed: {e}"));
        }
        let action = tracker.record(now.saturating_duration_since(*launched), &result);
        let failures = tracker.consecutive_failures();
        let healthy = match action {
            HealthAction::None => return,
            HealthAction::Report { healthy } => healthy,
            HealthAction::ReportAndKill => false,
        };
        let mut s = self.status(
            &task.task_id,
            TaskState::TaskRunning,
            None,
            Some("REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"),
        );
        s.healthy = Some(healthy);
        self.send(now, s, out);
        if action == HealthAction::ReportAndKill {
            log(&format!(
                "Killing the task after {failures} consecutive failed health checks"
            ));
            self.stop_health_checks(out);
            self.killed_by_health_check = true;
            let grace = self.task_grace(None);
            self.kill_with(now, &task, grace, out);
        }
    }

    fn task_grace(&self, kill: Option<&KillEv>) -> Duration {
        grace_of(kill.and_then(|k| k.kill_policy.as_ref()))
            .or_else(|| grace_of(self.task.as_ref().and_then(|t| t.kill_policy.as_ref())))
            .unwrap_or(DEFAULT_KILL_GRACE)
    }

    fn kill(&mut self, now: Instant, kill: KillEv, out: &mut Vec<Output>) {
        let Some(task) = self.task.clone() else {
            // Not launched here: nothing runs, report it killed so the agent can move on.
            let s = self.status(
                &kill.task_id,
                TaskState::TaskKilled,
                Some("Task was not running".into()),
                None,
            );
            self.send(now, s, out);
            return;
        };
        if task.task_id != kill.task_id {
            return;
        }
        let grace = self.task_grace(Some(&kill));
        self.kill_with(now, &task, grace, out);
    }

    fn kill_with(&mut self, now: Instant, task: &TaskInfo, grace: Duration, out: &mut Vec<Output>) {
        if self.terminal_uuid.is_some() || self.killing {
            if let (true, Some(d)) = (self.killing, self.kill_deadline) {
                self.kill_deadline = Some(d.min(now + grace));
            }
            return;
        }
        if self.pid.is_none() && self.docker.is_none() {
            return;
        }
        self.killing = true;
        if self
            .framework
            .as_ref()
            .is_some_and(|f| f.has_capability("TASK_KILLING_STATE"))
        {
            let s = self.status(&task.task_id, TaskState::TaskKilling, None, None);
            self.send(now, s, out);
        }
        if let Some(d) = &mut self.docker {
            // `docker stop` escalates to SIGKILL after the grace period itself.
            if d.running {
                out.push(Output::StopContainer(grace));
            } else {
                d.pending_stop = Some(grace);
            }
            return;
        }
        if let Some(pid) = self.pid {
            out.push(Output::Signal(pid, libc::SIGTERM));
        }
        self.kill_deadline = Some(now + grace);
    }

    fn kill_now(&mut self, out: &mut Vec<Output>) {
        if let Some(pid) = self.pid {
            out.push(Output::Signal(pid, libc::SIGKILL));
        }
        if let Some(d) = &mut self.docker {
            if d.running {
                out.push(Output::KillContainer);
            } else {
                d.pending_stop = Some(Duration::ZERO);
            }
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.kill_deadline.is_some_and(|d| now >= d) {
            self.kill_deadline = None;
            self.kill_now(out);
        }
        if self.max_completion.is_some_and(|d| now >= d) {
            self.max_completion = None;
            if self.terminal_uuid.is_none() && !self.killing {
                self.max_completion_hit = true;
                self.kill_now(out);
            }
        }
        if self.exit_failsafe.is_some_and(|d| now >= d) {
            log("The terminal update was not acknowledged in time; exiting");
            self.terminal_done = true;
        }
    }

    /// Docker mode: plan the container and have the shell run it.
    fn launch_container(
        &mut self,
        now: Instant,
        task: &TaskInfo,
        env: &[(String, String)],
        out: &mut Vec<Output>,
    ) {
        let Some(d) = &self.docker else { return };
        let owner = dk::Owner {
            agent_id: self.agent_id.clone(),
            framework_id: self.env.framework_id.value.clone(),
            executor_id: self.env.executor_id.value.clone(),
            container_id: d.container_id.clone(),
            sandbox: self.env.sandbox.clone(),
        };
        match dk::plan(task, env, &owner, &d.settings) {
            Ok(p) => {
                out.push(Output::LaunchContainer(Box::new(p)));
                if let Some(dur) = &task.max_completion_time {
                    self.max_completion = Some(now + duration_of(dur));
                }
            }
            Err(e) => self.fail_launch(now, task, e, out),
        }
    }

    fn fail_launch(
        &mut self,
        now: Instant,
        task: &TaskInfo,
        message: String,
        out: &mut Vec<Output>,
    ) {
        log(&message);
        let state = if self.killing {
            TaskState::TaskKilled
        } else {
            TaskState::TaskFailed
        };
        let s = self.status(&task.task_id, state, Some(message), None);
        self.send(now, s, out);
    }

    fn on_docker(&mut self, now: Instant, event: DockerEvent, out: &mut Vec<Output>) {
        let Some(task) = self.task.clone() else {
            return;
        };
        match event {
            DockerEvent::Running { ip } => {
                let Some(d) = &mut self.docker else { return };
                d.running = true;
                let container_id = d.container_id.clone();
                if let Some(grace) = d.pending_stop.take() {
                    out.push(Output::StopContainer(grace));
                }
                let mut s = self.status(&task.task_id, TaskState::TaskRunning, None, None);
                let mut status = json!({"container_id": {"value": container_id}});
                if let Some(ip) = ip {
                    status["network_infos"] = json!([{
                        "ip_addresses": [{"protocol": "IPv4", "ip_address": ip}]
                    }]);
                }
                s.container_status = Some(status);
                self.send(now, s, out);
            }
            DockerEvent::LaunchFailed(message) => self.fail_launch(now, &task, message, out),
            DockerEvent::Exited {
                code,
                oom_killed,
                error,
            } => {
                if let Some(d) = &mut self.docker {
                    d.running = false;
                }
                self.max_completion = None;
                let s = self.container_exit_status(&task, code, oom_killed, error);
                self.send(now, s, out);
            }
        }
    }

    /// The terminal update of a task whose container exited with `code`.
    fn container_exit_status(
        &self,
        task: &TaskInfo,
        code: i64,
        oom_killed: bool,
        error: Option<String>,
    ) -> TaskStatus {
        let mut how = format!("Container exited with status {code}");
        if let Some(e) = error {
            how.push_str(&format!(" ({e})"));
        }
        let mut limitation = None;
        let (state, reason) = if self.killing {
            (TaskState::TaskKilled, None)
        } else if self.max_completion_hit {
            (
                TaskState::TaskFailed,
                Some("REASON_MAX_COMPLETION_TIME_REACHED"),
            )
        } else if oom_killed {
            let mem = mesos_proto::resources::Resources::from_wire(&task.resources)
                .map(|r| r.quantity("mem"))
                .unwrap_or(0.0)
                + crate::executors::COMMAND_EXECUTOR_MEM;
            how = format!(
                "Memory limit exceeded: the container was OOM-killed (limit {mem} MB); \
                 container exited with status {code}"
            );
            limitation = Some(json!({"resources": mesos_proto::resources::Resources::new()
                .with_scalar("mem", mem)
                .to_wire(None)}));
            (
                TaskState::TaskFailed,
                Some("REASON_CONTAINER_LIMITATION_MEMORY"),
            )
        } else if code == 0 {
            (TaskState::TaskFinished, None)
        } else {
            (TaskState::TaskFailed, None)
        };
        let mut s = self.status(&task.task_id, state, Some(how), reason);
        s.limitation = limitation;
        if let Some(d) = &self.docker {
            s.container_status = Some(json!({"container_id": {"value": d.container_id.clone()}}));
        }
        s
    }

    fn on_exit(&mut self, now: Instant, status: i32, out: &mut Vec<Output>) {
        let Some(task) = self.task.clone() else {
            return;
        };
        // Clean up anything the command left running in its group.
        if let Some(pid) = self.pid.take() {
            out.push(Output::Signal(pid, libc::SIGKILL));
        }
        self.kill_deadline = None;
        self.max_completion = None;
        self.stop_health_checks(out);
        let (state, how, reason) = classify_exit(status, self.killing, self.max_completion_hit);
        let mut s = self.status(&task.task_id, state, Some(how), reason);
        if self.killed_by_health_check && state == TaskState::TaskKilled {
            s.healthy = Some(false);
        }
        self.send(now, s, out);
    }
}

#[cfg(test)]
mod tests;
