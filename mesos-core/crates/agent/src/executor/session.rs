//! What the built-in executors share: their environment, the connection to the agent
//! (SUBSCRIBE, re-subscribing with backoff, giving up after the recovery timeout), status
//! updates (creating, sending, resending until acknowledged), and running a task's command
//! (environment, own process group, exit classification).

use crate::flags::MesosDuration;
use mesos_proto::executor::Event;
use mesos_proto::ids::*;
use mesos_proto::recordio;
use mesos_proto::v1::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Grace period between SIGTERM and SIGKILL when neither KILL nor the task says.
pub(super) const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(3);

/// What the agent tells the executor through its environment (spec 2.2).
#[derive(Clone, Debug)]
pub struct ExecutorEnv {
    pub agent_endpoint: String,
    /// The agent's Unix socket for this API, when it serves one (`MESOS_DOMAIN_SOCKET`).
    pub domain_socket: Option<PathBuf>,
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
            domain_socket: std::env::var_os("MESOS_DOMAIN_SOCKET")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
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

use super::agent_http::{AgentHttp, EventStream};

/// A new update of the executor `env` describes (source EXECUTOR, fresh uuid, timestamped
/// now).
pub(super) fn new_status(
    env: &ExecutorEnv,
    task_id: &TaskId,
    state: TaskState,
    message: Option<String>,
    reason: Option<&str>,
) -> TaskStatus {
    let mut s = TaskStatus::new(task_id.clone(), state).with_source("SOURCE_EXECUTOR");
    s.message = message;
    s.reason = reason.map(str::to_string);
    s.executor_id = Some(env.executor_id.clone());
    s.timestamp = Some(crate::runtime::wall_now().as_secs_f64());
    s.uuid = Some(mesos_proto::json::b64_encode(
        uuid::Uuid::new_v4().as_bytes(),
    ));
    s
}

/// The body of a SUBSCRIBE call with the unacknowledged `tasks` and `updates`.
pub(super) fn subscribe_body(
    env: &ExecutorEnv,
    tasks: &[&TaskInfo],
    updates: &[TaskStatus],
) -> String {
    let updates: Vec<serde_json::Value> = updates.iter().map(|s| json!({"status": s})).collect();
    json!({
        "type": "SUBSCRIBE",
        "framework_id": env.framework_id,
        "executor_id": env.executor_id,
        "subscribe": {"unacknowledged_tasks": tasks, "unacknowledged_updates": updates},
    })
    .to_string()
}

/// The body of an UPDATE call.
pub(super) fn update_body(env: &ExecutorEnv, status: &TaskStatus) -> String {
    json!({
        "type": "UPDATE",
        "framework_id": env.framework_id,
        "executor_id": env.executor_id,
        "update": {"status": status},
    })
    .to_string()
}

/// An executor's calls to the agent and its updates not yet acknowledged.
pub(super) struct Session {
    pub env: ExecutorEnv,
    http: AgentHttp,
    /// Sent and not yet acknowledged: resent with every SUBSCRIBE.
    pub unacked: Vec<TaskStatus>,
    pub log: fn(&str),
    /// Forget an update the agent refuses with 400 instead of resending it.
    forget_refused: bool,
}

impl Session {
    pub fn new(env: ExecutorEnv, log: fn(&str), forget_refused: bool) -> Session {
        Session {
            http: AgentHttp::new(
                &env.agent_endpoint,
                env.domain_socket.clone(),
                "/api/v1/executor",
                Duration::from_secs(5),
            ),
            env,
            unacked: Vec::new(),
            log,
            forget_refused,
        }
    }

    pub fn log(&self, msg: &str) {
        (self.log)(msg)
    }

    /// SUBSCRIBE with the unacknowledged `tasks` and updates; the event stream.
    pub async fn subscribe(&self, tasks: Vec<&TaskInfo>) -> Result<EventStream, String> {
        self.http
            .stream(&subscribe_body(&self.env, &tasks, &self.unacked))
            .await
    }

    /// A new update of this executor (source EXECUTOR, fresh uuid, timestamped now).
    pub fn new_status(
        &self,
        task_id: &TaskId,
        state: TaskState,
        message: Option<String>,
        reason: Option<&str>,
    ) -> TaskStatus {
        new_status(&self.env, task_id, state, message, reason)
    }

    /// Queue an update for resending and POST it now (failures are retried on re-subscribe).
    pub async fn send(&mut self, status: TaskStatus) {
        let uuid = status.uuid.clone();
        self.unacked.push(status.clone());
        let res = self
            .http
            .call(&update_body(&self.env, &status), Duration::from_secs(10))
            .await;
        match res {
            Ok((status, _)) if (200..300).contains(&status) => {}
            Ok((400, text)) if self.forget_refused => {
                // The agent refuses this update for good: resending cannot help.
                self.log(&format!("Agent refused an update: {text}"));
                self.unacked.retain(|s| s.uuid != uuid);
            }
            Ok((status, _)) => self.log(&format!("Agent answered {status} to an update")),
            Err(e) => self.log(&format!("Cannot send an update (will resend): {e}")),
        }
    }

