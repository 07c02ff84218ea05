//! The registry in ZooKeeper: a [`Store`] for masters that run with `--zk`.
//!
//! # Layout
//!
//! ```text
//! <root>/agents/<agent id>          data: the AgentInfo as JSON
//! <root>/frameworks/<framework id>  data: the FrameworkInfo as JSON
//! ```
//!
//! All nodes are persistent, with open ACLs. Node names are the IDs, percent-encoded where
//! ZooKeeper could not take them as they are (`/`, `%`, control characters, `.` and `..`);
//! Mesos IDs never contain these, so in practice a node is named by its ID. `load` keys
//! the registry by the ID inside the JSON, not by the node name.
//!
//! # Durability
//!
//! `apply` returns `Ok` only after ZooKeeper has answered the write, and ZooKeeper answers a
//! write only once a quorum has logged it. Writes are idempotent (create-or-set, delete
//! ignoring NoNode), so an operation whose connection was lost is retried; the retries are
//! bounded by the operation timeout (the session timeout). A write that cannot be made in
//! that time (ZooKeeper down, session expired) returns `Err`, which the master treats as fatal
//! for its leadership term. After a session expires, the next call opens a new session.
//!
//! # Bridging the synchronous `Store` to the asynchronous client
//!
//! The `zookeeper-client` session runs as a task on the runtime that connected it. Rather
//! than borrow the caller's runtime (which might be a current-thread runtime, a runtime that
//! is shutting down, or none at all), each `ZkStore` owns a dedicated OS thread running its
//! own current-thread tokio runtime; the client and its session task live there. `load` and
//! `apply` send a request over a channel and wait for the answer on a std channel. When the
//! caller is a task on a multi-thread tokio runtime (the master's actor), the wait runs inside
//! [`tokio::task::block_in_place`], so the worker's other tasks move to other workers while
//! the actor waits; elsewhere (current-thread runtime, plain thread) it is a plain blocking
//! wait, which cannot deadlock because the client never runs on the caller's runtime. Requests
//! are served one at a time in the order they were sent, so writes reach ZooKeeper in order.

use crate::registry::{QuotaRecord, Registry, RegistryOp, Store};
use futures::future::BoxFuture;
use mesos_proto::v1::{AgentInfo, FrameworkInfo};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use zookeeper_client as zk;

/// Nodes per multi-read request in `load` (a few hundred KiB of JSON at most, well under
/// ZooKeeper's default 1 MiB packet limit), and how many such requests are in flight.
const LOAD_BATCH: usize = 100;
const LOAD_BATCHES_IN_FLIGHT: usize = 8;
/// Without multi-read: how many single reads `load` keeps in flight.
const LOAD_PIPELINE: usize = 512;

/// A registry kept in ZooKeeper under one root path. See the module documentation.
pub struct ZkStore {
    requests: mpsc::UnboundedSender<Request>,
    /// Bound on one `load`/`apply`, as the worker enforces it.
    op_timeout: Duration,
    /// `<hosts><root>`, for error messages.
    name: String,
}

enum Request {
    Load(std_mpsc::SyncSender<Result<Registry, String>>),
    Apply(Box<RegistryOp>, std_mpsc::SyncSender<Result<(), String>>),
}

impl ZkStore {
    /// Connect to `hosts` (a ZooKeeper connect string such as `h1:2181,h2:2181`, optionally
    /// with a chroot) and create `root` (e.g. `/mesos/registry`) and its `agents` and
    /// `frameworks` children if they are missing. `session_timeout` is both the ZooKeeper
    /// session timeout asked for and the bound on each later `load`/`apply`; connecting
    /// itself is bounded by twice that.
    pub async fn connect(
        hosts: &str,
        root: &str,
        session_timeout: Duration,
    ) -> Result<ZkStore, String> {
        Self::connect_with(hosts, root, session_timeout, true).await
    }

