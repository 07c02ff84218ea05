//! The executor API on the agent's Unix domain socket (`--http_executor_domain_sockets`):
//! executors are told its path and talk to the agent over it only; with the flag off they
//! use TCP and no socket exists.

mod common;

use common::*;
use mesos_proto::internal::MasterToAgent;
use mesos_proto::v1::*;
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn run_task(fake: &Fake, id: &str) {
    let task: TaskInfo = serde_json::from_value(serde_json::json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {"value": "sleep 30"}
    }))
    .unwrap();
    fake.send(MasterToAgent::RunTask {
        framework: framework(),
        task,
    });
}

/// The pid of the executor of `executor_id` and its environment, as its task (the
/// `sleep` it started, which inherits it) shows it: an executor forked by the zygote sets
/// its environment after the fork, which `/proc/<pid>/environ` does not show.
fn executor_process(executor_id: &str) -> Option<(u32, Vec<String>)> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "sleep" {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let vars: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        if vars.contains(&format!("MESOS_EXECUTOR_ID={executor_id}")) {
            // The parent pid is the 4th field of `stat`, after the command in parentheses.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            return Some((ppid, vars));
        }
    }
    None
}

/// The socket inodes of `pid`'s open descriptors.
fn socket_inodes(pid: u32) -> HashSet<String> {
    let mut out = HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(fd.path()) {
            let t = target.display().to_string();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                out.insert(inode.to_string());
            }
        }
    }
    out
}

/// The inodes of the sockets listed in `/proc/<pid>/net/<table>` (tcp, tcp6, unix).
fn table_inodes(pid: u32, table: &str) -> HashSet<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    // The inode is the 10th column of tcp/tcp6 and the 7th of unix.
    let col = if table == "unix" { 6 } else { 9 };
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(col).map(str::to_string))
        .collect()
}

/// Runs a `sleep` task `id` and, once it runs, returns its executor's environment and how
/// many of the executor's sockets are TCP ones and Unix ones.
async fn executor_sockets(fake: &Fake, id: &str) -> (Vec<String>, usize, usize) {
    run_task(fake, id);
    wait_state(fake, id, TaskState::TaskRunning).await;
    let (pid, env) = wait_until("the executor process", || executor_process(id)).await;
    let mine = socket_inodes(pid);
    let tcp: HashSet<String> = table_inodes(pid, "tcp")
        .union(&table_inodes(pid, "tcp6"))
        .cloned()
        .collect();
    let unix = table_inodes(pid, "unix");
    let count = |kind: &HashSet<String>| mine.iter().filter(|i| kind.contains(*i)).count();
    (env, count(&tcp), count(&unix))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executors_talk_to_the_agent_over_its_domain_socket() {
    let (fake, _maddr, dir, agent) = start_acked(flags).await;
    let sock = dir.path().canonicalize().unwrap().join("agent.sock");
    assert!(
        std::os::unix::fs::FileTypeExt::is_socket(&std::fs::metadata(&sock).unwrap().file_type()),
        "{} is not a socket",
        sock.display()
    );
    let (env, tcp, unix) = executor_sockets(&fake, "over-unix").await;
    assert!(
        env.contains(&format!("MESOS_DOMAIN_SOCKET={}", sock.display())),
        "{env:?}"
    );
    // Its sockets are Unix sockets; none is a TCP one.
    assert!(unix > 0 && tcp == 0, "{tcp} TCP and {unix} Unix sockets");
    agent.shutdown(true).await;
}

fn flags_without_socket(master: std::net::SocketAddr, work_dir: &Path) -> mesos_agent::AgentFlags {
    let mut f = flags(master, work_dir);
    f.http_executor_domain_sockets = false;
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flag_executors_use_tcp() {
    let (fake, _maddr, dir, agent) = start_acked(flags_without_socket).await;
    assert!(!dir.path().join("agent.sock").exists());
    let (env, tcp, _) = executor_sockets(&fake, "over-tcp").await;
    assert!(
        !env.iter().any(|v| v.starts_with("MESOS_DOMAIN_SOCKET=")),
        "{env:?}"
    );
    assert!(tcp > 0, "no TCP socket");
    agent.shutdown(true).await;
}
