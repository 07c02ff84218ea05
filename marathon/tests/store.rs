//! The store conformance suite, run against every backend, plus what is specific to each
//! (SQLite reopening, ZooKeeper's layout, transactions and restarts).

use marathon::store::{
    validate_key, MemoryStore, SqliteStore, Store, StoreOp, ZkStore, MAX_VALUE_BYTES, ZK_VALUE_TAG,
};
use mesos_testkit::ZkServer;
use std::time::Duration;

const SESSION: Duration = Duration::from_secs(6);

fn keys(entries: &[(String, Vec<u8>)]) -> Vec<&str> {
    entries.iter().map(|(k, _)| k.as_str()).collect()
}

fn put(op_key: &str, value: &str) -> StoreOp {
    StoreOp::Put(op_key.to_string(), value.as_bytes().to_vec())
}

fn del(op_key: &str) -> StoreOp {
    StoreOp::Delete(op_key.to_string())
}

/// What every backend must do. Expects an empty store.
fn conformance(store: &mut dyn Store) {
    // Empty.
    assert_eq!(store.get("framework-id").unwrap(), None);
    assert!(store.list("").unwrap().is_empty());

    // put / get / overwrite.
    store.put("framework-id", b"{\"value\":\"fw-1\"}").unwrap();
    assert_eq!(
        store.get("framework-id").unwrap().as_deref(),
        Some(&b"{\"value\":\"fw-1\"}"[..])
    );
    store.put("framework-id", b"{\"value\":\"fw-2\"}").unwrap();
    assert_eq!(
        store.get("framework-id").unwrap().as_deref(),
        Some(&b"{\"value\":\"fw-2\"}"[..])
    );

    // An empty value is a value, not a missing key; any bytes round-trip.
    store.put("deployment/empty", b"").unwrap();
    assert_eq!(store.get("deployment/empty").unwrap(), Some(Vec::new()));
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    store.put("deployment/binary", &binary).unwrap();
    assert_eq!(
        store.get("deployment/binary").unwrap(),
        Some(binary.clone())
    );
    assert_eq!(
        keys(&store.list("deployment/").unwrap()),
        ["deployment/binary", "deployment/empty"]
    );

    // delete, and deleting a missing key.
    store.delete("deployment/empty").unwrap();
    assert_eq!(store.get("deployment/empty").unwrap(), None);
    store.delete("deployment/empty").unwrap();
    store.delete("never/was/here").unwrap();
    store.delete("deployment/binary").unwrap();
    assert!(store.list("deployment").unwrap().is_empty());

    // list: string prefixes, sorted by key.
    for key in [
        "apps/_b/2020-01-01T00:00:00.000Z",
        "apps/_a/2020-01-02T00:00:00.000Z",
        "apps/_ab/2020-01-01T00:00:00.000Z",
        "apps/_a/2020-01-01T00:00:00.000Z",
        "group/root",
        "instance/_a.7b1c-11ee",
        "deployment/3f1c",
    ] {
        store.put(key, key.as_bytes()).unwrap();
    }
    let a = store.list("apps/_a/").unwrap();
    assert_eq!(
        keys(&a),
        [
            "apps/_a/2020-01-01T00:00:00.000Z",
            "apps/_a/2020-01-02T00:00:00.000Z"
        ]
    );
    assert_eq!(a[0].1, b"apps/_a/2020-01-01T00:00:00.000Z");
    assert_eq!(
        keys(&store.list("apps/_a").unwrap()),
        [
            "apps/_a/2020-01-01T00:00:00.000Z",
            "apps/_a/2020-01-02T00:00:00.000Z",
            "apps/_ab/2020-01-01T00:00:00.000Z"
        ]
    );
    assert_eq!(store.list("apps/").unwrap().len(), 4);
    assert_eq!(store.list("apps").unwrap().len(), 4);
    assert_eq!(store.list("ap").unwrap().len(), 4);
    assert_eq!(
        keys(&store.list("apps/_a/2020-01-02").unwrap()),
        ["apps/_a/2020-01-02T00:00:00.000Z"]
    );
    assert_eq!(
        keys(&store.list("apps/_a/2020-01-02T00:00:00.000Z").unwrap()),
        ["apps/_a/2020-01-02T00:00:00.000Z"]
    );
    assert_eq!(keys(&store.list("group/root").unwrap()), ["group/root"]);
    assert_eq!(keys(&store.list("framework").unwrap()), ["framework-id"]);
    assert!(store.list("apps/_c/").unwrap().is_empty());
    assert!(store.list("nothing").unwrap().is_empty());
    assert!(store.list("apps//").unwrap().is_empty());
    assert!(store.list("/apps").unwrap().is_empty());
    let all = store.list("").unwrap();
    assert_eq!(
        keys(&all),
        [
            "apps/_a/2020-01-01T00:00:00.000Z",
            "apps/_a/2020-01-02T00:00:00.000Z",
            "apps/_ab/2020-01-01T00:00:00.000Z",
            "apps/_b/2020-01-01T00:00:00.000Z",
            "deployment/3f1c",
            "framework-id",
            "group/root",
            "instance/_a.7b1c-11ee",
        ]
    );

    // A key may be a path prefix of other keys.
    store.put("x", b"1").unwrap();
    store.put("x/y", b"2").unwrap();
    store.put("x/y/z", b"3").unwrap();
    assert_eq!(keys(&store.list("x").unwrap()), ["x", "x/y", "x/y/z"]);
    store.delete("x/y").unwrap();
    assert_eq!(store.get("x/y").unwrap(), None);
    assert_eq!(store.get("x/y/z").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(keys(&store.list("x").unwrap()), ["x", "x/y/z"]);
    store.put("x/y", b"2 again").unwrap();
    store.delete("x").unwrap();
    assert_eq!(keys(&store.list("x").unwrap()), ["x/y", "x/y/z"]);
    store.delete("x/y/z").unwrap();
    store.delete("x/y").unwrap();
    assert!(store.list("x").unwrap().is_empty());
    store.put("x", b"back").unwrap();
    assert_eq!(store.get("x").unwrap().as_deref(), Some(&b"back"[..]));
    store.delete("x").unwrap();

    // Segments that are awkward as file or node names round-trip, and keys sort bytewise.
    let odd = [
        "apps/_my.app/2020-01-01T00:00:00.000+01:00",
        "apps/a b/100%",
        "apps/é/.",
        "apps/z/..",
        "apps/~/x\u{1}y",
    ];
    for key in odd {
        store.put(key, key.as_bytes()).unwrap();
        assert_eq!(
            store.get(key).unwrap().as_deref(),
            Some(key.as_bytes()),
            "{key}"
        );
    }
    let listed = store.list("apps/").unwrap();
    let mut expected: Vec<&str> = odd.to_vec();
    expected.extend([
        "apps/_a/2020-01-01T00:00:00.000Z",
        "apps/_a/2020-01-02T00:00:00.000Z",
        "apps/_ab/2020-01-01T00:00:00.000Z",
        "apps/_b/2020-01-01T00:00:00.000Z",
    ]);
    expected.sort();
    assert_eq!(keys(&listed), expected);
    assert_eq!(keys(&store.list("apps/é").unwrap()), ["apps/é/."]);
    for key in odd {
        store.delete(key).unwrap();
    }

    // batch: applied in order, all at once.
    store
        .batch(&[
            put("deployment/d1", "one"),
            put("deployment/d2", "two"),
            del("deployment/3f1c"),
            put("group/root", "new root"),
            put("deployment/gone", "x"),
            del("deployment/gone"),
            del("deployment/back"),
            put("deployment/back", "y"),
            put("deployment/d1", "one, last"),
        ])
        .unwrap();
    assert_eq!(
        store.list("deployment/").unwrap(),
        vec![
            ("deployment/back".to_string(), b"y".to_vec()),
            ("deployment/d1".to_string(), b"one, last".to_vec()),
            ("deployment/d2".to_string(), b"two".to_vec()),
        ]
    );
    assert_eq!(
        store.get("group/root").unwrap().as_deref(),
        Some(&b"new root"[..])
    );
    store.batch(&[]).unwrap();

    // Invalid keys are refused everywhere, and a batch with one bad operation applies nothing.
    for bad in ["", "/apps", "apps/", "apps//x", "a\0b"] {
        assert!(validate_key(bad).is_err());
        assert!(store.put(bad, b"v").is_err(), "put {bad:?}");
        assert!(store.get(bad).is_err(), "get {bad:?}");
        assert!(store.delete(bad).is_err(), "delete {bad:?}");
        let err = store
            .batch(&[
                put("deployment/d3", "three"),
                del("deployment/d1"),
                put(bad, "v"),
            ])
            .unwrap_err();
        assert!(err.contains("key"), "{err}");
        assert_eq!(store.get("deployment/d3").unwrap(), None);
        assert!(store.get("deployment/d1").unwrap().is_some());
    }

    // Size limits: a value of MAX_VALUE_BYTES is stored, one byte more is refused, and so is
    // a batch whose values total more than MAX_VALUE_BYTES.
    let big = vec![b'x'; MAX_VALUE_BYTES];
    store.put("group/big", &big).unwrap();
    assert_eq!(
        store.get("group/big").unwrap().map(|v| v.len()),
        Some(MAX_VALUE_BYTES)
    );
    assert_eq!(store.list("group/big").unwrap()[0].1.len(), MAX_VALUE_BYTES);
    let too_big = vec![b'y'; MAX_VALUE_BYTES + 1];
    let err = store.put("group/big", &too_big).unwrap_err();
    assert!(err.contains(&MAX_VALUE_BYTES.to_string()), "{err}");
    assert_eq!(store.get("group/big").unwrap().map(|v| v[0]), Some(b'x'));
    let half = vec![b'h'; MAX_VALUE_BYTES / 2 + 1];
    let err = store
        .batch(&[
            StoreOp::Put("group/h1".into(), half.clone()),
            StoreOp::Put("group/h2".into(), half),
        ])
        .unwrap_err();
    assert!(err.contains("split"), "{err}");
    assert_eq!(store.get("group/h1").unwrap(), None);
    store.delete("group/big").unwrap();

    // Many keys in one category.
    let ops: Vec<StoreOp> = (0..300)
        .map(|i| {
            StoreOp::Put(
                format!("instance/_app.task-{i:03}"),
                format!("{{\"i\":{i}}}").into_bytes(),
            )
        })
        .collect();
    store.batch(&ops).unwrap();
    let instances = store.list("instance/_app.task-").unwrap();
    assert_eq!(instances.len(), 300);
    assert_eq!(instances[42].0, "instance/_app.task-042");
    assert_eq!(instances[42].1, b"{\"i\":42}");
    let deletes: Vec<StoreOp> = (0..300)
        .map(|i| del(&format!("instance/_app.task-{i:03}")))
        .collect();
    store.batch(&deletes).unwrap();
    assert_eq!(
        keys(&store.list("instance/").unwrap()),
        ["instance/_a.7b1c-11ee"]
    );
}

/// What survives closing and reopening a durable store.
fn write_for_reopen(store: &mut dyn Store) {
    store.put("framework-id", b"fw").unwrap();
    store
        .batch(&[
            put("apps/_a/v1", "a1"),
            put("apps/_a/v2", "a2"),
            put("group/root", "g"),
        ])
        .unwrap();
    store.delete("apps/_a/v1").unwrap();
}

fn check_after_reopen(store: &mut dyn Store) {
    assert_eq!(
        store.list("").unwrap(),
        vec![
            ("apps/_a/v2".to_string(), b"a2".to_vec()),
            ("framework-id".to_string(), b"fw".to_vec()),
            ("group/root".to_string(), b"g".to_vec()),
        ]
    );
}

#[test]
fn memory_store_conforms() {
    conformance(&mut MemoryStore::new());
}

#[test]
fn sqlite_store_conforms_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/marathon.sqlite");
    conformance(&mut SqliteStore::open(&path).unwrap());

    let path = dir.path().join("reopen.sqlite");
    write_for_reopen(&mut SqliteStore::open(&path).unwrap());
    check_after_reopen(&mut SqliteStore::open(&path).unwrap());
    // WAL mode, as documented.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn sqlite_store_reports_an_unusable_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let err = SqliteStore::open(&file.join("below-a-file.sqlite"))
        .err()
        .unwrap();
    assert!(err.contains("below-a-file.sqlite"), "{err}");
}

