//! The ZooKeeper backend of [`Store`](super::Store).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use mesos_core::election::ZkUrl;
use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::{check_batch, validate_key, Store, StoreOp};

/// A store in ZooKeeper, one node per key, under `<url path>/state` (spec A11).
///
/// # Layout
///
/// A key `<category>/<id>[/<more>...]` lives at `<path>/state/<category>/<bucket>/<id>[/<more>...]`,
/// where `bucket` is Marathon's: the lowercase hex digit of `abs(javaHashCode(id) % 16)`.
/// A one-segment key (`framework-id`) lives at `<path>/state/<key>`. So `group/root` is
/// `/marathon/state/group/2/root` and `apps/_prod_web/2020-01-01T00:00:00.000Z` is
/// `/marathon/state/apps/5/_prod_web/2020-01-01T00:00:00.000Z`. Segments are node names as
/// they are, except that `%`, `/`, spaces, control and non-ASCII bytes are written `%XX`, and
/// `.` and `..` (which ZooKeeper refuses as names) are encoded whole.
///
/// A key's node holds a one-byte format tag ([`ZK_VALUE_TAG`]) followed by the value; nodes
/// that only exist as parents of keys (categories, buckets, app ids) hold no data. (Unlike
/// Marathon, values are not protobuf-wrapped nor gzip-compressed, so a ZooKeeper state
/// written by upstream Marathon is not readable here: reading such a node is an error.)
/// Parent nodes that no longer hold any key are removed with the last key below them.
///
/// # Atomicity and consistency
///
/// Every write (a `put`, a `delete`, a `batch`) is one ZooKeeper `multi` transaction, built
/// from the current state of the nodes it touches and guarded by their versions: it applies
/// whole or not at all. If another client changed one of those nodes meanwhile, or the
/// connection was lost so that the outcome is unknown, the transaction is planned again
/// from what ZooKeeper then holds (a batch's outcome does not depend on the state it starts
/// from, so applying it again is harmless). `list` reads the nodes one by one (pipelined), so
/// it is not a snapshot if another client writes at the same time; Marathon has one writer,
/// its leader.
///
/// # Sessions and threads
///
/// The client runs on a dedicated thread with its own current-thread runtime; the
/// synchronous calls wait on a channel (inside `block_in_place` when the caller is on a
/// multi-thread tokio runtime). Each call is bounded by the session timeout. After the
/// session expires, the next call opens a new one. With credentials in the URL
/// (`zk://user:pass@...`) the client authenticates with `digest` and creates nodes that only
/// their creator may access (Marathon's `CREATOR_ALL_ACL`); without, nodes are open.
pub struct ZkStore {
    requests: mpsc::UnboundedSender<ZkRequest>,
    op_timeout: Duration,
    /// `zk://hosts/path/state` (without credentials), for error messages.
    name: String,
}

/// The first byte of the data of every node that holds a key: "format 1, the value follows".
pub const ZK_VALUE_TAG: u8 = 1;

/// The largest transaction we send: ZooKeeper's default `jute.maxbuffer` (1 MiB - 1) less a
/// margin for the request header.
const ZK_MAX_TXN_BYTES: usize = 1_048_575 - 4096;

/// Nodes read concurrently by `list` and when planning a transaction.
const ZK_READS_IN_FLIGHT: usize = 128;

/// How often a transaction is planned again after losing a race with another client.
const ZK_MAX_CONFLICTS: usize = 20;

type Reply<T> = std_mpsc::SyncSender<Result<T, String>>;

enum ZkRequest {
    Get(String, Reply<Option<Vec<u8>>>),
    List(String, Reply<Vec<(String, Vec<u8>)>>),
    Batch(Vec<StoreOp>, Reply<()>),
}

