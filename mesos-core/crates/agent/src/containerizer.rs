//! Containerizers: launch, wait, destroy and recover executor containers.
//!
//! [`ProcessContainerizer`] runs the executor as a plain process in its own session
//! (`setsid`), with cwd = sandbox and stdout/stderr redirected to sandbox files, so it
//! outlives the agent process. Destroying a container kills every process of that session.
//! Exits are detected by polling `waitpid(WNOHANG)` for children and `kill(pid, 0)` for
//! recovered non-children.
//!
//! With cgroups ([`crate::cgroups`], `--isolation=cgroups/cpu,cgroups/mem`) each container
//! also gets `mesos/<container_id>` cgroups with its cpu and memory limits; the executor
//! joins them between `fork` and `exec`, so every descendant is inside. An OOM kill in the
//! container is reported as a [`Limitation`]; the agent then fails the executor's tasks with
//! `REASON_CONTAINER_LIMITATION_MEMORY` and destroys the container ([`limitation_outputs`]).
//! Without cgroups (`posix/cpu,posix/mem`) nothing is enforced.

use crate::agent::Agent;
use crate::cgroups::{Cgroups, Limits};
use crate::executor::zygote::{self, Zygote};
use crate::executor::ExecutorMode;
use crate::state::{Output, Phase};
use mesos_proto::ids::ContainerId;
use mesos_proto::resources::Resources;
use mesos_proto::v1::{TaskState, TaskStatus};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Everything needed to start one container.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    pub container_id: ContainerId,
    pub sandbox: PathBuf,
    pub program: PathBuf,
    /// `argv[0]` (defaults to the program).
    pub arg0: Option<String>,
    pub args: Vec<String>,
    /// Added to (and overriding) the agent's environment.
    pub env: Vec<(String, String)>,
    pub resources: Resources,
    /// The program is one of our built-in executors: it starts its own session and joins
    /// the cgroups named in [`CONTAINER_CGROUPS_ENV`] before anything else, so it can be
    /// started without forking the agent (posix_spawn: no copy of the agent's memory map).
    pub self_isolating: bool,
}

/// Newline-separated `cgroup.procs` files a self-isolating executor must join.
pub const CONTAINER_CGROUPS_ENV: &str = "MESOS_RS_CONTAINER_CGROUPS";

/// What a self-isolating executor does first: a session of its own, then its cgroups.
pub fn join_container() -> Result<(), String> {
    // SAFETY: setsid has no memory effects; EPERM (already a session leader) is fine.
    if unsafe { libc::setsid() } == -1 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EPERM) {
            return Err(format!("setsid: {e}"));
        }
    }
    if let Ok(files) = std::env::var(CONTAINER_CGROUPS_ENV) {
        for f in files.lines().filter(|l| !l.is_empty()) {
            std::fs::write(f, b"0").map_err(|e| format!("cannot join cgroup {f}: {e}"))?;
        }
        // The task does not need it (still single-threaded here: no other reader).
        std::env::remove_var(CONTAINER_CGROUPS_ENV);
    }
    Ok(())
}

pub trait Containerizer: Send + Sync {
    /// Start the container; returns the pid of its main process.
    fn launch(&self, spec: ContainerSpec) -> BoxFut<'_, Result<u32, String>>;
    /// Resolves when the container's main process exits, with its wait status if known.
    fn wait(&self, container_id: ContainerId) -> BoxFut<'_, Option<i32>>;
    /// Kill everything in the container; resolves once it is gone (bounded wait).
    fn destroy(&self, container_id: ContainerId) -> BoxFut<'_, ()>;
    /// Adopt a container found in the checkpoint.
    fn recover(&self, container_id: ContainerId, pid: u32) -> BoxFut<'_, ()>;
    /// The resource limit the container ran into (e.g. its processes were OOM-killed), if
    /// any. Answers for a live container and for one whose `wait` resolved recently.
    fn limitation(&self, _container_id: &ContainerId) -> Option<Limitation> {
        None
    }
    /// Apply new limits for the container's resources (tasks added to or gone from it).
    fn update(&self, _container_id: &ContainerId, _resources: &Resources) {}
    /// Limits and usage of a live container (`/monitor/statistics`), if enforced.
    fn usage(&self, _container_id: &ContainerId) -> Option<crate::cgroups::Usage> {
        None
    }
}

