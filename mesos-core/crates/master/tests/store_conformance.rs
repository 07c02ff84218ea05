//! One set of conformance checks for every registry `Store`, run against SQLite (in a temp
//! dir) and ZooKeeper (a real server from `mesos_testkit`; the fixture panics with an
//! install hint when ZooKeeper is missing, it never skips). Plus ZooKeeper-only checks: a
//! write fails, in bounded time, while the server is down, and what was written survives a
//! server restart.

use mesos_master::registry::{Registry, RegistryOp, SqliteStore, Store};
use mesos_master::registry_zk::ZkStore;
use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::v1::{AgentInfo, FrameworkInfo};
use mesos_testkit::ZkServer;
use serde_json::json;
use std::time::{Duration, Instant};

/// Session timeout for the tests' ZooKeeper stores. The server's default tick (3 s) makes
/// 6 s its minimum, so this is what the session gets anyway.
const ZK_SESSION: Duration = Duration::from_secs(6);

fn agent(id: &str, host: &str) -> AgentInfo {
    serde_json::from_value(json!({
        "hostname": host,
        "port": 5051,
        "id": {"value": id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4.0}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 8192.0}},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": 31000, "end": 32000}]}}
        ],
        "attributes": [
            {"name": "rack", "type": "TEXT", "text": {"value": "r1"}}
        ]
    }))
    .unwrap()
}

fn framework(id: &str, name: &str, failover_timeout: f64) -> FrameworkInfo {
    serde_json::from_value(json!({
        "user": "alice",
        "name": name,
        "id": {"value": id},
        "failover_timeout": failover_timeout,
        "checkpoint": true,
        "roles": ["web", "batch"],
        "hostname": "sched.example.com",
        "principal": "alice-principal",
        "webui_url": "http://sched.example.com:8080",
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
        "labels": {"labels": [{"key": "team", "value": "infra"}]}
    }))
    .unwrap()
}

/// Creates fresh store instances over one backing registry (a file, a znode tree).
trait Backend {
    fn open(&mut self) -> Box<dyn Store>;
}

