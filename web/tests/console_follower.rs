//! The console on a master that does not lead says so and where the leader is; when that
//! master takes over, the message goes. Two `mesos-master` processes elect a leader through
//! a real ZooKeeper.

mod support;

use mesos_testkit::{free_port, ZkServer};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Browser, WAIT};

struct Master {
    child: Child,
    port: u16,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn state(port: u16) -> Option<Value> {
    let r = reqwest::get(format!("http://127.0.0.1:{port}/master/state"))
        .await
        .ok()?;
    serde_json::from_slice(&r.bytes().await.ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_on_a_follower_names_the_leader() {
    let zk = ZkServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bin = mesos_testkit::workspace_binary("mesos-core", "mesos-master", &[]);
    let mut masters: Vec<Master> = (0..2)
        .map(|i| {
            let port = free_port();
            let child = Command::new(&bin)
                .args([
                    "--ip=127.0.0.1".to_string(),
                    "--hostname=127.0.0.1".to_string(),
                    format!("--port={port}"),
                    format!("--zk={}", zk.url("/mesos")),
                    "--quorum=1".to_string(),
                    "--zk_session_timeout=4secs".to_string(),
                    format!("--work_dir={}", dir.path().join(format!("m{i}")).display()),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("mesos-master starts");
            Master { child, port }
        })
        .collect();

    // Wait for a leader both masters agree on.
    let t = Instant::now();
    let leader_pid = loop {
        let a = state(masters[0].port).await;
        let b = state(masters[1].port).await;
        let leader = |s: &Option<Value>| s.as_ref().map(|s| s["leader"].clone());
        if let (Some(Value::String(x)), Some(Value::String(y))) = (leader(&a), leader(&b)) {
            if x == y && !x.is_empty() {
                break x;
            }
        }
        assert!(t.elapsed() < WAIT, "no leader elected: {a:?} {b:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let leading = masters
        .iter()
        .position(|m| leader_pid.ends_with(&format!(":{}", m.port)))
        .expect("the leader is one of ours");
    let follower = 1 - leading;

    let browser = Browser::start(1280, 800).await;
    browser
        .goto(&format!("http://127.0.0.1:{}/", masters[follower].port))
        .await;
    let banner = browser.banner().await;
    assert!(banner.contains("is not the leader"), "{banner}");
    assert!(
        banner.contains(&format!("127.0.0.1:{}", masters[leading].port)),
        "{banner}"
    );
    browser.screenshot("console-follower").await;

    // The leader goes; this master takes over and the banner goes with it.
    masters.remove(leading);
    browser
        .wait_for(
            "the banner to clear after the takeover",
            r##"const b = document.getElementById("banner");
               return !b.classList.contains("shown") && document.getElementById("status").textContent.includes(arguments[0]) ? true : null;"##,
            json!([format!("127.0.0.1:{}", masters[0].port)]),
        )
        .await;
}
