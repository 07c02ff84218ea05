//! `cargo bench -p mesos-core --bench docker_launch` (issue 4): the time to launch `N`
//! (default 50) containers through the whole stack (framework -> master -> agent -> docker
//! executor -> engine, until every task is TASK_RUNNING) beside the time `docker run -d`
//! takes for the same N containers directly on the same engine, as a ratio.
//! Needs a Docker engine and the locally built test image (`scripts/make-test-image.sh`).

use mesos_core::client::SchedulerClient;
use mesos_core::cluster::{LocalCluster, LocalClusterConfig};
use mesos_core::proto::resources::Resources;
use mesos_core::proto::scheduler::{Accept, Acknowledge, Call, Event};
use mesos_core::proto::v1::*;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn direct(n: usize, image: &str) -> Duration {
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        let name = format!("bench-direct-{i}");
        ids.push(
            docker(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "host",
                "-m",
                "64m",
                image,
                "sleep",
                "300",
            ])
            .trim()
            .to_string(),
        );
    }
    let took = started.elapsed();
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    docker(&args);
    took
}

async fn through_the_stack(n: usize, image: &str) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let launcher = dir.path().join("launcher");
    std::fs::create_dir_all(&launcher).unwrap();
    let script = launcher.join("mesos-executor");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec env MESOS_RS_EXECUTOR_MODE=\"${{MESOS_RS_EXECUTOR_MODE:-command}}\" '{}' \"$@\"\n", env!("CARGO_BIN_EXE_mesos-cluster")),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = LocalClusterConfig::new(dir.path().join("work"));
    c.agent_resources = Some(format!("cpus:{};mem:{};disk:10000", n, n * 128));
    c.launcher_dir = Some(launcher);
    c.containerizers = Some("docker,mesos".into());
    let cluster = LocalCluster::start(c).await.expect("cluster");
    let info: FrameworkInfo =
        serde_json::from_value(serde_json::json!({"user": "root", "name": "bench"})).unwrap();
    let (client, mut events) = SchedulerClient::subscribe(&cluster.master_addr().to_string(), info)
        .await
        .unwrap();
    let offer = loop {
        if let Some(Event::Offers(o)) = events.next().await {
            break o.offers[0].clone();
        }
    };
    let res = Resources::parse_flag("cpus:0.5;mem:64")
        .unwrap()
        .to_wire(None);
    let tasks: Vec<TaskInfo> = (0..n)
        .map(|i| {
            let mut t = TaskInfo::new(format!("c{i}"), mesos_core::proto::ids::TaskId::new(format!("c{i}")), offer.agent_id.clone());
            t.resources = res.clone();
            t.command = Some(CommandInfo::shell("sleep 300"));
            t.container = Some(serde_json::json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}}));
            t
        })
        .collect();
    let op: Operation = serde_json::from_value(
        serde_json::json!({"type": "LAUNCH", "launch": {"task_infos": tasks}}),
    )
    .unwrap();
    let started = Instant::now();
    client
        .call(Call::Accept(Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![op],
            filters: None,
        }))
        .await
        .unwrap();
    let mut running = BTreeSet::new();
    while running.len() < n {
        let Some(ev) = tokio::time::timeout(Duration::from_secs(300), events.next())
            .await
            .expect("updates")
        else {
            panic!("stream ended");
        };
        if let Event::Update(u) = ev {
            let s = u.status;
            match s.state {
                TaskState::TaskRunning => {
                    running.insert(s.task_id.value.clone());
                }
                TaskState::TaskStarting => {}
                other => panic!("task {} went {:?}: {:?}", s.task_id, other, s.message),
            }
            if let (Some(uuid), Some(agent)) = (s.uuid, s.agent_id) {
                let _ = client
                    .call(Call::Acknowledge(Acknowledge {
                        agent_id: agent,
                        task_id: s.task_id,
                        uuid,
                    }))
                    .await;
            }
        }
    }
    let took = started.elapsed();
    cluster.shutdown(true).await;
    took
}

fn main() {
    let n: usize = std::env::var("CONTAINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let image = mesos_testkit::docker_test_image();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stack = rt.block_on(through_the_stack(n, image));
    let direct = direct(n, image);
    println!(
        "through the stack: {n} containers running in {:.2} s",
        stack.as_secs_f64()
    );
    println!(
        "docker run -d:     {n} containers started in {:.2} s",
        direct.as_secs_f64()
    );
    println!(
        "docker_launch: {n} containers through the whole stack in {:.2} s vs docker run -d in {:.2} s: ratio {:.2} (aim 1.1)",
        stack.as_secs_f64(),
        direct.as_secs_f64(),
        stack.as_secs_f64() / direct.as_secs_f64()
    );
}