impl ZkStore {
    /// Connect to `zk://h1:2181,h2:2181/marathon` (optionally `zk://user:pass@...`) and create
    /// `/marathon/state` if it is missing. `session_timeout` is the ZooKeeper session timeout
    /// asked for and the bound on each later call; connecting is bounded by about three times it.
    pub fn connect(zk_url: &str, session_timeout: Duration) -> Result<Self, String> {
        let url = ZkUrl::parse(zk_url)?;
        let root = format!("{}/state", url.path);
        let name = format!("{url}/state");
        let connect_limit = session_timeout * 3;
        let (requests, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel(1);
        let worker = ZkWorker {
            url,
            root,
            session_timeout,
            client: None,
        };
        std::thread::Builder::new()
            .name("zk-store".into())
            .spawn(move || worker.run(receiver, ready_tx, connect_limit))
            .map_err(|e| format!("store {name}: cannot start its thread: {e}"))?;
        let limit = connect_limit + Duration::from_secs(5);
        match wait_blocking(move || ready_rx.recv_timeout(limit)) {
            Ok(Ok(())) => Ok(ZkStore {
                requests,
                op_timeout: session_timeout,
                name,
            }),
            Ok(Err(e)) => Err(format!("store {name}: {e}")),
            Err(_) => Err(format!(
                "store {name}: its thread did not report within {limit:?}"
            )),
        }
    }

    /// Send a request to the worker thread and wait for its answer.
    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> ZkRequest) -> Result<T, String> {
        let (tx, rx) = std_mpsc::sync_channel(1);
        self.requests
            .send(make(tx))
            .map_err(|_| format!("store {}: its thread has stopped", self.name))?;
        // The worker bounds each request by the session timeout; the margin only guards
        // against a wedged thread.
        let limit = self.op_timeout + Duration::from_secs(5);
        match wait_blocking(move || rx.recv_timeout(limit)) {
            Ok(r) => r.map_err(|e| format!("store {}: {e}", self.name)),
            Err(_) => Err(format!(
                "store {}: no answer from its thread within {limit:?}",
                self.name
            )),
        }
    }
}

/// Run a blocking wait without stalling a multi-thread tokio runtime's worker.
fn wait_blocking<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

impl Store for ZkStore {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        let ops = vec![StoreOp::Put(key.to_string(), value.to_vec())];
        check_batch(&ops)?;
        self.call(move |r| ZkRequest::Batch(ops, r))
    }

    fn delete(&mut self, key: &str) -> Result<(), String> {
        let ops = vec![StoreOp::Delete(key.to_string())];
        check_batch(&ops)?;
        self.call(move |r| ZkRequest::Batch(ops, r))
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        validate_key(key)?;
        let key = key.to_string();
        self.call(move |r| ZkRequest::Get(key, r))
    }

    fn list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let prefix = prefix.to_string();
        self.call(move |r| ZkRequest::List(prefix, r))
    }

    fn batch(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        check_batch(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let ops = ops.to_vec();
        self.call(move |r| ZkRequest::Batch(ops, r))
    }
}

/// Marathon's hash bucket for an id: `abs(id.hashCode() % 16)` in lowercase hex, where
/// `hashCode` is Java's `String.hashCode` (over UTF-16 code units, wrapping).
pub fn zk_bucket(id: &str) -> String {
    let hash = id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    format!("{:x}", (hash % 16).unsigned_abs())
}

