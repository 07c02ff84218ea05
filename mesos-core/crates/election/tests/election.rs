//! Election and detection against a real ZooKeeper (mesos_testkit::ZkServer).

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use mesos_election::{
    Contender, ContenderStatus, Detector, Leader, ZkUrl, MASTER_INFO_JSON_PREFIX,
};
use mesos_testkit::ZkServer;
use zookeeper_client as zk;

/// Requested session timeout. The server raises it to its minimum (2 x tickTime: 6 s for
/// the testkit's server, whose tickTime is ZooKeeperServerMain's default of 3 s).
const SESSION: Duration = Duration::from_secs(4);
/// The largest session timeout the server may negotiate for SESSION in these tests.
const NEGOTIATED_MAX: Duration = Duration::from_secs(6);
/// Generous: the machine may be loaded.
const PATIENCE: Duration = Duration::from_secs(60);

fn start_zk() -> ZkServer {
    tokio::task::block_in_place(ZkServer::start)
}

async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// Waits until the detector's leader satisfies `pred`.
async fn detected(
    detector: &Detector,
    what: &str,
    pred: impl Fn(&Option<Leader>) -> bool,
) -> Option<Leader> {
    let mut rx = detector.watch();
    within(PATIENCE, what, async {
        rx.wait_for(|l| pred(l))
            .await
            .expect("detector alive")
            .clone()
    })
    .await
}

fn master_info(n: u32) -> Vec<u8> {
    serde_json::json!({
        "id": format!("master-{n}"),
        "ip": 16777343u32,
        "port": 5050 + n,
        "pid": format!("master@127.0.0.1:{}", 5050 + n),
        "hostname": "localhost",
        "version": "1.11.0",
        "address": {"hostname": "localhost", "ip": "127.0.0.1", "port": 5050 + n},
    })
    .to_string()
    .into_bytes()
}

async fn raw_client(zk: &ZkServer) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(SESSION)
        .connect(&zk.connect_string())
        .await
        .expect("raw ZooKeeper client")
}

async fn contender(url: &ZkUrl, n: u32) -> Contender {
    Contender::zookeeper(url, MASTER_INFO_JSON_PREFIX, master_info(n), SESSION)
        .await
        .unwrap_or_else(|e| panic!("contender {n}: {e}"))
}

async fn not_elected_for_a_while(c: &mut Contender) {
    assert!(
        tokio::time::timeout(Duration::from_millis(700), c.elected())
            .await
            .is_err(),
        "a contender that is not the lowest was elected"
    );
    assert_eq!(c.status(), ContenderStatus::Contending);
}

