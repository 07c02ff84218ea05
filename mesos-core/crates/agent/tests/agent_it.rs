//! End-to-end tests of the agent and the command executor against a fake master over
//! loopback.

mod common;

use common::*;
use mesos_agent::AgentFlags;
use mesos_proto::ids::*;
use mesos_proto::internal::{AgentToMaster, MasterToAgent, Registration};
use mesos_proto::v1::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn run_task(fake: &Fake, id: &str, cmd: &str) {
    let task: TaskInfo = serde_json::from_value(serde_json::json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}],
        "command": {"value": cmd}
    }))
    .unwrap();
    fake.send(MasterToAgent::RunTask {
        framework: framework(),
        task,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_task_runs_to_finished_with_retries_and_files() {
    let (fake, maddr) = fake_master().await;
    let dir = tempfile::tempdir().unwrap();
    let mut f = flags(maddr, dir.path());
    f.status_update_retry_interval = "500ms".parse().unwrap();
    let agent = start_registered(&fake, f, 1).await;
    assert!(matches!(
        fake.registrations.lock().unwrap()[0],
        Registration::Register { .. }
    ));

    run_task(&fake, "t1", "echo hello; echo PORTS=$PORTS; exit 0");
    let starting = wait_state(&fake, "t1", TaskState::TaskStarting).await;
    assert_eq!(starting.agent_id, Some(AgentId::new(AGENT_ID)));
    assert_eq!(starting.executor_id, Some(ExecutorId::new("t1")));
    assert_eq!(starting.source.as_deref(), Some("SOURCE_EXECUTOR"));
    // Not acknowledged: resent with the same uuid, and nothing else gets ahead of it.
    wait_until("a retry", || {
        (fake
            .updates()
            .iter()
            .filter(|s| s.uuid == starting.uuid)
            .count()
            >= 2)
            .then_some(())
    })
    .await;
    assert!(fake
        .updates()
        .iter()
        .all(|s| s.state == TaskState::TaskStarting));
    fake.ack(&starting);
    let running = wait_state(&fake, "t1", TaskState::TaskRunning).await;
    fake.ack(&running);
    let finished = wait_state(&fake, "t1", TaskState::TaskFinished).await;
    assert_eq!(
        finished.message.as_deref(),
        Some("Command exited with status 0")
    );
    fake.ack(&finished);
    let order: Vec<TaskState> =
        fake.updates()
            .iter()
            .map(|s| s.state)
            .fold(Vec::new(), |mut v, s| {
                if v.last() != Some(&s) {
                    v.push(s);
                }
                v
            });
    assert_eq!(
        order,
        [
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    let uuids: std::collections::BTreeSet<_> = [&starting, &running, &finished]
        .iter()
        .map(|s| s.uuid.clone())
        .collect();
    assert_eq!(uuids.len(), 3);
    // The executor exits after its terminal update is acknowledged.
    wait_until("EXECUTOR_EXITED", || {
        fake.messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m, AgentToMaster::ExecutorExited { status: 0, .. }))
            .then_some(())
    })
    .await;

    let base = format!("http://{}", agent.addr());
    let stdout = dir.path().canonicalize().unwrap().join(format!(
        "slaves/{AGENT_ID}/frameworks/F/executors/t1/runs/latest/stdout"
    ));
    let url = format!("{base}/files/read?path={}&offset=0", stdout.display());
    let (code, body) = get_json(&url).await;
    assert_eq!(code, 200, "{body}");
    let data = body["data"].as_str().unwrap();
    assert!(data.contains("hello"), "{data}");
    assert!(data.contains("PORTS=31000,31001"), "{data}");
    let (code, body) = get_json(&format!("{base}/files/read?path={}", stdout.display())).await;
    assert_eq!((code, body["data"].as_str()), (200, Some("")));
    assert_eq!(body["offset"].as_u64().unwrap() as usize, data.len());
    let (code, _) = get_json(&format!("{base}/files/read?path=/etc/passwd&offset=0")).await;
    assert_eq!(code, 404);
    let escape = format!(
        "{}/../../../../../../../../../etc/passwd",
        stdout.parent().unwrap().display()
    );
    let (code, _) = get_json(&format!("{base}/files/read?path={escape}&offset=0")).await;
    assert_eq!(code, 404);
    let (code, _) = get_json(&format!(
        "{base}/files/read?path={}&offset=abc",
        stdout.display()
    ))
    .await;
    assert_eq!(code, 400);
    let (code, listing) = get_json(&format!(
        "{base}/files/browse?path={}",
        stdout.parent().unwrap().display()
    ))
    .await;
    assert_eq!(code, 200);
    assert!(listing
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"].as_str().unwrap().ends_with("/stdout")));
    let dl = reqwest::get(format!(
        "{base}/slave(1)/files/download?path={}",
        stdout.display()
    ))
    .await
    .unwrap();
    assert!(dl.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    assert!(dl.text().await.unwrap().contains("hello"));

    assert_eq!(
        reqwest::get(format!("{base}/health"))
            .await
            .unwrap()
            .status(),
        200
    );
    let (code, state) = get_json(&format!("{base}/slave(1)/state")).await;
    assert_eq!(code, 200);
    assert_eq!(state["id"], AGENT_ID);
    assert_eq!(state["resources"]["cpus"], 2.0);
    assert_eq!(state["resources"]["ports"], "[31000-31010]");
    let (_, metrics) = get_json(&format!("{base}/metrics/snapshot")).await;
    assert_eq!(metrics["slave/registered"], 1.0);
    assert_eq!(metrics["slave/tasks_finished"], 1.0);
    assert_eq!(metrics["slave/cpus_total"], 2.0);

    // Executor API input checks.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/executor"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = client
        .post(format!("{base}/api/v1/executor"))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client
        .post(format!("{base}/api/v1/executor"))
        .header("Content-Type", "application/json; charset=utf-8")
        .body(r#"{"type":"HEARTBEAT","executor_id":{"value":"x"},"framework_id":{"value":"F"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Unknown executor"));
    // Calls sent at once are handled together (one checkpoint transaction); each still gets
    // its own answer.
    let calls = (0..40).map(|i| {
        let client = client.clone();
        let url = format!("{base}/api/v1/executor");
        async move {
            let r = client
                .post(url)
                .header("Content-Type", "application/json")
                .body(format!(
                    r#"{{"type":"HEARTBEAT","executor_id":{{"value":"x{i}"}},"framework_id":{{"value":"F"}}}}"#
                ))
                .send()
                .await
                .unwrap();
            (i, r.status(), r.text().await.unwrap())
        }
    });
    for (i, status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 400);
        assert!(body.contains(&format!("'x{i}'")), "call {i}: {body}");
    }
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_task_reports_killed() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_task(&fake, "sleeper", "sleep 30");
    wait_state(&fake, "sleeper", TaskState::TaskRunning).await;
    let asked = Instant::now();
    fake.send(MasterToAgent::KillTask {
        framework_id: FrameworkId::new("F"),
        task_id: TaskId::new("sleeper"),
        kill_policy: None,
    });
    let killed = wait_state(&fake, "sleeper", TaskState::TaskKilled).await;
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(killed.source.as_deref(), Some("SOURCE_EXECUTOR"));
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_zero_exit_fails_the_task() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_task(&fake, "bad", "exit 3");
    let failed = wait_state(&fake, "bad", TaskState::TaskFailed).await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_recovers_running_task() {
    let (fake, maddr, dir, agent) = start_acked(flags).await;
    let port = agent.addr().port();
    run_task(&fake, "long", "sleep 60");
    wait_state(&fake, "long", TaskState::TaskRunning).await;
    // Let the RUNNING acknowledgement land before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.shutdown(false).await;

    let mut f = flags(maddr, dir.path());
    f.port = port;
    let agent = start_registered(&fake, f, 2).await;
    match &fake.registrations.lock().unwrap()[1] {
        Registration::Reregister {
            agent_info, tasks, ..
        } => {
            assert_eq!(agent_info.id, Some(AgentId::new(AGENT_ID)));
            let t = tasks
                .iter()
                .find(|t| t.task.task_id.value == "long")
                .expect("task reported");
            assert_eq!(t.state, TaskState::TaskRunning);
        }
        r => panic!("expected REREGISTER, got {r:?}"),
    }
    // The executor re-subscribes to the new agent.
    let base = format!("http://{}", agent.addr());
    wait_executor_resubscribed(&base).await;
    fake.send(MasterToAgent::KillTask {
        framework_id: FrameworkId::new("F"),
        task_id: TaskId::new("long"),
        kill_policy: None,
    });
    wait_state(&fake, "long", TaskState::TaskKilled).await;
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_update_survives_restart() {
    let (fake, maddr) = fake_master().await;
    let dir = tempfile::tempdir().unwrap();
    let agent = start_registered(&fake, flags(maddr, dir.path()), 1).await;
    let port = agent.addr().port();
    run_task(&fake, "p", "sleep 60");
    let starting = wait_state(&fake, "p", TaskState::TaskStarting).await;
    // Give the executor time to send RUNNING too (queued behind STARTING).
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.shutdown(false).await;
    let before = fake.updates().len();

    let mut f = flags(maddr, dir.path());
    f.port = port;
    let agent = start_registered(&fake, f, 2).await;
    wait_until("STARTING resent after re-registration", || {
        (fake.updates()[before..]
            .iter()
            .any(|s| s.uuid == starting.uuid))
        .then_some(())
    })
    .await;
    fake.ack(&starting);
    let running = wait_state(&fake, "p", TaskState::TaskRunning).await;
    fake.ack(&running);
    fake.auto_ack.store(true, Ordering::SeqCst);
    fake.send(MasterToAgent::KillTask {
        framework_id: FrameworkId::new("F"),
        task_id: TaskId::new("p"),
        kill_policy: None,
    });
    wait_state(&fake, "p", TaskState::TaskKilled).await;
    agent.shutdown(true).await;
}

// ---- cgroup limits (`--isolation=cgroups/cpu,cgroups/mem`) ----

/// These tests need cgroups; they fail (never skip) where cgroups are not usable.
fn require_cgroups() -> mesos_agent::cgroups::Cgroups {
    let all = mesos_agent::cgroups::Isolation {
        cpu: true,
        mem: true,
        cfs: false,
    };
    match mesos_agent::cgroups::Cgroups::open(all) {
        Ok(cg) => cg,
        Err(e) => panic!(
            "cgroups are required for this test (run it as root with a writable /sys/fs/cgroup, \
             cgroup v1 cpu+memory hierarchies or cgroup v2): {e}"
        ),
    }
}

fn cgroup_flags(master: SocketAddr, work_dir: &Path) -> AgentFlags {
    let mut f = flags(master, work_dir);
    f.isolation = Some("cgroups/cpu,cgroups/mem".into());
    f.cgroups_enable_cfs = true;
    f
}

/// Mesos' default: `cgroups/cpu` sets the weight only, no CFS quota.
fn cgroup_flags_no_cfs(master: SocketAddr, work_dir: &Path) -> AgentFlags {
    let mut f = flags(master, work_dir);
    f.isolation = Some("cgroups/cpu,cgroups/mem".into());
    f
}

fn run_task_with(fake: &Fake, id: &str, cmd: &str, cpus: f64, mem: f64) {
    let task: TaskInfo = serde_json::from_value(serde_json::json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
        "command": {"value": cmd}
    }))
    .unwrap();
    fake.send(MasterToAgent::RunTask {
        framework: framework(),
        task,
    });
}

/// The container ID of executor `eid`, from `/state`.
async fn container_of(base: &str, eid: &str) -> String {
    let start = Instant::now();
    loop {
        let (_, state) = get_json(&format!("{base}/state")).await;
        let found = state["frameworks"].as_array().and_then(|fws| {
            fws.iter()
                .flat_map(|f| f["executors"].as_array().cloned().unwrap_or_default())
                .find(|e| e["id"] == eid)
                .and_then(|e| e["container"].as_str().map(str::to_string))
        });
        if let Some(c) = found {
            return c;
        }
        assert!(
            start.elapsed() < WAIT,
            "no executor '{eid}' in /state: {state}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
        .trim()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroups_carry_the_container_limits_and_go_away() {
    use mesos_agent::cgroups::Hierarchy;
    let cg = require_cgroups();
    let (fake, _maddr, _dir, agent) = start_acked(cgroup_flags).await;
    let base = format!("http://{}", agent.addr());
    let (_, state) = get_json(&format!("{base}/state")).await;
    assert_eq!(state["flags"]["isolation"], "cgroups/cpu,cgroups/mem");

    // Task 0.5 cpus / 64 MB + command executor 0.1 cpus / 32 MB.
    run_task_with(&fake, "limited", "sleep 3", 0.5, 64.0);
    wait_state(&fake, "limited", TaskState::TaskRunning).await;
    let cid = container_of(&base, "limited").await;
    let dirs = cg.dirs(&cid);
    assert!(!dirs.is_empty());
    match cg.hierarchy() {
        Hierarchy::V1 { cpu, memory, .. } => {
            let c = cpu.as_ref().unwrap().join("mesos").join(&cid);
            let m = memory.as_ref().unwrap().join("mesos").join(&cid);
            assert_eq!(read_trim(&c.join("cpu.shares")), "614");
            assert_eq!(read_trim(&c.join("cpu.cfs_period_us")), "100000");
            assert_eq!(read_trim(&c.join("cpu.cfs_quota_us")), "60000");
            assert_eq!(
                read_trim(&m.join("memory.limit_in_bytes")),
                (96u64 << 20).to_string()
            );
        }
        Hierarchy::V2 { root } => {
            let d = root.join("mesos").join(&cid);
            assert_eq!(read_trim(&d.join("cpu.max")), "60000 100000");
            assert_eq!(read_trim(&d.join("memory.max")), (96u64 << 20).to_string());
        }
    }
    // The executor and the task (its descendants) are all inside.
    let pids = cg.pids(&cid);
    assert!(pids.len() >= 2, "cgroup members: {pids:?}");
    let sleeping = pids.iter().any(|p| {
        std::fs::read_to_string(format!("/proc/{p}/cmdline"))
            .unwrap_or_default()
            .contains("sleep")
    });
    assert!(
        sleeping,
        "the task is not in the container's cgroups: {pids:?}"
    );
    // `/monitor/statistics` reads the limits back from the cgroups.
    let (code, stats) = get_json(&format!("{base}/monitor/statistics")).await;
    assert_eq!(code, 200, "{stats}");
    let s = stats
        .as_array()
        .and_then(|a| a.iter().find(|e| e["executor_id"] == "limited"))
        .unwrap_or_else(|| panic!("no statistics for the executor: {stats}"));
    assert_eq!(s["framework_id"], "F");
    assert_eq!(s["statistics"]["cpus_limit"], 0.6);
    assert_eq!(s["statistics"]["mem_limit_bytes"], 96u64 << 20);

    wait_state(&fake, "limited", TaskState::TaskFinished).await;
    wait_until("the container's cgroups to be removed", || {
        dirs.iter().all(|d| !d.exists()).then_some(())
    })
    .await;
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_quota_only_with_cgroups_enable_cfs() {
    use mesos_agent::cgroups::Hierarchy;
    let cg = require_cgroups();
    let (fake, _maddr, _dir, agent) = start_acked(cgroup_flags_no_cfs).await;
    let base = format!("http://{}", agent.addr());
    let (_, state) = get_json(&format!("{base}/state")).await;
    assert_eq!(state["flags"]["cgroups_enable_cfs"], "false");
    run_task_with(&fake, "weighted", "sleep 30", 0.5, 64.0);
    wait_state(&fake, "weighted", TaskState::TaskRunning).await;
    let cid = container_of(&base, "weighted").await;
    match cg.hierarchy() {
        Hierarchy::V1 { cpu, .. } => {
            let c = cpu.as_ref().unwrap().join("mesos").join(&cid);
            assert_eq!(read_trim(&c.join("cpu.shares")), "614");
            assert_eq!(read_trim(&c.join("cpu.cfs_quota_us")), "-1");
        }
        Hierarchy::V2 { root } => {
            let d = root.join("mesos").join(&cid);
            assert!(read_trim(&d.join("cpu.max")).starts_with("max"));
        }
    }
    // The statistics still give the container's cpus as its limit.
    let (_, stats) = get_json(&format!("{base}/monitor/statistics")).await;
    let s = stats
        .as_array()
        .and_then(|a| a.iter().find(|e| e["executor_id"] == "weighted"))
        .unwrap_or_else(|| panic!("no statistics for the executor: {stats}"));
    assert_eq!(s["statistics"]["cpus_limit"], 0.6);
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_hog_fails_with_container_limitation_memory() {
    let cg = require_cgroups();
    let (fake, _maddr, _dir, agent) = start_acked(cgroup_flags).await;
    let base = format!("http://{}", agent.addr());
    // 32 MB for the task (+ 32 MB for the executor); it asks for 512 MB.
    run_task_with(
        &fake,
        "hog",
        "python3 -c 'b=bytearray(512*1024*1024); import time; time.sleep(5)' \
         || head -c 536870912 /dev/zero | tail > /dev/null",
        1.0,
        32.0,
    );
    let cid = container_of(&base, "hog").await;
    let failed = wait_state(&fake, "hog", TaskState::TaskFailed).await;
    let terminal: Vec<TaskStatus> = fake
        .updates()
        .into_iter()
        .filter(|s| s.task_id.value == "hog" && s.state.is_terminal())
        .collect();
    assert_eq!(
        terminal[0].uuid, failed.uuid,
        "first terminal update: {terminal:?}"
    );
    assert_eq!(
        failed.reason.as_deref(),
        Some("REASON_CONTAINER_LIMITATION_MEMORY"),
        "{failed:?}"
    );
    assert_eq!(failed.source.as_deref(), Some("SOURCE_AGENT"));
    let message = failed.message.clone().unwrap_or_default();
    assert!(
        message.starts_with("Memory limit exceeded: Requested: 64MB Maximum Used: "),
        "{message}"
    );
    let limitation = failed.limitation.clone().expect("limitation set");
    assert_eq!(limitation["resources"][0]["name"], "mem", "{limitation}");
    // The container is destroyed and its cgroups removed.
    wait_until("EXECUTOR_EXITED", || {
        fake.messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m, AgentToMaster::ExecutorExited { .. }))
            .then_some(())
    })
    .await;
    let dirs = cg.dirs(&cid);
    wait_until("the container's cgroups to be removed", || {
        dirs.iter().all(|d| !d.exists()).then_some(())
    })
    .await;
    agent.shutdown(true).await;
}