/// A key segment as a ZooKeeper node name (see [`ZkStore`]).
fn encode_segment(segment: &str) -> String {
    if segment == "." || segment == ".." {
        return segment.bytes().map(|b| format!("%{b:02X}")).collect();
    }
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_graphic() && b != b'%' && b != b'/' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_segment(name: &str) -> Result<String, String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("node name {name:?} has a bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("node name {name:?} does not decode to UTF-8"))
}

/// The node names below the state root for a key given as its segments:
/// `[category]` or `[category, bucket, id, more...]`.
fn node_names(segments: &[&str]) -> Vec<String> {
    let mut names = Vec::with_capacity(segments.len() + 1);
    if let Some(first) = segments.first() {
        names.push(encode_segment(first));
    }
    if let Some(id) = segments.get(1) {
        names.push(zk_bucket(id));
        names.extend(segments[1..].iter().map(|s| encode_segment(s)));
    }
    names
}

/// The key a node holds, given its names below the root; `None` for the root and for bucket
/// nodes; an error for a node this store did not name.
fn key_of_names(names: &[String]) -> Result<Option<String>, String> {
    match names.len() {
        0 | 2 => Ok(None),
        1 => decode_segment(&names[0]).map(Some),
        _ => {
            let mut segments = vec![decode_segment(&names[0])?];
            for name in &names[2..] {
                segments.push(decode_segment(name)?);
            }
            if names[1] != zk_bucket(&segments[1]) {
                return Err(format!(
                    "node {} is in bucket {} but its id belongs in bucket {}",
                    names.join("/"),
                    names[1],
                    zk_bucket(&segments[1])
                ));
            }
            Ok(Some(segments.join("/")))
        }
    }
}

/// A node's data as a value: `None` for a parent-only node.
fn decode_value(data: &[u8], path: &str) -> Result<Option<Vec<u8>>, String> {
    match data.split_first() {
        None => Ok(None),
        Some((&ZK_VALUE_TAG, value)) => Ok(Some(value.to_vec())),
        Some((tag, _)) => Err(format!(
            "node {path} was not written by this store (format byte {tag:#04x}, expected {ZK_VALUE_TAG:#04x})"
        )),
    }
}

/// One write of a transaction. Versions guard against concurrent changes.
#[derive(Debug)]
enum ZkWrite {
    Create(String, Vec<u8>),
    SetData(String, Vec<u8>, i32),
    Delete(String, i32),
}

impl ZkWrite {
    /// About how many bytes this operation takes in a `multi` request.
    fn wire_size(&self) -> usize {
        // op header (type, done, err) + path length prefix + version/flags + ACL list.
        const OVERHEAD: usize = 12 + 4 + 4 + 64;
        OVERHEAD
            + match self {
                ZkWrite::Create(p, d) | ZkWrite::SetData(p, d, _) => p.len() + 4 + d.len(),
                ZkWrite::Delete(p, _) => p.len(),
            }
    }
}

/// What planning knows of one node.
#[derive(Clone, Copy, Debug)]
struct NodeState {
    exists: bool,
    /// Holds a key (data starting with the tag), as opposed to being only a parent.
    is_key: bool,
    version: i32,
    children: i32,
}

const ABSENT: NodeState = NodeState {
    exists: false,
    is_key: false,
    version: 0,
    children: 0,
};

/// The dedicated thread's state: the client and what it needs to reconnect.
struct ZkWorker {
    url: ZkUrl,
    /// `<url path>/state`
    root: String,
    session_timeout: Duration,
    client: Option<zk::Client>,
}

impl ZkWorker {
    fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<ZkRequest>,
        ready: std_mpsc::SyncSender<Result<(), String>>,
        connect_limit: Duration,
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
            let first = within(connect_limit, "connect", self.client())
                .await
                .map(|_| ());
            let ok = first.is_ok();
            if ready.send(first).is_err() || !ok {
                return;
            }
            let limit = self.session_timeout;
            while let Some(request) = requests.recv().await {
                match request {
                    ZkRequest::Get(key, reply) => {
                        let what = format!("get {key:?}");
                        let _ = reply.send(within(limit, &what, self.get(&key)).await);
                    }
                    ZkRequest::List(prefix, reply) => {
                        let what = format!("list {prefix:?}");
                        let _ = reply.send(within(limit, &what, self.list(&prefix)).await);
                    }
                    ZkRequest::Batch(ops, reply) => {
                        let what = describe_batch(&ops);
                        let _ = reply.send(within(limit, &what, self.batch(&ops)).await);
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

    fn create_options(&self) -> zk::CreateOptions<'static> {
        let acls = if self.url.credentials.is_some() {
            zk::Acls::creator_all()
        } else {
            zk::Acls::anyone_all()
        };
        zk::CreateMode::Persistent.with_acls(acls)
    }

    /// The live client; connects (creating the state root) when there is none or its
    /// session has ended.
    async fn client(&mut self) -> Result<zk::Client, String> {
        if let Some(c) = &self.client {
            if !c.state().is_terminated() {
                return Ok(c.clone());
            }
            tracing::warn!(state = %c.state(), "ZooKeeper store session ended; opening a new one");
            self.client = None;
        }
        let mut connector = zk::Client::connector().with_session_timeout(self.session_timeout);
        if let Some((user, pass)) = &self.url.credentials {
            connector = connector.with_auth("digest", format!("{user}:{pass}").as_bytes());
        }
        let hosts = self.url.hosts.clone();
        let client = connector
            .connect(&hosts)
            .await
            .map_err(|e| format!("cannot connect to ZooKeeper at {hosts}: {e}"))?;
        let options = self.create_options();
        retry(|| client.mkdir(&self.root, &options))
            .await
            .map_err(|e| format!("cannot create {}: {e}", self.root))?;
        // Catch up with writes made through other servers before the first read.
        retry(|| client.sync(&self.root))
            .await
            .map_err(|e| format!("cannot sync {}: {e}", self.root))?;
        self.client = Some(client.clone());
        Ok(client)
    }

    fn path_of(&self, names: &[String]) -> String {
        let mut path = self.root.clone();
        for name in names {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    fn zk_error(&self, what: &str, path: &str, e: zk::Error) -> String {
        let hint = match e {
            zk::Error::SessionExpired => " (the next call opens a new session)",
            _ => "",
        };
        format!(
            "{what} {path} on ZooKeeper at {}: {e}{hint}",
            self.url.hosts
        )
    }

    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        let client = self.client().await?;
        let segments: Vec<&str> = key.split('/').collect();
        let path = self.path_of(&node_names(&segments));
        match retry(|| client.get_data(&path)).await {
            Ok((data, _)) => decode_value(&data, &path),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(self.zk_error("read", &path, e)),
        }
    }

    async fn list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        use futures::stream::{StreamExt, TryStreamExt};
        let client = self.client().await?;
        // Start at the deepest node whose subtree holds every key with the prefix: the
        // node of the prefix's complete segments.
        let mut complete: Vec<&str> = prefix.split('/').collect();
        complete.pop();
        if complete.iter().any(|s| s.is_empty() || s.contains('\0')) {
            return Ok(Vec::new()); // no valid key has such a prefix
        }
        let mut level = vec![node_names(&complete)];
        let mut out = Vec::new();
        while !level.is_empty() {
            let reads: Vec<Option<(Vec<u8>, Vec<String>)>> = futures::stream::iter(level.iter())
                .map(|names| {
                    let client = client.clone();
                    let path = self.path_of(names);
                    async move { read_node(&client, &path).await.map_err(|e| (path, e)) }
                })
                .buffered(ZK_READS_IN_FLIGHT)
                .try_collect()
                .await
                .map_err(|(path, e)| self.zk_error("read", &path, e))?;
            let mut next = Vec::new();
            for (names, read) in level.into_iter().zip(reads) {
                // `None`: deleted since its parent was listed.
                let Some((data, children)) = read else {
                    continue;
                };
                let path = self.path_of(&names);
                match key_of_names(&names) {
                    Ok(Some(key)) if key.starts_with(prefix) => {
                        if let Some(value) = decode_value(&data, &path)? {
                            out.push((key, value));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(%path, "ZooKeeper store: ignoring a node it did not write: {e}");
                        continue;
                    }
                }
                for child in children {
                    let mut child_names = names.clone();
                    child_names.push(child);
                    next.push(child_names);
                }
            }
            level = next;
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn batch(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        let client = self.client().await?;
        let options = self.create_options();
        let mut conflicts = 0;
        let mut pause = Duration::from_millis(10);
        loop {
            let plan = self.plan(&client, ops).await?;
            if plan.is_empty() {
                return Ok(());
            }
            let size: usize = plan.iter().map(ZkWrite::wire_size).sum();
            if size > ZK_MAX_TXN_BYTES {
                return Err(format!(
                    "the transaction for this batch ({} node writes) would take about {size} bytes, \
                     more than ZooKeeper accepts in one request ({ZK_MAX_TXN_BYTES}); split the batch",
                    plan.len()
                ));
            }
            let mut writer = client.new_multi_writer();
            for write in &plan {
                match write {
                    ZkWrite::Create(p, d) => writer.add_create(p, d, &options),
                    ZkWrite::SetData(p, d, v) => writer.add_set_data(p, d, Some(*v)),
                    ZkWrite::Delete(p, v) => writer.add_delete(p, Some(*v)),
                }
                .map_err(|e| format!("cannot add {write:?} to a transaction: {e}"))?;
            }
            match writer.commit().await {
                Ok(_) => return Ok(()),
                // Unknown outcome, or the server is busy: plan again from what it holds.
                Err(zk::MultiWriteError::RequestFailed {
                    source: zk::Error::ConnectionLoss | zk::Error::Throttled,
                }) => {
                    tracing::debug!("ZooKeeper store: transaction outcome unknown; planning again");
                }
                // Another client changed a node we planned from.
                Err(zk::MultiWriteError::OperationFailed {
                    index,
                    source:
                        e @ (zk::Error::BadVersion
                        | zk::Error::NodeExists
                        | zk::Error::NoNode
                        | zk::Error::NotEmpty),
                }) => {
                    conflicts += 1;
                    if conflicts > ZK_MAX_CONFLICTS {
                        return Err(format!(
                            "gave up after {conflicts} conflicting changes by other clients (last: {e} at {:?})",
                            plan.get(index)
                        ));
                    }
                    tracing::debug!(?e, write = ?plan.get(index), "ZooKeeper store: concurrent change; planning again");
                }
                Err(zk::MultiWriteError::OperationFailed { index, source }) => {
                    let path = match plan.get(index) {
                        Some(
                            ZkWrite::Create(p, _)
                            | ZkWrite::SetData(p, _, _)
                            | ZkWrite::Delete(p, _),
                        ) => p.as_str(),
                        None => "?",
                    };
                    return Err(self.zk_error(
                        "transaction failed (nothing applied) at",
                        path,
                        source,
                    ));
                }
                Err(zk::MultiWriteError::RequestFailed { source }) => {
                    return Err(self.zk_error(
                        "transaction failed under",
                        &self.root.clone(),
                        source,
                    ));
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The node writes that take ZooKeeper's current state to the state after `ops`.
    async fn plan(&self, client: &zk::Client, ops: &[StoreOp]) -> Result<Vec<ZkWrite>, String> {
        use futures::stream::{StreamExt, TryStreamExt};
        // Every node the operations touch: each key's node and its ancestors below the root.
        let keyed: Vec<(&StoreOp, Vec<String>)> = ops
            .iter()
            .map(|op| {
                let segments: Vec<&str> = op.key().split('/').collect();
                let paths = (1..=node_names(&segments).len())
                    .map(|depth| self.path_of(&node_names(&segments)[..depth]))
                    .collect();
                (op, paths)
            })
            .collect();
        let mut seen = HashSet::new();
        let wanted: Vec<String> = keyed
            .iter()
            .flat_map(|(_, paths)| paths.iter())
            .filter(|p| seen.insert(p.as_str()))
            .cloned()
            .collect();
        let stats: Vec<(String, NodeState)> = futures::stream::iter(wanted)
            .map(|path| {
                let client = client.clone();
                async move {
                    match retry(|| client.check_stat(&path)).await {
                        Ok(stat) => Ok((
                            path,
                            stat.map_or(ABSENT, |s| NodeState {
                                exists: true,
                                is_key: s.data_length > 0,
                                version: s.version,
                                children: s.num_children,
                            }),
                        )),
                        Err(e) => Err((path, e)),
                    }
                }
            })
            .buffered(ZK_READS_IN_FLIGHT)
            .try_collect()
            .await
            .map_err(|(path, e)| self.zk_error("read", &path, e))?;
        let mut nodes: HashMap<String, NodeState> = stats.into_iter().collect();

        // Simulate the operations in order on what we read, emitting the writes.
        let mut writes = Vec::new();
        for (op, paths) in &keyed {
            let (key_path, ancestors) = paths.split_last().expect("a key has a node");
            // Keep the parent's child count in step (the root's is not tracked).
            let adjust_parent =
                |nodes: &mut HashMap<String, NodeState>, depth: usize, delta: i32| {
                    if depth > 0 {
                        if let Some(parent) = nodes.get_mut(&paths[depth - 1]) {
                            parent.children += delta;
                        }
                    }
                };
            match op {
                StoreOp::Put(_, value) => {
                    for (depth, path) in ancestors.iter().enumerate() {
                        if !nodes[path].exists {
                            writes.push(ZkWrite::Create(path.clone(), Vec::new()));
                            nodes.insert(
                                path.clone(),
                                NodeState {
                                    exists: true,
                                    ..ABSENT
                                },
                            );
                            adjust_parent(&mut nodes, depth, 1);
                        }
                    }
                    let mut data = Vec::with_capacity(value.len() + 1);
                    data.push(ZK_VALUE_TAG);
                    data.extend_from_slice(value);
                    let node = nodes.get_mut(key_path).expect("planned node");
                    if node.exists {
                        writes.push(ZkWrite::SetData(key_path.clone(), data, node.version));
                        node.version += 1;
                        node.is_key = true;
                    } else {
                        writes.push(ZkWrite::Create(key_path.clone(), data));
                        *node = NodeState {
                            exists: true,
                            is_key: true,
                            ..ABSENT
                        };
                        adjust_parent(&mut nodes, ancestors.len(), 1);
                    }
                }
                StoreOp::Delete(_) => {
                    let node = nodes.get_mut(key_path).expect("planned node");
                    if !node.exists || !node.is_key {
                        continue;
                    }
                    if node.children > 0 {
                        // Other keys live below this one: keep the node as a parent.
                        writes.push(ZkWrite::SetData(key_path.clone(), Vec::new(), node.version));
                        node.version += 1;
                        node.is_key = false;
                        continue;
                    }
                    writes.push(ZkWrite::Delete(key_path.clone(), node.version));
                    *node = ABSENT;
                    adjust_parent(&mut nodes, ancestors.len(), -1);
                    // Remove the parents that no longer hold anything.
                    for (depth, path) in ancestors.iter().enumerate().rev() {
                        let node = nodes[path];
                        if !node.exists || node.is_key || node.children > 0 {
                            break;
                        }
                        writes.push(ZkWrite::Delete(path.clone(), node.version));
                        nodes.insert(path.clone(), ABSENT);
                        adjust_parent(&mut nodes, depth, -1);
                    }
                }
            }
        }
        Ok(writes)
    }
}

/// A node's data and children; `None` when it does not exist.
async fn read_node(
    client: &zk::Client,
    path: &str,
) -> Result<Option<(Vec<u8>, Vec<String>)>, zk::Error> {
    let (data, stat) = match retry(|| client.get_data(path)).await {
        Ok(read) => read,
        Err(zk::Error::NoNode) => return Ok(None),
        Err(e) => return Err(e),
    };
    let children = if stat.num_children > 0 {
        match retry(|| client.list_children(path)).await {
            Ok(children) => children,
            Err(zk::Error::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        }
    } else {
        Vec::new()
    };
    Ok(Some((data, children)))
}

/// `batch [put "a", delete "b", ...]` for error messages (the first few keys).
fn describe_batch(ops: &[StoreOp]) -> String {
    let mut parts: Vec<String> = ops
        .iter()
        .take(3)
        .map(|op| match op {
            StoreOp::Put(k, _) => format!("put {k:?}"),
            StoreOp::Delete(k) => format!("delete {k:?}"),
        })
        .collect();
    if ops.len() > 3 {
        parts.push(format!("and {} more", ops.len() - 3));
    }
    if ops.len() == 1 {
        parts.remove(0)
    } else {
        format!("batch [{}]", parts.join(", "))
    }
}

/// Run `fut`, bounded by `limit`.
async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: ZooKeeper did not answer within {limit:?}")),
    }
}

/// Retry an idempotent request while the connection is being re-established; requests
/// fail for good once the session has ended. Callers bound the whole with [`within`].
async fn retry<T, F: Future<Output = Result<T, zk::Error>>>(
    op: impl Fn() -> F,
) -> Result<T, zk::Error> {
    let mut pause = Duration::from_millis(20);
    loop {
        match op().await {
            Err(zk::Error::ConnectionLoss | zk::Error::Throttled) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_java_string_hash() {
        assert_eq!(zk_bucket("root"), "2"); // hashCode 3506402
        assert_eq!(zk_bucket("_prod_web"), "5"); // hashCode -913880117
        assert_eq!(zk_bucket("_frontend"), "f"); // hashCode -1152270479
        assert_eq!(zk_bucket("polygenelubricants"), "0"); // hashCode i32::MIN
        assert_eq!(zk_bucket("é😀"), "c"); // UTF-16 units, surrogate pair included
    }

    #[test]
    fn segments_encode_and_decode() {
        for s in [
            "_my.app",
            "2020-01-01T00:00:00.000+00:00",
            "a b",
            "100%",
            ".",
            "..",
            "...",
            "é",
            "x\u{1}y",
        ] {
            let enc = encode_segment(s);
            assert!(
                enc.bytes().all(|b| b.is_ascii_graphic() && b != b'/'),
                "{enc}"
            );
            assert!(enc != "." && enc != "..");
            assert_eq!(decode_segment(&enc).unwrap(), s);
        }
        assert_eq!(encode_segment("_my.app"), "_my.app");
        assert_eq!(encode_segment("a b%"), "a%20b%25");
        assert_eq!(encode_segment(".."), "%2E%2E");
        assert!(decode_segment("%zz").is_err());
        assert!(decode_segment("%C3").is_err());
    }

    #[test]
    fn keys_map_to_marathon_style_nodes() {
        assert_eq!(node_names(&["framework-id"]), ["framework-id"]);
        assert_eq!(node_names(&["group", "root"]), ["group", "2", "root"]);
        assert_eq!(
            node_names(&["apps", "_prod_web", "2020-01-01T00:00:00.000Z"]),
            ["apps", "5", "_prod_web", "2020-01-01T00:00:00.000Z"]
        );
        let names = node_names(&["apps", "a b", "v"]);
        assert_eq!(key_of_names(&names).unwrap().as_deref(), Some("apps/a b/v"));
        assert_eq!(key_of_names(&names[..2]).unwrap(), None);
        assert_eq!(key_of_names(&[]).unwrap(), None);
        let misplaced = ["apps".to_string(), "0".to_string(), "root".to_string()];
        assert!(key_of_names(&misplaced).is_err());
    }

    #[test]
    fn node_data_is_tagged() {
        assert_eq!(decode_value(&[], "/p").unwrap(), None);
        assert_eq!(decode_value(&[ZK_VALUE_TAG], "/p").unwrap(), Some(vec![]));
        assert_eq!(
            decode_value(&[ZK_VALUE_TAG, b'{', b'}'], "/p").unwrap(),
            Some(b"{}".to_vec())
        );
        assert!(decode_value(b"\x08\x01", "/p")
            .unwrap_err()
            .contains("not written by this store"));
    }

    #[test]
    fn keys_are_validated() {
        for bad in ["", "/a", "a/", "a//b", "/", "a\0b"] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
        for good in [
            "framework-id",
            "apps/_x/2020-01-01T00:00:00.000Z",
            "a/./..",
            "é/ /%",
        ] {
            validate_key(good).unwrap();
        }
    }
}