    async fn connect_with(
        hosts: &str,
        root: &str,
        session_timeout: Duration,
        multi_read: bool,
    ) -> Result<ZkStore, String> {
        let root = normalize_root(root)?;
        let name = format!("zk://{hosts}{}", if root.is_empty() { "/" } else { &root });
        let (requests, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let worker = Worker {
            hosts: hosts.to_string(),
            root,
            session_timeout,
            client: None,
            multi_read,
        };
        std::thread::Builder::new()
            .name("zk-registry".into())
            .spawn(move || worker.run(receiver, ready_tx))
            .map_err(|e| format!("registry {name}: cannot start its thread: {e}"))?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(ZkStore {
                requests,
                op_timeout: session_timeout,
                name,
            }),
            Ok(Err(e)) => Err(format!("registry {name}: {e}")),
            Err(_) => Err(format!("registry {name}: its thread died while connecting")),
        }
    }

    /// Send a request to the worker and wait for its answer, without stalling a tokio worker.
    fn call<T>(
        &self,
        make: impl FnOnce(std_mpsc::SyncSender<Result<T, String>>) -> Request,
    ) -> Result<T, String> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.requests
            .send(make(tx))
            .map_err(|_| format!("registry {}: its thread has stopped", self.name))?;
        // The worker bounds every request by `op_timeout`; the margin only guards against a
        // wedged worker thread.
        let limit = self.op_timeout + Duration::from_secs(5);
        let wait = move || rx.recv_timeout(limit);
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        };
        match answer {
            Ok(result) => result.map_err(|e| format!("registry {}: {e}", self.name)),
            Err(_) => Err(format!(
                "registry {}: no answer from its thread within {:?}",
                self.name, limit
            )),
        }
    }
}

impl Store for ZkStore {
    fn load(&mut self) -> Result<Registry, String> {
        self.call(Request::Load)
    }

    fn apply(&mut self, op: &RegistryOp) -> Result<(), String> {
        let op = Box::new(op.clone());
        self.call(move |tx| Request::Apply(op, tx))
    }
}

/// The dedicated thread's state: the client and what it needs to reconnect.
struct Worker {
    hosts: String,
    /// Normalized: `""` for `/`, otherwise `/a/b` without a trailing slash.
    root: String,
    session_timeout: Duration,
    client: Option<zk::Client>,
    /// Whether the server answers multi-read (ZooKeeper 3.6+); cleared on `Unimplemented`.
    multi_read: bool,
}