#[test]
fn zk_store_conforms() {
    let zk = ZkServer::start();
    let mut store = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    conformance(&mut store);
}

/// A raw client on the test ZooKeeper, to look at the nodes the store writes.
struct Raw {
    rt: tokio::runtime::Runtime,
    client: zookeeper_client::Client,
}

impl Raw {
    fn new(zk: &ZkServer) -> Raw {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(zookeeper_client::Client::connect(&zk.connect_string()))
            .unwrap();
        Raw { rt, client }
    }

    fn data(&self, path: &str) -> Option<Vec<u8>> {
        match self.rt.block_on(self.client.get_data(path)) {
            Ok((data, _)) => Some(data),
            Err(zookeeper_client::Error::NoNode) => None,
            Err(e) => panic!("read {path}: {e}"),
        }
    }

    fn children(&self, path: &str) -> Vec<String> {
        let mut c = self.rt.block_on(self.client.list_children(path)).unwrap();
        c.sort();
        c
    }
}

#[test]
fn zk_store_uses_marathons_layout() {
    let zk = ZkServer::start();
    let raw = Raw::new(&zk);
    let mut store = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    // The state root exists as soon as the store is connected.
    assert_eq!(raw.data("/marathon/state"), Some(Vec::new()));

    store.put("group/root", b"{}").unwrap();
    store.put("framework-id", b"fw").unwrap();
    store
        .put(
            "apps/_prod_web/2020-01-01T00:00:00.000Z",
            b"{\"id\":\"/prod/web\"}",
        )
        .unwrap();
    store
        .put(
            "apps/_frontend/2020-01-01T00:00:00.000Z",
            b"{\"id\":\"/frontend\"}",
        )
        .unwrap();
    assert_eq!(
        raw.data("/marathon/state/group/2/root"),
        Some(vec![ZK_VALUE_TAG, b'{', b'}'])
    );
    assert_eq!(
        raw.data("/marathon/state/framework-id"),
        Some(vec![ZK_VALUE_TAG, b'f', b'w'])
    );
    let mut expected = vec![ZK_VALUE_TAG];
    expected.extend_from_slice(b"{\"id\":\"/prod/web\"}");
    assert_eq!(
        raw.data("/marathon/state/apps/5/_prod_web/2020-01-01T00:00:00.000Z"),
        Some(expected)
    );
    assert_eq!(raw.children("/marathon/state/apps"), ["5", "f"]);
    assert_eq!(
        raw.children("/marathon/state"),
        ["apps", "framework-id", "group"]
    );
    // Parents hold no data.
    assert_eq!(
        raw.data("/marathon/state/apps/5/_prod_web"),
        Some(Vec::new())
    );

    // Odd segments are %-encoded into valid node names.
    store.put("apps/a b/..", b"v").unwrap();
    let bucket = marathon::store::zk_bucket("a b");
    assert_eq!(
        raw.children(&format!("/marathon/state/apps/{bucket}/a%20b")),
        ["%2E%2E"]
    );

    // Deleting the last key below a parent removes the parents that are left empty.
    store
        .delete("apps/_prod_web/2020-01-01T00:00:00.000Z")
        .unwrap();
    store.delete("apps/a b/..").unwrap();
    assert_eq!(raw.children("/marathon/state/apps"), ["f"]);
    store
        .delete("apps/_frontend/2020-01-01T00:00:00.000Z")
        .unwrap();
    assert_eq!(raw.children("/marathon/state"), ["framework-id", "group"]);
    // ... but not a key that still has keys below it.
    store.put("group/root/child", b"c").unwrap();
    store.delete("group/root/child").unwrap();
    assert_eq!(
        raw.data("/marathon/state/group/2/root"),
        Some(vec![ZK_VALUE_TAG, b'{', b'}'])
    );

    // A node this store did not write is reported, not misread.
    raw.rt
        .block_on(
            raw.client.create(
                "/marathon/state/taskFailures",
                b"\x0a\x03abc",
                &zookeeper_client::CreateMode::Persistent
                    .with_acls(zookeeper_client::Acls::anyone_all()),
            ),
        )
        .unwrap();
    let err = store.get("taskFailures").unwrap_err();
    assert!(err.contains("not written by this store"), "{err}");
}

