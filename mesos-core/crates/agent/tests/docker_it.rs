//! End-to-end tests of the Docker containerizer (`--containerizers=docker,mesos`) against
//! this machine's Docker engine and a fake master over loopback.
//!
//! Needs a running Docker engine (`docker.io`) and `busybox-static`: the test image
//! `mesos-test-busybox:1` is built locally by `scripts/make-test-image.sh` (no registry).
//! Every test uses its own agent ID; a guard removes the test's containers (label
//! `mesos.agent_id`) and kills its executor processes even when the test fails.

mod common;

use common::*;
use mesos_agent::{AgentFlags, AgentHandle};
use mesos_proto::internal::{MasterToAgent, Registration};
use mesos_proto::v1::*;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IMAGE: &str = "mesos-test-busybox:1";
const WAIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// The engine, the test image and cleanup.
// ---------------------------------------------------------------------------------------

fn docker_cli(args: &[&str]) -> (bool, String) {
    match Command::new("docker").args(args).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Build the test image once per test run (shared with the other crates' tests); fail with
/// what to install when the engine or busybox-static is missing.
fn ensure_image() {
    assert_eq!(mesos_testkit::docker_test_image(), IMAGE);
}

/// Containers of agent `agent_id`: `(name, running)`.
fn containers_of(agent_id: &str) -> Vec<(String, bool)> {
    let (ok, out) = docker_cli(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=mesos.agent_id={agent_id}"),
        "--format",
        "{{.Names}} {{.State}}",
    ]);
    assert!(ok, "docker ps: {out}");
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, s)| (n.to_string(), s == "running"))
        .collect()
}

/// Removes the test's containers and kills its executors (processes whose working
/// directory is in the test's work dir) when dropped, also on panic.
struct Guard {
    agent_id: String,
    work_dir: PathBuf,
    extra: Mutex<Vec<String>>,
}

impl Guard {
    fn new(agent_id: &str, work_dir: &Path) -> Guard {
        Guard {
            agent_id: agent_id.to_string(),
            work_dir: work_dir.canonicalize().unwrap(),
            extra: Mutex::new(Vec::new()),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return;
        };
        for ent in dir.flatten() {
            let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
                if cwd.starts_with(&self.work_dir) {
                    // SAFETY: plain signal delivery to a process of this test.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        let mut names: Vec<String> = containers_of(&self.agent_id)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.extend(self.extra.lock().unwrap().drain(..));
        for n in names {
            docker_cli(&["rm", "-f", &n]);
        }
    }
}

/// A unique agent ID per test (and run), so tests sharing the engine never touch each
/// other's containers.
fn agent_id(test: &str) -> String {
    format!("docker-it-{test}-{}", std::process::id())
}

fn flags(master: SocketAddr, work_dir: &Path, ports: (u16, u16)) -> AgentFlags {
    let mut f = common::flags(master, work_dir);
    f.resources = Some(format!(
        "cpus:2;mem:2048;disk:1024;ports:[{}-{}]",
        ports.0, ports.1
    ));
    f.containerizers = "docker,mesos".into();
    f
}

fn framework() -> FrameworkInfo {
    framework_of("root")
}

/// A command task in a Docker container of `IMAGE` (`docker` fields added to DockerInfo).
fn docker_task(
    agent: &str,
    id: &str,
    cmd: &str,
    mem: f64,
    port: Option<u16>,
    docker: serde_json::Value,
) -> TaskInfo {
    let mut d = json!({"image": IMAGE});
    d.as_object_mut()
        .unwrap()
        .extend(docker.as_object().unwrap().clone());
    let mut resources = vec![
        json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}}),
        json!({"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}),
    ];
    if let Some(p) = port {
        resources.push(json!({"name": "ports", "type": "RANGES",
                              "ranges": {"range": [{"begin": p, "end": p}]}}));
    }
    serde_json::from_value(json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": agent},
        "resources": resources,
        "command": {"value": cmd, "environment": {"variables": [{"name": "GREETING", "value": "hi"}]}},
        "container": {"type": "DOCKER", "docker": d},
        "kill_policy": {"grace_period": {"nanoseconds": 1_000_000_000u64}},
        "labels": {"labels": [{"key": "suite", "value": "docker_it"}]}
    }))
    .unwrap()
}

