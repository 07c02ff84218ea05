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

use super::docker::{self as dk, DockerEvent};
use super::health::{self, HealthAction, HealthChecker, HealthTracker, ProbeContext};
use super::session::{
    classify_exit, duration_of, grace_of, path_in, signal_group, spawn_in_own_group,
    task_environment, task_process, Connection, ExecutorEnv, Session, DEFAULT_KILL_GRACE,
};
use crate::docker::DockerSettings;
use mesos_proto::executor::{AcknowledgedEv, Event, KillEv};
use mesos_proto::v1::*;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Exit this long after the terminal update even if it was never acknowledged.
const EXIT_FAILSAFE: Duration = Duration::from_secs(60);

fn log(msg: &str) {
    eprintln!("[mesos-executor] {msg}");
}

struct Executor {
    session: Session,
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
    exit_tx: mpsc::UnboundedSender<i32>,
    /// Docker mode: the task's container.
    docker: Option<DockerTask>,
    /// The running health checks of the task, if it has any.
    health: Option<HealthRun>,
    health_tx: mpsc::UnboundedSender<Result<(), String>>,
    /// The task is being killed because its health checks failed.
    killed_by_health_check: bool,
}

/// A task's health checks while it runs.
struct HealthRun {
    /// Probing; dropping it stops the probes.
    _checker: HealthChecker,
    tracker: HealthTracker,
    launched: Instant,
}

/// The docker executor's container (docker mode).
struct DockerTask {
    settings: DockerSettings,
    container_id: String,
    name: String,
    /// Connected when the task is launched.
    engine: Option<bollard::Docker>,
    events: mpsc::UnboundedSender<DockerEvent>,
    /// Started and not yet exited.
    running: bool,
    /// The grace period of a kill requested before the container ran.
    pending_stop: Option<Duration>,
}

