//! `cargo bench -p marathon --bench launch` (performance-anchors W4, through Marathon):
//! one app of `sleep 600` (cpus 0.001, mem 1, no ports) scaled from 0 to `INSTANCES`
//! (default 1,000) on an in-process cluster with one agent, then back to 0, `ROUNDS` times
//! (default 3) on the same cluster. The figure is the wall time from the scaling PUT until
//! `/v2/apps/<id>` reports every instance in `tasksRunning` (the median of the rounds);
//! beside it, the time a bare loop takes to fork/exec the same number of `sleep 600`
//! processes on this machine (the median of three runs), and their ratio. Also the time to
//! scale back to 0, until Marathon reports no task left. A round starts once every
//! executor of the one before has exited.
//!
//! Also printed: the Marathon core's own processing time for the same workload (no I/O),
//! when Marathon had staged every instance, and when the agent recorded the last
//! TASK_RUNNING. `CORE_ONLY=1` runs the core part only; `TRACE=1` prints the master's and
//! the agent's task states every second beside Marathon's counts. `MARKS=1` prints the
//! CLOCK_MONOTONIC time at each scaling PUT and at its end, to cut a profile taken with
//! `perf record -k CLOCK_MONOTONIC` to exactly the launch (`perf report --time a,b`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marathon::core::Config;
use marathon::server::{start, ServerConfig};
use mesos_core::cluster::{LocalCluster, LocalClusterConfig};
use serde_json::{json, Value};

const APP: &str = "/bench/sleep";
/// Give up on a phase after this long.
const LIMIT: Duration = Duration::from_secs(600);
const POLL: Duration = Duration::from_millis(20);