fn run(fake: &Fake, task: TaskInfo) {
    fake.send(MasterToAgent::RunTask {
        framework: framework(),
        task,
    });
}

/// The first update of `task` in a terminal state or `state`; fails on a different
/// terminal state, showing the updates.
async fn wait_state(fake: &Fake, task: &str, state: TaskState) -> TaskStatus {
    let s = wait_until(&format!("{task} {state:?}"), || {
        fake.updates()
            .into_iter()
            .find(|s| s.task_id.value == task && (s.state == state || s.state.is_terminal()))
    })
    .await;
    assert_eq!(
        s.state,
        state,
        "{task}: {:?} ({:?}); updates: {:?}",
        s.state,
        s.message,
        fake.updates()
            .iter()
            .map(|u| (u.state, u.message.clone()))
            .collect::<Vec<_>>()
    );
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test's setup: image, guard, fake master, a registered docker,mesos agent.
async fn setup(test: &str) -> (Guard, tempfile::TempDir, Arc<Fake>, AgentHandle, AgentFlags) {
    ensure_image();
    let aid = agent_id(test);
    let dir = tempfile::tempdir().unwrap();
    let guard = Guard::new(&aid, dir.path());
    let (fake, maddr) = fake_master_acking(&aid).await;
    let f = flags(maddr, dir.path(), (31000, 31010));
    let agent = start_registered(&fake, f.clone(), 1).await;
    (guard, dir, fake, agent, f)
}

fn sandbox_file(dir: &Path, agent: &str, task: &str, file: &str) -> PathBuf {
    dir.canonicalize().unwrap().join(format!(
        "slaves/{agent}/frameworks/F/executors/{task}/runs/latest/{file}"
    ))
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_task_finishes_and_its_output_is_in_the_sandbox() {
    let (guard, dir, fake, agent, _) = setup("finish").await;
    let aid = guard.agent_id.clone();
    run(
        &fake,
        docker_task(
            &aid,
            "t1",
            "echo out-$GREETING-$MESOS_TASK_ID-$MESOS_SANDBOX; echo to-stderr >&2; \
             echo file > $MESOS_SANDBOX/written",
            64.0,
            None,
            json!({}),
        ),
    );
    let starting = wait_state(&fake, "t1", TaskState::TaskStarting).await;
    assert_eq!(starting.source.as_deref(), Some("SOURCE_EXECUTOR"));
    let finished = wait_state(&fake, "t1", TaskState::TaskFinished).await;
    assert_eq!(
        finished.message.as_deref(),
        Some("Container exited with status 0")
    );
    let order: Vec<TaskState> = fake.updates().iter().map(|s| s.state).collect();
    let pos = |st| order.iter().position(|s| *s == st).unwrap();
    assert!(pos(TaskState::TaskStarting) < pos(TaskState::TaskRunning));
    assert!(pos(TaskState::TaskRunning) < pos(TaskState::TaskFinished));

    let base = format!("http://{}", agent.addr());
    let stdout = sandbox_file(dir.path(), &aid, "t1", "stdout");
    let (code, body) = files_read(&base, &stdout).await;
    assert_eq!(code, 200, "{body}");
    let data = body["data"].as_str().unwrap();
    assert!(data.contains("out-hi-t1-/mnt/mesos/sandbox"), "{data}");
    let stderr = std::fs::read_to_string(sandbox_file(dir.path(), &aid, "t1", "stderr")).unwrap();
    assert!(stderr.contains("to-stderr"), "{stderr}");
    // The sandbox was the container's /mnt/mesos/sandbox.
    let written = std::fs::read_to_string(sandbox_file(dir.path(), &aid, "t1", "written")).unwrap();
    assert_eq!(written.trim(), "file");
    // Removed once the task ended.
    assert!(containers_of(&aid).is_empty(), "{:?}", containers_of(&aid));
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_container_reports_its_exit_status() {
    let (guard, _dir, fake, agent, _) = setup("fail").await;
    run(
        &fake,
        docker_task(&guard.agent_id, "t1", "exit 3", 64.0, None, json!({})),
    );
    let failed = wait_state(&fake, "t1", TaskState::TaskFailed).await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Container exited with status 3")
    );
    assert!(containers_of(&guard.agent_id).is_empty());
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_container_is_stopped_and_removed() {
    let (guard, _dir, fake, agent, _) = setup("kill").await;
    let aid = guard.agent_id.clone();
    run(
        &fake,
        docker_task(&aid, "t1", "sleep 1000", 64.0, None, json!({})),
    );
    let running = wait_state(&fake, "t1", TaskState::TaskRunning).await;
    let cid = running.container_status.as_ref().unwrap()["container_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let containers = containers_of(&aid);
    assert_eq!(containers, vec![(format!("mesos-{cid}"), true)]);
    // Labels of the container.
    let (ok, labels) = docker_cli(&[
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        &format!("mesos-{cid}"),
    ]);
    assert!(ok, "{labels}");
    let labels: serde_json::Value = serde_json::from_str(labels.trim()).unwrap();
    assert_eq!(labels["mesos.task_id"], "t1");
    assert_eq!(labels["mesos.executor_id"], "t1");
    assert_eq!(labels["mesos.framework_id"], "F");
    assert_eq!(labels["mesos.container_id"], cid.as_str());
    assert_eq!(labels["suite"], "docker_it");
    let started = Instant::now();
    kill(&fake, "t1");
    wait_state(&fake, "t1", TaskState::TaskKilled).await;
    // sh as PID 1 ignores SIGTERM: stopped by SIGKILL after the 1 s grace period.
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(containers_of(&aid).is_empty(), "{:?}", containers_of(&aid));
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_network_port_mapping_reaches_the_container() {
    ensure_image();
    let aid = agent_id("bridge");
    let dir = tempfile::tempdir().unwrap();
    let guard = Guard::new(&aid, dir.path());
    let (fake, maddr) = fake_master_acking(&aid).await;
    let port = free_port();
    let agent = start_registered(&fake, flags(maddr, dir.path(), (port, port)), 1).await;
    let mapping = json!({"network": "BRIDGE",
                         "port_mappings": [{"host_port": port, "container_port": 8080, "protocol": "tcp"}]});
    run(
        &fake,
        docker_task(
            &aid,
            "web",
            "echo served-by-httpd > $MESOS_SANDBOX/index.html; exec httpd -f -p 8080 -h $MESOS_SANDBOX",
            64.0,
            Some(port),
            mapping.clone(),
        ),
    );
    let running = wait_state(&fake, "web", TaskState::TaskRunning).await;
    let ip = running.container_status.as_ref().unwrap()["network_infos"][0]["ip_addresses"][0]
        ["ip_address"]
        .as_str()
        .unwrap_or_else(|| panic!("no container IP: {:?}", running.container_status))
        .to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    let url = format!("http://127.0.0.1:{port}/index.html");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let body = wait_until_async(&format!("GET {url}"), || async {
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => r.text().await.ok(),
            _ => None,
        }
    })
    .await;
    assert_eq!(body.trim(), "served-by-httpd");
    kill(&fake, "web");
    wait_state(&fake, "web", TaskState::TaskKilled).await;

    // A host port outside the task's ports fails the task.
    let bad = json!({"network": "BRIDGE",
                     "port_mappings": [{"host_port": 1, "container_port": 8080}]});
    run(
        &fake,
        docker_task(&aid, "bad", "true", 64.0, Some(port), bad),
    );
    let failed = wait_state(&fake, "bad", TaskState::TaskFailed).await;
    assert!(
        failed.message.as_deref().unwrap().contains("host port 1 "),
        "{:?}",
        failed.message
    );
    agent.shutdown(true).await;
    drop(guard);
}

async fn wait_until_async<T, F, Fut>(what: &str, mut f: F) -> T
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_over_its_memory_limit_fails_with_a_memory_limitation() {
    let (guard, _dir, fake, agent, _) = setup("oom").await;
    // 16 MB task + 32 MB executor share = 48 MB limit. The hog is the container's
    // init (engines on cgroup v2 report OOMKilled only for it) and doubles a string
    // up to 256 MB, so without a limit it would finish at once. A whole cpu, so that
    // reclaim near the limit is not throttled by a small quota.
    let mut hog = docker_task(
        &guard.agent_id,
        "hog",
        "exec awk 'BEGIN { s = \"x\"; while (length(s) < 200000000) s = s s }'",
        16.0,
        None,
        json!({}),
    );
    hog.resources[0] =
        serde_json::from_value(json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}))
            .unwrap();
    run(&fake, hog);
    let start = Instant::now();
    let failed = loop {
        let terminal = fake
            .updates()
            .into_iter()
            .find(|s| s.task_id.value == "hog" && s.state.is_terminal());
        if let Some(s) = terminal {
            break s;
        }
        if start.elapsed() > WAIT {
            let names: Vec<String> = containers_of(&guard.agent_id)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            let mut args = vec![
                "inspect",
                "--format",
                "{{.State}} memory={{.HostConfig.Memory}} swap={{.HostConfig.MemorySwap}}",
            ];
            args.extend(names.iter().map(String::as_str));
            panic!(
                "the hog did not end; updates: {:?}; containers: {:?}; docker info: {:?}",
                fake.updates()
                    .iter()
                    .map(|u| (u.state, u.message.clone()))
                    .collect::<Vec<_>>(),
                docker_cli(&args),
                docker_cli(&["info", "--format", "{{.CgroupVersion}} {{.Warnings}}"]),
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(failed.state, TaskState::TaskFailed, "{failed:?}");
    assert_eq!(
        failed.reason.as_deref(),
        Some("REASON_CONTAINER_LIMITATION_MEMORY"),
        "{:?}",
        failed.message
    );
    assert!(failed
        .message
        .as_deref()
        .unwrap()
        .contains("Memory limit exceeded"));
    assert!(failed.limitation.is_some());
    assert!(containers_of(&guard.agent_id).is_empty());
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_fails_the_task_with_the_pull_error() {
    let (guard, _dir, fake, agent, _) = setup("noimage").await;
    run(
        &fake,
        docker_task(
            &guard.agent_id,
            "t1",
            "true",
            64.0,
            None,
            json!({"image": "mesos-test-missing:404"}),
        ),
    );
    wait_state(&fake, "t1", TaskState::TaskStarting).await;
    let failed = wait_state(&fake, "t1", TaskState::TaskFailed).await;
    let msg = failed.message.unwrap();
    assert!(
        msg.starts_with("Failed to pull image 'mesos-test-missing:404': "),
        "{msg}"
    );
    // force_pull_image pulls even a present image: no registry, so it fails too.
    run(
        &fake,
        docker_task(
            &guard.agent_id,
            "t2",
            "true",
            64.0,
            None,
            json!({"force_pull_image": true}),
        ),
    );
    let failed = wait_state(&fake, "t2", TaskState::TaskFailed).await;
    assert!(
        failed
            .message
            .as_deref()
            .unwrap()
            .starts_with(&format!("Failed to pull image '{IMAGE}': ")),
        "{:?}",
        failed.message
    );
    // Unknown parameters and disallowed volumes are refused, not ignored.
    run(
        &fake,
        docker_task(
            &guard.agent_id,
            "t3",
            "true",
            64.0,
            None,
            json!({"parameters": [{"key": "memory-swappiness", "value": "0"}]}),
        ),
    );
    let failed = wait_state(&fake, "t3", TaskState::TaskFailed).await;
    assert!(failed
        .message
        .as_deref()
        .unwrap()
        .contains("memory-swappiness"));
    let mut t4 = docker_task(&guard.agent_id, "t4", "true", 64.0, None, json!({}));
    t4.container.as_mut().unwrap()["volumes"] =
        json!([{"container_path": "/etc-host", "host_path": "/etc", "mode": "RO"}]);
    run(&fake, t4);
    let failed = wait_state(&fake, "t4", TaskState::TaskFailed).await;
    assert!(failed
        .message
        .as_deref()
        .unwrap()
        .contains("--docker_volume_host_paths_allowed"));
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_agent_recovers_its_running_container() {
    let (guard, dir, fake, agent, f) = setup("recover").await;
    let aid = guard.agent_id.clone();
    run(
        &fake,
        docker_task(&aid, "t1", "sleep 1000", 64.0, None, json!({})),
    );
    let running = wait_state(&fake, "t1", TaskState::TaskRunning).await;
    let cid = running.container_status.as_ref().unwrap()["container_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    // Restart on the same port: the executor and its container keep running.
    let mut f = f;
    f.port = agent.addr().port();
    tokio::time::sleep(Duration::from_millis(300)).await;
    agent.shutdown(false).await;
    assert_eq!(containers_of(&aid), vec![(format!("mesos-{cid}"), true)]);
    let agent = start_registered(&fake, f, 2).await;
    assert!(matches!(
        fake.registrations.lock().unwrap()[1],
        Registration::Reregister { .. }
    ));
    // The executor re-subscribes; the container was not taken for an orphan.
    let base = format!("http://{}", agent.addr());
    wait_until_async("the executor re-subscribed", || async {
        let (_, m) = get_json(&format!("{base}/metrics/snapshot")).await;
        (m["slave/executors_running"] == 1.0).then_some(())
    })
    .await;
    assert_eq!(containers_of(&aid), vec![(format!("mesos-{cid}"), true)]);
    let started = Instant::now();
    kill(&fake, "t1");
    let killed = wait_state(&fake, "t1", TaskState::TaskKilled).await;
    // Stopped by the recovered executor, not by a timeout of the agent.
    assert_eq!(
        killed.source.as_deref(),
        Some("SOURCE_EXECUTOR"),
        "{killed:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(containers_of(&aid).is_empty(), "{:?}", containers_of(&aid));
    agent.shutdown(true).await;
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starting_agent_removes_its_orphan_containers() {
    let (guard, _dir, fake, agent, f) = setup("orphan").await;
    let aid = guard.agent_id.clone();
    agent.shutdown(true).await;
    let pid = std::process::id();
    let orphan = format!("mesos-orphan-{pid}");
    let foreign = format!("mesos-foreign-{pid}");
    guard.extra.lock().unwrap().push(foreign.clone());
    for (name, owner) in [
        (&orphan, aid.clone()),
        (&foreign, format!("other-agent-{pid}")),
    ] {
        let (ok, out) = docker_cli(&[
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &format!("mesos.agent_id={owner}"),
            "--label",
            &format!("mesos.container_id=orphan-{pid}"),
            IMAGE,
            "sleep",
            "1000",
        ]);
        assert!(ok, "docker run: {out}");
    }
    assert_eq!(containers_of(&aid), vec![(orphan.clone(), true)]);
    let agent = mesos_agent::start(f).await.expect("agent starts");
    assert!(containers_of(&aid).is_empty(), "{:?}", containers_of(&aid));
    // Another agent's container is left alone.
    assert_eq!(
        containers_of(&format!("other-agent-{pid}")),
        vec![(foreign.clone(), true)]
    );
    agent.shutdown(true).await;
    drop(fake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerizer_flags_choose_who_runs_what() {
    // No engine at the socket: a one-line start error.
    let dir = tempfile::tempdir().unwrap();
    let aid = agent_id("flags");
    let (fake, maddr) = fake_master_acking(&aid).await;
    let mut f = flags(maddr, dir.path(), (31000, 31010));
    f.docker_socket = dir.path().join("no-docker.sock").display().to_string();
    let err = mesos_agent::start(f.clone())
        .await
        .err()
        .expect("start fails");
    assert!(err.contains("docker containerizer"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    // A mesos-only agent fails DOCKER tasks.
    f.containerizers = "mesos".into();
    let agent = start_registered(&fake, f, 1).await;
    run(
        &fake,
        docker_task(&aid, "d1", "true", 64.0, None, json!({})),
    );
    let failed = wait_state(&fake, "d1", TaskState::TaskFailed).await;
    assert_eq!(
        failed.reason.as_deref(),
        Some("REASON_CONTAINER_LAUNCH_FAILED")
    );
    assert!(failed
        .message
        .unwrap()
        .contains("needs the docker containerizer"));
    agent.shutdown(true).await;

    // A docker-only agent fails tasks without a Docker container.
    ensure_image();
    let dir2 = tempfile::tempdir().unwrap();
    let _guard = Guard::new(&aid, dir2.path());
    let (fake2, maddr2) = fake_master_acking(&aid).await;
    let mut f2 = flags(maddr2, dir2.path(), (31000, 31010));
    f2.containerizers = "docker".into();
    let agent = start_registered(&fake2, f2, 1).await;
    let mut plain = docker_task(&aid, "p1", "true", 64.0, None, json!({}));
    plain.container = None;
    run(&fake2, plain);
    let failed = wait_state(&fake2, "p1", TaskState::TaskFailed).await;
    assert!(failed.message.unwrap().contains("--containerizers=docker"));
    run(
        &fake2,
        docker_task(&aid, "d2", "true", 64.0, None, json!({})),
    );
    wait_state(&fake2, "d2", TaskState::TaskFinished).await;
    agent.shutdown(true).await;
}