    /// ACKNOWLEDGED `uuid`: no longer resent.
    pub fn acknowledged(&mut self, uuid: &str) {
        self.unacked.retain(|s| s.uuid.as_deref() != Some(uuid));
    }

    /// An event record of the agent's stream, `None` (logged) when it does not parse.
    pub fn event(&self, record: &[u8]) -> Option<Event> {
        match serde_json::from_slice::<Event>(record) {
            Ok(e) => Some(e),
            Err(e) => {
                self.log(&format!("Ignoring an unparsable event: {e}"));
                None
            }
        }
    }
}

/// When to (re-)subscribe: at once at first, then with exponential backoff while the agent
/// stays away, giving up after the recovery timeout.
pub(super) struct Resubscribe {
    disconnected_since: std::time::Instant,
    backoff: Duration,
    /// The next attempt is due then.
    pub due: std::time::Instant,
}

/// The first delay between attempts, and the delay after losing a subscription.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

impl Resubscribe {
    pub fn new(now: std::time::Instant) -> Resubscribe {
        Resubscribe {
            disconnected_since: now,
            backoff: FIRST_BACKOFF,
            due: now,
        }
    }

    /// Subscribed.
    pub fn succeeded(&mut self) {
        self.backoff = FIRST_BACKOFF;
    }

    /// An attempt failed with `e`: `Err` once the agent has been away past the recovery
    /// timeout (the executor gives up), else the next attempt is scheduled.
    pub fn failed(
        &mut self,
        now: std::time::Instant,
        env: &ExecutorEnv,
        e: &str,
        log: fn(&str),
    ) -> Result<(), ()> {
        if now.saturating_duration_since(self.disconnected_since) > env.recovery_timeout {
            log(&format!(
                "Giving up on the agent after the recovery timeout: {e}"
            ));
            return Err(());
        }
        log(&format!("Cannot subscribe: {e}"));
        self.backoff = (self.backoff * 2).min(env.backoff_max.max(FIRST_BACKOFF));
        self.due = now + self.backoff;
        Ok(())
    }

    /// The subscription was lost: try again shortly.
    pub fn lost(&mut self, now: std::time::Instant, log: fn(&str)) {
        log("Disconnected from the agent; re-subscribing");
        self.disconnected_since = now;
        self.due = now + FIRST_BACKOFF;
    }
}

/// The event stream from the agent, re-subscribing (see [`Resubscribe`]) while it is down.
pub(super) struct Connection {
    stream: Option<(EventStream, recordio::Decoder)>,
    retry: Resubscribe,
}

impl Connection {
    pub fn new() -> Connection {
        Connection {
            stream: None,
            retry: Resubscribe::new(std::time::Instant::now()),
        }
    }