impl Worker {
    fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        ready: oneshot::Sender<Result<(), String>>,
    ) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready.send(Err(format!("cannot build a runtime: {e}")));
                return;
            }
        };
        rt.block_on(async {
            let first = tokio::time::timeout(2 * self.session_timeout, self.client())
                .await
                .map_err(|_| {
                    format!(
                        "cannot connect to {} within {:?}",
                        self.hosts,
                        2 * self.session_timeout
                    )
                })
                .and_then(|r| r.map(|_| ()));
            let ok = first.is_ok();
            if ready.send(first).is_err() || !ok {
                return;
            }
            while let Some(request) = requests.recv().await {
                match request {
                    Request::Load(reply) => {
                        let r = self.bounded("load", |w| Box::pin(w.load())).await;
                        let _ = reply.send(r);
                    }
                    Request::Apply(op, reply) => {
                        let what = describe(&op);
                        let r = self.bounded(&what, |w| Box::pin(w.apply(&op))).await;
                        let _ = reply.send(r);
                    }
                }
            }
            // The store was dropped: close the session rather than let it time out.
            if let Some(client) = self.client.take() {
                let mut state = client.state_watcher();
                drop(client);
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while !state.peek_state().is_terminated() {
                        state.changed().await;
                    }
                })
                .await;
            }
        });
    }

    /// Run one request within the operation timeout.
    async fn bounded<'a, T>(
        &'a mut self,
        what: &str,
        request: impl FnOnce(&'a mut Worker) -> BoxFuture<'a, Result<T, String>>,
    ) -> Result<T, String> {
        let limit = self.session_timeout;
        let hosts = self.hosts.clone();
        let state = self.client.as_ref().map(|c| c.state_watcher());
        match tokio::time::timeout(limit, request(self)).await {
            Ok(r) => r.map_err(|e| format!("{what}: {e}")),
            Err(_) => Err(format!(
                "{what}: ZooKeeper at {hosts} did not answer within {limit:?} (session {})",
                state.map_or("not established".into(), |s| s.peek_state().to_string())
            )),
        }
    }

    /// The live client, connecting (and creating the root) when there is none or its
    /// session has ended.
    async fn client(&mut self) -> Result<zk::Client, String> {
        if let Some(c) = &self.client {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
            tracing::warn!(state = %c.state(), "ZooKeeper registry session ended; opening a new one");
            self.client = None;
        }
        let client = zk::Client::connector()
            .with_session_timeout(self.session_timeout)
            .connect(&self.hosts)
            .await
            .map_err(|e| format!("cannot connect to ZooKeeper at {}: {e}", self.hosts))?;
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for dir in [self.agents_dir(), self.frameworks_dir(), self.quotas_dir()] {
            retry(|| client.mkdir(&dir, &options))
                .await
                .map_err(|e| format!("cannot create {dir}: {e}"))?;
        }
        self.client = Some(client.clone());
        Ok(client)
    }

    fn agents_dir(&self) -> String {
        format!("{}/agents", self.root)
    }

    fn frameworks_dir(&self) -> String {
        format!("{}/frameworks", self.root)
    }

    fn quotas_dir(&self) -> String {
        format!("{}/quotas", self.root)
    }

    async fn load(&mut self) -> Result<Registry, String> {
        let client = self.client().await?;
        // Make this server as current as the leader before reading (another master may
        // have written through another server).
        retry(|| client.sync(&self.root_path()))
            .await
            .map_err(|e| self.zk_error("sync", &self.root_path(), e))?;
        let mut reg = Registry::default();
        for info in self
            .read_all::<AgentInfo>(&client, &self.agents_dir())
            .await?
        {
            if info.id.is_none() {
                tracing::warn!(hostname = %info.hostname, "registry agent without an id; ignored");
            }
            reg.apply(&RegistryOp::AdmitAgent(info));
        }
        let frameworks_dir = self.frameworks_dir();
        for info in self
            .read_all::<FrameworkInfo>(&client, &frameworks_dir)
            .await?
        {
            if info.id.is_none() {
                tracing::warn!(name = %info.name, "registry framework without an id; ignored");
            }
            reg.apply(&RegistryOp::PutFramework(info));
        }
        let quotas_dir = self.quotas_dir();
        for q in self.read_all::<QuotaRecord>(&client, &quotas_dir).await? {
            reg.apply(&RegistryOp::PutQuota(q));
        }
        Ok(reg)
    }

    fn root_path(&self) -> String {
        if self.root.is_empty() {
            "/".into()
        } else {
            self.root.clone()
        }
    }

    /// Every child of `dir`, parsed from JSON. Children are read in multi-read batches
    /// (ZooKeeper 3.6+), several batches in flight; on an older server, one pipelined
    /// `get_data` per child.
    async fn read_all<T: DeserializeOwned>(
        &mut self,
        client: &zk::Client,
        dir: &str,
    ) -> Result<Vec<T>, String> {
        use futures::stream::{StreamExt, TryStreamExt};
        let children = retry(|| client.list_children(dir))
            .await
            .map_err(|e| self.zk_error("list", dir, e))?;
        let paths: Vec<String> = children.iter().map(|c| format!("{dir}/{c}")).collect();
        // The read futures own what they use (a client handle, their paths): borrowing
        // closures trip the compiler's higher-ranked `Send` inference here.
        let datas: Vec<Option<Vec<u8>>> = if self.multi_read {
            let batches: Result<Vec<Vec<Option<Vec<u8>>>>, zk::Error> =
                futures::stream::iter(paths.chunks(LOAD_BATCH).map(<[String]>::to_vec))
                    .map(|batch| {
                        let client = client.clone();
                        async move { retry(|| multi_get(&client, &batch)).await }
                    })
                    .buffered(LOAD_BATCHES_IN_FLIGHT)
                    .try_collect()
                    .await;
            match batches {
                Ok(b) => b.into_iter().flatten().collect(),
                Err(zk::Error::Unimplemented) => {
                    tracing::info!(
                        "ZooKeeper has no multi-read (before 3.6); reading nodes one by one"
                    );
                    self.multi_read = false;
                    return Box::pin(self.read_all(client, dir)).await;
                }
                Err(e) => return Err(self.zk_error("read children of", dir, e)),
            }
        } else {
            let read: Result<Vec<Option<Vec<u8>>>, (String, zk::Error)> =
                futures::stream::iter(paths.clone())
                    .map(|path| {
                        let client = client.clone();
                        async move {
                            match retry(|| client.get_data(&path)).await {
                                Ok((data, _)) => Ok(Some(data)),
                                // Removed between the listing and the read.
                                Err(zk::Error::NoNode) => Ok(None),
                                Err(e) => Err((path, e)),
                            }
                        }
                    })
                    .buffered(LOAD_PIPELINE)
                    .try_collect()
                    .await;
            read.map_err(|(path, e)| self.zk_error("read", &path, e))?
        };
        paths
            .iter()
            .zip(datas)
            .filter_map(|(path, data)| Some((path, data?)))
            .map(|(path, data)| {
                serde_json::from_slice::<T>(&data)
                    .map_err(|e| format!("corrupt registry node {path}: {e}"))
            })
            .collect()
    }

    async fn apply(&mut self, op: &RegistryOp) -> Result<(), String> {
        let (path, data) = match op {
            RegistryOp::AdmitAgent(info) => match &info.id {
                // The in-memory registry ignores an info without an ID; so do we.
                None => return Ok(()),
                Some(id) => (
                    format!("{}/{}", self.agents_dir(), encode_id(&id.value)),
                    Some(serde_json::to_vec(info).map_err(|e| e.to_string())?),
                ),
            },
            RegistryOp::PutFramework(info) => match &info.id {
                None => return Ok(()),
                Some(id) => (
                    format!("{}/{}", self.frameworks_dir(), encode_id(&id.value)),
                    Some(serde_json::to_vec(info).map_err(|e| e.to_string())?),
                ),
            },
            RegistryOp::RemoveAgent(id) => (
                format!("{}/{}", self.agents_dir(), encode_id(&id.value)),
                None,
            ),
            RegistryOp::RemoveFramework(id) => (
                format!("{}/{}", self.frameworks_dir(), encode_id(&id.value)),
                None,
            ),
            RegistryOp::PutQuota(q) => (
                format!("{}/{}", self.quotas_dir(), encode_id(&q.role)),
                Some(serde_json::to_vec(q).map_err(|e| e.to_string())?),
            ),
            RegistryOp::RemoveQuota(role) => {
                (format!("{}/{}", self.quotas_dir(), encode_id(role)), None)
            }
        };
        let client = self.client().await?;
        match data {
            Some(data) => self.put(&client, &path, &data).await,
            None => match retry(|| client.delete(&path, None)).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(()),
                Err(e) => Err(self.zk_error("delete", &path, e)),
            },
        }
    }

    /// Create `path` with `data`, or overwrite it if it exists.
    async fn put(&self, client: &zk::Client, path: &str, data: &[u8]) -> Result<(), String> {
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        // Bounded: each round loses only to a concurrent delete/create of the same node.
        for _ in 0..10 {
            match retry(|| client.create(path, data, &options)).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NodeExists) => {}
                Err(e) => return Err(self.zk_error("create", path, e)),
            }
            match retry(|| client.set_data(path, data, None)).await {
                Ok(_) => return Ok(()),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(self.zk_error("write", path, e)),
            }
        }
        Err(format!(
            "write {path}: the node kept appearing and disappearing"
        ))
    }

    fn zk_error(&self, what: &str, path: &str, e: zk::Error) -> String {
        let hint = match e {
            zk::Error::SessionExpired => " (the next call opens a new session)",
            _ => "",
        };
        format!("{what} {path} on ZooKeeper at {}: {e}{hint}", self.hosts)
    }
}