pub(crate) async fn run(env: ExecutorEnv, docker_mode: bool) -> i32 {
    let (exit_tx, mut exit_rx) = mpsc::unbounded_channel::<i32>();
    let (docker_tx, mut docker_rx) = mpsc::unbounded_channel::<DockerEvent>();
    let (health_tx, mut health_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let docker = docker_mode.then(|| {
        let container_id = std::env::var(crate::docker::ENV_CONTAINER_ID).unwrap_or_default();
        DockerTask {
            settings: DockerSettings::from_env(),
            name: crate::docker::container_name(&container_id),
            container_id,
            engine: None,
            events: docker_tx,
            running: false,
            pending_stop: None,
        }
    });
    let mut ex = Executor {
        session: Session::new(env, log, false),
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
        exit_tx,
        docker,
        health: None,
        health_tx,
        killed_by_health_check: false,
    };
    let mut conn = Connection::new();
    loop {
        if ex.terminal_done || (ex.shutdown && ex.task.is_none()) {
            return 0;
        }
        if conn
            .resubscribe(&ex.session, ex.unacknowledged_tasks())
            .await
            .is_err()
        {
            ex.kill_now().await;
            return 1;
        }
        let timer = conn.wake_at(
            [ex.kill_deadline, ex.max_completion, ex.exit_failsafe]
                .into_iter()
                .flatten(),
        );
        tokio::select! {
            records = conn.next_records(&ex.session) => {
                for rec in records {
                    if let Some(e) = ex.session.event(&rec) {
                        ex.on_event(e).await;
                    }
                }
            }
            Some(status) = exit_rx.recv() => ex.on_exit(status).await,
            Some(event) = docker_rx.recv() => ex.on_docker(event).await,
            Some(result) = health_rx.recv() => ex.on_health(result).await,
            _ = tokio::time::sleep_until(timer) => ex.on_timer().await,
        }
    }
}

impl Executor {
    /// The task while the agent has acknowledged none of its updates.
    fn unacknowledged_tasks(&self) -> Vec<&TaskInfo> {
        if self.task_acked {
            vec![]
        } else {
            self.task.iter().collect()
        }
    }

    /// Queue an update for resending and POST it now (failures are retried on re-subscribe).
    async fn send(&mut self, status: TaskStatus) {
        if status.state.is_terminal()
            && self
                .task
                .as_ref()
                .is_some_and(|t| t.task_id == status.task_id)
        {
            self.terminal_uuid = status.uuid.clone();
            self.exit_failsafe = Some(Instant::now() + EXIT_FAILSAFE);
        }
        self.session.send(status).await;
    }

    async fn on_event(&mut self, e: Event) {
        match e {
            Event::Subscribed { subscribed } => {
                self.agent_hostname = subscribed.agent_info.hostname.clone();
                if let Some(id) = &subscribed.agent_info.id {
                    self.agent_id = id.value.clone();
                }
                self.framework = Some(subscribed.framework_info);
            }
            Event::Launch { launch } => self.launch(launch.task).await,
            Event::LaunchGroup { launch_group } => {
                for t in launch_group.task_group.tasks {
                    let s = self.session.new_status(
                        &t.task_id,
                        TaskState::TaskFailed,
                        Some("The command executor cannot run task groups".into()),
                        None,
                    );
                    self.send(s).await;
                }
            }
            Event::Kill { kill } => self.kill(kill).await,
            Event::Acknowledged {
                acknowledged: AcknowledgedEv { task_id, uuid },
            } => {
                self.session.acknowledged(&uuid);
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
                    let grace = self.task_grace(None).min(self.session.env.shutdown_grace);
                    self.kill_with(&t, grace).await;
                }
            }
        }
    }

    async fn launch(&mut self, task: TaskInfo) {
        if let Some(current) = &self.task {
            if current.task_id != task.task_id {
                let s = self.session.new_status(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some("Attempted to run multiple tasks using a \"command\" executor".into()),
                    None,
                );
                self.send(s).await;
            }
            return;
        }
        self.task = Some(task.clone());
        let starting = self
            .session
            .new_status(&task.task_id, TaskState::TaskStarting, None, None);
        self.send(starting).await;
        if self.docker.is_some() {
            if task.health_check.is_some() {
                log("This executor does not run health checks of Docker tasks");
            }
            self.launch_container(&task).await;
            return;
        }
        match self.spawn_task(&task) {
            Ok(pid) => {
                let launched = Instant::now();
                self.pid = Some(pid);
                if let Some(d) = &task.max_completion_time {
                    self.max_completion = Some(Instant::now() + duration_of(d));
                }
                let running =
                    self.session
                        .new_status(&task.task_id, TaskState::TaskRunning, None, None);
                self.send(running).await;
                self.start_health_checks(&task, launched);
            }
            Err(e) => {
                let failed = self.session.new_status(
                    &task.task_id,
                    TaskState::TaskFailed,
                    Some(format!("Failed to launch the command: {e}")),
                    None,
                );
                self.send(failed).await;
            }
        }
    }

    fn task_env(&self, task: &TaskInfo) -> Vec<(String, String)> {
        task_environment(task, &self.session.env.sandbox, &self.agent_hostname)
    }

    fn spawn_task(&self, task: &TaskInfo) -> Result<u32, String> {
        let cmd = task.command.clone().ok_or("task has no command")?;
        let env = self.task_env(task);
        let mut c = task_process(&cmd, path_in(&env))?;
        c.envs(env).current_dir(&self.session.env.sandbox);
        spawn_in_own_group(c, self.exit_tx.clone(), |status| status)
    }

    /// Start the task's health checks, if it has any (an invalid one is logged and ignored,
    /// as Mesos' executor does; the master refuses such tasks anyway).
    fn start_health_checks(&mut self, task: &TaskInfo, launched: Instant) {
        let check = match task.health_check_spec() {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                log(&format!("Not running the task's invalid health check: {e}"));
                return;
            }
        };
        let ctx = ProbeContext {
            sandbox: self.session.env.sandbox.clone(),
            env: self.task_env(task),
        };
        self.health = Some(HealthRun {
            tracker: HealthTracker::new(&check),
            _checker: health::start(check, ctx, self.health_tx.clone()),
            launched,
        });
    }

    /// A health probe result: report a change, kill the task when it failed too often.
    async fn on_health(&mut self, result: Result<(), String>) {
        // Nothing is reported once the task is being killed or has ended.
        if self.killing || self.terminal_uuid.is_some() {
            self.health = None;
            return;
        }
        let (Some(h), Some(task)) = (&mut self.health, self.task.clone()) else {
            return;
        };
        if let Err(e) = &result {
            log(&format!("Health check failed: {e}"));
        }
        let action = h.tracker.record(h.launched.elapsed(), &result);
        let failures = h.tracker.consecutive_failures();
        let healthy = match action {
            HealthAction::None => return,
            HealthAction::Report { healthy } => healthy,
            HealthAction::ReportAndKill => false,
        };
        let mut s = self.session.new_status(
            &task.task_id,
            TaskState::TaskRunning,
            None,
            Some("REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"),
        );
        s.healthy = Some(healthy);
        self.send(s).await;
        if action == HealthAction::ReportAndKill {
            log(&format!(
                "Killing the task after {failures} consecutive failed health checks"
            ));
            self.health = None;
            self.killed_by_health_check = true;
            let grace = self.task_grace(None);
            self.kill_with(&task, grace).await;
        }
    }

    fn task_grace(&self, kill: Option<&KillEv>) -> Duration {
        grace_of(kill.and_then(|k| k.kill_policy.as_ref()))
            .or_else(|| grace_of(self.task.as_ref().and_then(|t| t.kill_policy.as_ref())))
            .unwrap_or(DEFAULT_KILL_GRACE)
    }

    async fn kill(&mut self, kill: KillEv) {
        let Some(task) = self.task.clone() else {
            // Not launched here: nothing runs, report it killed so the agent can move on.
            let s = self.session.new_status(
                &kill.task_id,
                TaskState::TaskKilled,
                Some("Task was not running".into()),
                None,
            );
            self.send(s).await;
            return;
        };
        if task.task_id != kill.task_id {
            return;
        }
        let grace = self.task_grace(Some(&kill));
        self.kill_with(&task, grace).await;
    }

    async fn kill_with(&mut self, task: &TaskInfo, grace: Duration) {
        if self.terminal_uuid.is_some() || self.killing {
            if let (true, Some(d)) = (self.killing, self.kill_deadline) {
                self.kill_deadline = Some(d.min(Instant::now() + grace));
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
            let s = self
                .session
                .new_status(&task.task_id, TaskState::TaskKilling, None, None);
            self.send(s).await;
        }
        if let Some(d) = &mut self.docker {
            // `docker stop` escalates to SIGKILL after the grace period itself.
            match (&d.engine, d.running) {
                (Some(engine), true) => {
                    tokio::spawn(dk::stop_container(engine.clone(), d.name.clone(), grace));
                }
                _ => d.pending_stop = Some(grace),
            }
            return;
        }
        if let Some(pid) = self.pid {
            signal_group(pid, libc::SIGTERM);
        }
        self.kill_deadline = Some(Instant::now() + grace);
    }

    async fn kill_now(&mut self) {
        if let Some(pid) = self.pid {
            signal_group(pid, libc::SIGKILL);
        }
        if let Some(d) = &mut self.docker {
            match (&d.engine, d.running) {
                (Some(engine), true) => {
                    let kill = dk::kill_container(engine.clone(), d.name.clone());
                    let _ = tokio::time::timeout(Duration::from_secs(10), kill).await;
                }
                _ => d.pending_stop = Some(Duration::ZERO),
            }
        }
    }

    async fn on_timer(&mut self) {
        let now = Instant::now();
        if self.kill_deadline.is_some_and(|d| now >= d) {
            self.kill_deadline = None;
            self.kill_now().await;
        }
        if self.max_completion.is_some_and(|d| now >= d) {
            self.max_completion = None;
            if self.terminal_uuid.is_none() && !self.killing {
                self.max_completion_hit = true;
                self.kill_now().await;
            }
        }
        if self.exit_failsafe.is_some_and(|d| now >= d) {
            log("The terminal update was not acknowledged in time; exiting");
            self.terminal_done = true;
        }
    }

    /// Docker mode: plan the container and start running it in the background.
    async fn launch_container(&mut self, task: &TaskInfo) {
        let env = self.task_env(task);
        let Some(d) = &self.docker else { return };
        let owner = dk::Owner {
            agent_id: self.agent_id.clone(),
            framework_id: self.session.env.framework_id.value.clone(),
            executor_id: self.session.env.executor_id.value.clone(),
            container_id: d.container_id.clone(),
            sandbox: self.session.env.sandbox.clone(),
        };
        let plan = match dk::plan(task, &env, &owner, &d.settings) {
            Ok(p) => p,
            Err(e) => return self.fail_launch(task, e).await,
        };
        let engine = match crate::docker::connect(&d.settings.socket).await {
            Ok(engine) => engine,
            Err(e) => {
                return self
                    .fail_launch(task, format!("Failed to launch container: {e}"))
                    .await
            }
        };
        tokio::spawn(dk::run_container(
            engine.clone(),
            plan,
            d.name.clone(),
            self.session.env.sandbox.clone(),
            d.events.clone(),
        ));
        if let Some(d) = &mut self.docker {
            d.engine = Some(engine);
        }
        if let Some(dur) = &task.max_completion_time {
            self.max_completion = Some(Instant::now() + duration_of(dur));
        }
    }

    async fn fail_launch(&mut self, task: &TaskInfo, message: String) {
        log(&message);
        let state = if self.killing {
            TaskState::TaskKilled
        } else {
            TaskState::TaskFailed
        };
        let s = self
            .session
            .new_status(&task.task_id, state, Some(message), None);
        self.send(s).await;
    }

    async fn on_docker(&mut self, event: DockerEvent) {
        let Some(task) = self.task.clone() else {
            return;
        };
        match event {
            DockerEvent::Running { ip } => {
                let Some(d) = &mut self.docker else { return };
                d.running = true;
                let container_id = d.container_id.clone();
                if let (Some(grace), Some(engine)) = (d.pending_stop.take(), &d.engine) {
                    tokio::spawn(dk::stop_container(engine.clone(), d.name.clone(), grace));
                }
                let mut s =
                    self.session
                        .new_status(&task.task_id, TaskState::TaskRunning, None, None);
                let mut status = json!({"container_id": {"value": container_id}});
                if let Some(ip) = ip {
                    status["network_infos"] = json!([{
                        "ip_addresses": [{"protocol": "IPv4", "ip_address": ip}]
                    }]);
                }
                s.container_status = Some(status);
                self.send(s).await;
            }
            DockerEvent::LaunchFailed(message) => self.fail_launch(&task, message).await,
            DockerEvent::Exited {
                code,
                oom_killed,
                error,
            } => {
                if let Some(d) = &mut self.docker {
                    d.running = false;
                }
                self.max_completion = None;
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
                let mut s = self
                    .session
                    .new_status(&task.task_id, state, Some(how), reason);
                s.limitation = limitation;
                if let Some(d) = &self.docker {
                    s.container_status =
                        Some(json!({"container_id": {"value": d.container_id.clone()}}));
                }
                self.send(s).await;
            }
        }
    }

    async fn on_exit(&mut self, status: i32) {
        let Some(task) = self.task.clone() else {
            return;
        };
        // Clean up anything the command left running in its group.
        if let Some(pid) = self.pid.take() {
            signal_group(pid, libc::SIGKILL);
        }
        self.kill_deadline = None;
        self.max_completion = None;
        self.health = None;
        let (state, how, reason) = classify_exit(status, self.killing, self.max_completion_hit);
        let mut s = self
            .session
            .new_status(&task.task_id, state, Some(how), reason);
        if self.killed_by_health_check && state == TaskState::TaskKilled {
            s.healthy = Some(false);
        }
        self.send(s).await;
    }
}