/// A resource limit a container ran into (Mesos' `ContainerLimitation`).
#[derive(Clone, Debug, PartialEq)]
pub struct Limitation {
    /// The resources that were exceeded (`mem` in MB, the peak usage).
    pub resources: Resources,
    pub message: String,
    /// A `TaskStatus` reason, e.g. `REASON_CONTAINER_LIMITATION_MEMORY`.
    pub reason: String,
}

impl Limitation {
    /// The memory limitation from what the memory cgroup says.
    pub fn memory(state: &crate::cgroups::MemoryState) -> Limitation {
        let used_mb = state.max_used.unwrap_or(0) / (1024 * 1024);
        Limitation {
            resources: Resources::new().with_scalar("mem", used_mb as f64),
            message: crate::cgroups::memory_limit_message(state.limit, state.max_used),
            reason: "REASON_CONTAINER_LIMITATION_MEMORY".into(),
        }
    }

    /// `TaskStatus.limitation` (`TaskResourceLimitation`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "resources": self.resources.to_wire(None) })
    }
}

/// What the agent does when a container runs into a limit (Mesos: the containerizer's
/// limitation promise): every non-terminal task of its executor gets `TASK_FAILED` from the
/// agent with the limitation's reason, message and `limitation`, and the container is
/// destroyed. A state-machine step driven by the shell (see `runtime::Shared::limited`).
pub fn limitation_outputs(
    agent: &mut Agent,
    now: Duration,
    container_id: &ContainerId,
    limitation: &Limitation,
) -> Vec<Output> {
    let mut out = Vec::new();
    let Some(ekey) = agent.executor_by_container(container_id) else {
        return out;
    };
    let mut tasks: Vec<(u64, crate::agent::TaskKey)> = agent
        .executor_tasks(&ekey)
        .filter(|t| !t.state.is_terminal())
        .map(|t| (t.seq, (t.framework_id.clone(), t.info.task_id.clone())))
        .collect();
    tasks.sort();
    for (_, key) in tasks {
        let mut s = TaskStatus::new(key.1.clone(), TaskState::TaskFailed)
            .with_source("SOURCE_AGENT")
            .with_reason(&limitation.reason)
            .with_message(limitation.message.clone());
        s.agent_id = agent.agent_id.clone();
        s.executor_id = Some(ekey.1.clone());
        s.timestamp = Some(Agent::ts(now));
        s.uuid = Some(agent.ids.next_b64());
        s.limitation = Some(limitation.to_json());
        agent.enqueue_update(now, &key, s, &mut out);
    }
    if let Some(e) = agent.executors.get_mut(&ekey) {
        if e.phase != Phase::Destroying {
            if let Some(conn) = e.phase.conn() {
                out.push(Output::CloseExecutorStream { conn });
            }
            e.phase = Phase::Destroying;
            out.push(Output::Destroy {
                container_id: container_id.clone(),
            });
        }
    }
    out
}

/// The resources a container is limited to: its executor's plus its non-terminal tasks'.
pub fn container_resources(agent: &Agent, container_id: &ContainerId) -> Option<Resources> {
    let ekey = agent.executor_by_container(container_id)?;
    let e = agent.executors.get(&ekey)?;
    let mut r = Resources::from_wire(&e.info.resources).unwrap_or_default();
    for t in agent.executor_tasks(&ekey) {
        if !t.state.is_terminal() {
            if let Ok(tr) = Resources::from_wire(&t.info.resources) {
                r = r.aggregate(&tr);
            }
        }
    }
    Some(r)
}

