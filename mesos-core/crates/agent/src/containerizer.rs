//! Containerizers: launch, wait, destroy and recover executor containers.
//!
//! [`ProcessContainerizer`] runs the executor as a plain process in its own session
//! (`setsid`), with cwd = sandbox and stdout/stderr redirected to sandbox files, so it
//! outlives the agent process. Destroying a container kills every process of that session.
//! Exits are detected by polling `waitpid(WNOHANG)` for children and `kill(pid, 0)` for
//! recovered non-children.

use mesos_proto::ids::ContainerId;
use mesos_proto::resources::Resources;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, Once};
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
}

#[derive(Default)]
pub struct ProcessContainerizer {
    pids: Mutex<HashMap<ContainerId, u32>>,
    poll: Duration,
}

static CGROUP_NOTE: Once = Once::new();

impl ProcessContainerizer {
    pub fn new() -> Arc<Self> {
        Arc::new(ProcessContainerizer {
            pids: Mutex::new(HashMap::new()),
            poll: Duration::from_millis(200),
        })
    }

    fn pid_of(&self, cid: &ContainerId) -> Option<u32> {
        self.pids.lock().ok()?.get(cid).copied()
    }
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

fn spawn(spec: &ContainerSpec) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    std::fs::create_dir_all(&spec.sandbox)
        .map_err(|e| format!("Cannot create sandbox {}: {e}", spec.sandbox.display()))?;
    link_latest(&spec.sandbox);
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
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
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

impl Containerizer for ProcessContainerizer {
    fn launch(&self, spec: ContainerSpec) -> BoxFut<'_, Result<u32, String>> {
        Box::pin(async move {
            CGROUP_NOTE.call_once(|| {
                tracing::info!(
                    "Process containerizer: no cgroup v2 limits are applied (cpu/mem are accounted, not enforced)"
                );
            });
            let pid = spawn(&spec)?;
            if let Ok(mut m) = self.pids.lock() {
                m.insert(spec.container_id.clone(), pid);
            }
            Ok(pid)
        })
    }

    fn wait(&self, container_id: ContainerId) -> BoxFut<'_, Option<i32>> {
        Box::pin(async move {
            let pid = self.pid_of(&container_id)?;
            let status = loop {
                if let Some(s) = poll_exit(pid) {
                    break s;
                }
                tokio::time::sleep(self.poll).await;
            };
            // Kill whatever the executor left behind in its session.
            kill_session(pid);
            if let Ok(mut m) = self.pids.lock() {
                m.remove(&container_id);
            }
            status
        })
    }

    fn destroy(&self, container_id: ContainerId) -> BoxFut<'_, ()> {
        Box::pin(async move {
            let Some(pid) = self.pid_of(&container_id) else {
                return;
            };
            kill_session(pid);
            // Wait (bounded) until `wait` has reaped the main process, so no zombie is left
            // behind when the agent stops right after.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while self.pid_of(&container_id).is_some() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if self.pid_of(&container_id).is_some() && poll_exit(pid).is_some() {
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
}
