//! A local cluster (master + agents, in-process) with a Marathon in front of it, and a
//! small HTTP client for Marathon's API.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use marathon::core::Config;
use marathon::server::{start, Server, ServerConfig};
use mesos_core::cluster::{LocalCluster, LocalClusterConfig};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Env {
    pub cluster: LocalCluster,
    pub marathon: Option<Server>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub base: String,
}

/// The test binary's directory holds no executor: the launcher dir links the `marathon`
/// binary as `mesos-executor` (every suite binary started under that name is the
/// command executor).
fn launcher_dir(dir: &Path) -> PathBuf {
    let l = dir.join("launcher");
    std::fs::create_dir_all(&l).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_marathon"), l.join("mesos-executor")).unwrap();
    l
}

/// How [`Env::start_with`] sets up the cluster.
#[derive(Debug, Clone)]
pub struct Options {
    /// One agent per entry, with that `--hostname`.
    pub hostnames: Vec<String>,
    /// `--containerizers` of every agent (`docker,mesos` for Docker apps).
    pub containerizers: String,
    /// `--resources` of every agent.
    pub resources: String,
}

impl Options {
    pub fn new(hostnames: &[&str]) -> Options {
        Options {
            hostnames: hostnames.iter().map(|h| h.to_string()).collect(),
            containerizers: "mesos".into(),
            resources: "cpus:4;mem:4096;disk:1000;ports:[31000-31999]".into(),
        }
    }

    pub fn containerizers(mut self, c: &str) -> Options {
        self.containerizers = c.into();
        self
    }

    pub fn resources(mut self, r: &str) -> Options {
        self.resources = r.into();
        self
    }
}

impl Env {
    /// `hostnames`: one agent per entry, with that `--hostname`.
    pub async fn start(hostnames: &[&str]) -> Env {
        Env::start_with(Options::new(hostnames)).await
    }

    pub async fn start_with(opts: Options) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = LocalClusterConfig::new(dir.path().join("cluster"));
        cfg.num_agents = opts.hostnames.len();
        cfg.agent_hostnames = opts.hostnames.clone();
        cfg.agent_resources = Some(opts.resources.clone());
        cfg.launcher_dir = Some(launcher_dir(dir.path()));
        cfg.containerizers = Some(opts.containerizers.clone());
        let cluster = LocalCluster::start(cfg).await.expect("cluster starts");
        let mut env = Env {
            cluster,
            marathon: None,
            dir,
            http: reqwest::Client::new(),
            base: String::new(),
        };
        env.start_marathon().await;
        env
    }

    pub async fn start_marathon(&mut self) {
        let server = start(ServerConfig::new(
            Config {
                master: self.cluster.master_addr().to_string(),
                hostname: "127.0.0.1".into(),
                decline_offer_duration: 1.0,
                ..Config::default()
            },
            "127.0.0.1:0".parse().unwrap(),
            self.dir.path().join("marathon"),
        ))
        .await
        .expect("marathon starts");
        self.base = format!("http://{}", server.addr());
        self.marathon = Some(server);
    }

    pub fn stop_marathon(&mut self) {
        if let Some(m) = self.marathon.take() {
            m.stop();
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("marathon answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v, headers)
    }

    /// A request with a raw body (`None`: no body) and extra headers; answers the
    /// status and the body as text.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String, reqwest::header::HeaderMap) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        let resp = r.send().await.expect("marathon answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, resp.text().await.unwrap(), headers)
    }

    /// `GET /ping` answers `pong`: the server is still alive and well.
    pub async fn assert_alive(&self) {
        let (s, body, _) = self.raw("GET", "/ping", &[], None).await;
        assert_eq!((s, body.as_str()), (200, "pong"), "GET /ping");
    }

    /// The master's `/master/state`.
    pub async fn master_state(&self) -> Value {
        let url = format!("http://{}/master/state", self.cluster.master_addr());
        let text = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The ids of the agents (as the master knows them).
    pub async fn agent_ids(&self) -> Vec<String> {
        let v = self.master_state().await;
        v["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_string))
            .collect()
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v, _) = self.req("GET", path, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// Running tasks of an app.
    pub async fn running(&self, app: &str) -> Vec<Value> {
        let v = self.get(&format!("/v2/apps/{app}/tasks")).await;
        v["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t["state"] == "TASK_RUNNING")
            .collect()
    }

    /// Wait until the app has no deployment and exactly `n` running tasks.
    pub async fn wait_deployed(&self, app: &str, n: usize) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let a = self.get(&format!("/v2/apps/{app}")).await;
            let tasks = self.running(app).await;
            if a["app"]["deployments"]
                .as_array()
                .is_some_and(|d| d.is_empty())
                && tasks.len() == n
            {
                return tasks;
            }
            assert!(
                start.elapsed() < WAIT,
                "{app} did not reach {n} running tasks: {a}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The tasks the master reports for this Marathon's framework (with the completed
    /// ones when `completed`).
    async fn framework_tasks(&self, completed: bool) -> Vec<Value> {
        let v = self.master_state().await;
        v["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["name"] == "marathon")
            .flat_map(|f| {
                let mut all = f["tasks"].as_array().cloned().unwrap_or_default();
                if completed {
                    all.extend(f["completed_tasks"].as_array().cloned().unwrap_or_default());
                }
                all
            })
            .collect()
    }

    /// Task states the master reports for this Marathon's framework.
    pub async fn master_tasks(&self) -> Vec<Value> {
        self.framework_tasks(false).await
    }

    /// A task of this Marathon's framework as the master reports it, running or done.
    pub async fn master_task(&self, task_id: &str) -> Option<Value> {
        self.framework_tasks(true)
            .await
            .into_iter()
            .find(|t| t["id"] == task_id)
    }

    pub async fn shutdown(mut self) {
        self.stop_marathon();
        self.cluster.shutdown(true).await;
    }
}

pub async fn wait_until<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ids(tasks: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = tasks
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}
