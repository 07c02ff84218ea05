//! What the agent's integration tests share: a fake master over loopback and helpers to
//! start an agent against it, run tasks and wait for their updates.
//!
//! Each test file defines `WAIT`, how long any wait may take.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::StreamExt;
use mesos_agent::{AgentFlags, AgentHandle};
use mesos_proto::ids::*;
use mesos_proto::internal::{AgentBatch, AgentToMaster, MasterToAgent, Registration};
use mesos_proto::v1::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::WAIT;

/// The agent ID the fake master of [`fake_master`] hands out.
pub const AGENT_ID: &str = "M1-S0";

pub struct Fake {
    /// The agent ID handed out on REGISTER.
    pub agent_id: String,
    pub stream: Mutex<Option<mpsc::UnboundedSender<MasterToAgent>>>,
    pub registrations: Mutex<Vec<Registration>>,
    pub messages: Mutex<Vec<AgentToMaster>>,
    /// Acknowledge every status update as it arrives (see [`Fake::ack`]).
    pub auto_ack: AtomicBool,
    /// Acknowledge every update that carries a uuid as it arrives, quietly skipping what
    /// cannot be sent (the framework's part, for the docker tests).
    ack_all_quietly: bool,
}

impl Fake {
    fn new(agent_id: &str, ack_all_quietly: bool) -> Fake {
        Fake {
            agent_id: agent_id.to_string(),
            stream: Mutex::new(None),
            registrations: Mutex::new(Vec::new()),
            messages: Mutex::new(Vec::new()),
            auto_ack: AtomicBool::new(false),
            ack_all_quietly,
        }
    }
    pub fn send(&self, m: MasterToAgent) {
        let tx = self
            .stream
            .lock()
            .unwrap()
            .clone()
            .expect("agent connected");
        tx.send(m).expect("stream open");
    }
    pub fn updates(&self) -> Vec<TaskStatus> {
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
    pub fn ack(&self, s: &TaskStatus) {
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
            agent_id: AgentId::new(&fake.agent_id),
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
    let Ok(batch) = serde_json::from_slice::<AgentBatch>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for message in batch.messages {
        if let AgentToMaster::StatusUpdate { status, .. } = &message {
            if fake.ack_all_quietly {
                if let (Some(tx), Some(uuid)) = (fake.stream.lock().unwrap().clone(), &status.uuid)
                {
                    let _ = tx.send(MasterToAgent::Acknowledge {
                        framework_id: FrameworkId::new("F"),
                        task_id: status.task_id.clone(),
                        uuid: uuid.clone(),
                    });
                }
            } else if fake.auto_ack.load(Ordering::SeqCst) {
                fake.ack(status);
            }
        }
        fake.messages.lock().unwrap().push(message);
    }
    StatusCode::ACCEPTED
}

async fn serve(fake: Fake) -> (Arc<Fake>, SocketAddr) {
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/internal/agent/connect", post(connect))
        .route("/internal/agent/message", post(message))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}

/// A fake master handing out [`AGENT_ID`]; updates are acknowledged by the test (or by
/// setting `auto_ack`).
pub async fn fake_master() -> (Arc<Fake>, SocketAddr) {
    serve(Fake::new(AGENT_ID, false)).await
}

/// A fake master handing out `agent_id` that acknowledges every update at once.
pub async fn fake_master_acking(agent_id: &str) -> (Arc<Fake>, SocketAddr) {
    serve(Fake::new(agent_id, true)).await
}

pub fn launcher_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn flags(master: SocketAddr, work_dir: &Path) -> AgentFlags {
    let mut f = AgentFlags::local(master.to_string(), work_dir.to_path_buf());
    f.launcher_dir = Some(launcher_dir());
    f.resources = Some("cpus:2;mem:1024;disk:1024;ports:[31000-31010]".into());
    f.registration_backoff_factor = "100ms".parse().unwrap();
    f
}

/// Framework `F` (checkpointing) of `user`.
pub fn framework_of(user: &str) -> FrameworkInfo {
    serde_json::from_value(
        serde_json::json!({"user": user, "name": "fw", "id": {"value": "F"}, "checkpoint": true}),
    )
    .unwrap()
}

pub fn framework() -> FrameworkInfo {
    framework_of("u")
}

pub fn kill(fake: &Fake, task: &str) {
    fake.send(MasterToAgent::KillTask {
        framework_id: FrameworkId::new("F"),
        task_id: TaskId::new(task),
        kill_policy: None,
    });
}

pub async fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first update of `task` in `state`.
pub async fn wait_state(fake: &Fake, task: &str, state: TaskState) -> TaskStatus {
    wait_until(&format!("{task} {state:?}"), || {
        fake.updates()
            .into_iter()
            .find(|s| s.task_id.value == task && s.state == state)
    })
    .await
}

pub async fn start_registered(fake: &Fake, f: AgentFlags, n: usize) -> AgentHandle {
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

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        code,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// Wait until the agent at `base` counts one running executor (after a restart: the
/// executor re-subscribed).
pub async fn wait_executor_resubscribed(base: &str) {
    let start = Instant::now();
    loop {
        let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
        if m["slave/executors_running"] == 1.0 {
            break;
        }
        assert!(start.elapsed() < WAIT, "executor did not re-subscribe: {m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fake master that acknowledges every update, a work dir, and an agent started with
/// `flags` and registered.
pub async fn start_acked(
    flags: fn(SocketAddr, &Path) -> AgentFlags,
) -> (Arc<Fake>, SocketAddr, tempfile::TempDir, AgentHandle) {
    let (fake, maddr) = fake_master().await;
    fake.auto_ack.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let agent = start_registered(&fake, flags(maddr, dir.path()), 1).await;
    (fake, maddr, dir, agent)
}

/// `/files/read` of `path` from offset 0 on the agent at `base`.
pub async fn files_read(base: &str, path: &Path) -> (u16, serde_json::Value) {
    get_json(&format!(
        "{base}/files/read?path={}&offset=0",
        path.display()
    ))
    .await
}

/// The exit status the agent reported for executor `eid` (EXECUTOR_EXITED).
#[allow(dead_code)]
pub async fn executor_exited(fake: &Fake, eid: &str) -> i32 {
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
