//! Shared helpers for the integration tests: an in-process cluster and a small
//! framework driver on top of the public scheduler client.

#![allow(dead_code)]

use mesos_core::client::{EventStream, SchedulerClient};
use mesos_core::cluster::{LocalCluster, LocalClusterConfig};
use mesos_core::proto::ids::*;
use mesos_core::proto::resources::Resources;
use mesos_core::proto::scheduler::{Accept, Acknowledge, Call, Decline, Event};
use mesos_core::proto::v1::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(60);

/// A launcher dir whose `mesos-executor` runs the `mesos-cluster` binary in command
/// executor mode (what the agent itself does when no `mesos-executor` is installed), or
/// in the mode the agent asks for (its executor zygote).
pub fn launcher_dir(root: &std::path::Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = root.join("launcher");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("mesos-executor");
    let body = format!(
        "#!/bin/sh\nMESOS_RS_EXECUTOR_MODE=\"${{MESOS_RS_EXECUTOR_MODE:-command}}\" exec '{}' \"$@\"\n",
        env!("CARGO_BIN_EXE_mesos-cluster")
    );
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

pub async fn cluster(root: &std::path::Path, agents: usize, resources: &str) -> LocalCluster {
    let mut c = LocalClusterConfig::new(root.join("work"));
    c.num_agents = agents;
    c.agent_resources = Some(resources.to_string());
    c.launcher_dir = Some(launcher_dir(root));
    LocalCluster::start(c).await.expect("cluster starts")
}

pub fn framework_info(caps: &[&str], failover_timeout: f64) -> FrameworkInfo {
    let caps: Vec<_> = caps.iter().map(|c| json!({"type": c})).collect();
    serde_json::from_value(json!({
        "user": "root", "name": "itest", "failover_timeout": failover_timeout,
        "checkpoint": true, "capabilities": caps
    }))
    .unwrap()
}

pub struct Framework {
    pub client: SchedulerClient,
    pub events: EventStream,
    /// Offers received and not yet used.
    pub offers: Vec<Offer>,
    /// Every status update seen, in order.
    pub updates: Vec<TaskStatus>,
    pub rescinded: Vec<OfferId>,
    pub errors: Vec<String>,
}

impl Framework {
    pub async fn subscribe(master: std::net::SocketAddr, info: FrameworkInfo) -> Framework {
        let (client, events) = SchedulerClient::subscribe(&master.to_string(), info)
            .await
            .expect("subscribe");
        Framework::new(client, events)
    }

    pub fn new(client: SchedulerClient, events: EventStream) -> Framework {
        Framework {
            client,
            events,
            offers: vec![],
            updates: vec![],
            rescinded: vec![],
            errors: vec![],
        }
    }

    /// KILL a task (answered 202; the outcome arrives as an update).
    pub async fn kill(&self, task: &str) {
        let status = self
            .client
            .call(Call::Kill(mesos_core::proto::scheduler::Kill {
                task_id: TaskId::new(task),
                agent_id: None,
                kill_policy: None,
            }))
            .await
            .expect("kill");
        assert_eq!(status, 202);
    }

    pub fn id(&self) -> FrameworkId {
        self.client.framework_id().clone()
    }

    /// Handle one event (acknowledging updates that carry a uuid). None when the stream ended.
    pub async fn step(&mut self, timeout: Duration) -> Option<Event> {
        let ev = tokio::time::timeout(timeout, self.events.next())
            .await
            .ok()??;
        match &ev {
            Event::Offers(o) => self.offers.extend(o.offers.clone()),
            Event::Rescind(r) => {
                self.offers.retain(|o| o.id != r.offer_id);
                self.rescinded.push(r.offer_id.clone());
            }
            Event::Update(u) => {
                self.updates.push(u.status.clone());
                if let (Some(uuid), Some(agent)) = (&u.status.uuid, &u.status.agent_id) {
                    let status = self
                        .client
                        .call(Call::Acknowledge(Acknowledge {
                            agent_id: agent.clone(),
                            task_id: u.status.task_id.clone(),
                            uuid: uuid.clone(),
                        }))
                        .await
                        .expect("ack accepted");
                    assert_eq!(status, 202);
                }
            }
            Event::Error(e) => self.errors.push(e.message.clone()),
            _ => {}
        }
        Some(ev)
    }

    /// Wait until `pred` holds over the framework's state, stepping events.
    pub async fn until(&mut self, what: &str, mut pred: impl FnMut(&Framework) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !pred(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {what}; updates so far: {:?}",
                    self.updates_summary()
                );
            }
            if self.step(left).await.is_none() && !pred(self) {
                panic!(
                    "stream ended while waiting for {what}; updates: {:?}",
                    self.updates_summary()
                );
            }
        }
    }

    pub async fn wait_offer(&mut self) -> Offer {
        self.until("an offer", |f| !f.offers.is_empty()).await;
        self.offers.remove(0)
    }

    pub async fn wait_state(&mut self, task: &str, state: TaskState) -> TaskStatus {
        let t = task.to_string();
        self.until(&format!("{task} {}", state.as_str()), |f| {
            f.updates
                .iter()
                .any(|u| u.task_id.value == t && u.state == state)
        })
        .await;
        self.updates
            .iter()
            .rev()
            .find(|u| u.task_id.value == task && u.state == state)
            .cloned()
            .unwrap()
    }

    pub fn updates_summary(&self) -> Vec<String> {
        self.updates
            .iter()
            .map(|u| {
                format!(
                    "{}:{}:{}",
                    u.task_id,
                    u.state.as_str(),
                    u.message.clone().unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn states_of(&self, task: &str) -> Vec<TaskState> {
        self.updates
            .iter()
            .filter(|u| u.task_id.value == task)
            .map(|u| u.state)
            .collect()
    }

    pub async fn launch(&mut self, offer: &Offer, tasks: Vec<TaskInfo>) {
        let op: Operation =
            serde_json::from_value(json!({"type": "LAUNCH", "launch": {"task_infos": tasks}}))
                .unwrap();
        let status = self
            .client
            .call(Call::Accept(Accept {
                offer_ids: vec![offer.id.clone()],
                operations: vec![op],
                filters: Some(Filters {
                    refuse_seconds: Some(1.0),
                }),
            }))
            .await
            .expect("accept");
        assert_eq!(status, 202);
    }

    pub async fn decline(&mut self, offer: &Offer, refuse_seconds: f64) {
        let status = self
            .client
            .call(Call::Decline(Decline {
                offer_ids: vec![offer.id.clone()],
                filters: Some(Filters {
                    refuse_seconds: Some(refuse_seconds),
                }),
            }))
            .await
            .expect("decline");
        assert_eq!(status, 202);
    }
}

impl Framework {
    /// Reconcile (implicitly) until the master reports every one of `tasks` RUNNING;
    /// explicit answers may be missing while agents are still re-registering.
    pub async fn reconcile_running(&mut self, tasks: &[&str], limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let before = self.updates.len();
            let _ = self.client.call(Call::Reconcile(Default::default())).await;
            let until = tokio::time::Instant::now() + Duration::from_secs(2);
            while tokio::time::Instant::now() < until {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                if self.step(left).await.is_none() {
                    break;
                }
            }
            let ok = tasks.iter().all(|t| {
                self.updates[before..]
                    .iter()
                    .any(|u| u.task_id.value == *t && u.state == TaskState::TaskRunning)
            });
            if ok {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "tasks not reconciled RUNNING: {:?}",
                    &self.updates_summary()[before..]
                );
            }
        }
    }
}

/// The sandbox directory of executor `executor_id`, from the agent's `/state` (live or
/// completed frameworks and executors).
pub async fn sandbox_dir(agent: std::net::SocketAddr, executor_id: &str) -> String {
    let state = get_json(&format!("http://{agent}/state")).await;
    state["frameworks"]
        .as_array()
        .into_iter()
        .chain(state["completed_frameworks"].as_array())
        .flatten()
        .flat_map(|f| {
            f["executors"]
                .as_array()
                .into_iter()
                .chain(f["completed_executors"].as_array())
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
        })
        .find(|e| e["id"] == executor_id)
        .and_then(|e| e["directory"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            panic!("agent /state lists no executor '{executor_id}' with a directory: {state}")
        })
}

pub fn command_task(id: &str, offer: &Offer, cmd: &str, res: &str) -> TaskInfo {
    serde_json::from_value(json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": offer.agent_id,
        "resources": Resources::parse_flag(res).unwrap().to_wire(None),
        "command": {"value": cmd},
        "kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000u64}},
    }))
    .unwrap()
}

pub async fn get_json(url: &str) -> serde_json::Value {
    let r = reqwest::get(url).await.expect("GET");
    assert!(r.status().is_success(), "{url}: {}", r.status());
    serde_json::from_slice(&r.bytes().await.unwrap()).expect("json body")
}

/// Poll a JSON endpoint until `pred` holds.
pub async fn poll_json(
    url: &str,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = get_json(url).await;
        if pred(&v) {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what} at {url}: {v}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A temporary directory for one test's cluster. Dropping it (also when the test panics)
/// kills every process still working inside it, so a failed test leaves no executors or
/// tasks behind.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> TestDir {
        TestDir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let root = self.dir.path().to_path_buf();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for entry in procs.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let inside = std::fs::read_link(entry.path().join("cwd"))
                .is_ok_and(|cwd| cwd.starts_with(&root));
            if inside && pid != std::process::id() as i32 {
                // SAFETY: kill(2) with a pid read from /proc has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}
