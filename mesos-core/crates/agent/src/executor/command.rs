//! The command executor: subscribes to the agent, runs exactly one task with `/bin/sh -c`,
//! reports its states, kills it on request, and exits once the terminal update is
//! acknowledged.
//!
//! In docker mode (the docker executor) the task runs in a Docker container instead
//! (`super::docker`): TASK_STARTING while the image is found or pulled, TASK_RUNNING once
//! the container runs, `docker stop --time=<grace>` on KILL, and the terminal update after
//! the container exited and was removed.

use super::docker::{self as dk, DockerEvent};
use crate::docker::DockerSettings;
use crate::flags::MesosDuration;
use mesos_proto::executor::{AcknowledgedEv, Event, KillEv};
use mesos_proto::ids::*;
use mesos_proto::recordio;
use mesos_proto::v1::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Grace period between SIGTERM and SIGKILL when neither KILL nor the task says.
const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);
/// Exit this long after the terminal update even if it was never acknowledged.
const EXIT_FAILSAFE: Duration = Duration::from_secs(60);

/// What the agent tells the executor through its environment (spec 2.2).
#[derive(Clone, Debug)]
pub struct ExecutorEnv {
    pub agent_endpoint: String,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub sandbox: PathBuf,
    pub shutdown_grace: Duration,
    pub recovery_timeout: Duration,
    pub backoff_max: Duration,
}

fn duration_var(name: &str, default: Duration) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<MesosDuration>().ok())
        .map(|d| d.0)
        .unwrap_or(default)
}

impl ExecutorEnv {
    pub fn from_env() -> Result<ExecutorEnv, String> {
        let var =
            |n: &str| std::env::var(n).map_err(|_| format!("Missing environment variable {n}"));
        Ok(ExecutorEnv {
            agent_endpoint: var("MESOS_AGENT_ENDPOINT")?,
            framework_id: FrameworkId::new(var("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorId::new(var("MESOS_EXECUTOR_ID")?),
            sandbox: PathBuf::from(
                std::env::var("MESOS_SANDBOX")
                    .or_else(|_| std::env::var("MESOS_DIRECTORY"))
                    .unwrap_or_else(|_| ".".into()),
            ),
            shutdown_grace: duration_var(
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                Duration::from_secs(5),
            ),
            recovery_timeout: duration_var("MESOS_RECOVERY_TIMEOUT", Duration::from_secs(900)),
            backoff_max: duration_var("MESOS_SUBSCRIPTION_BACKOFF_MAX", Duration::from_secs(2)),
        })
    }
}

fn log(msg: &str) {
    eprintln!("[mesos-executor] {msg}");
}

pub(super) type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

struct Executor {
    env: ExecutorEnv,
    client: reqwest::Client,
    url: String,
    framework: Option<FrameworkInfo>,
    agent_hostname: String,
    agent_id: String,
    task: Option<TaskInfo>,
    /// Whether the agent acknowledged any update of the task.
    task_acked: bool,
    unacked: Vec<TaskStatus>,
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
        url: format!("http://{}/api/v1/executor", env.agent_endpoint),
        env,
        client: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default(),
        framework: None,
        agent_hostname: String::new(),
        agent_id: std::env::var("MESOS_AGENT_ID").unwrap_or_default(),
        task: None,
        task_acked: false,
        unacked: Vec::new(),
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
    };
    let mut stream: Option<(ByteStream, recordio::Decoder)> = None;
    let mut disconnected_since = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut reconnect_at = Instant::now();
    loop {
        if ex.terminal_done || (ex.shutdown && ex.task.is_none()) {
            return 0;
        }
        if stream.is_none() && Instant::now() >= reconnect_at {
            match ex.subscribe().await {
                Ok(s) => {
                    stream = Some((s, recordio::Decoder::new()));
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    if disconnected_since.elapsed() > ex.env.recovery_timeout {
                        log(&format!(
                            "Giving up on the agent after the recovery timeout: {e}"
                        ));
                        ex.kill_now().await;
                        return 1;
                    }
                    log(&format!("Cannot subscribe: {e}"));
                    backoff = (backoff * 2).min(ex.env.backoff_max.max(Duration::from_millis(100)));
                    reconnect_at = Instant::now() + backoff;
                }
            }
        }
        let mut timer = Instant::now() + Duration::from_secs(3600);
        for t in [ex.kill_deadline, ex.max_completion, ex.exit_failsafe]
            .into_iter()
            .flatten()
        {
            timer = timer.min(t);
        }
        if stream.is_none() {
            timer = timer.min(reconnect_at);
        }
        tokio::select! {
            chunk = next_chunk(&mut stream) => {
                let events = match chunk {
                    Some(Ok(b)) => match stream.as_mut().map(|(_, d)| d.feed(&b)) {
                        Some(Ok(recs)) => recs,
                        _ => { stream = None; Vec::new() }
                    },
                    _ => { stream = None; Vec::new() }
                };
                if stream.is_none() {
                    log("Disconnected from the agent; re-subscribing");
                    disconnected_since = Instant::now();
                    reconnect_at = Instant::now() + Duration::from_millis(100);
                }
                for rec in events {
                    match serde_json::from_slice::<Event>(&rec) {
                        Ok(e) => ex.on_event(e).await,
                        Err(e) => log(&format!("Ignoring an unparsable event: {e}")),
                    }
                }
            }
            Some(status) = exit_rx.recv() => ex.on_exit(status).await,
            Some(event) = docker_rx.recv() => ex.on_docker(event).await,
            _ = tokio::time::sleep_until(timer) => ex.on_timer().await,
        }
    }
}

pub(super) async fn next_chunk(
    s: &mut Option<(ByteStream, recordio::Decoder)>,
) -> Option<reqwest::Result<bytes::Bytes>> {
    use futures::StreamExt;
    match s {
        Some((stream, _)) => stream.next().await,
        None => std::future::pending().await,
    }
}

impl Executor {
    async fn subscribe(&self) -> Result<ByteStream, String> {
        let tasks: Vec<&TaskInfo> = if self.task_acked {
            vec![]
        } else {
            self.task.iter().collect()
        };
        let updates: Vec<serde_json::Value> =
            self.unacked.iter().map(|s| json!({"status": s})).collect();
        let body = json!({
            "type": "SUBSCRIBE",
            "framework_id": self.env.framework_id,
            "executor_id": self.env.executor_id,
            "subscribe": {"unacknowledged_tasks": tasks, "unacknowledged_updates": updates},
        });
        let r = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != reqwest::StatusCode::OK {
            let code = r.status();
            return Err(format!("{code}: {}", r.text().await.unwrap_or_default()));
        }
        Ok(Box::pin(r.bytes_stream()))
    }

