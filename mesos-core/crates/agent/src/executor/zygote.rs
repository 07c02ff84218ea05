//! The executor zygote: a small, single-threaded helper the agent starts once per built-in
//! executor binary (`MESOS_RS_EXECUTOR_MODE=zygote`), which starts each executor by
//! forking itself instead of the agent exec'ing the binary again.
//!
//! Why: on every launch, an exec'd executor pays for the kernel loading a fresh image (page
//! faults over the whole binary), libc and the standard library initialising (CPUID, which
//! virtual machines emulate slowly) and the agent's posix_spawn copying a descriptor table
//! of thousands of entries. A fork of the zygote, which has done nothing but wait on a pipe,
//! shares its pages copy-on-write and starts running the executor's code at once.
//!
//! What stays the same: every executor is still a process of its own (its own session,
//! cgroups, sandbox, stdout and stderr, environment), and it is a child of the *agent*, not
//! of the zygote: the fork uses `CLONE_PARENT`, so the agent reaps it and reads its exit
//! status exactly as for an executor it started itself, and after an agent restart the
//! executors are recovered the same way. The zygote keeps no children and no state; it exits
//! when the agent closes its end of the pipe. If the zygote cannot be started or stops
//! answering, the agent starts executors directly again (see `containerizer.rs`).
//!
//! Protocol over the zygote's stdin/stdout: the zygote first writes [`READY`]; then, per
//! request, the agent writes a 4-byte little-endian length and a JSON [`Request`], and the
//! zygote answers with 8 bytes: the new pid, or minus an errno when the fork failed.

use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use super::{ExecutorMode, EXECUTOR_MODE_ENV};
use crate::containerizer::CONTAINER_CGROUPS_ENV;

/// What a zygote writes once it is ready for requests.
const READY: &[u8; 8] = b"zygote1\n";

/// How long the agent waits for a zygote's answer before giving up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// One executor to start.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// Which built-in executor the new process runs.
    pub mode: String,
    /// The sandbox: the working directory, with `stdout` and `stderr` in it.
    pub sandbox: PathBuf,
    /// Added to (and overriding) the zygote's environment, which is the agent's.
    pub env: Vec<(String, String)>,
    /// The `cgroup.procs` files the executor joins before anything else.
    pub cgroup_procs: Vec<String>,
}

/// Run as the zygote until stdin closes. Returns the exit code.
pub(super) fn run() -> i32 {
    // Plain descriptors, no std buffering or locks: a child forked in the middle of a
    // request must not inherit a locked or half-filled stdin/stdout.
    // SAFETY: fds 0 and 1 are open for the life of the process; ManuallyDrop never closes them.
    let mut input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut output = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(1) });
    // Work every executor would otherwise repeat after its fork: the standard library's CPU
    // feature detection (CPUID, slow under virtualisation) fills a cache the children share.
    #[cfg(target_arch = "x86_64")]
    let _ = std::arch::is_x86_feature_detected!("avx2");
    if output.write_all(READY).is_err() {
        return 1;
    }
    loop {
        let mut len = [0u8; 4];
        if input.read_exact(&mut len).is_err() {
            return 0; // the agent is gone
        }
        let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
        if input.read_exact(&mut body).is_err() {
            return 0;
        }
        let answer: i64 = match serde_json::from_slice::<Request>(&body) {
            Ok(req) => match fork_to_parent() {
                0 => become_executor(req),
                pid if pid > 0 => pid,
                _ => -i64::from(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)),
            },
            Err(_) => -i64::from(libc::EINVAL),
        };
        if output.write_all(&answer.to_le_bytes()).is_err() {
            return 0;
        }
    }
}

/// Fork with `CLONE_PARENT`: the child's parent is the zygote's parent (the agent).
/// Returns 0 in the child, the child's pid in the zygote, -1 on failure.
fn fork_to_parent() -> i64 {
    // SAFETY: a raw clone without CLONE_VM and without a new stack is a fork: the child gets
    // a copy of this single-threaded process and returns here with 0. Only the zygote calls
    // it, which has no other threads and holds no locks at this point.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    }
}

/// In the forked child: set up the process as the agent would have, run the executor, exit.
fn become_executor(req: Request) -> ! {
    let code = match prepare(&req) {
        Ok(mode) => super::run_executor(mode),
        Err(e) => {
            eprintln!("mesos executor zygote: {e}");
            1
        }
    };
    std::process::exit(code)
}