/// `AdmitAgent(<id>)` etc., for error messages.
fn describe(op: &RegistryOp) -> String {
    let id = |v: Option<&str>| v.unwrap_or("<no id>").to_string();
    match op {
        RegistryOp::AdmitAgent(i) => format!(
            "AdmitAgent({})",
            id(i.id.as_ref().map(|x| x.value.as_str()))
        ),
        RegistryOp::RemoveAgent(x) => format!("RemoveAgent({})", x.value),
        RegistryOp::PutFramework(i) => format!(
            "PutFramework({})",
            id(i.id.as_ref().map(|x| x.value.as_str()))
        ),
        RegistryOp::RemoveFramework(x) => format!("RemoveFramework({})", x.value),
        RegistryOp::PutQuota(q) => format!("PutQuota({})", q.role),
        RegistryOp::RemoveQuota(role) => format!("RemoveQuota({role})"),
    }
}

/// The data of each of `paths` in one multi-read request; `None` for a node that no longer
/// exists.
async fn multi_get(
    client: &zk::Client,
    paths: &[String],
) -> Result<Vec<Option<Vec<u8>>>, zk::Error> {
    let mut reader = client.new_multi_reader();
    for path in paths {
        reader.add_get_data(path)?;
    }
    let results = reader.commit().await?;
    if results.len() != paths.len() {
        return Err(zk::Error::UnexpectedError(format!(
            "multi-read of {} nodes answered {} results",
            paths.len(),
            results.len()
        )));
    }
    results
        .into_iter()
        .map(|r| match r {
            zk::MultiReadResult::Data { data, .. } => Ok(Some(data)),
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode,
            } => Ok(None),
            zk::MultiReadResult::Error { err } => Err(err),
            other => Err(zk::Error::UnexpectedError(format!(
                "multi-read get_data answered {other:?}"
            ))),
        })
        .collect()
}