    /// Subscribe (with the unacknowledged `tasks`) when disconnected and a retry is due.
    /// `Err` when the agent stayed away past the recovery timeout: the executor gives up.
    pub async fn resubscribe(
        &mut self,
        session: &Session,
        tasks: Vec<&TaskInfo>,
    ) -> Result<(), String> {
        if self.stream.is_some() || std::time::Instant::now() < self.retry.due {
            return Ok(());
        }
        match session.subscribe(tasks).await {
            Ok(s) => {
                self.stream = Some((s, recordio::Decoder::new()));
                self.retry.succeeded();
            }
            Err(e) => {
                let now = std::time::Instant::now();
                if self
                    .retry
                    .failed(now, &session.env, &e, session.log)
                    .is_err()
                {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// When to wake up next: the earliest of `timers`, the next subscription attempt while
    /// disconnected, and an hour from now.
    pub fn wake_at(&self, timers: impl IntoIterator<Item = Instant>) -> Instant {
        let mut timer = Instant::now() + Duration::from_secs(3600);
        for t in timers {
            timer = timer.min(t);
        }
        if self.stream.is_none() {
            timer = timer.min(Instant::from_std(self.retry.due));
        }
        timer
    }

    /// The next records of the event stream (pending forever while disconnected); on an
    /// error or the end of the stream, disconnects and schedules re-subscribing.
    pub async fn next_records(&mut self, session: &Session) -> Vec<Vec<u8>> {
        let chunk = match &mut self.stream {
            Some((stream, _)) => stream.next().await,
            None => std::future::pending().await,
        };
        let records = match chunk {
            Some(Ok(b)) => match self.stream.as_mut().map(|(_, d)| d.feed(&b)) {
                Some(Ok(recs)) => recs,
                _ => {
                    self.stream = None;
                    Vec::new()
                }
            },
            _ => {
                self.stream = None;
                Vec::new()
            }
        };
        if self.stream.is_none() {
            self.retry.lost(std::time::Instant::now(), session.log);
        }
        records
    }
}

/// A grace period or completion time as a `Duration` (negative is zero).
pub(super) fn duration_of(d: &DurationInfo) -> Duration {
    Duration::from_nanos(d.nanoseconds.max(0) as u64)
}

/// The grace period of a kill policy, if it has one.
pub(super) fn grace_of(policy: Option<&KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|p| p.grace_period.as_ref())
        .map(duration_of)
}

/// The environment of a task on top of the executor's (minus the executor mode variable):
/// `MESOS_SANDBOX`, `MESOS_TASK_ID`, `PORT0..`, `PORTS`, `HOST`, then `CommandInfo.environment`.
pub(crate) fn task_environment(
    task: &TaskInfo,
    sandbox: &Path,
    hostname: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("MESOS_SANDBOX".to_string(), sandbox.display().to_string()),
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
        env.push(("HOST".to_string(), hostname.to_string()));
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

/// The process of a command: `/bin/sh -c <value>` for a shell command (or the command
/// itself when the shell would add nothing, see `direct.rs`; `path` is the `PATH` the
/// process will have), else `<value>` run with `arguments` (the first as `argv[0]`); without
/// the executor mode variable and stdin.
pub(super) fn task_process(
    cmd: &CommandInfo,
    path: Option<&str>,
) -> Result<std::process::Command, String> {
    use std::os::unix::process::CommandExt;
    let value = cmd.value.clone().unwrap_or_default();
    let mut c = if cmd.shell {
        let path = path
            .map(str::to_string)
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_default();
        match super::direct::direct_command(&value, &path) {
            Some((program, argv)) => {
                let mut c = std::process::Command::new(program);
                c.arg0(&argv[0]).args(&argv[1..]);
                c
            }
            None => {
                let mut c = std::process::Command::new("/bin/sh");
                c.arg("-c").arg(&value);
                c
            }
        }
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
        .stdin(std::process::Stdio::null());
    Ok(c)
}

/// The last `PATH` in `env`, if it sets one.
pub(super) fn path_in(env: &[(String, String)]) -> Option<&str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
}

/// Spawn `c` in its own process group; `exited(wait status)` is sent on `tx` when it ends
/// (watched through a pidfd on the runtime, or by a thread where pidfds are missing).
/// The pid.
pub(super) fn spawn_in_own_group<T: Send + 'static>(
    mut c: std::process::Command,
    tx: mpsc::UnboundedSender<T>,
    exited: impl FnOnce(i32) -> T + Send + 'static,
) -> Result<u32, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    // The task gets its own process group (inside the executor's session) so kills reach
    // its whole tree. Without pre-exec code, std starts it with posix_spawn (no fork of the
    // executor).
    c.process_group(0);
    let mut child = c.spawn().map_err(|e| e.to_string())?;
    let pid = child.id();
    let fd = tokio::runtime::Handle::try_current()
        .ok()
        .and_then(|_| crate::containerizer::pidfd(pid));
    match fd {
        // No thread per task: the pidfd turns readable once the process has ended.
        Some(fd) => {
            tokio::spawn(async move {
                let status = loop {
                    match child.try_wait() {
                        Ok(Some(s)) => break s.into_raw(),
                        Ok(None) => {}
                        Err(_) => break -1,
                    }
                    match fd.readable().await {
                        Ok(mut ready) => ready.clear_ready(),
                        Err(_) => break child.wait().map(|s| s.into_raw()).unwrap_or(-1),
                    }
                };
                let _ = tx.send(exited(status));
            });
        }
        None => {
            std::thread::spawn(move || {
                let status = child.wait().map(|s| s.into_raw()).unwrap_or(-1);
                let _ = tx.send(exited(status));
            });
        }
    }
    Ok(pid)
}

/// The terminal state, message and reason of a task whose process ended with `status`.
pub(crate) fn classify_exit(
    status: i32,
    killing: bool,
    max_completion_hit: bool,
) -> (TaskState, String, Option<&'static str>) {
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
    let (state, reason) = if killing {
        (TaskState::TaskKilled, None)
    } else if max_completion_hit {
        (
            TaskState::TaskFailed,
            Some("REASON_MAX_COMPLETION_TIME_REACHED"),
        )
    } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        (TaskState::TaskFinished, None)
    } else {
        (TaskState::TaskFailed, None)
    };
    (state, how, reason)
}

pub(super) fn signal_group(pid: u32, sig: i32) {
    // SAFETY: plain signal delivery to the task's process group.
    unsafe {
        libc::killpg(pid as libc::pid_t, sig);
    }
}