fn prepare(req: &Request) -> Result<ExecutorMode, String> {
    let open = |path: &Path, append: bool| {
        std::fs::OpenOptions::new()
            .read(!append)
            .append(append)
            .create(append)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))
    };
    // stdin from /dev/null, stdout and stderr into the sandbox: this also closes the pipes
    // to the agent, the only other descriptors the zygote holds.
    let null = open(Path::new("/dev/null"), false)?;
    let out = open(&req.sandbox.join("stdout"), true)?;
    let err = open(&req.sandbox.join("stderr"), true)?;
    for (file, fd) in [(&null, 0), (&out, 1), (&err, 2)] {
        // SAFETY: dup2 onto a standard descriptor; both descriptors are valid.
        if unsafe { libc::dup2(file.as_raw_fd(), fd) } == -1 {
            return Err(format!("dup2: {}", std::io::Error::last_os_error()));
        }
    }
    // After the redirections, so that this error lands in the sandbox's stderr.
    let mode = ExecutorMode::parse(&req.mode)
        .filter(|m| *m != ExecutorMode::Zygote)
        .ok_or_else(|| format!("unknown executor mode '{}'", req.mode))?;
    std::env::set_current_dir(&req.sandbox)
        .map_err(|e| format!("cannot enter {}: {e}", req.sandbox.display()))?;
    // Still single-threaded (a fresh fork of a single-threaded process): nothing else reads
    // the environment while it changes.
    for (k, v) in &req.env {
        std::env::set_var(k, v);
    }
    std::env::set_var(EXECUTOR_MODE_ENV, mode.as_str());
    if req.cgroup_procs.is_empty() {
        std::env::remove_var(CONTAINER_CGROUPS_ENV);
    } else {
        std::env::set_var(CONTAINER_CGROUPS_ENV, req.cgroup_procs.join("\n"));
    }
    Ok(mode)
}

/// The agent's handle on a running zygote.
pub struct Zygote {
    child: Child,
    to: ChildStdin,
    from: ChildStdout,
}

impl Zygote {
    /// Start `program` as a zygote and wait until it is ready. Fails when the program is
    /// not one of the suite's binaries (it never says it is ready).
    pub fn start(program: &Path) -> Result<Zygote, String> {
        let mut child = Command::new(program)
            .env(EXECUTOR_MODE_ENV, ExecutorMode::Zygote.as_str())
            .env_remove(CONTAINER_CGROUPS_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let (Some(to), Some(from)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes to the zygote".into());
        };
        let mut z = Zygote { child, to, from };
        let mut hello = [0u8; READY.len()];
        z.read_answer(&mut hello)?;
        if &hello != READY {
            return Err(format!("{} is not a zygote", program.display()));
        }
        Ok(z)
    }

    /// Start one executor; returns its pid (a child of this process).
    pub fn launch(&mut self, req: &Request) -> Result<u32, String> {
        let body = serde_json::to_vec(req).map_err(|e| e.to_string())?;
        let mut msg = Vec::with_capacity(body.len() + 4);
        msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
        msg.extend_from_slice(&body);
        self.to
            .write_all(&msg)
            .map_err(|e| format!("zygote gone: {e}"))?;
        let mut answer = [0u8; 8];
        self.read_answer(&mut answer)?;
        match i64::from_le_bytes(answer) {
            pid if pid > 0 => Ok(pid as u32),
            e => Err(format!(
                "zygote cannot fork: {}",
                std::io::Error::from_raw_os_error(-e as i32)
            )),
        }
    }

    /// Fill `buf` from the zygote, giving up after [`ANSWER_TIMEOUT`].
    fn read_answer(&mut self, buf: &mut [u8]) -> Result<(), String> {
        let mut got = 0;
        while got < buf.len() {
            let mut pfd = libc::pollfd {
                fd: self.from.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, ANSWER_TIMEOUT.as_millis() as i32) };
            if n == 0 {
                return Err("the zygote does not answer".into());
            }
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll: {e}"));
            }
            match self.from.read(&mut buf[got..]) {
                Ok(0) => return Err("the zygote exited".into()),
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("zygote gone: {e}")),
            }
        }
        Ok(())
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // Closing stdin ends a healthy zygote; a stuck one is killed. Either way reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
