//! End-to-end tests of task groups (`LAUNCH_GROUP`, `ExecutorInfo.type = DEFAULT`) run by the
//! default executor, against a fake master over loopback.

mod common;

use common::*;
use mesos_agent::AgentHandle;
use mesos_proto::ids::*;
use mesos_proto::internal::{MasterToAgent, Registration};
use mesos_proto::v1::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn run_group(fake: &Fake, eid: &str, tasks: &[(&str, &str)]) {
    let tasks: Vec<TaskInfo> = tasks
        .iter()
        .map(|(id, cmd)| {
            serde_json::from_value(serde_json::json!({
                "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
                "command": {"value": cmd},
                "kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000u64}}
            }))
            .unwrap()
        })
        .collect();
    let executor: ExecutorInfo = serde_json::from_value(serde_json::json!({
        "executor_id": {"value": eid}, "type": "DEFAULT",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]
    }))
    .unwrap();
    fake.send(MasterToAgent::RunTaskGroup {
        framework: framework(),
        executor,
        tasks,
    });
}

/// The states a task went through, duplicates (resends) folded.
fn states_of(fake: &Fake, task: &str) -> Vec<TaskState> {
    fake.updates()
        .iter()
        .filter(|s| s.task_id.value == task)
        .map(|s| s.state)
        .fold(Vec::new(), |mut v, s| {
            if v.last() != Some(&s) {
                v.push(s);
            }
            v
        })
}

fn task_file(dir: &Path, eid: &str, task: &str, file: &str) -> PathBuf {
    dir.canonicalize().unwrap().join(format!(
        "slaves/{AGENT_ID}/frameworks/F/executors/{eid}/runs/latest/tasks/{task}/{file}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_group_runs_each_task_in_its_own_sandbox() {
    let (fake, _maddr, dir, agent) = start_acked(flags).await;
    run_group(
        &fake,
        "E",
        &[
            (
                "ta",
                "echo a; echo \"sandbox=$MESOS_SANDBOX id=$MESOS_TASK_ID\"; echo err-a >&2",
            ),
            ("tb", "echo b"),
        ],
    );
    for id in ["ta", "tb"] {
        let finished = wait_state(&fake, id, TaskState::TaskFinished).await;
        assert_eq!(
            finished.message.as_deref(),
            Some("Command exited with status 0")
        );
        assert_eq!(finished.executor_id, Some(ExecutorId::new("E")));
        assert_eq!(finished.source.as_deref(), Some("SOURCE_EXECUTOR"));
        assert_eq!(
            states_of(&fake, id),
            [
                TaskState::TaskStarting,
                TaskState::TaskRunning,
                TaskState::TaskFinished
            ]
        );
    }
    // All tasks terminal and acknowledged: the executor exits cleanly.
    assert_eq!(executor_exited(&fake, "E").await, 0);

    let base = format!("http://{}", agent.addr());
    for (id, want) in [("ta", "a\n"), ("tb", "b\n")] {
        let stdout = task_file(dir.path(), "E", id, "stdout");
        let (code, body) = files_read(&base, &stdout).await;
        assert_eq!(code, 200, "{body}");
        let data = body["data"].as_str().unwrap();
        assert!(data.starts_with(want), "{id}: {data:?}");
    }
    let (_, body) = get_json(&format!(
        "{base}/files/read?path={}&offset=0",
        task_file(dir.path(), "E", "ta", "stdout").display()
    ))
    .await;
    let data = body["data"].as_str().unwrap();
    // MESOS_SANDBOX is the task's own directory (`runs/latest` resolved).
    let sandbox = task_file(dir.path(), "E", "ta", "stdout");
    let sandbox = sandbox.parent().unwrap().canonicalize().unwrap();
    let want = format!("sandbox={} id=ta", sandbox.display());
    assert!(data.contains(&want), "{data:?} lacks {want:?}");
    let (code, body) = get_json(&format!(
        "{base}/files/read?path={}&offset=0",
        task_file(dir.path(), "E", "ta", "stderr").display()
    ))
    .await;
    assert_eq!(code, 200);
    assert!(body["data"].as_str().unwrap().contains("err-a"), "{body}");
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_task_kills_the_rest_of_its_group() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_group(&fake, "E", &[("sleeper", "sleep 60"), ("bad", "exit 2")]);
    let failed = wait_state(&fake, "bad", TaskState::TaskFailed).await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 2")
    );
    let killed = wait_state(&fake, "sleeper", TaskState::TaskKilled).await;
    assert_eq!(killed.source.as_deref(), Some("SOURCE_EXECUTOR"));
    assert!(!states_of(&fake, "sleeper").contains(&TaskState::TaskFailed));
    assert_eq!(executor_exited(&fake, "E").await, 0);
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_task_kills_its_group_only() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_group(&fake, "E", &[("k1", "sleep 60"), ("k2", "sleep 60")]);
    for id in ["k1", "k2"] {
        wait_state(&fake, id, TaskState::TaskRunning).await;
    }
    // A second group on the same executor.
    run_group(&fake, "E", &[("other", "sleep 60")]);
    wait_state(&fake, "other", TaskState::TaskRunning).await;
    // `/state` lists every task under the executor.
    let base = format!("http://{}", agent.addr());
    let (code, state) = get_json(&format!("{base}/state")).await;
    assert_eq!(code, 200);
    let executors = state["frameworks"][0]["executors"].as_array().unwrap();
    assert_eq!(executors.len(), 1, "{state}");
    assert_eq!(executors[0]["id"], "E");
    let mut ids: Vec<&str> = executors[0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["k1", "k2", "other"]);

    let asked = Instant::now();
    kill(&fake, "k1");
    for id in ["k1", "k2"] {
        wait_state(&fake, id, TaskState::TaskKilled).await;
    }
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "took {:?}",
        asked.elapsed()
    );
    // The other group keeps running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        states_of(&fake, "other"),
        [TaskState::TaskStarting, TaskState::TaskRunning]
    );
    kill(&fake, "other");
    wait_state(&fake, "other", TaskState::TaskKilled).await;
    assert_eq!(executor_exited(&fake, "E").await, 0);
    agent.shutdown(true).await;
}