/// Retry an idempotent operation while the connection is being re-established. Requests sent
/// while disconnected wait for the reconnection; they fail for good once the session ends.
/// The caller bounds the whole by the operation timeout.
async fn retry<T, F: Future<Output = Result<T, zk::Error>>>(
    op: impl Fn() -> F,
) -> Result<T, zk::Error> {
    let mut pause = Duration::from_millis(20);
    let started = Instant::now();
    loop {
        match op().await {
            Err(zk::Error::ConnectionLoss) => {
                tracing::debug!(elapsed = ?started.elapsed(), "ZooKeeper connection lost; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            r => return r,
        }
    }
}

/// `/a/b/` -> `/a/b`; `/` -> ``. The root must be absolute.
fn normalize_root(root: &str) -> Result<String, String> {
    if !root.starts_with('/') {
        return Err(format!("registry root {root:?} must be an absolute path"));
    }
    let trimmed = root.trim_end_matches('/');
    if trimmed.contains("//") {
        return Err(format!("registry root {root:?} has an empty path segment"));
    }
    Ok(trimmed.to_string())
}

/// A node name for an ID: unreserved characters as they are, everything else as `%XX` of its
/// UTF-8 bytes (so `/`, `%` and control characters never reach ZooKeeper); `.` and `..`,
/// which ZooKeeper refuses as names, are encoded whole.
pub fn encode_id(id: &str) -> String {
    if id == "." || id == ".." {
        return id.bytes().map(|b| format!("%{b:02X}")).collect();
    }
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~:@+=,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_for_zookeeper() {
        assert_eq!(
            encode_id("2b5e0f3c-7d1a-4c7e-9f00-1a2b3c4d5e6f-S0"),
            "2b5e0f3c-7d1a-4c7e-9f00-1a2b3c4d5e6f-S0"
        );
        assert_eq!(encode_id("a/b"), "a%2Fb");
        assert_eq!(encode_id("a%2Fb"), "a%252Fb");
        assert_eq!(encode_id("."), "%2E");
        assert_eq!(encode_id(".."), "%2E%2E");
        assert_eq!(encode_id("..."), "...");
        assert_eq!(encode_id("é"), "%C3%A9");
    }

    /// `load` without multi-read (ZooKeeper before 3.6) reads the same registry.
    #[test]
    fn load_without_multi_read_matches() {
        let zk = mesos_testkit::ZkServer::start();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let open = |multi_read| {
            rt.block_on(ZkStore::connect_with(
                &zk.connect_string(),
                "/r",
                Duration::from_secs(6),
                multi_read,
            ))
            .unwrap()
        };
        let mut store = open(true);
        for i in 0..250 {
            let info: AgentInfo = serde_json::from_value(serde_json::json!({
                "hostname": format!("h{i}"), "id": {"value": format!("a{i}")}
            }))
            .unwrap();
            store.apply(&RegistryOp::AdmitAgent(info)).unwrap();
        }
        let with = store.load().unwrap();
        assert_eq!(with.agents.len(), 250);
        assert_eq!(open(false).load().unwrap(), with);
    }

    #[test]
    fn roots_are_normalized() {
        assert_eq!(
            normalize_root("/mesos/registry/").unwrap(),
            "/mesos/registry"
        );
        assert_eq!(normalize_root("/").unwrap(), "");
        assert!(normalize_root("mesos").is_err());
        assert!(normalize_root("/a//b").is_err());
    }
}