#[test]
fn url_parsing() {
    let u = ZkUrl::parse("zk://host1:2181,host2:2181/mesos").unwrap();
    assert_eq!(u.hosts, "host1:2181,host2:2181");
    assert_eq!(u.path, "/mesos");
    assert_eq!(u.credentials, None);
    assert_eq!(u.to_string(), "zk://host1:2181,host2:2181/mesos");

    let u = ZkUrl::parse("zk://user:pass@10.0.0.1:2181/a/b/").unwrap();
    assert_eq!(u.hosts, "10.0.0.1:2181");
    assert_eq!(u.path, "/a/b");
    assert_eq!(u.credentials, Some(("user".into(), "pass".into())));
    assert_eq!(
        u.to_string(),
        "zk://10.0.0.1:2181/a/b",
        "Display hides credentials"
    );
    assert!(
        !format!("{u:?}").contains("pass"),
        "Debug hides the password"
    );

    let u = ZkUrl::parse(" zk://zk1,zk2:2182,[::1]:2181/marathon ").unwrap();
    assert_eq!(u.hosts, "zk1,zk2:2182,[::1]:2181");
    assert_eq!(u.path, "/marathon");

    let dir = std::env::temp_dir().join(format!("zkurl-{}", std::process::id()));
    std::fs::write(&dir, "zk://h:2181/mesos\n").unwrap();
    let u = ZkUrl::parse(&format!("file://{}", dir.display())).unwrap();
    assert_eq!((u.hosts.as_str(), u.path.as_str()), ("h:2181", "/mesos"));
    let _ = std::fs::remove_file(&dir);

    for bad in [
        "",
        "host:2181/mesos",
        "http://host:2181/mesos",
        "zk://host:2181",
        "zk://host:2181/",
        "zk://host:2181//",
        "zk:///mesos",
        "zk://host:2181,,host2/mesos",
        "zk://host:notaport/mesos",
        "zk://host:0/mesos",
        "zk://host:70000/mesos",
        "zk://user@host:2181/mesos",
        "zk://:pass@host:2181/mesos",
        "zk://host:2181/a//b",
        "zk://host:2181/a/../b",
        "zk://host:2181/a b",
        "file:///nonexistent/zk-url-file",
    ] {
        assert!(ZkUrl::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone() {
    let mut c = Contender::standalone();
    assert_eq!(c.elected().await, Ok(1));
    assert!(c.is_elected());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.lost())
            .await
            .is_err(),
        "a standalone contender never loses"
    );
    c.contend().await.unwrap();
    assert_eq!(c.elected().await, Ok(1));
    c.withdraw().await;

    let d = Detector::fixed(b"me".to_vec());
    let leader = Some(Leader {
        epoch: 1,
        data: b"me".to_vec(),
    });
    assert_eq!(d.current(), leader);
    assert_eq!(*d.watch().borrow(), leader);

    let url = ZkUrl::parse("zk://127.0.0.1:1/x").unwrap();
    assert!(
        Contender::zookeeper(&url, "", vec![], SESSION)
            .await
            .is_err(),
        "empty prefix"
    );
    assert!(
        Detector::zookeeper(&url, "a/b", SESSION).await.is_err(),
        "prefix with a slash"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_contenders_elect_the_lowest_and_fail_over() {
    let zk = start_zk();
    let url = ZkUrl::parse(&zk.url("/test/mesos")).unwrap();

    // A detector started before anything exists sees no leader, then follows.
    let detector = Detector::zookeeper(&url, MASTER_INFO_JSON_PREFIX, SESSION)
        .await
        .unwrap();
    assert_eq!(detector.current(), None);

    let mut c1 = contender(&url, 1).await;
    let mut c2 = contender(&url, 2).await;
    let mut c3 = contender(&url, 3).await;
    let e1 = within(PATIENCE, "c1 elected", c1.elected())
        .await
        .expect("c1 elected");
    assert_eq!(e1, c1.sequence());
    assert!(c1.sequence() < c2.sequence() && c2.sequence() < c3.sequence());
    not_elected_for_a_while(&mut c2).await;
    not_elected_for_a_while(&mut c3).await;

    // The znode layout: exactly three `json.info_<10 digits>` children with the data given.
    let raw = raw_client(&zk).await;
    let mut children = raw.list_children("/test/mesos").await.unwrap();
    children.sort();
    assert_eq!(children.len(), 3, "{children:?}");
    for (i, (child, c)) in children.iter().zip([&c1, &c2, &c3]).enumerate() {
        assert_eq!(child, &format!("json.info_{:010}", c.sequence()));
        assert_eq!(c.node_path().unwrap(), format!("/test/mesos/{child}"));
        let digits = child.strip_prefix("json.info_").unwrap();
        assert!(digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()));
        let (data, stat) = raw.get_data(&format!("/test/mesos/{child}")).await.unwrap();
        assert_eq!(data, master_info(i as u32 + 1));
        assert_ne!(stat.ephemeral_owner, 0, "{child} is ephemeral");
    }
    let (_, parent) = raw.get_data("/test/mesos").await.unwrap();
    assert_eq!(parent.ephemeral_owner, 0, "the group path is persistent");

    let l = detected(&detector, "the detector to see c1", |l| l.is_some()).await;
    assert_eq!(
        l,
        Some(Leader {
            epoch: e1,
            data: master_info(1)
        })
    );

    // Withdraw the leader: the next one is elected and the detector follows.
    c1.withdraw().await;
    let e2 = within(PATIENCE, "c2 elected", c2.elected())
        .await
        .expect("c2 elected");
    assert!(e2 > e1, "epochs increase: {e1} then {e2}");
    not_elected_for_a_while(&mut c3).await;
    detected(&detector, "the detector to follow c2", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e2)
    })
    .await;
    assert_eq!(detector.current().unwrap().data, master_info(2));
    assert_eq!(raw.list_children("/test/mesos").await.unwrap().len(), 2);

    // Kill the leader's session (drop without withdrawing): c3 takes over.
    drop(c2);
    let e3 = within(PATIENCE, "c3 elected", c3.elected())
        .await
        .expect("c3 elected");
    assert!(e3 > e2, "epochs increase: {e2} then {e3}");
    let l = detected(&detector, "the detector to follow c3", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e3)
    })
    .await;
    assert_eq!(l.unwrap().data, master_info(3));

    // Deleting the leader's node behind its back ends its leadership.
    raw.delete(c3.node_path().unwrap(), None).await.unwrap();
    let reason = within(PATIENCE, "c3 to lose", c3.lost()).await;
    assert!(reason.contains("deleted"), "{reason}");
    assert!(!c3.is_elected());
    assert_eq!(c3.elected().await, Err(reason));
    detected(&detector, "no leader", |l| l.is_none()).await;

    // Contend again: a new node with a higher sequence number, elected.
    within(PATIENCE, "c3 to contend again", c3.contend())
        .await
        .unwrap();
    let e4 = within(PATIENCE, "c3 elected again", c3.elected())
        .await
        .unwrap();
    assert!(e4 > e3);
    detected(&detector, "the detector to follow c3 again", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e4)
    })
    .await;
    c3.withdraw().await;
    detected(&detector, "no leader after the last withdrew", |l| {
        l.is_none()
    })
    .await;
    assert!(raw.list_children("/test/mesos").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_loss_ends_leadership_and_recovers_after_restart() {
    let mut zk = start_zk();
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let mut leader = contender(&url, 1).await;
    let mut follower = contender(&url, 2).await;
    let e1 = within(PATIENCE, "election", leader.elected())
        .await
        .unwrap();
    let detector = Detector::zookeeper(&url, MASTER_INFO_JSON_PREFIX, SESSION)
        .await
        .unwrap();
    detected(&detector, "the leader", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e1)
    })
    .await;

    let stopped = Instant::now();
    tokio::task::block_in_place(|| zk.stop());
    let reason = within(SESSION * 4, "the leader to report the loss", leader.lost()).await;
    let took = stopped.elapsed();
    eprintln!("leader lost after {took:?}: {reason}");
    // A contender gives up after half the (negotiated) session timeout of disconnection.
    assert!(
        took <= NEGOTIATED_MAX + Duration::from_secs(3),
        "lost only after {took:?}"
    );
    assert!(!leader.is_elected());
    let reason2 = within(
        SESSION * 4,
        "the follower to report the loss",
        follower.lost(),
    )
    .await;
    eprintln!("follower: {reason2}");
    assert!(
        follower.elected().await.is_err(),
        "a lost contender is never elected"
    );
    // The detector forgets the leader once its session is gone.
    detected(&detector, "the detector to forget the leader", |l| {
        l.is_none()
    })
    .await;

    tokio::task::block_in_place(|| zk.restart());
    // The same contender contends again with a new session.
    within(PATIENCE, "contending again", async {
        loop {
            match leader.contend().await {
                Ok(()) => break,
                Err(e) => {
                    eprintln!("contend: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    })
    .await;
    // Old sessions' nodes go when ZooKeeper expires (or the old client closes) them.
    let e2 = within(PATIENCE, "election after the restart", leader.elected())
        .await
        .unwrap();
    assert!(e2 > e1, "epochs increase: {e1} then {e2}");
    let l = detected(&detector, "the detector to recover the leader", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e2)
    })
    .await;
    assert_eq!(l.unwrap().data, master_info(1));
    let raw = raw_client(&zk).await;
    within(PATIENCE, "the old nodes to go", async {
        loop {
            let children = raw.list_children("/mesos").await.unwrap();
            if children == vec![format!("json.info_{e2:010}")] {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    leader.withdraw().await;
}

fn kazoo_available() {
    let ok = Command::new("python3")
        .args(["-c", "import kazoo.client"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "Python's kazoo is missing (python3 -c 'import kazoo.client' failed): run scripts/install-test-deps.sh"
    );
}

/// What pymesos' detector does: chroot to the path, list the children, drop `log_replicas`,
/// take the lexicographic min, parse its data as JSON.
const PYMESOS_DETECTOR: &str = r#"
import json, sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1] + sys.argv[2], timeout=10)
zk.start(timeout=30)
try:
    children = zk.get_children('/')
    masters = [c for c in children if c != 'log_replicas']
    out = {'children': sorted(masters), 'all': sorted(children)}
    if masters:
        leader = min(masters)
        data, _ = zk.get('/' + leader)
        info = json.loads(data)
        out['leader'] = leader
        out['address'] = '%s:%d' % (info['address']['ip'], info['address']['port'])
    print(json.dumps(out))
finally:
    zk.stop()
"#;

fn pymesos_view(zk: &ZkServer, path: &str) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", PYMESOS_DETECTOR, &zk.connect_string(), path])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the kazoo script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kazoo script output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn third_party_kazoo_client_reads_the_layout() {
    kazoo_available();
    let zk = start_zk();
    let url = ZkUrl::parse(&zk.url("/mesos")).unwrap();
    let mut c1 = contender(&url, 1).await;
    let c2 = contender(&url, 2).await;
    let e1 = within(PATIENCE, "election", c1.elected()).await.unwrap();

    // The registry's replicated-log group lives beside the contenders; everyone ignores it.
    let raw = raw_client(&zk).await;
    raw.create(
        "/mesos/log_replicas",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .unwrap();
    let detector = Detector::zookeeper(&url, MASTER_INFO_JSON_PREFIX, SESSION)
        .await
        .unwrap();
    detected(&detector, "the leader", |l| {
        l.as_ref().map(|l| l.epoch) == Some(e1)
    })
    .await;

    let view = tokio::task::block_in_place(|| pymesos_view(&zk, "/mesos"));
    eprintln!("kazoo sees {view}");
    let expected_children = vec![
        format!("json.info_{:010}", c1.sequence()),
        format!("json.info_{:010}", c2.sequence()),
    ];
    assert_eq!(view["children"], serde_json::json!(expected_children));
    assert_eq!(view["leader"], serde_json::json!(expected_children[0]));
    assert_eq!(view["address"], "127.0.0.1:5051");

    c1.withdraw().await;
    let view = tokio::task::block_in_place(|| pymesos_view(&zk, "/mesos"));
    assert_eq!(view["leader"], serde_json::json!(expected_children[1]));
    assert_eq!(view["address"], "127.0.0.1:5052");
    c2.withdraw().await;
    let view = tokio::task::block_in_place(|| pymesos_view(&zk, "/mesos"));
    assert_eq!(view["children"], serde_json::json!([]));
    assert_eq!(view["all"], serde_json::json!(["log_replicas"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_give_anyone_read_creator_all() {
    let zk = start_zk();
    let authed = ZkUrl::parse(&format!(
        "zk://alice:secret@{}/secure/mesos",
        zk.connect_string()
    ))
    .unwrap();
    let mut c = Contender::zookeeper(&authed, MASTER_INFO_JSON_PREFIX, master_info(7), SESSION)
        .await
        .unwrap();
    let epoch = within(PATIENCE, "election", c.elected()).await.unwrap();

    // A detector without credentials can read the leader.
    let anonymous = ZkUrl::parse(&zk.url("/secure/mesos")).unwrap();
    let detector = Detector::zookeeper(&anonymous, MASTER_INFO_JSON_PREFIX, SESSION)
        .await
        .unwrap();
    let l = detected(&detector, "the leader", |l| l.is_some())
        .await
        .unwrap();
    assert_eq!((l.epoch, l.data), (epoch, master_info(7)));

    // ... but cannot write there, nor delete the leader's node.
    let raw = raw_client(&zk).await;
    let (acl, _) = raw.get_acl(c.node_path().unwrap()).await.unwrap();
    assert!(
        acl.iter()
            .any(|a| a.scheme() == "world" && a.permission() == zk::Permission::READ),
        "{acl:?}"
    );
    assert!(
        acl.iter()
            .any(|a| a.scheme() == "digest" && a.id().starts_with("alice:")),
        "{acl:?}"
    );
    assert!(raw.delete(c.node_path().unwrap(), None).await.is_err());
    assert!(raw
        .create(
            "/secure/mesos/x",
            b"",
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
        )
        .await
        .is_err());
    c.withdraw().await;
    detected(&detector, "no leader", |l| l.is_none()).await;
}
