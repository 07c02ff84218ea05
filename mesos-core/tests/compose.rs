//! The docker-compose dev cluster (`docker-compose.yml`) end to end, on the real Docker
//! engine and without any registry: the base image from `scripts/make-base-image.sh`, the
//! cluster's image from `docker/Dockerfile` with this build's binaries, then ZooKeeper,
//! three masters, two agents and Marathon from the compose file (under their own project
//! name, on free host ports). An app of two instances is created through Marathon's API on
//! its published port and runs two tasks. A framework subscribes through the published
//! ZooKeeper port and runs a process task and a Docker task on each agent (the Docker tasks
//! run on the host's engine through the agents' mounted socket). The leading master's
//! container is killed: a new leader serves, every task is reconciled RUNNING, and
//! Marathon, re-subscribed, still runs the same two tasks. One agent's container is cut
//! off its network: its tasks become TASK_UNREACHABLE; once reconnected they are
//! reconciled RUNNING again. `docker-compose down -v` runs at the end, also on failure.
//!
//! Needs Docker (docker.io), docker-compose, root, debootstrap and a reachable Debian
//! mirror for the base image the first time, and busybox-static for the task image. Fails
//! (never skips) naming what to install when something is missing. The image's `marathon`
//! binary comes from the `marathon` package: the test builds it with this build's cargo,
//! profile and target directory.

mod support;

use mesos_core::client::SchedulerClient;
use mesos_core::proto::scheduler::Call;
use mesos_core::proto::v1::{Offer, TaskState};
use mesos_testkit::free_port;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use support::*;

const PROJECT: &str = "mesos-rs-compose-test";
const IMAGE: &str = "mesos-rs:compose-test";
const MASTERS: [&str; 3] = ["master1", "master2", "master3"];
/// Marathon's app: a plain command, so the agents run it with the mesos containerizer.
const APP: &str = "hello";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run a command; panic with its output unless it succeeds. Returns its trimmed stdout.
fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args))
}

/// `docker-compose`, or `docker compose` (Compose v2); panics naming what to install.
fn compose_program() -> Vec<String> {
    match Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
    {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the Docker engine is required for this test: install docker.io and start dockerd ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("the docker CLI is required for this test: install docker.io ({e})"),
    }
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return vec!["docker-compose".into()];
    }
    if Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return vec!["docker".into(), "compose".into()];
    }
    panic!("docker-compose is required for this test: apt-get install docker-compose");
}

/// The compose project under test. Dropping it takes everything down (`down -v`) and
/// removes the task containers the agents started on the host's engine.
struct Project {
    program: Vec<String>,
    env: Vec<(String, String)>,
    dir: TestDir,
    zk_port: u16,
    master_ports: BTreeMap<&'static str, u16>,
    marathon_port: u16,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.program[0]);
        c.args(&self.program[1..])
            .arg("-p")
            .arg(PROJECT)
            .arg("-f")
            .arg(repo_root().join("docker-compose.yml"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Container IDs of a service.
    fn containers(&self, service: &str) -> Vec<String> {
        run(&mut self.compose(&["ps", "-q", service]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn network(&self) -> String {
        format!("{PROJECT}_mesos")
    }

    fn marathon_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.marathon_port)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(out) = self.compose(&["logs", "--no-color", "--tail=40"]).output() {
                eprintln!(
                    "--- compose logs ---\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
        }
        let _ = self
            .compose(&["down", "-v", "--remove-orphans", "-t", "5"])
            .output();
        // Task containers live on the host's engine, outside the compose project.
        let agent_root = self.dir.path().join("agents");
        for id in task_containers(&agent_root) {
            let _ = Command::new("docker").args(["rm", "-f", &id]).output();
        }
        let _ = Command::new("docker").args(["rmi", "-f", IMAGE]).output();
    }
}

/// The task containers (label `mesos.container_id`) whose sandbox comes from under `agent_root`.
fn task_containers(agent_root: &Path) -> Vec<String> {
    let Ok(out) = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=mesos.container_id"])
        .output()
    else {
        return vec![];
    };
    let root = agent_root.display().to_string();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|id| {
            Command::new("docker")
                .args(["inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", id])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&root))
        })
        .map(str::to_string)
        .collect()
}