/// Agents run `<launcher_dir>/mesos-executor`: a link to the suite's dedicated command
/// executor (the `mesos-executor` binary of `mesos-agent`, as Mesos installs its own in the
/// agent's launcher directory).
fn launcher_dir(dir: &Path) -> PathBuf {
    let l = dir.join("launcher");
    std::fs::create_dir_all(&l).unwrap();
    // EXECUTOR_BIN=<path> links another suite binary instead (to compare executors): any
    // of them is the command executor when started as `mesos-executor`.
    let exe = std::env::var_os("EXECUTOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(executor_binary);
    std::os::unix::fs::symlink(exe, l.join("mesos-executor")).unwrap();
    l
}

/// The `mesos-executor` binary, built with this bench's cargo, profile and target
/// directory. The agent starts it once, as the zygote that forks every executor (a static
/// build, which skips the dynamic loader at each exec, only helps when executors are
/// exec'd: `MESOS_RS_EXECUTOR_ZYGOTE=0`, with `EXECUTOR_BIN` pointing at the output of
/// `scripts/build-executor.sh`).
fn executor_binary() -> PathBuf {
    mesos_testkit::workspace_binary("mesos-agent", "mesos-executor", &[])
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.expect("marathon answers");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// (tasksRunning, tasksStaged, deployments) of the app.
    async fn counts(&self) -> (u64, u64, usize) {
        // The list form embeds counts and deployments only: polling `/v2/apps/<id>`
        // (which embeds every task) every 20 ms would cost the cluster's CPU.
        let v = self
            .call(reqwest::Method::GET, &format!("/v2/apps?id={APP}"), None)
            .await;
        let Some(a) = v["apps"]
            .as_array()
            .and_then(|l| l.iter().find(|a| a["id"] == APP))
        else {
            return (0, 0, 0);
        };
        (
            a["tasksRunning"].as_u64().unwrap_or(0),
            a["tasksStaged"].as_u64().unwrap_or(0),
            a["deployments"].as_array().map_or(0, Vec::len),
        )
    }

    /// Scale to `n` and wait until `done(running, staged, deployments)` holds,
    /// printing progress about once a second.
    async fn scale(&self, n: u64, trace: &Trace, done: impl Fn(u64, u64, usize) -> bool) -> Phase {
        let put_at = epoch_now();
        let started = Instant::now();
        let mark_from = monotonic_secs();
        let cpu_from = process_cpu();
        self.call(
            reqwest::Method::PUT,
            &format!("/v2/apps{APP}"),
            Some(json!({ "instances": n })),
        )
        .await;
        let mut all_staged = None;
        let mut last_print = Instant::now();
        loop {
            let (running, staged, deps) = self.counts().await;
            if all_staged.is_none() && running + staged >= n {
                all_staged = Some(started.elapsed());
            }
            if done(running, staged, deps) {
                if std::env::var("MARKS").is_ok_and(|v| v == "1") {
                    println!(
                        "marks: scale to {n} from {mark_from:.6} to {:.6} (CLOCK_MONOTONIC)",
                        monotonic_secs()
                    );
                }
                return Phase {
                    cpu: process_cpu().saturating_sub(cpu_from),
                    took: started.elapsed(),
                    all_staged: all_staged.unwrap_or_default(),
                    put_at,
                };
            }
            if last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                println!(
                    "  {:6.2} s: {running} running, {staged} staged, {deps} deployments",
                    started.elapsed().as_secs_f64()
                );
                trace.print(&self.http).await;
            }
            assert!(
                started.elapsed() < LIMIT,
                "scaling to {n} did not finish: {running} running, {staged} staged"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// CLOCK_MONOTONIC in seconds, the clock `perf record -k CLOCK_MONOTONIC` stamps samples with.
fn monotonic_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU time (user + system) this process (cluster, Marathon and the bench client) has used.
fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// CPU time of this process's reaped children and their reaped descendants: executors,
/// their zygote and their tasks, once the cluster has stopped.
fn children_cpu() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: a zeroed rusage is a valid out-value for getrusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrusage(who, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

struct Phase {
    /// CPU time of this process (not the executors) from the PUT until done.
    cpu: Duration,
    /// From the PUT until done.
    took: Duration,
    /// From the PUT until Marathon counted every instance staged or running.
    all_staged: Duration,
    /// Wall clock of the PUT (seconds since the epoch).
    put_at: f64,
}

fn epoch_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The latest timestamp of a `state` status among the agent's tasks, and how many
/// tasks had one.
async fn agent_last_status(
    http: &reqwest::Client,
    url: &str,
    state: &str,
    since: f64,
) -> (usize, f64) {
    fn walk(v: &Value, state: &str, since: f64, found: &mut (usize, f64)) {
        match v {
            Value::Object(m) => {
                if let Some(ss) = m.get("statuses").and_then(Value::as_array) {
                    let ts = ss
                        .iter()
                        .filter(|s| s["state"] == state)
                        .filter_map(|s| s["timestamp"].as_f64())
                        .filter(|t| *t >= since)
                        .fold(None, |a: Option<f64>, t| Some(a.map_or(t, |a| a.max(t))));
                    if let Some(t) = ts {
                        found.0 += 1;
                        found.1 = found.1.max(t);
                    }
                }
                m.values().for_each(|x| walk(x, state, since, found));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, state, since, found)),
            _ => {}
        }
    }
    let mut found = (0, 0.0);
    if let Ok(r) = http.get(url).send().await {
        let text = r.text().await.unwrap_or_default();
        walk(
            &serde_json::from_str(&text).unwrap_or(Value::Null),
            state,
            since,
            &mut found,
        );
    }
    found
}

struct Run {
    up: Duration,
    up_cpu: Duration,
    /// CPU of the executors (with their zygote) and tasks over their whole life.
    children_cpu: Duration,
    staged: Duration,
    /// Tasks the agent recorded TASK_RUNNING for, and seconds from the scaling PUT
    /// to the last of them.
    agent_running: (usize, f64),
    down: Duration,
}

/// With `TRACE=1`, the task states the master and the agent report are printed
/// beside Marathon's counts (to see where launches wait).
struct Trace {
    urls: Option<[String; 2]>,
}

impl Trace {
    async fn print(&self, http: &reqwest::Client) {
        let Some(urls) = &self.urls else { return };
        for (who, url) in ["master", "agent"].iter().zip(urls) {
            let Ok(r) = http.get(url).send().await else {
                continue;
            };
            let text = r.text().await.unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let mut states = std::collections::BTreeMap::new();
            count_states(&v, &mut states);
            println!("           {who}: {states:?}");
        }
    }
}

/// Task states in every `tasks` array, skipping completed executors/frameworks/tasks.
fn count_states(v: &Value, out: &mut std::collections::BTreeMap<String, usize>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.starts_with("completed") {
                    continue;
                }
                if k == "tasks" || k == "queued_tasks" || k == "launched_tasks" {
                    for t in x.as_array().into_iter().flatten() {
                        let s = t["state"].as_str().unwrap_or("QUEUED");
                        *out.entry(format!("{k}:{s}")).or_insert(0) += 1;
                    }
                } else {
                    count_states(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| count_states(x, out)),
        _ => {}
    }
}

async fn through_marathon(n: u64, rounds: usize) -> Vec<Run> {
    let dir = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    println!("work directory: {}", dir.path().display());
    let mut cfg = LocalClusterConfig::new(dir.path().join("cluster"));
    cfg.agent_resources = Some("cpus:1000;mem:1000000;disk:100000;ports:[31000-32999]".into());
    cfg.launcher_dir = Some(launcher_dir(dir.path()));
    cfg.containerizers = Some("mesos".into());
    let cluster = LocalCluster::start(cfg).await.expect("cluster starts");
    let server = start(ServerConfig::new(
        Config {
            master: cluster.master_addr().to_string(),
            hostname: "127.0.0.1".into(),
            decline_offer_duration: 1.0,
            ..Config::default()
        },
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("marathon"),
    ))
    .await
    .expect("marathon starts");
    let api = Api {
        http: reqwest::Client::new(),
        base: format!("http://{}", server.addr()),
    };
    api.call(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({
            "id": APP, "cmd": "sleep 600", "cpus": 0.001, "mem": 1, "instances": 0,
            "portDefinitions": [],
        })),
    )
    .await;
    // The creation deployment (nothing to start) finishes first.
    let t = Instant::now();
    while api.counts().await.2 > 0 {
        assert!(
            t.elapsed() < LIMIT,
            "the creation deployment did not finish"
        );
        tokio::time::sleep(POLL).await;
    }

    let trace = Trace {
        urls: std::env::var("TRACE").is_ok_and(|v| v == "1").then(|| {
            [
                format!("http://{}/master/state", cluster.master_addr()),
                format!("http://{}/state", cluster.agent_addrs()[0]),
            ]
        }),
    };
    let agent_state = format!("http://{}/state", cluster.agent_addrs()[0]);
    let mut runs = Vec::new();
    for round in 1..=rounds {
        println!("round {round}: scaling {APP} from 0 to {n}:");
        let children_from = children_cpu();
        let up = api.scale(n, &trace, |running, _, _| running >= n).await;
        let (count, last) =
            agent_last_status(&api.http, &agent_state, "TASK_RUNNING", up.put_at).await;
        let agent_running = (count, last - up.put_at);
        println!("round {round}: scaling {APP} from {n} to 0:");
        let down = api
            .scale(0, &trace, |running, staged, deps| {
                running == 0 && staged == 0 && deps == 0
            })
            .await;
        // The next round starts once every executor of this one has exited and been reaped.
        let settled = Instant::now();
        while live_executors(&api.http, &agent_state).await > 0 {
            assert!(
                settled.elapsed() < LIMIT,
                "executors still running after scaling to 0"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        runs.push(Run {
            up: up.took,
            up_cpu: up.cpu,
            children_cpu: children_cpu().saturating_sub(children_from),
            staged: up.all_staged,
            agent_running,
            down: down.took,
        });
    }
    server.stop();
    cluster.shutdown(true).await;
    runs
}

/// Executors the agent's `/state` lists under its (active) frameworks.
async fn live_executors(http: &reqwest::Client, url: &str) -> usize {
    let Ok(r) = http.get(url).send().await else {
        return 0;
    };
    let v: Value = serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or_default();
    v["frameworks"].as_array().map_or(0, |fs| {
        fs.iter()
            .map(|f| f["executors"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

/// The Marathon core alone (no I/O): the same app scaled to `n` on one offer, every
/// task reported STARTING then RUNNING, then scaled to 0 with every task KILLED.
/// Returns the core's processing time for (the offer, the updates, the scale-down).
fn core_only(n: u64) -> (Duration, Duration, Duration) {
    use marathon::core::{Marathon, Output, UpdateOptions};
    use mesos_core::proto::ids::TaskId;
    use mesos_core::proto::scheduler::{Call, Event, Offers, Update};
    use mesos_core::proto::v1::{Offer, TaskState, TaskStatus};

    let mut now = 1_800_000_000.0;
    let mut m = Marathon::new(Config::default(), 7);
    m.subscribed(now, "bench-framework", "127.0.0.1:5050");
    let mut out = Vec::new();
    m.create_app(
        now,
        json!({"id": APP, "cmd": "sleep 600", "cpus": 0.001, "mem": 1, "instances": 0,
               "portDefinitions": []}),
        false,
        &mut out,
    )
    .expect("app created");
    now += 1.0;
    m.tick(now);
    let scale = |m: &mut Marathon, now: f64, instances: u64| {
        let mut out = Vec::new();
        m.update_app(
            now,
            APP,
            json!({ "instances": instances }),
            UpdateOptions {
                partial: true,
                force: false,
                must_exist: true,
            },
            &mut out,
        )
        .expect("app scaled");
        out
    };
    scale(&mut m, now, n);
    let offer: Offer = serde_json::from_value(json!({
        "id": {"value": "offer-1"}, "framework_id": {"value": "bench-framework"},
        "agent_id": {"value": "agent-1"}, "hostname": "127.0.0.1",
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1000.0}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 1000000.0}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 32999}]}},
        ],
    }))
    .expect("offer");
    let started = Instant::now();
    let outputs = m.event(
        now,
        Event::Offers(Offers {
            offers: vec![offer],
        }),
    );
    let offer_time = started.elapsed();
    let tasks: Vec<TaskId> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Call(c) => match &**c {
                Call::Accept(a) => Some(a),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|a| &a.operations)
        .filter_map(|op| op.launch.as_ref())
        .flat_map(|l| l.task_infos.iter().map(|t| t.task_id.clone()))
        .collect();
    assert_eq!(tasks.len() as u64, n, "the offer hosts every instance");
    let update = |m: &mut Marathon, now: f64, id: &TaskId, state: TaskState| {
        let mut s = TaskStatus::new(id.clone(), state);
        s.timestamp = Some(now);
        m.event(now, Event::Update(Update { status: s }));
    };
    let started = Instant::now();
    for state in [TaskState::TaskStarting, TaskState::TaskRunning] {
        for id in &tasks {
            update(&mut m, now, id, state);
        }
    }
    let updates_time = started.elapsed();
    now += 1.0;
    let started = Instant::now();
    scale(&mut m, now, 0);
    for id in &tasks {
        update(&mut m, now, id, TaskState::TaskKilled);
    }
    m.tick(now);
    let down_time = started.elapsed();
    (offer_time, updates_time, down_time)
}

/// Fork/exec `n` `sleep 600` in a loop; the time to start them all (then they are
/// killed and reaped, untimed).
fn bare_loop(n: u64) -> Duration {
    let started = Instant::now();
    let mut children: Vec<Child> = (0..n)
        .map(|_| {
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sleep starts")
        })
        .collect();
    let took = started.elapsed();
    for c in &mut children {
        let _ = c.kill();
    }
    for c in &mut children {
        let _ = c.wait();
    }
    took
}

fn main() {
    let n: u64 = std::env::var("INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (core_offer, core_updates, core_down) = core_only(n);
    println!(
        "marathon core alone: {n} launches matched on one offer in {:.1} ms, {} updates (STARTING, RUNNING) in {:.1} ms, scale to 0 with {n} TASK_KILLED in {:.1} ms",
        core_offer.as_secs_f64() * 1e3,
        2 * n,
        core_updates.as_secs_f64() * 1e3,
        core_down.as_secs_f64() * 1e3
    );
    if std::env::var("CORE_ONLY").is_ok_and(|v| v == "1") {
        return;
    }
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|r| *r > 0)
        .unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    println!(
        "cluster runtime: {} worker thread(s)",
        rt.metrics().num_workers()
    );
    let runs = rt.block_on(through_marathon(n, rounds));
    // Both times move by 10-20 % from run to run on a VM: the medians are compared.
    let mut bares: Vec<Duration> = (0..3).map(|_| bare_loop(n)).collect();
    bares.sort();
    let bare = bares[1];
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    for (i, run) in runs.iter().enumerate() {
        let (count, t) = run.agent_running;
        println!(
            "round {}: all {n} staged {:.2} s after the PUT; the agent's last of {count} TASK_RUNNING at {t:.2} s; {n} instances TASK_RUNNING in Marathon in {:.2} s ({:.0}/s); cluster process CPU {:.2} ms per instance, executors and their tasks (start, run, kill) {:.2} ms per instance; scaled back to 0 in {:.2} s",
            i + 1,
            run.staged.as_secs_f64(),
            run.up.as_secs_f64(),
            n as f64 / run.up.as_secs_f64(),
            per(run.up_cpu),
            per(run.children_cpu),
            run.down.as_secs_f64(),
        );
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let up = median(runs.iter().map(|r| r.up).collect()).as_secs_f64();
    let down = median(runs.iter().map(|r| r.down).collect()).as_secs_f64();
    println!(
        "bare loop: {n} sleep processes started in {:.2} s ({:.0}/s), the median of {}",
        bare.as_secs_f64(),
        n as f64 / bare.as_secs_f64(),
        bares
            .iter()
            .map(|b| format!("{:.2} s", b.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "marathon: scaled {n} instances back to 0 in {down:.2} s (median of {} rounds)",
        runs.len()
    );
    println!(
        "W4 launch through Marathon: {n} instances in {up:.2} s (median of {} rounds) vs bare fork/exec {:.2} s: ratio {:.1} (aim 3)",
        runs.len(),
        bare.as_secs_f64(),
        up / bare.as_secs_f64()
    );
}