/// How many ended containers' limitations are remembered for [`Containerizer::limitation`].
const ENDED_LIMITATIONS: usize = 256;

pub struct ProcessContainerizer {
    pids: Mutex<HashMap<ContainerId, u32>>,
    poll: Duration,
    cgroups: Option<Cgroups>,
    /// Limitations of containers whose cgroups are gone (read just before removal).
    ended: Mutex<VecDeque<(ContainerId, Limitation)>>,
    /// The limits last written to each live container's cgroups: an update that changes
    /// nothing writes nothing.
    applied: Mutex<HashMap<ContainerId, Limits>>,
    /// Whether built-in executors start through a zygote (`MESOS_RS_EXECUTOR_ZYGOTE=0`
    /// turns it off).
    use_zygotes: bool,
    /// One zygote per executor binary; `None` where that binary cannot be one.
    zygotes: Mutex<HashMap<PathBuf, Option<Zygote>>>,
    /// Bounds the launches blocking runtime threads at once.
    launching: tokio::sync::Semaphore,
}

/// Set to `0` to start built-in executors by exec'ing them, without a zygote.
pub const ZYGOTE_ENV: &str = "MESOS_RS_EXECUTOR_ZYGOTE";

impl Default for ProcessContainerizer {
    fn default() -> Self {
        ProcessContainerizer {
            pids: Mutex::new(HashMap::new()),
            poll: Duration::from_millis(200),
            cgroups: None,
            ended: Mutex::new(VecDeque::new()),
            applied: Mutex::new(HashMap::new()),
            use_zygotes: std::env::var(ZYGOTE_ENV).map_or(true, |v| v != "0"),
            zygotes: Mutex::new(HashMap::new()),
            launching: tokio::sync::Semaphore::new(2),
        }
    }
}

impl ProcessContainerizer {
    /// No limits (`posix/cpu,posix/mem`).
    pub fn new() -> Arc<Self> {
        Arc::new(ProcessContainerizer::default())
    }

    /// Limits through cgroups when given.
    pub fn with_cgroups(cgroups: Option<Cgroups>) -> Arc<Self> {
        Arc::new(ProcessContainerizer {
            cgroups,
            ..ProcessContainerizer::default()
        })
    }

    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    fn pid_of(&self, cid: &ContainerId) -> Option<u32> {
        self.pids.lock().ok()?.get(cid).copied()
    }

    /// At agent start: drop cgroups of containers not in `known` (see
    /// [`Cgroups::cleanup_unknown`]).
    pub fn cleanup_unknown(&self, known: &[ContainerId]) {
        if let Some(cg) = &self.cgroups {
            let known: HashSet<String> = known.iter().map(|c| c.value.clone()).collect();
            cg.cleanup_unknown(&known);
        }
    }

    fn live_limitation(&self, cid: &ContainerId) -> Option<Limitation> {
        let state = self.cgroups.as_ref()?.memory_state(&cid.value)?;
        state.oom_killed.then(|| Limitation::memory(&state))
    }