/// The `marathon` binary, built with the cargo, profile and target directory of this test.
/// It belongs to the `marathon` package, which depends on this one, so cargo cannot hand
/// it to this test the way it does `CARGO_BIN_EXE_mesos-master`.
fn marathon_binary() -> PathBuf {
    mesos_testkit::workspace_binary("marathon", "marathon", &[])
}

/// The base image and the cluster's image with this build's master, agent and Marathon
/// binaries.
fn build_images(ctx: &Path) {
    let root = repo_root();
    let base = output(
        Command::new("bash")
            .arg(root.join("scripts/make-base-image.sh"))
            .arg("mesos-rs-base:bookworm"),
    );
    assert!(
        base.status.success(),
        "cannot make the base image mesos-rs-base:bookworm (run as root; apt-get install debootstrap; \
         a Debian mirror must be reachable): {}",
        String::from_utf8_lossy(&base.stderr).trim()
    );
    std::fs::create_dir_all(ctx.join("bin")).unwrap();
    let marathon = marathon_binary();
    for (name, path) in [
        (
            "mesos-master",
            Path::new(env!("CARGO_BIN_EXE_mesos-master")),
        ),
        ("mesos-agent", Path::new(env!("CARGO_BIN_EXE_mesos-agent"))),
        ("marathon", marathon.as_path()),
    ] {
        let dst = ctx.join("bin").join(name);
        std::fs::copy(path, &dst).unwrap();
        // Debug builds carry ~150 MB of symbols; the image does not need them.
        let _ = Command::new("strip").arg(&dst).output();
    }
    for f in ["Dockerfile", "entrypoint.sh", ".dockerignore"] {
        std::fs::copy(root.join("docker").join(f), ctx.join(f)).unwrap();
    }
    run(Command::new("docker")
        .args(["build", "-q", "-t", IMAGE])
        .arg(ctx));
}

async fn get(url: &str) -> Option<serde_json::Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    let r = http.get(url).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    serde_json::from_slice(&r.bytes().await.ok()?).ok()
}