/// The checks every store must pass, written once. `backend.open()` must return a store over
/// the same (initially empty) backing data each time it is called.
fn conformance(backend: &mut dyn Backend) {
    let mut store = backend.open();

    // Empty load.
    assert_eq!(
        store.load().unwrap(),
        Registry::default(),
        "a new registry is empty"
    );

    // Admit / put, then load.
    let mut expected = Registry::default();
    let ops = [
        RegistryOp::AdmitAgent(agent("a1", "host1")),
        RegistryOp::AdmitAgent(agent("a2", "host2")),
        RegistryOp::PutFramework(framework("f1", "one", 604800.0)),
        RegistryOp::PutFramework(framework("f2", "two", 0.5)),
    ];
    for op in &ops {
        store.apply(op).unwrap();
        expected.apply(op);
    }
    assert_eq!(expected.agents.len(), 2);
    assert_eq!(expected.frameworks.len(), 2);
    assert_eq!(store.load().unwrap(), expected);

    // Framework infos keep failover_timeout and every other field exactly.
    let loaded = store.load().unwrap();
    let f2 = &loaded.frameworks[&FrameworkId::new("f2")];
    assert_eq!(f2, &framework("f2", "two", 0.5));
    assert_eq!(f2.failover_timeout, 0.5);
    assert_eq!(
        loaded.frameworks[&FrameworkId::new("f1")].failover_timeout,
        604800.0
    );
    assert_eq!(loaded.agents[&AgentId::new("a1")], agent("a1", "host1"));

    // Overwrite.
    let ops = [
        RegistryOp::AdmitAgent(agent("a1", "host1-renamed")),
        RegistryOp::PutFramework(framework("f1", "one-v2", 42.25)),
    ];
    for op in &ops {
        store.apply(op).unwrap();
        expected.apply(op);
    }
    let loaded = store.load().unwrap();
    assert_eq!(loaded, expected);
    assert_eq!(loaded.agents[&AgentId::new("a1")].hostname, "host1-renamed");
    assert_eq!(loaded.frameworks[&FrameworkId::new("f1")].name, "one-v2");
    assert_eq!(
        loaded.frameworks[&FrameworkId::new("f1")].failover_timeout,
        42.25
    );

    // Remove, including keys that are absent (never written, or already removed).
    let ops = [
        RegistryOp::RemoveAgent(AgentId::new("a2")),
        RegistryOp::RemoveAgent(AgentId::new("a2")),
        RegistryOp::RemoveAgent(AgentId::new("never-admitted")),
        RegistryOp::RemoveFramework(FrameworkId::new("f2")),
        RegistryOp::RemoveFramework(FrameworkId::new("f2")),
        RegistryOp::RemoveFramework(FrameworkId::new("never-put")),
    ];
    for op in &ops {
        store.apply(op).unwrap();
        expected.apply(op);
    }
    let loaded = store.load().unwrap();
    assert_eq!(loaded, expected);
    assert_eq!(
        loaded.agents.keys().cloned().collect::<Vec<_>>(),
        vec![AgentId::new("a1")]
    );
    assert_eq!(
        loaded.frameworks.keys().cloned().collect::<Vec<_>>(),
        vec![FrameworkId::new("f1")]
    );

    // Quota configs: put, overwrite, remove (also of a role that has none).
    let quota = |role: &str, cpus: f64| mesos_master::registry::QuotaRecord {
        role: role.into(),
        guarantees: [("cpus".to_string(), cpus)].into_iter().collect(),
        limits: [("cpus".to_string(), cpus * 2.0), ("mem".to_string(), 0.0)]
            .into_iter()
            .collect(),
    };
    let ops = [
        RegistryOp::PutQuota(quota("dev", 1.5)),
        RegistryOp::PutQuota(quota("prod", 4.0)),
        RegistryOp::PutQuota(quota("dev", 2.25)),
        RegistryOp::RemoveQuota("prod".into()),
        RegistryOp::RemoveQuota("never-set".into()),
    ];
    for op in &ops {
        store.apply(op).unwrap();
        expected.apply(op);
    }
    let loaded = store.load().unwrap();
    assert_eq!(loaded, expected);
    assert_eq!(loaded.quotas.len(), 1);
    // A zero limit ("none of this") survives the round trip.
    assert_eq!(loaded.quotas["dev"], quota("dev", 2.25));

    // A removed key can come back.
    let op = RegistryOp::PutFramework(framework("f2", "two-again", 3.0));
    store.apply(&op).unwrap();
    expected.apply(&op);
    assert_eq!(store.load().unwrap(), expected);

    // Durability: a new store instance over the same backing data loads the same registry.
    drop(store);
    let mut store = backend.open();
    assert_eq!(store.load().unwrap(), expected, "registry after reopening");

    // 1,000 agents round trip (written by one instance, loaded by a fresh one).
    for i in 0..1000 {
        let op = RegistryOp::AdmitAgent(agent(
            &format!("0b7f6c8e-1d2a-4e3b-9c4d-5e6f7a8b9c0d-S{i}"),
            &format!("node{i}.example.com"),
        ));
        store.apply(&op).unwrap();
        expected.apply(&op);
    }
    drop(store);
    let mut store = backend.open();
    let started = Instant::now();
    let loaded = store.load().unwrap();
    let took = started.elapsed();
    eprintln!("loaded {} agents in {took:?}", loaded.agents.len());
    assert_eq!(loaded.agents.len(), 1001);
    assert_eq!(loaded, expected);
    assert!(
        took < Duration::from_secs(10),
        "loading 1,000 agents took {took:?}"
    );
}

struct SqliteBackend {
    dir: tempfile::TempDir,
}

impl Backend for SqliteBackend {
    fn open(&mut self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.dir.path().join("registry.sqlite")).unwrap())
    }
}

/// ZooKeeper stores are opened from a plain thread (no runtime: `connect` is awaited on a
/// throwaway one) and used from the test thread, outside any runtime.
struct ZkBackend {
    hosts: String,
    root: String,
}

fn zk_connect(hosts: &str, root: &str) -> Result<ZkStore, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(ZkStore::connect(hosts, root, ZK_SESSION))
}

impl Backend for ZkBackend {
    fn open(&mut self) -> Box<dyn Store> {
        Box::new(zk_connect(&self.hosts, &self.root).unwrap())
    }
}