    /// SIGKILL whatever is left in the container's cgroups until they are empty (bounded),
    /// then remove them, remembering a limitation first.
    async fn release_cgroups(&self, cid: &ContainerId) {
        let Some(cg) = &self.cgroups else {
            return;
        };
        if let Ok(mut m) = self.applied.lock() {
            m.remove(cid);
        }
        if let Some(l) = self.live_limitation(cid) {
            if let Ok(mut q) = self.ended.lock() {
                q.push_back((cid.clone(), l));
                while q.len() > ENDED_LIMITATIONS {
                    q.pop_front();
                }
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let pids = cg.pids(&cid.value);
            if pids.is_empty() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(
                    "Processes {pids:?} of container {cid} survive SIGKILL; leaving its cgroups"
                );
                return;
            }
            for p in pids {
                // SAFETY: plain signal delivery.
                unsafe {
                    libc::kill(p as libc::pid_t, libc::SIGKILL);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // An emptied cgroup can take a moment to become removable.
        for _ in 0..50 {
            match cg.remove(&cid.value) {
                Ok(()) => return,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    tracing::warn!("{e}");
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn kill_cgroup_members(&self, cid: &ContainerId) {
        if let Some(cg) = &self.cgroups {
            for p in cg.pids(&cid.value) {
                // SAFETY: plain signal delivery.
                unsafe {
                    libc::kill(p as libc::pid_t, libc::SIGKILL);
                }
            }
        }
    }

    fn launch_in_cgroups(&self, spec: &ContainerSpec) -> Result<u32, String> {
        let Some(cg) = &self.cgroups else {
            return self.start(spec, &[]);
        };
        let id = &spec.container_id.value;
        let limits = Limits::from_resources(&spec.resources);
        // Another agent on this machine may remove an empty unknown cgroup at its start
        // between our mkdir and the child joining it: create and spawn again once.
        let mut attempt = 0;
        loop {
            cg.create(id, &limits)
                .map_err(|e| format!("Failed to isolate the container: {e}"))?;
            let procs: Vec<std::ffi::CString> = cg
                .procs_files(id)
                .iter()
                .filter_map(|p| {
                    use std::os::unix::ffi::OsStrExt;
                    std::ffi::CString::new(p.as_os_str().as_bytes()).ok()
                })
                .collect();
            match self.start(spec, &procs) {
                Ok(pid) => {
                    if let Ok(mut m) = self.applied.lock() {
                        m.insert(spec.container_id.clone(), limits);
                    }
                    let quota = if cg.isolation().cfs {
                        format!(" cpu.cfs_quota_us={}", limits.cfs_quota_us())
                    } else {
                        String::new()
                    };
                    tracing::info!(
                        "Container {id}: cgroups with cpu.shares={}{quota} memory limit {}",
                        limits.cpu_shares(),
                        crate::cgroups::format_bytes(limits.mem_bytes)
                    );
                    return Ok(pid);
                }
                Err(e) => {
                    let vanished = !cg.exists(id);
                    let _ = cg.remove(id);
                    attempt += 1;
                    if attempt >= 2 || !vanished {
                        return Err(e);
                    }
                }
            }
        }
    }
}

impl ProcessContainerizer {
    /// Start a container's first process: a built-in executor through the zygote of its
    /// binary when one runs (started on first use), anything else (or when the zygote
    /// fails) with [`spawn`].
    fn start(
        &self,
        spec: &ContainerSpec,
        cgroup_procs: &[std::ffi::CString],
    ) -> Result<u32, String> {
        if !spec.self_isolating || !self.use_zygotes || spec.arg0.is_some() {
            return spawn(spec, cgroup_procs);
        }
        let Ok(mut zygotes) = self.zygotes.lock() else {
            return spawn(spec, cgroup_procs);
        };
        let slot = zygotes.entry(spec.program.clone()).or_insert_with(|| {
            Zygote::start(&spec.program)
                .inspect_err(|e| {
                    tracing::warn!(
                        "Executors of {} start without a zygote: {e}",
                        spec.program.display()
                    )
                })
                .ok()
        });
        let Some(zygote) = slot else {
            return spawn(spec, cgroup_procs);
        };
        prepare_sandbox(&spec.sandbox)?;
        let req = zygote::Request {
            mode: ExecutorMode::for_program(&spec.program, &spec.env)
                .as_str()
                .to_string(),
            sandbox: spec.sandbox.clone(),
            env: spec.env.clone(),
            cgroup_procs: cgroup_procs
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect(),
        };
        match zygote.launch(&req) {
            Ok(pid) => Ok(pid),
            Err(e) => {
                // Start this one and the next ones directly: a zygote that failed once (its
                // fork refused, or the process gone) is not worth a retry per launch.
                tracing::warn!(
                    "Zygote of {}: {e}; its executors start without a zygote from now on",
                    spec.program.display()
                );
                *slot = None;
                spawn(spec, cgroup_procs)
            }
        }
    }
}

/// Create the sandbox and point `<sandbox>/../latest` at it.
fn prepare_sandbox(sandbox: &Path) -> Result<(), String> {
    std::fs::create_dir_all(sandbox)
        .map_err(|e| format!("Cannot create sandbox {}: {e}", sandbox.display()))?;
    link_latest(sandbox);
    Ok(())
}

/// Point `<sandbox>/../latest` at the sandbox.
fn link_latest(sandbox: &Path) {
    if let Some(runs) = sandbox.parent() {
        let latest = runs.join("latest");
        let _ = std::fs::remove_file(&latest);
        if let Err(e) = std::os::unix::fs::symlink(sandbox, &latest) {
            tracing::warn!("Cannot create {}: {e}", latest.display());
        }
    }
}

/// Start the executor; between `fork` and `exec` the child calls `setsid` and writes `0`
/// (itself) to each `cgroup.procs` file in `cgroup_procs`.
fn spawn(spec: &ContainerSpec, cgroup_procs: &[std::ffi::CString]) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    prepare_sandbox(&spec.sandbox)?;
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spec.sandbox.join(name))
            .map_err(|e| format!("Cannot open sandbox {name}: {e}"))
    };
    let (stdout, stderr) = (open("stdout")?, open("stderr")?);
    let mut cmd = std::process::Command::new(&spec.program);
    if let Some(a) = &spec.arg0 {
        cmd.arg0(a);
    }
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(&spec.sandbox)
        .stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    if spec.self_isolating {
        // No pre-exec work, so the standard library uses posix_spawn (vfork semantics).
        let files: Vec<String> = cgroup_procs
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        cmd.env(CONTAINER_CGROUPS_ENV, files.join("\n"));
        let child = cmd
            .spawn()
            .map_err(|e| format!("Cannot start '{}': {e}", spec.program.display()))?;
        return Ok(child.id());
    }
    let procs = cgroup_procs.to_vec();
    // SAFETY: only async-signal-safe calls (setsid, open, write, close) on memory allocated
    // before the fork run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            for p in &procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, b"0".as_ptr() as *const libc::c_void, 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("Cannot start '{}': {e}", spec.program.display()))?;
    // Dropping a std Child neither waits nor kills: the exit is reaped by `wait`.
    Ok(child.id())
}

/// A pidfd for `pid`, registered with the runtime (None where the kernel or the runtime
/// cannot provide one).
pub(crate) fn pidfd(pid: u32) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd was just returned to us and is owned by nothing else.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the AsyncFd owns the fd and deregisters it before closing it on drop.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
    }
    .ok()
}

/// True while `pid` has not ended (checked without reaping it).
fn poll_exit_pending(pid: u32) -> bool {
    pid_alive(pid) && !is_zombie(pid)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Whether a process exists (a zombie child counts as alive until reaped).
pub fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// One poll: `Some(status)` once exited (status unknown = `None` inside).
fn poll_exit(pid: u32) -> Option<Option<i32>> {
    let mut status: libc::c_int = 0;
    // SAFETY: valid out-pointer; WNOHANG never blocks.
    let rc = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
    if rc == pid as libc::pid_t {
        return Some(Some(status));
    }
    if rc == 0 {
        return None;
    }
    // Not our child (recovered after an agent restart): existence check only.
    if pid_alive(pid) {
        None
    } else {
        Some(None)
    }
}

/// Every process in session `sid` (the container's processes).
fn session_members(sid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(3).and_then(|s| s.parse::<u32>().ok()) == Some(sid) {
            out.push(pid);
        }
    }
    out
}

/// SIGKILL the session led by `pid` (and its process group).
pub fn kill_session(pid: u32) {
    // SAFETY: plain signal delivery.
    unsafe {
        libc::killpg(pid as libc::pid_t, libc::SIGKILL);
    }
    for p in session_members(pid) {
        // SAFETY: plain signal delivery.
        unsafe {
            libc::kill(p as libc::pid_t, libc::SIGKILL);
        }
    }
}

impl ProcessContainerizer {
    /// SIGKILL a container's processes: its process group, then every member of its
    /// cgroups (which hold all its descendants); without cgroups, every member of its
    /// session, found by scanning `/proc` (which costs a read per process on the machine).
    fn kill_container(&self, pid: u32, cid: &ContainerId) {
        if self.cgroups.is_some() {
            // SAFETY: plain signal delivery.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
            self.kill_cgroup_members(cid);
        } else {
            kill_session(pid);
        }
    }
}

impl Containerizer for ProcessContainerizer {
    fn launch(&self, spec: ContainerSpec) -> BoxFut<'_, Result<u32, String>> {
        Box::pin(async move {
            // fork/exec (and the sandbox and cgroup set-up) block: on a multi-thread
            // runtime let the other workers go on (status updates, other launches).
            let multi = tokio::runtime::Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
            let pid = if multi {
                // A few launches at a time: each blocking launch hands its worker's queue
                // to another thread, and a burst of launches all blocked on the zygote would
                // start a thread for each.
                let _permit = self.launching.acquire().await;
                tokio::task::block_in_place(|| self.launch_in_cgroups(&spec))?
            } else {
                self.launch_in_cgroups(&spec)?
            };
            if let Ok(mut m) = self.pids.lock() {
                m.insert(spec.container_id.clone(), pid);
            }
            Ok(pid)
        })
    }