/// POST a JSON body; the status and the JSON answer (`Null` when there is none).
async fn post(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    let bytes = r.bytes().await.unwrap_or_default();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

/// Marathon's framework ID once it has subscribed to a master.
async fn wait_marathon_subscribed(p: &Project) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let info = get(&p.marathon_url("/v2/info")).await;
        if let Some(id) = info.as_ref().and_then(|i| i["frameworkId"].as_str()) {
            return id.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Marathon on port {} did not subscribe: /v2/info {info:?}",
            p.marathon_port
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The IDs of the app's tasks once Marathon shows exactly `n`, all TASK_RUNNING, and no
/// deployment of the app is under way.
async fn wait_app_running(p: &Project, n: usize, what: &str) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let app = get(&p.marathon_url(&format!("/v2/apps/{APP}"))).await;
        let tasks = get(&p.marathon_url(&format!("/v2/apps/{APP}/tasks"))).await;
        if let (Some(app), Some(tasks)) = (&app, &tasks) {
            let tasks = tasks["tasks"].as_array().cloned().unwrap_or_default();
            let running: BTreeSet<String> = tasks
                .iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect();
            if tasks.len() == n
                && running.len() == n
                && app["app"]["deployments"]
                    .as_array()
                    .is_some_and(|d| d.is_empty())
            {
                return running;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Marathon's {APP} has not {n} running tasks {what}: app {app:?}, tasks {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The leader's `/master/state` once it lists the active framework `framework_id` with
/// exactly `tasks`, all TASK_RUNNING.
async fn wait_master_runs(
    p: &Project,
    leader: &str,
    framework_id: &str,
    tasks: &BTreeSet<String>,
    what: &str,
) {
    let port = p.master_ports[leader];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let state = get(&format!("http://127.0.0.1:{port}/master/state")).await;
        let fw = state.as_ref().and_then(|s| {
            s["frameworks"]
                .as_array()?
                .iter()
                .find(|f| f["id"] == framework_id)
                .cloned()
        });
        if let Some(fw) = &fw {
            let running: BTreeSet<String> = fw["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect();
            if fw["active"] == true && &running == tasks {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{leader} does not run {tasks:?} of the active framework {framework_id} {what}: {fw:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The master service every live master agrees leads, through the published ports.
async fn wait_leader(p: &Project, dead: &BTreeSet<&str>, what: &str) -> &'static str {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut elected = Vec::new();
        let mut leaders = BTreeSet::new();
        for (name, port) in p.master_ports.iter().filter(|(n, _)| !dead.contains(*n)) {
            if let Some(s) = get(&format!("http://127.0.0.1:{port}/master/state")).await {
                leaders.insert(s["leader_info"]["hostname"].to_string());
            } else {
                leaders.insert("unreachable".into());
            }
            if let Some(v) = get(&format!("http://127.0.0.1:{port}/metrics/snapshot")).await {
                if v["master/elected"] == 1.0 {
                    elected.push(*name);
                }
            }
        }
        if elected.len() == 1 && leaders.len() == 1 && !leaders.contains("null") {
            return elected[0];
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no single leader {what}: elected {elected:?}, leaders seen {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The leader's `/master/state` once it has `n` active agents.
async fn wait_agents(p: &Project, leader: &str, n: usize, what: &str) -> serde_json::Value {
    let port = p.master_ports[leader];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(s) = get(&format!("http://127.0.0.1:{port}/master/state")).await {
            let active = s["slaves"]
                .as_array()
                .map(|a| a.iter().filter(|s| s["active"] == true).count())
                .unwrap_or(0);
            if active == n {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {n} active agents {what}: {}",
                s["slaves"]
            );
        } else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "leader {leader} does not answer {what}"
            );
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
        let attempt = tokio::time::timeout(
            Duration::from_secs(15),
            SchedulerClient::subscribe(zk_url, info.clone()),
        )
        .await;
        match attempt {
            Ok(Ok((client, events))) => {
                assert_eq!(client.framework_id(), &fw.id(), "same framework ID");
                fw.client = client;
                fw.events = events;
                fw.offers.clear();
                return;
            }
            other => {
                let e = match other {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".into(),
                };
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "could not re-subscribe: {e}"
                );
                eprintln!("re-subscribe not yet possible: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Wait until files named `stdout` under `root` hold each of `needles` (the sandboxes
/// the host's engine mounted into the task containers are host directories).
async fn wait_sandbox_output(root: &Path, needles: &[&str]) {
    fn stdouts(dir: &Path, out: &mut String) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stdouts(&path, out);
            } else if e.file_name() == "stdout" {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut all = String::new();
        stdouts(root, &mut all);
        if needles.iter().all(|n| all.contains(n)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sandboxes under {} lack {needles:?}: {all}",
            root.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn docker_task(id: &str, offer: &Offer) -> mesos_core::proto::v1::TaskInfo {
    let mut t = command_task(
        id,
        offer,
        "echo hello-from-$MESOS_TASK_ID; sleep 3600",
        "cpus:0.1;mem:32",
    );
    t.container = Some(serde_json::json!({
        "type": "DOCKER",
        "docker": {"image": mesos_testkit::docker_test_image(), "network": "NONE"}
    }));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compose_cluster_survives_a_master_kill_and_an_agent_partition() {
    let program = compose_program();
    mesos_testkit::docker_test_image();
    let dir = TestDir::new();
    build_images(&dir.path().join("context"));
    let agent_root = dir.path().join("agents");
    std::fs::create_dir_all(&agent_root).unwrap();

    let zk_port = free_port();
    let master_ports: BTreeMap<&'static str, u16> =
        MASTERS.iter().map(|m| (*m, free_port())).collect();
    let marathon_port = free_port();
    let mut env: Vec<(String, String)> = vec![
        ("MESOS_RS_IMAGE".into(), IMAGE.into()),
        ("MESOS_RS_ZK_PORT".into(), zk_port.to_string()),
        ("MESOS_RS_MARATHON_PORT".into(), marathon_port.to_string()),
        (
            "MESOS_RS_AGENT_ROOT".into(),
            agent_root.display().to_string(),
        ),
        ("MESOS_RS_ZK_SESSION_TIMEOUT".into(), "4secs".into()),
        ("MESOS_RS_AGENT_PING_TIMEOUT".into(), "1secs".into()),
        ("MESOS_RS_MAX_AGENT_PING_TIMEOUTS".into(), "3".into()),
        (
            "MESOS_RS_AGENT_RESOURCES".into(),
            "cpus:1;mem:512;disk:512;ports:[31000-31010]".into(),
        ),
    ];
    for (i, m) in MASTERS.iter().enumerate() {
        env.push((
            format!("MESOS_RS_MASTER{}_PORT", i + 1),
            master_ports[m].to_string(),
        ));
    }
    let p = Project {
        program,
        env,
        dir,
        zk_port,
        master_ports,
        marathon_port,
    };
    // A leftover of an earlier, interrupted run would hold the ports and names.
    let _ = p
        .compose(&["down", "-v", "--remove-orphans", "-t", "1"])
        .output();
    run(&mut p.compose(&["up", "-d", "--no-build"]));
    assert_eq!(
        p.containers("agent").len(),
        2,
        "the compose file starts two agents"
    );

    let mut dead = BTreeSet::new();
    let leader = wait_leader(&p, &dead, "at start").await;
    let state = wait_agents(&p, leader, 2, "at start").await;
    // Agents advertise their container's IP as hostname; map agent IDs to containers.
    let mut agent_of_container = BTreeMap::new();
    for c in p.containers("agent") {
        let ip = docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &c,
        ]);
        let slave = state["slaves"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["hostname"] == ip.as_str())
            .unwrap_or_else(|| panic!("no agent with hostname {ip}: {}", state["slaves"]));
        agent_of_container.insert(c, slave["id"].as_str().unwrap().to_string());
    }

    // Marathon, through its published port: subscribed through ZooKeeper, it names its
    // container's IP as leader and runs an app of two plain-command instances (the agents
    // run them with the mesos containerizer, as processes in the agent containers).
    let marathon_id = wait_marathon_subscribed(&p).await;
    let marathon_ip = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &p.containers("marathon")
            .pop()
            .expect("Marathon's container"),
    ]);
    let marathon_leader = get(&p.marathon_url("/v2/leader")).await;
    assert_eq!(
        marathon_leader.as_ref().map(|l| l["leader"].clone()),
        Some(serde_json::json!(format!("{marathon_ip}:8080"))),
        "/v2/leader names Marathon's container address"
    );
    let (status, created) = post(
        &p.marathon_url("/v2/apps"),
        &serde_json::json!({"id": APP, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 2}),
    )
    .await;
    assert_eq!(status, 201, "POST /v2/apps: {created}");
    let app_tasks = wait_app_running(&p, 2, "after creating it").await;
    wait_master_runs(
        &p,
        leader,
        &marathon_id,
        &app_tasks,
        "after creating the app",
    )
    .await;
    eprintln!("compose: Marathon runs {APP}: {app_tasks:?}");

    // A framework through the published ZooKeeper port, one process and one Docker task
    // on each agent.
    let zk_url = format!("zk://127.0.0.1:{}/mesos", p.zk_port);
    let (client, events) =
        SchedulerClient::subscribe(&zk_url, framework_info(&["PARTITION_AWARE"], 3600.0))
            .await
            .expect("subscribe through ZooKeeper");
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
    let mut tasks_of_agent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut used = BTreeSet::new();
    for (i, o) in offers.iter().enumerate() {
        if !used.insert(o.agent_id.clone()) {
            continue;
        }
        let (process, container) = (format!("process-{i}"), format!("docker-{i}"));
        fw.launch(
            o,
            vec![
                command_task(&process, o, "sleep 3600", "cpus:0.1;mem:32"),
                docker_task(&container, o),
            ],
        )
        .await;
        tasks_of_agent.insert(o.agent_id.value.clone(), vec![process, container]);
    }
    let all: Vec<String> = tasks_of_agent.values().flatten().cloned().collect();
    let names: Vec<&str> = all.iter().map(String::as_str).collect();
    for t in &all {
        fw.wait_state(t, TaskState::TaskRunning).await;
    }
    // The Docker tasks run on the host's engine, their sandbox from the host's agent root.
    let containers = task_containers(&agent_root);
    assert_eq!(
        containers.len(),
        2,
        "two task containers on the host's engine"
    );
    wait_sandbox_output(&agent_root, &["hello-from-docker-0", "hello-from-docker-1"]).await;
    eprintln!("compose: 4 tasks running, Docker tasks' output in the host's sandboxes");

    // Kill the leading master's container: another master leads, the tasks survive.
    let old = leader;
    let leader_container = p.containers(old).pop().expect("leader's container");
    docker(&["kill", &leader_container]);
    dead.insert(old);
    let leader = wait_leader(&p, &dead, &format!("after killing {old}")).await;
    assert_ne!(leader, old);
    resubscribe(&zk_url, &mut fw).await;
    fw.reconcile_running(&names, Duration::from_secs(120)).await;
    wait_agents(&p, leader, 2, "after the master failover").await;
    eprintln!("compose: killed {old}, {leader} leads, tasks reconciled RUNNING");
    // Marathon follows the new leader with the same framework ID and keeps its two tasks.
    wait_master_runs(
        &p,
        leader,
        &marathon_id,
        &app_tasks,
        "after the master failover",
    )
    .await;
    assert_eq!(
        wait_app_running(&p, 2, "after the master failover").await,
        app_tasks,
        "Marathon still runs the same tasks"
    );
    assert_eq!(
        wait_marathon_subscribed(&p).await,
        marathon_id,
        "Marathon keeps its framework ID"
    );
    eprintln!("compose: Marathon re-subscribed to {leader}, {app_tasks:?} still RUNNING");

    // Cut one agent off the network: its tasks become unreachable; back, they run.
    let (cut, cut_agent) = agent_of_container.iter().next().unwrap();
    let cut_tasks = tasks_of_agent[cut_agent].clone();
    docker(&["network", "disconnect", &p.network(), cut]);
    for t in &cut_tasks {
        fw.wait_state(t, TaskState::TaskUnreachable).await;
    }
    wait_agents(&p, leader, 1, "with one agent cut off").await;
    eprintln!("compose: agent {cut_agent} cut off, {cut_tasks:?} TASK_UNREACHABLE");
    let others: Vec<String> = all
        .iter()
        .filter(|t| !cut_tasks.contains(t))
        .cloned()
        .collect();
    for t in &others {
        assert!(
            !fw.states_of(t).contains(&TaskState::TaskUnreachable),
            "{t} of the connected agent became unreachable: {:?}",
            fw.updates_summary()
        );
    }
    docker(&["network", "connect", "--alias", "agent", &p.network(), cut]);
    wait_agents(&p, leader, 2, "after reconnecting the agent").await;
    fw.reconcile_running(&names, Duration::from_secs(120)).await;
    eprintln!("compose: agent {cut_agent} back, every task reconciled RUNNING");

    // Tear the framework down: its tasks and task containers go.
    let _ = fw.client.call(Call::Teardown).await;
    drop(p);
}