#[test]
fn sqlite_store_conforms() {
    conformance(&mut SqliteBackend {
        dir: tempfile::tempdir().unwrap(),
    });
}

#[test]
fn zookeeper_store_conforms() {
    let zk = ZkServer::start();
    conformance(&mut ZkBackend {
        hosts: zk.connect_string(),
        root: "/mesos/registry".into(),
    });
    // A second registry under another root is independent of the first.
    let mut other = ZkBackend {
        hosts: zk.connect_string(),
        root: "/other/cluster/registry".into(),
    };
    assert_eq!(other.open().load().unwrap(), Registry::default());
}

/// The store as the master uses it: connected from and called synchronously inside a task on
/// a multi-thread runtime (the actor). Other tasks must keep running while it waits.
#[test]
fn zookeeper_store_works_inside_a_multi_thread_runtime() {
    let zk = ZkServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hosts = zk.connect_string();
    rt.block_on(async move {
        let mut store = ZkStore::connect(&hosts, "/mesos/registry", ZK_SESSION)
            .await
            .unwrap();
        let ticker = tokio::spawn(async {
            let mut ticks = 0u32;
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks += 1;
                if ticks == 50 {
                    return ticks;
                }
            }
        });
        tokio::spawn(async move {
            for i in 0..200 {
                store
                    .apply(&RegistryOp::PutFramework(framework(
                        &format!("f{i}"),
                        "n",
                        1.0,
                    )))
                    .unwrap();
            }
            let reg = store.load().unwrap();
            assert_eq!(reg.frameworks.len(), 200);
        })
        .await
        .unwrap();
        assert_eq!(ticker.await.unwrap(), 50);
    });
    // ... and from a current-thread runtime, where block_in_place is unavailable.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hosts = zk.connect_string();
    rt.block_on(async move {
        let mut store = ZkStore::connect(&hosts, "/mesos/registry", ZK_SESSION)
            .await
            .unwrap();
        store
            .apply(&RegistryOp::RemoveFramework(FrameworkId::new("f0")))
            .unwrap();
        assert_eq!(store.load().unwrap().frameworks.len(), 199);
    });
}

#[test]
fn zookeeper_store_fails_while_zookeeper_is_down_and_recovers_after_restart() {
    let mut zk = ZkServer::start();
    let hosts = zk.connect_string();
    let root = "/mesos/registry";
    let mut store = zk_connect(&hosts, root).unwrap();
    let mut expected = Registry::default();
    for op in [
        RegistryOp::AdmitAgent(agent("a1", "host1")),
        RegistryOp::PutFramework(framework("f1", "one", 3600.0)),
    ] {
        store.apply(&op).unwrap();
        expected.apply(&op);
    }

    zk.stop();
    let started = Instant::now();
    let err = store
        .apply(&RegistryOp::PutFramework(framework("f2", "two", 1.0)))
        .unwrap_err();
    let took = started.elapsed();
    eprintln!("apply with ZooKeeper down failed after {took:?}: {err}");
    assert!(
        took < ZK_SESSION + Duration::from_secs(10),
        "apply took {took:?} to fail"
    );
    assert!(err.contains("ZooKeeper"), "error names ZooKeeper: {err}");
    let err = store.load().unwrap_err();
    assert!(err.contains("ZooKeeper"), "error names ZooKeeper: {err}");
    // Connecting while it is down fails too, in bounded time.
    let started = Instant::now();
    assert!(zk_connect(&hosts, root).is_err());
    assert!(started.elapsed() < 2 * ZK_SESSION + Duration::from_secs(10));

    zk.restart();
    // A new store loads what was written before the outage (the failed write is not there).
    let mut fresh = zk_connect(&hosts, root).unwrap();
    assert_eq!(fresh.load().unwrap(), expected);
    // The old store works again too: it resumes its session or opens a new one.
    let op = RegistryOp::RemoveAgent(AgentId::new("a1"));
    let deadline = Instant::now() + 3 * ZK_SESSION;
    loop {
        match store.apply(&op) {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => eprintln!("old store not back yet: {e}"),
            Err(e) => panic!("old store did not recover: {e}"),
        }
    }
    expected.apply(&op);
    assert_eq!(fresh.load().unwrap(), expected);
}