/// A ZooKeeper transaction applies whole or not at all: when ZooKeeper refuses one write,
/// the earlier writes of the batch are not applied either.
#[test]
fn zk_store_batches_are_transactions() {
    let zk = ZkServer::start();
    let raw = Raw::new(&zk);
    let mut store = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    store.put("group/root", b"old").unwrap();
    // A parent node nobody may write below.
    let read_only =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_read());
    let locked = format!(
        "/marathon/state/apps/{}",
        marathon::store::zk_bucket("_locked")
    );
    let open =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    raw.rt.block_on(raw.client.mkdir(&locked, &open)).unwrap();
    raw.rt
        .block_on(
            raw.client
                .create(&format!("{locked}/_locked"), b"", &read_only),
        )
        .unwrap();

    let err = store
        .batch(&[
            put("group/root", "new"),
            put("deployment/d1", "plan"),
            put("apps/_locked/v1", "app"),
        ])
        .unwrap_err();
    assert!(err.contains("nothing applied"), "{err}");
    assert_eq!(
        store.get("group/root").unwrap().as_deref(),
        Some(&b"old"[..])
    );
    assert_eq!(store.get("deployment/d1").unwrap(), None);
    assert_eq!(raw.data("/marathon/state/deployment"), None);
}

/// Another client's change between planning and committing makes the store plan again;
/// the result is the batch applied to the latest state.
#[test]
fn zk_store_writes_after_changes_by_another_store() {
    let zk = ZkServer::start();
    let mut one = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    let mut two = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    one.put("apps/_a/v1", b"1").unwrap();
    two.delete("apps/_a/v1").unwrap(); // removes the parents one created
    one.put("apps/_a/v2", b"2").unwrap();
    assert_eq!(keys(&two.list("apps/").unwrap()), ["apps/_a/v2"]);
    two.put("apps/_a/v2", b"2 by two").unwrap();
    one.batch(&[put("apps/_a/v2", "2 by one"), put("apps/_a/v3", "3")])
        .unwrap();
    assert_eq!(
        two.get("apps/_a/v2").unwrap().as_deref(),
        Some(&b"2 by one"[..])
    );

    // Two stores writing the same keys concurrently: every write lands, none is lost.
    let url = zk.url("/marathon");
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut store = ZkStore::connect(&url, SESSION).unwrap();
                for i in 0..25 {
                    store.put(&format!("instance/_w{w}.{i}"), b"x").unwrap();
                    store
                        .put(&format!("apps/_shared/v{i}"), format!("{w}").as_bytes())
                        .unwrap();
                    store.delete(&format!("apps/_shared/v{i}")).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(one.list("instance/").unwrap().len(), 50);
    assert!(one.list("apps/_shared").unwrap().is_empty());
}

#[test]
fn zk_store_survives_reconnect_and_server_restart() {
    let mut zk = ZkServer::start();
    let url = zk.url("/marathon");
    write_for_reopen(&mut ZkStore::connect(&url, SESSION).unwrap());
    let mut store = ZkStore::connect(&url, SESSION).unwrap();
    check_after_reopen(&mut store);

    // The writes were durable on the server: they are there after it restarts, and the
    // same store keeps working.
    zk.restart();
    check_after_reopen(&mut store);
    store.put("deployment/after-restart", b"ok").unwrap();
    check_after_reopen_plus(&mut ZkStore::connect(&url, SESSION).unwrap());
}

fn check_after_reopen_plus(store: &mut dyn Store) {
    assert_eq!(
        keys(&store.list("").unwrap()),
        [
            "apps/_a/v2",
            "deployment/after-restart",
            "framework-id",
            "group/root"
        ]
    );
}

#[test]
fn zk_store_with_credentials_keeps_nodes_private() {
    let zk = ZkServer::start();
    let url = format!("zk://marathon:secret@{}/secure", zk.connect_string());
    let mut store = ZkStore::connect(&url, SESSION).unwrap();
    store.put("framework-id", b"fw").unwrap();
    assert_eq!(
        store.get("framework-id").unwrap().as_deref(),
        Some(&b"fw"[..])
    );
    let raw = Raw::new(&zk);
    let denied = raw
        .rt
        .block_on(raw.client.get_data("/secure/state/framework-id"));
    assert_eq!(denied.unwrap_err(), zookeeper_client::Error::NoAuth);
    // The same credentials read it back through a new session.
    let mut again = ZkStore::connect(&url, SESSION).unwrap();
    assert_eq!(
        again.get("framework-id").unwrap().as_deref(),
        Some(&b"fw"[..])
    );
}

#[test]
fn zk_store_reports_bad_urls_and_unreachable_servers() {
    let err = ZkStore::connect("http://localhost:2181/marathon", SESSION)
        .err()
        .unwrap();
    assert!(err.contains("zk://"), "{err}");
    let err = ZkStore::connect("zk://localhost:2181", SESSION)
        .err()
        .unwrap();
    assert!(err.contains("no path"), "{err}");
    let port = mesos_testkit::free_port();
    let started = std::time::Instant::now();
    let err = ZkStore::connect(
        &format!("zk://127.0.0.1:{port}/marathon"),
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}

/// The store also works when called from tasks of a multi-thread runtime (the server's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_store_is_usable_from_a_multi_thread_runtime() {
    let zk = ZkServer::start();
    let mut store = ZkStore::connect(&zk.url("/marathon"), SESSION).unwrap();
    let task = tokio::spawn(async move {
        store.put("group/root", b"g").unwrap();
        store.get("group/root").unwrap()
    });
    assert_eq!(task.await.unwrap().as_deref(), Some(&b"g"[..]));
}