async fn start_outside_ephemeral_range(
    fake: &Fake,
    maddr: SocketAddr,
    dir: &Path,
) -> (AgentHandle, u16) {
    let start = Instant::now();
    let mut port = 20000 + (std::process::id() % 9000) as u16;
    loop {
        let mut f = flags(maddr, dir);
        f.port = port;
        match mesos_agent::start(f).await {
            Ok(agent) => {
                wait_until("registration", || {
                    (!fake.registrations.lock().unwrap().is_empty()).then_some(())
                })
                .await;
                wait_until("agent id", || agent.agent_id()).await;
                return (agent, port);
            }
            Err(e) => {
                assert!(start.elapsed() < WAIT, "cannot start the agent: {e}");
                port = 20000 + (port - 20000 + 7) % 9000;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_restart_recovers_the_default_executor() {
    let (fake, maddr) = fake_master().await;
    fake.auto_ack.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    // A port outside the ephemeral range, so no outgoing connection can hold it when the
    // agent binds it again after the restart.
    let (agent, port) = start_outside_ephemeral_range(&fake, maddr, dir.path()).await;
    run_group(&fake, "E", &[("r1", "sleep 60"), ("r2", "sleep 60")]);
    for id in ["r1", "r2"] {
        wait_state(&fake, id, TaskState::TaskRunning).await;
    }
    // Let the RUNNING acknowledgements land before stopping.
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.shutdown(false).await;

    let mut f = flags(maddr, dir.path());
    f.port = port;
    let agent = start_registered(&fake, f, 2).await;
    match &fake.registrations.lock().unwrap()[1] {
        Registration::Reregister { tasks, .. } => {
            let mut ids: Vec<&str> = tasks
                .iter()
                .map(|t| t.task.task_id.value.as_str())
                .collect();
            ids.sort();
            assert_eq!(ids, ["r1", "r2"]);
            assert!(tasks.iter().all(|t| t.state == TaskState::TaskRunning));
        }
        r => panic!("expected REREGISTER, got {r:?}"),
    }
    let base = format!("http://{}", agent.addr());
    wait_executor_resubscribed(&base).await;
    kill(&fake, "r2");
    for id in ["r1", "r2"] {
        wait_state(&fake, id, TaskState::TaskKilled).await;
    }
    assert_eq!(executor_exited(&fake, "E").await, 0);
    agent.shutdown(true).await;
}