    fn wait(&self, container_id: ContainerId) -> BoxFut<'_, Option<i32>> {
        Box::pin(async move {
            let pid = self.pid_of(&container_id)?;
            // A pidfd turns readable when the process ends: no polling per container
            // (where pidfds are missing, poll every `self.poll`).
            let pidfd = pidfd(pid);
            let status = loop {
                if let Some(s) = poll_exit(pid) {
                    break s;
                }
                match &pidfd {
                    Some(fd) => {
                        if let Ok(mut ready) = fd.readable().await {
                            ready.retain_ready();
                        }
                        if poll_exit_pending(pid) {
                            tokio::time::sleep(self.poll).await;
                        }
                    }
                    None => tokio::time::sleep(self.poll).await,
                }
            };
            // Kill whatever the executor left behind in its session and its cgroups.
            self.kill_container(pid, &container_id);
            self.release_cgroups(&container_id).await;
            if let Ok(mut m) = self.pids.lock() {
                m.remove(&container_id);
            }
            status
        })
    }

    fn destroy(&self, container_id: ContainerId) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let Some(pid) = self.pid_of(&container_id) else {
                // Never started (or already reaped): only cgroups may be left.
                self.release_cgroups(&container_id).await;
                return;
            };
            self.kill_container(pid, &container_id);
            // Wait (bounded) until `wait` has reaped the main process, so no zombie is left
            // behind when the agent stops right after.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.pid_of(&container_id).is_some() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if self.pid_of(&container_id).is_some() && poll_exit(pid).is_some() {
                self.release_cgroups(&container_id).await;
                if let Ok(mut m) = self.pids.lock() {
                    m.remove(&container_id);
                }
            }
        })
    }

    fn recover(&self, container_id: ContainerId, pid: u32) -> BoxFut<'_, ()> {
        Box::pin(async move {
            if let Ok(mut m) = self.pids.lock() {
                m.insert(container_id, pid);
            }
        })
    }

    fn limitation(&self, container_id: &ContainerId) -> Option<Limitation> {
        self.live_limitation(container_id).or_else(|| {
            let q = self.ended.lock().ok()?;
            q.iter()
                .rev()
                .find(|(c, _)| c == container_id)
                .map(|(_, l)| l.clone())
        })
    }

    fn update(&self, container_id: &ContainerId, resources: &Resources) {
        let Some(cg) = &self.cgroups else {
            return;
        };
        let limits = Limits::from_resources(resources);
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        // Unchanged limits (a launch, most updates) cost no look at the cgroups.
        if applied.get(container_id) == Some(&limits)
            || self.pid_of(container_id).is_none()
            || !cg.exists(&container_id.value)
        {
            return;
        }
        match cg.apply(&container_id.value, &limits, false) {
            Ok(()) => {
                applied.insert(container_id.clone(), limits);
            }
            Err(e) => {
                applied.remove(container_id);
                tracing::warn!("Cannot update the limits of container {container_id}: {e}");
            }
        }
    }

    fn usage(&self, container_id: &ContainerId) -> Option<crate::cgroups::Usage> {
        let cg = self.cgroups.as_ref()?;
        if self.pid_of(container_id).is_none() || !cg.exists(&container_id.value) {
            return None;
        }
        let mut u = cg.usage(&container_id.value);
        if !cg.isolation().cfs || u.cpus_limit.is_none() {
            // No CFS quota: the container's cpus, as Mesos reports them (the weight
            // rounds them).
            let applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = applied.get(container_id) {
                u.cpus_limit = Some(l.cpus());
            }
        }
        Some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{AgentConfig, Input};
    use mesos_proto::executor::{self as ex, Call, CallType};
    use mesos_proto::ids::*;
    use mesos_proto::internal::{AgentToMaster, MasterToAgent};
    use mesos_proto::v1::*;

    fn t(s: u64) -> Duration {
        Duration::from_secs(1_700_000_000 + s)
    }

    /// A registered agent running command task `t1` (cpus 0.5, mem 64) on a subscribed
    /// executor (connection 1); returns its container ID.
    fn running_task() -> (Agent, ContainerId) {
        let mut a = Agent::new(AgentConfig::for_tests(), 7, t(0));
        a.handle(
            t(0),
            Input::Master(MasterToAgent::Registered {
                agent_id: AgentId::new("A-S0"),
                master_id: "M".into(),
                epoch: 1,
                ping_interval_secs: 15.0,
                max_missed_pongs: 5,
            }),
        );
        let framework: FrameworkInfo = serde_json::from_value(
            serde_json::json!({"user": "u", "name": "fw", "id": {"value": "F"}, "checkpoint": true}),
        )
        .unwrap();
        let task: TaskInfo = serde_json::from_value(serde_json::json!({
            "name": "t1", "task_id": {"value": "t1"}, "agent_id": {"value": "A-S0"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}}],
            "command": {"value": "sleep 1000"}
        }))
        .unwrap();
        let out = a.handle(
            t(1),
            Input::Master(MasterToAgent::RunTask { framework, task }),
        );
        let cid = out
            .iter()
            .find_map(|o| match o {
                Output::Launch(l) => Some(l.container_id.clone()),
                _ => None,
            })
            .unwrap();
        a.handle(
            t(1),
            Input::ContainerLaunched {
                container_id: cid.clone(),
                pid: 4242,
            },
        );
        a.handle(
            t(2),
            Input::Executor {
                call: Call {
                    executor_id: ExecutorId::new("t1"),
                    framework_id: FrameworkId::new("F"),
                    kind: CallType::Subscribe,
                    subscribe: Some(ex::Subscribe::default()),
                    update: None,
                    message: None,
                },
                conn: Some(1),
            },
        );
        (a, cid)
    }

    fn oom() -> Limitation {
        Limitation::memory(&crate::cgroups::MemoryState {
            oom_killed: true,
            limit: Some(96 * 1024 * 1024),
            max_used: Some(96 * 1024 * 1024),
        })
    }

    #[test]
    fn container_resources_add_executor_and_tasks() {
        let (a, cid) = running_task();
        let r = container_resources(&a, &cid).unwrap();
        assert_eq!(r.scalar("cpus"), 0.6);
        assert_eq!(r.scalar("mem"), 96.0);
        let l = Limits::from_resources(&r);
        assert_eq!(
            (l.cpu_shares(), l.cfs_quota_us(), l.mem_bytes),
            (614, 60_000, 96 * 1024 * 1024)
        );
        assert!(container_resources(&a, &ContainerId::new("nope")).is_none());
    }

    #[test]
    fn memory_limitation_fails_tasks_and_destroys_the_container() {
        let (mut a, cid) = running_task();
        let l = oom();
        assert_eq!(
            l.message,
            "Memory limit exceeded: Requested: 96MB Maximum Used: 96MB"
        );
        let out = limitation_outputs(&mut a, t(3), &cid, &l);
        let status = out
            .iter()
            .find_map(|o| match o {
                Output::ToMaster(AgentToMaster::StatusUpdate { status, .. }) => {
                    Some(status.clone())
                }
                _ => None,
            })
            .expect("a status update");
        assert_eq!(status.state, TaskState::TaskFailed);
        assert_eq!(status.source.as_deref(), Some("SOURCE_AGENT"));
        assert_eq!(
            status.reason.as_deref(),
            Some("REASON_CONTAINER_LIMITATION_MEMORY")
        );
        assert_eq!(status.message.as_deref(), Some(l.message.as_str()));
        assert_eq!(status.executor_id, Some(ExecutorId::new("t1")));
        let lim = status.limitation.clone().unwrap();
        assert_eq!(lim["resources"][0]["name"], "mem");
        assert_eq!(lim["resources"][0]["scalar"]["value"], 96.0);
        assert!(out.contains(&Output::Destroy {
            container_id: cid.clone()
        }));
        assert!(out.contains(&Output::CloseExecutorStream { conn: 1 }));
        // Idempotent: nothing more on a second report.
        assert!(limitation_outputs(&mut a, t(4), &cid, &l).is_empty());
        // The executor's own (later) TASK_FAILED is acknowledged but not forwarded.
        let mut s = TaskStatus::new(TaskId::new("t1"), TaskState::TaskFailed)
            .with_message("Command terminated with signal Killed");
        s.uuid = Some(mesos_proto::json::b64_encode(&[1u8; 16]));
        let out = a.handle(
            t(5),
            Input::Executor {
                call: Call {
                    executor_id: ExecutorId::new("t1"),
                    framework_id: FrameworkId::new("F"),
                    kind: CallType::Update,
                    subscribe: None,
                    update: Some(ex::Update { status: s }),
                    message: None,
                },
                conn: None,
            },
        );
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::ToMaster(AgentToMaster::StatusUpdate { .. }))));
        // The exit then reports nothing more for the task.
        let out = a.handle(
            t(6),
            Input::ContainerExited {
                container_id: cid,
                status: Some(9),
            },
        );
        assert!(!out
            .iter()
            .any(|o| matches!(o, Output::ToMaster(AgentToMaster::StatusUpdate { .. }))));
        assert!(out
            .iter()
            .any(|o| matches!(o, Output::ToMaster(AgentToMaster::ExecutorExited { .. }))));
    }

    #[test]
    fn unknown_container_limitation_is_ignored() {
        let (mut a, _) = running_task();
        assert!(limitation_outputs(&mut a, t(3), &ContainerId::new("x"), &oom()).is_empty());
    }

    #[test]
    fn without_cgroups_nothing_is_limited() {
        let c = ProcessContainerizer::new();
        let cid = ContainerId::new("c");
        assert!(c.limitation(&cid).is_none());
        assert!(c.usage(&cid).is_none());
        c.update(&cid, &Resources::new().with_scalar("mem", 1.0));
    }
}
