//! End-to-end tests of task groups (`LAUNCH_GROUP`, `ExecutorInfo.type = DEFAULT`) run by the
//! default executor, against a fake master over loopback.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use mesos_agent::{AgentFlags, AgentHandle};
use mesos_proto::ids::*;
use mesos_proto::internal::{AgentEnvelope, AgentToMaster, MasterToAgent, Registration};
use mesos_proto::v1::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const AGENT_ID: &str = "M1-S0";
const WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Fake {
    stream: Mutex<Option<mpsc::UnboundedSender<MasterToAgent>>>,
    registrations: Mutex<Vec<Registration>>,
    messages: Mutex<Vec<AgentToMaster>>,
    auto_ack: AtomicBool,
}

impl Fake {
    fn send(&self, m: MasterToAgent) {
        let tx = self
            .stream
            .lock()
            .unwrap()
            .clone()
            .expect("agent connected");
        tx.send(m).expect("stream open");
    }
    fn updates(&self) -> Vec<TaskStatus> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter_map(|m| match m {
                AgentToMaster::StatusUpdate { status, .. } => Some(status.clone()),
                _ => None,
            })
            .collect()
    }
    fn ack(&self, s: &TaskStatus) {
        self.send(MasterToAgent::Acknowledge {
            framework_id: FrameworkId::new("F"),
            task_id: s.task_id.clone(),
            uuid: s.uuid.clone().unwrap(),
        });
    }
}

async fn connect(State(fake): State<Arc<Fake>>, body: Bytes) -> Response {
    let reg: Registration = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let first = match &reg {
        Registration::Register { .. } => MasterToAgent::Registered {
            agent_id: AgentId::new(AGENT_ID),
            master_id: "M1".into(),
            epoch: 1,
            ping_interval_secs: 15.0,
            max_missed_pongs: 5,
        },
        Registration::Reregister { agent_info, .. } => MasterToAgent::Reregistered {
            agent_id: agent_info.id.clone().unwrap(),
            master_id: "M1".into(),
            epoch: 1,
            ping_interval_secs: 15.0,
            max_missed_pongs: 5,
        },
    };
    fake.registrations.lock().unwrap().push(reg);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(first).unwrap();
    *fake.stream.lock().unwrap() = Some(tx);
    let body = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(|m| {
        Ok::<_, std::io::Error>(Bytes::from(mesos_proto::recordio::encode(
            &serde_json::to_vec(&m).unwrap(),
        )))
    });
    Response::builder()
        .header("Content-Type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

async fn message(State(fake): State<Arc<Fake>>, body: Bytes) -> StatusCode {
    let Ok(env) = serde_json::from_slice::<AgentEnvelope>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if let AgentToMaster::StatusUpdate { status, .. } = &env.message {
        if fake.auto_ack.load(Ordering::SeqCst) {
            fake.ack(status);
        }
    }
    fake.messages.lock().unwrap().push(env.message);
    StatusCode::ACCEPTED
}

async fn fake_master() -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(Fake::default());
    let app = Router::new()
        .route("/internal/agent/connect", post(connect))
        .route("/internal/agent/message", post(message))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}

fn launcher_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn flags(master: SocketAddr, work_dir: &Path) -> AgentFlags {
    let mut f = AgentFlags::local(master.to_string(), work_dir.to_path_buf());
    f.launcher_dir = Some(launcher_dir());
    f.resources = Some("cpus:2;mem:1024;disk:1024;ports:[31000-31010]".into());
    f.registration_backoff_factor = "100ms".parse().unwrap();
    f
}

fn framework() -> FrameworkInfo {
    serde_json::from_value(
        serde_json::json!({"user": "u", "name": "fw", "id": {"value": "F"}, "checkpoint": true}),
    )
    .unwrap()
}

async fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_state(fake: &Fake, task: &str, state: TaskState) -> TaskStatus {
    wait_until(&format!("{task} {state:?}"), || {
        fake.updates()
            .into_iter()
            .find(|s| s.task_id.value == task && s.state == state)
    })
    .await
}

async fn start_registered(fake: &Fake, f: AgentFlags, n: usize) -> AgentHandle {
    let agent = mesos_agent::start(f).await.expect("agent starts");
    wait_until("registration", || {
        (fake.registrations.lock().unwrap().len() >= n && fake.stream.lock().unwrap().is_some())
            .then_some(())
    })
    .await;
    // Registered once the agent has an ID.
    wait_until("agent id", || agent.agent_id()).await;
    agent
}

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

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

fn kill(fake: &Fake, task: &str) {
    fake.send(MasterToAgent::KillTask {
        framework_id: FrameworkId::new("F"),
        task_id: TaskId::new(task),
        kill_policy: None,
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

async fn executor_exited(fake: &Fake, eid: &str) -> i32 {
    wait_until(&format!("EXECUTOR_EXITED of {eid}"), || {
        fake.messages.lock().unwrap().iter().find_map(|m| match m {
            AgentToMaster::ExecutorExited {
                executor_id,
                status,
                ..
            } if executor_id.value == eid => Some(*status),
            _ => None,
        })
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_group_runs_each_task_in_its_own_sandbox() {
    let (fake, maddr) = fake_master().await;
    fake.auto_ack.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let agent = start_registered(&fake, flags(maddr, dir.path()), 1).await;
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
        let (code, body) = get_json(&format!(
            "{base}/files/read?path={}&offset=0",
            stdout.display()
        ))
        .await;
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
    let (fake, maddr) = fake_master().await;
    fake.auto_ack.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let agent = start_registered(&fake, flags(maddr, dir.path()), 1).await;
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
    let (fake, maddr) = fake_master().await;
    fake.auto_ack.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let agent = start_registered(&fake, flags(maddr, dir.path()), 1).await;
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
    let start = Instant::now();
    loop {
        let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
        if m["slave/executors_running"] == 1.0 {
            break;
        }
        assert!(start.elapsed() < WAIT, "executor did not re-subscribe: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill(&fake, "r2");
    for id in ["r1", "r2"] {
        wait_state(&fake, id, TaskState::TaskKilled).await;
    }
    assert_eq!(executor_exited(&fake, "E").await, 0);
    agent.shutdown(true).await;
}
