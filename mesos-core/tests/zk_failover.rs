//! Master high availability against a real ZooKeeper: three `mesos-master` processes, two
//! `mesos-agent` processes and a framework with running tasks. The leader is killed with
//! SIGKILL twice, then ZooKeeper itself is restarted; after each, a new leader serves, the
//! framework re-subscribes with its ID and every task is reconciled still running.

mod support;

use mesos_core::client::{leading_master, SchedulerClient};
use mesos_core::proto::v1::TaskState;
use mesos_testkit::{free_port, ZkServer};
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::*;

const SESSION: &str = "3secs";

struct Proc {
    name: String,
    child: Option<Child>,
    port: u16,
    log: std::path::PathBuf,
}

impl Proc {
    fn spawn(name: &str, bin: &str, args: &[String], port: u16, dir: &std::path::Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        Proc {
            name: name.into(),
            child: Some(child),
            port,
            log,
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- last lines of {} ---", self.name);
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
        self.kill9();
    }
}

async fn get(url: &str) -> Option<serde_json::Value> {
    let r = reqwest::get(url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    serde_json::from_slice(&r.bytes().await.ok()?).ok()
}

/// Port of the master that every live master agrees is the leader, once one leads.
async fn wait_leader(masters: &[Proc], what: &str) -> u16 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mut leaders = BTreeSet::new();
        let mut elected = Vec::new();
        for m in masters.iter().filter(|m| m.alive()) {
            if let Some(s) = get(&format!("http://127.0.0.1:{}/master/state", m.port)).await {
                if let Some(p) = s["leader_info"]["port"].as_u64() {
                    leaders.insert(p as u16);
                }
            }
            if let Some(v) = get(&format!("http://127.0.0.1:{}/metrics/snapshot", m.port)).await {
                if v["master/elected"] == 1.0 {
                    elected.push(m.port);
                }
            }
        }
        if elected.len() == 1 && leaders.len() == 1 && leaders.contains(&elected[0]) {
            return elected[0];
        }
        if tokio::time::Instant::now() > deadline {
            panic!("no single leader {what}: elected {elected:?}, leaders seen {leaders:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Re-subscribe with the same framework ID (through ZooKeeper) until a leader accepts.
async fn resubscribe(zk_url: &str, fw: &mut Framework) {
    let mut info = framework_info(&["PARTITION_AWARE"], 3600.0);
    info.id = Some(fw.id());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        match SchedulerClient::subscribe(zk_url, info.clone()).await {
            Ok((client, events)) => {
                assert_eq!(
                    client.framework_id(),
                    &fw.id(),
                    "same framework ID after failover"
                );
                fw.client = client;
                fw.events = events;
                fw.offers.clear();
                return;
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("re-subscribe not yet possible: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("could not re-subscribe: {e}"),
        }
    }
}

fn kazoo_children(zk: &ZkServer) -> (Vec<String>, serde_json::Value) {
    let script = format!(
        "import json,sys\nfrom kazoo.client import KazooClient\nz=KazooClient('{}'); z.start(timeout=15)\nc=sorted(z.get_children('/mesos'))\nm=min(x for x in c if x!='log_replicas')\nd=z.get('/mesos/'+m)[0]\nprint(json.dumps({{'children':c,'leader':json.loads(d)}}))\nz.stop()\n",
        zk.connect_string()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "kazoo failed (run scripts/install-test-deps.sh to install it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let children = v["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (children, v["leader"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_masters_survive_leader_kills_and_a_zookeeper_restart() {
    let mut zk = ZkServer::start();
    let dir = TestDir::new();
    let zk_url = zk.url("/mesos");
    let mut masters: Vec<Proc> = (0..3)
        .map(|i| {
            let port = free_port();
            let args = vec![
                "--ip=127.0.0.1".into(),
                format!("--port={port}"),
                format!("--zk={zk_url}"),
                "--quorum=2".into(),
                format!("--zk_session_timeout={SESSION}"),
                format!("--work_dir={}", dir.path().join(format!("m{i}")).display()),
            ];
            Proc::spawn(
                &format!("master{i}"),
                env!("CARGO_BIN_EXE_mesos-master"),
                &args,
                port,
                dir.path(),
            )
        })
        .collect();
    let agents: Vec<Proc> = (0..2)
        .map(|i| {
            let port = free_port();
            let args = vec![
                format!("--master={zk_url}"),
                "--ip=127.0.0.1".into(),
                format!("--port={port}"),
                format!("--work_dir={}", dir.path().join(format!("a{i}")).display()),
                "--resources=cpus:1;mem:512;disk:512;ports:[31000-31010]".into(),
            ];
            Proc::spawn(
                &format!("agent{i}"),
                env!("CARGO_BIN_EXE_mesos-agent"),
                &args,
                port,
                dir.path(),
            )
        })
        .collect();

    let leader = wait_leader(&masters, "at start").await;
    let (children, info) = kazoo_children(&zk);
    assert!(
        children
            .iter()
            .all(|c| c == "log_replicas" || (c.starts_with("json.info_") && c.len() == 20)),
        "{children:?}"
    );
    assert_eq!(
        children
            .iter()
            .filter(|c| c.starts_with("json.info_"))
            .count(),
        3
    );
    assert_eq!(info["address"]["port"], leader as u64, "{info}");
    assert_eq!(info["version"], "1.11.0");

    // Followers send the APIs to the leader (307, spec 1.1) and answer /redirect.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for m in masters.iter().filter(|m| m.port != leader) {
        let r = no_redirects
            .post(format!("http://127.0.0.1:{}/api/v1/scheduler", m.port))
            .header("Content-Type", "application/json")
            .body(r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(
            r.headers()["location"],
            format!("//127.0.0.1:{leader}/master/api/v1/scheduler").as_str()
        );
        let r = no_redirects
            .get(format!("http://127.0.0.1:{}/master/redirect", m.port))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["location"],
            format!("//127.0.0.1:{leader}").as_str()
        );
        let r = no_redirects
            .get(format!("http://127.0.0.1:{}/health", m.port))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // A framework with one task on each agent.
    let info = framework_info(&["PARTITION_AWARE"], 3600.0);
    let (client, events) = SchedulerClient::subscribe(&zk_url, info)
        .await
        .expect("subscribe");
    let mut fw = Framework::new(client, events);
    fw.until("offers from both agents", |f| {
        f.offers
            .iter()
            .map(|o| o.agent_id.clone())
            .collect::<BTreeSet<_>>()
            .len()
            == 2
    })
    .await;
    let offers = std::mem::take(&mut fw.offers);
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for (i, o) in offers.iter().enumerate() {
        if !seen.insert(o.agent_id.clone()) {
            continue;
        }
        let name = format!("ha-{i}");
        fw.launch(
            o,
            vec![command_task(&name, o, "sleep 600", "cpus:0.5;mem:64")],
        )
        .await;
        names.push(name);
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for n in &names {
        fw.wait_state(n, TaskState::TaskRunning).await;
    }

    for round in 0..2 {
        let current = leader_port(&masters).await;
        let idx = masters.iter().position(|m| m.port == current).unwrap();
        let old = masters[idx].port;
        masters[idx].kill9();
        let new = wait_leader(&masters, &format!("after killing {old} (round {round})")).await;
        assert_ne!(new, old);
        assert_eq!(
            leading_master(&zk_url).await.unwrap(),
            format!("127.0.0.1:{new}")
        );
        resubscribe(&zk_url, &mut fw).await;
        fw.reconcile_running(&names, Duration::from_secs(90)).await;
        // Agents re-registered with the new leader and kept their tasks.
        let state = get(&format!("http://127.0.0.1:{new}/master/state"))
            .await
            .unwrap();
        assert_eq!(state["slaves"].as_array().unwrap().len(), 2, "{state}");
    }

    // ZooKeeper goes away: the remaining master stops leading; the agents keep their tasks.
    let survivor = masters.iter().find(|m| m.alive()).unwrap().port;
    zk.stop();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let v = get(&format!("http://127.0.0.1:{survivor}/metrics/snapshot")).await;
        if v.is_some_and(|v| v["master/elected"] == 0.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "master kept leading without ZooKeeper"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for a in &agents {
        let s = get(&format!("http://127.0.0.1:{}/state", a.port))
            .await
            .expect("agent answers");
        let running = s["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["executors"].as_array().cloned().unwrap_or_default())
            .flat_map(|e| e["tasks"].as_array().cloned().unwrap_or_default())
            .filter(|t| t["state"] == "TASK_RUNNING")
            .count();
        assert_eq!(
            running, 1,
            "agent {} lost its task while ZooKeeper was down: {s}",
            a.port
        );
    }
    zk.restart();
    let back = wait_leader(&masters, "after the ZooKeeper restart").await;
    assert_eq!(back, survivor);
    resubscribe(&zk_url, &mut fw).await;
    fw.reconcile_running(&names, Duration::from_secs(90)).await;
    drop(agents);
}

async fn leader_port(masters: &[Proc]) -> u16 {
    wait_leader(masters, "before a kill").await
}