    fn new_status(
        &self,
        task_id: &TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<&str>,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task_id.clone(), state).with_source("SOURCE_EXECUTOR");
        s.message = message;
        s.reason = reason.map(str::to_string);
        s.executor_id = Some(self.env.executor_id.clone());
        s.timestamp = Some(crate::runtime::wall_now().as_secs_f64());
        s.uuid = Some(mesos_proto::json::b64_encode(
            uuid::Uuid::new_v4().as_bytes(),
        ));
        s
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
        self.unacked.push(status.clone());
        let body = json!({
            "type": "UPDATE",
            "framework_id": self.env.framework_id,
            "executor_id": self.env.executor_id,
            "update": {"status": status},
        });
        let res = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .timeout(Duration::from_secs(10))
            .body(body.to_string())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => log(&format!("Agent answered {} to an update", r.status())),
            Err(e) => log(&format!("Cannot send an update (will resend): {e}")),
        }
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
                    let s = self.new_status(
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
                self.unacked
                    .retain(|s| s.uuid.as_deref() != Some(uuid.as_str()));
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
                    self.kill_with(&t, grace).await;
                }
            }
        }
    }

    async fn launch(&mut self, task: TaskInfo) {
        if let Some(current) = &self.task {
            if current.task_id != task.task_id {
                let s = self.new_status(
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
        let starting = self.new_status(&task.task_id, TaskState::TaskStarting, None, None);
        self.send(starting).await;
        if self.docker.is_some() {
            self.launch_container(&task).await;
            return;
        }
        match self.spawn_task(&task) {
            Ok(pid) => {
                self.pid = Some(pid);
                if let Some(d) = &task.max_completion_time {
                    self.max_completion =
                        Some(Instant::now() + Duration::from_nanos(d.nanoseconds.max(0) as u64));
                }
                let running = self.new_status(&task.task_id, TaskState::TaskRunning, None, None);
                self.send(running).await;
            }
            Err(e) => {
                let failed = self.new_status(
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
        let mut env = vec![
            (
                "MESOS_SANDBOX".to_string(),
                self.env.sandbox.display().to_string(),
            ),
            ("MESOS_TASK_ID".to_string(), task.task_id.value.clone()),
        ];
        let mut ports = Vec::new();
        for r in task.resources.iter().filter(|r| r.name == "ports") {
            for range in r.ranges.iter().flat_map(|x| x.range.iter()) {
                let mut p = range.begin;
                while p <= range.end && ports.len() < 1024 {
                    ports.push(p);
                    p += 1;
                }
            }
        }
        if !ports.is_empty() {
            for (i, p) in ports.iter().enumerate() {
                env.push((format!("PORT{i}"), p.to_string()));
            }
            let list: Vec<String> = ports.iter().map(u64::to_string).collect();
            env.push(("PORTS".to_string(), list.join(",")));
            env.push(("HOST".to_string(), self.agent_hostname.clone()));
        }
        if let Some(vars) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
            for v in &vars.variables {
                if let Some(value) = &v.value {
                    env.push((v.name.clone(), value.clone()));
                }
            }
        }
        env
    }

    fn spawn_task(&self, task: &TaskInfo) -> Result<u32, String> {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let cmd = task.command.clone().ok_or("task has no command")?;
        let value = cmd.value.clone().unwrap_or_default();
        let mut c = if cmd.shell {
            let mut c = std::process::Command::new("/bin/sh");
            c.arg("-c").arg(&value);
            c
        } else {
            if value.is_empty() {
                return Err("command value is empty".into());
            }
            let mut c = std::process::Command::new(&value);
            if let Some(a0) = cmd.arguments.first() {
                c.arg0(a0);
            }
            c.args(cmd.arguments.iter().skip(1));
            c
        };
        c.env_remove(super::EXECUTOR_MODE_ENV)
            .envs(self.task_env(task))
            .current_dir(&self.env.sandbox)
            .stdin(std::process::Stdio::null());
        // SAFETY: setpgid is async-signal-safe. The task gets its own process group (inside
        // the executor's session) so kills reach its whole tree.
        unsafe {
            c.pre_exec(|| {
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let mut child = c.spawn().map_err(|e| e.to_string())?;
        let pid = child.id();
        let tx = self.exit_tx.clone();
        std::thread::spawn(move || {
            let status = child.wait().map(|s| s.into_raw()).unwrap_or(-1);
            let _ = tx.send(status);
        });
        Ok(pid)
    }

    fn task_grace(&self, kill: Option<&KillEv>) -> Duration {
        kill.and_then(|k| k.kill_policy.as_ref())
            .and_then(|p| p.grace_period.as_ref())
            .or_else(|| {
                self.task
                    .as_ref()
                    .and_then(|t| t.kill_policy.as_ref())
                    .and_then(|p| p.grace_period.as_ref())
            })
            .map(|g| Duration::from_nanos(g.nanoseconds.max(0) as u64))
            .unwrap_or(DEFAULT_KILL_GRACE)
    }

    async fn kill(&mut self, kill: KillEv) {
        let Some(task) = self.task.clone() else {
            // Not launched here: nothing runs, report it killed so the agent can move on.
            let s = self.new_status(
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
            let s = self.new_status(&task.task_id, TaskState::TaskKilling, None, None);
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
            framework_id: self.env.framework_id.value.clone(),
            executor_id: self.env.executor_id.value.clone(),
            container_id: d.container_id.clone(),
            sandbox: self.env.sandbox.clone(),
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
            self.env.sandbox.clone(),
            d.events.clone(),
        ));
        if let Some(d) = &mut self.docker {
            d.engine = Some(engine);
        }
        if let Some(dur) = &task.max_completion_time {
            self.max_completion =
                Some(Instant::now() + Duration::from_nanos(dur.nanoseconds.max(0) as u64));
        }
    }

    async fn fail_launch(&mut self, task: &TaskInfo, message: String) {
        log(&message);
        let state = if self.killing {
            TaskState::TaskKilled
        } else {
            TaskState::TaskFailed
        };
        let s = self.new_status(&task.task_id, state, Some(message), None);
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
                let mut s = self.new_status(&task.task_id, TaskState::TaskRunning, None, None);
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
                        .map(|r| r.scalar("mem"))
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
                let mut s = self.new_status(&task.task_id, state, Some(how), reason);
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
        let how = if libc::WIFEXITED(status) {
            format!("Command exited with status {}", libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            format!(
                "Command terminated with signal {}",
                crate::agent::signal_name(libc::WTERMSIG(status))
            )
        } else {
            format!("Command terminated with wait status {status}")
        };
        let (state, reason) = if self.killing {
            (TaskState::TaskKilled, None)
        } else if self.max_completion_hit {
            (
                TaskState::TaskFailed,
                Some("REASON_MAX_COMPLETION_TIME_REACHED"),
            )
        } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            (TaskState::TaskFinished, None)
        } else {
            (TaskState::TaskFailed, None)
        };
        let s = self.new_status(&task.task_id, state, Some(how), reason);
        self.send(s).await;
    }
}

pub(super) fn signal_group(pid: u32, sig: i32) {
    // SAFETY: plain signal delivery to the task's process group.
    unsafe {
        libc::killpg(pid as libc::pid_t, sig);
    }
}
