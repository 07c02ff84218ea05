//! Several Marathons against one ZooKeeper: one leads (election under
//! `<path>/leader-curator`), the others proxy the API to it and redirect
//! `/v2/events`; when the leader goes, another takes over with the state from
//! ZooKeeper and adopts the running tasks.

mod support;

use std::time::Duration;

use marathon::core::Config;
use marathon::server::{start, Server, ServerConfig};
use mesos_testkit::ZkServer;
use serde_json::{json, Value};
use support::{ids, wait_until, Env};

async fn marathon(env: &Env, zk: &str, name: &str) -> Server {
    let mut cfg = ServerConfig::new(
        Config {
            master: env.cluster.master_addr().to_string(),
            hostname: "127.0.0.1".into(),
            zk: Some(zk.to_string()),
            decline_offer_duration: 1.0,
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
        env.dir.path().join(name),
    );
    cfg.zk_session_timeout = Duration::from_secs(2);
    start(cfg).await.expect("marathon starts")
}

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let r = http.get(url).send().await.expect("answers");
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_proxies_to_the_leader_and_takes_over_when_it_dies() {
    let zk = ZkServer::start();
    let zk_url = zk.url("/marathon");
    let mut env = Env::start(&["localhost"]).await;
    env.stop_marathon();
    let first = marathon(&env, &zk_url, "m1").await;
    let a = first.addr();
    wait_until("the first Marathon to lead", || async {
        first.leadership().is_leader().then_some(())
    })
    .await;
    let second = marathon(&env, &zk_url, "m2").await;
    let b = second.addr();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let leader = wait_until("the standby to know the leader", || async {
        let (s, v) = get(&http, format!("http://{b}/v2/leader")).await;
        (s == 200).then(|| v["leader"].as_str().unwrap().to_string())
    })
    .await;
    assert_eq!(leader, format!("127.0.0.1:{}", a.port()));
    assert!(!second.leadership().is_leader());

    // Through the standby: the call is proxied, with the leader's answer.
    let r = http
        .post(format!("http://{b}/v2/apps"))
        .header("Content-Type", "application/json")
        .body(
            json!({"id": "ha", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("Marathon-Deployment-Id"));
    env.base = format!("http://{b}");
    let before = ids(&env.wait_deployed("ha", 2).await);
    let (_, info) = get(&http, format!("http://{b}/v2/info")).await;
    assert_eq!(info["elected"], true, "answered by the leader");
    assert_eq!(info["leader"], leader.as_str());

    // The event stream is redirected to the leader.
    let r = http
        .get(format!(
            "http://{b}/v2/events?event_type=status_update_event"
        ))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["Location"],
        format!("http://{leader}/v2/events?event_type=status_update_event").as_str()
    );

    // The leader dies (no goodbye): its session expires and the standby leads,
    // with the apps from ZooKeeper and the same running tasks.
    first.stop();
    wait_until("the standby to lead", || async {
        second.leadership().is_leader().then_some(())
    })
    .await;
    let (s, v) = get(&http, format!("http://{b}/v2/leader")).await;
    assert_eq!(s, 200);
    assert_eq!(v["leader"], format!("127.0.0.1:{}", b.port()).as_str());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = ids(&env.wait_deployed("ha", 2).await);
    assert_eq!(before, after, "the new leader adopts the running tasks");

    // A third Marathon joins; the leader abdicates and it takes over.
    let third = marathon(&env, &zk_url, "m3").await;
    let c = third.addr();
    let r = http
        .delete(format!("http://{b}/v2/leader"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_until("the third Marathon to lead", || async {
        third.leadership().is_leader().then_some(())
    })
    .await;
    env.base = format!("http://{c}");
    assert_eq!(ids(&env.wait_deployed("ha", 2).await), before);
    third.shutdown().await;
    second.shutdown().await;
    env.shutdown().await;
    drop(zk);
}
