//! Conformance: the unmodified third-party Python client `pymesos` 0.3.15 (from PyPI)
//! drives our master and agent, run as the real `mesos-cluster` binary.
//!
//! * `pymesos_command_tasks`: `tests/compat/pymesos/command_scheduler.py` launches command
//!   tasks (echo → FINISHED, `exit 3` → FAILED, `sleep 60` killed → KILLED), declines
//!   offers with a filter, reconciles implicitly, auto-acknowledges, then TEARDOWN.
//! * `pymesos_custom_executor`: `custom_scheduler.py` launches tasks through
//!   `custom_executor.py` (pymesos' `MesosExecutorDriver` on `/api/v1/executor`), which
//!   echoes each task's data back as a framework message.
//!
//! Needs `python3` with pymesos installed: `bash scripts/install-test-deps.sh`. Without it
//! the tests fail (they never skip).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long the cluster may take to come up with its agent registered.
const CLUSTER_START_TIMEOUT: Duration = Duration::from_secs(90);
/// Watchdog inside the Python schedulers (they exit 3 when it fires).
const SCHEDULER_WATCHDOG_SECS: u64 = 150;
/// Hard limit for a scheduler subprocess, above its own watchdog.
const SCHEDULER_TIMEOUT: Duration = Duration::from_secs(SCHEDULER_WATCHDOG_SECS + 30);
/// How long the master may take to show a torn-down framework as completed.
const TEARDOWN_TIMEOUT: Duration = Duration::from_secs(30);

const RESOURCES: &str = "cpus:4;mem:4096;disk:4096;ports:[31000-31100]";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/pymesos")
}

/// Fails (never skips) when pymesos 0.3.15 cannot be imported by `python3`.
fn require_pymesos() {
    let out = Command::new(python())
        .args([
            "-c",
            "import pymesos, addict, sys; sys.stdout.write(pymesos.__VERSION__)",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).to_string();
            assert_eq!(
                v.trim(),
                "0.3.15",
                "pymesos {v} is installed, the tests need 0.3.15: run scripts/install-test-deps.sh"
            );
        }
        Ok(o) => panic!(
            "pymesos is not installed: run scripts/install-test-deps.sh\n({} -c 'import pymesos' said: {})",
            python(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("pymesos is not installed: run scripts/install-test-deps.sh\n(cannot run {}: {e})", python()),
    }
}

/// Kills `child` in the way a well-behaved supervisor would: SIGTERM, then SIGKILL.
fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        return Some(st);
    }
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "process {} did not stop within {grace:?} of SIGTERM: SIGKILL",
        child.id()
    );
    let _ = child.kill();
    child.wait().ok()
}

/// Lines a child process printed, shared with the thread that reads them.
type Lines = Arc<Mutex<Vec<String>>>;

/// Spawns threads that copy a child's stdout and stderr into shared line buffers.
fn capture(child: &mut Child) -> (Lines, Lines, Vec<thread::JoinHandle<()>>) {
    fn pump(r: impl Read + Send + 'static, buf: Lines) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut line = Vec::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let s = String::from_utf8_lossy(&line)
                            .trim_end_matches(['\n', '\r'])
                            .to_string();
                        buf.lock().unwrap().push(s);
                    }
                }
            }
        })
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let err = Arc::new(Mutex::new(Vec::new()));
    let mut joins = Vec::new();
    if let Some(o) = child.stdout.take() {
        joins.push(pump(o, out.clone()));
    }
    if let Some(e) = child.stderr.take() {
        joins.push(pump(e, err.clone()));
    }
    (out, err, joins)
}

/// Makes the child get SIGTERM if the test thread dies (Ctrl-C, panic abort), and puts it
/// in its own process group so nothing it does to its group reaches the test harness.
fn detach_and_tie_to_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
}

/// `--<name>` in the spelling `mesos-cluster --help` shows: Mesos spells its flags with
/// underscores (`--work_dir`), clap's default is dashes (`--work-dir`).
fn flag(name: &str) -> String {
    static HELP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let help = HELP.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_mesos-cluster"))
            .arg("--help")
            .output()
            .expect("run mesos-cluster --help");
        String::from_utf8_lossy(&out.stdout).into_owned()
    });
    let underscore = format!("--{name}");
    if help.contains(&underscore) {
        underscore
    } else {
        format!("--{}", name.replace('_', "-"))
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Blocking `GET http://<addr><path>` returning the parsed JSON body.
fn get_json(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
) -> Result<Value, String> {
    rt.block_on(async {
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("GET {url}: reading body: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "GET {url}: {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            format!(
                "GET {url}: bad JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    })
}

/// A `mesos-cluster` child process (one master, one agent) that is stopped on drop.
struct Cluster {
    child: Option<Child>,
    master: String,
    agent: String,
    _work_dir: tempfile::TempDir,
    stdout: Lines,
    stderr: Lines,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Cluster {
    fn start() -> Cluster {
        let mut last_err = String::new();
        // Ports found free may be taken by the time mesos-cluster binds them: retry.
        for attempt in 1..=3 {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
                .expect("reqwest client");
            let work_dir = tempfile::Builder::new()
                .prefix("pymesos-compat-")
                .tempdir()
                .expect("temp dir");
            let (mport, aport) = (free_port(), free_port());
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesos-cluster"));
            cmd.arg("--ip")
                .arg("127.0.0.1")
                .arg("--port")
                .arg(mport.to_string())
                .arg(flag("num_agents"))
                .arg("1")
                .arg(flag("agent_port"))
                .arg(aport.to_string())
                .arg(flag("work_dir"))
                .arg(work_dir.path())
                .arg("--resources")
                .arg(RESOURCES)
                // Inherited by executors: keep __pycache__ out of the source tree.
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("NO_COLOR", "1")
                .env_remove("MESOS_IP")
                .env_remove("MESOS_PORT")
                .env_remove("MESOS_NUM_AGENTS")
                .env_remove("MESOS_AGENT_PORT")
                .env_remove("MESOS_WORK_DIR")
                .env_remove("MESOS_RESOURCES")
                .env_remove("MESOS_ATTRIBUTES")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            detach_and_tie_to_parent(&mut cmd);
            let mut child = cmd.spawn().expect("spawn mesos-cluster");
            let (stdout, stderr, _) = capture(&mut child);
            let mut cluster = Cluster {
                child: Some(child),
                master: format!("127.0.0.1:{mport}"),
                agent: format!("127.0.0.1:{aport}"),
                _work_dir: work_dir,
                stdout,
                stderr,
                rt,
                http,
            };
            match cluster.wait_for_agent() {
                Ok(()) => return cluster,
                Err(e) => {
                    last_err =
                        format!("attempt {attempt} (master port {mport}, agent port {aport}): {e}");
                    let exited = cluster
                        .child
                        .as_mut()
                        .unwrap()
                        .try_wait()
                        .ok()
                        .flatten()
                        .is_some();
                    if !exited {
                        // It runs but no agent became active: not a port clash, so no retry.
                        panic!("mesos-cluster did not come up with one active agent: {last_err}");
                    }
                    eprintln!("{last_err}");
                    cluster.dump_logs();
                    drop(cluster);
                }
            }
        }
        panic!("mesos-cluster did not start after 3 attempts: {last_err}");
    }

    /// Polls `/master/state` until exactly one agent is registered and active.
    fn wait_for_agent(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + CLUSTER_START_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(st) = self
                .child
                .as_mut()
                .unwrap()
                .try_wait()
                .map_err(|e| e.to_string())?
            {
                return Err(format!("mesos-cluster exited early with {st}"));
            }
            match self.state() {
                Ok(state) => {
                    let slaves = state["slaves"].as_array().cloned().unwrap_or_default();
                    let active = slaves
                        .iter()
                        .filter(|s| s["active"] == Value::Bool(true))
                        .count();
                    if slaves.len() == 1 && active == 1 {
                        return Ok(());
                    }
                    last = format!("{} agents, {active} active", slaves.len());
                }
                Err(e) => last = e,
            }
            thread::sleep(Duration::from_millis(250));
        }
        Err(format!(
            "no active agent in /master/state after {CLUSTER_START_TIMEOUT:?} ({last})"
        ))
    }

    fn state(&self) -> Result<Value, String> {
        get_json(
            &self.rt,
            &self.http,
            &format!("http://{}/master/state", self.master),
        )
    }

    fn agent_state(&self) -> Result<Value, String> {
        get_json(
            &self.rt,
            &self.http,
            &format!("http://{}/state", self.agent),
        )
    }

    fn dump_logs(&self) {
        let tail = |v: &Lines| {
            let v = v.lock().unwrap();
            let skip = v.len().saturating_sub(200);
            v[skip..].join("\n")
        };
        eprintln!(
            "----- mesos-cluster stdout (last 200 lines) -----\n{}",
            tail(&self.stdout)
        );
        eprintln!(
            "----- mesos-cluster stderr (last 200 lines) -----\n{}",
            tail(&self.stderr)
        );
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(15));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        self.stop();
    }
}

/// What a finished Python scheduler printed.
struct SchedulerRun {
    status: Option<ExitStatus>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl SchedulerRun {
    fn transcript(&self, name: &str) -> String {
        format!(
            "===== {name}: exit status {:?}\n----- stdout -----\n{}\n----- stderr -----\n{}\n=====",
            self.status,
            self.stdout.join("\n"),
            self.stderr.join("\n")
        )
    }

    /// `(task_id, state, rest-of-line)` of every `UPDATE` line.
    fn updates(&self) -> Vec<(String, String, String)> {
        self.stdout
            .iter()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next()? == "UPDATE").then_some(())?;
                let task = w.next()?.to_string();
                let state = w.next()?.to_string();
                Some((task, state, w.collect::<Vec<_>>().join(" ")))
            })
            .collect()
    }

    fn framework_id(&self) -> Option<String> {
        self.stdout
            .iter()
            .find_map(|l| l.strip_prefix("REGISTERED ").map(|s| s.trim().to_string()))
    }
}

/// Runs `python3 <script> <master> <n> <watchdog>` with a hard timeout.
fn run_scheduler(script: &str, master: &str, n: usize) -> SchedulerRun {
    let path = scripts_dir().join(script);
    assert!(path.is_file(), "missing {}", path.display());
    let mut cmd = Command::new(python());
    cmd.arg(&path)
        .arg(master)
        .arg(n.to_string())
        .arg(SCHEDULER_WATCHDOG_SECS.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    detach_and_tie_to_parent(&mut cmd);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", python(), path.display()));
    let (out, err, joins) = capture(&mut child);
    let deadline = Instant::now() + SCHEDULER_TIMEOUT;
    let mut status = None;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            status = Some(st);
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    if status.is_none() {
        eprintln!("{script} still running after {SCHEDULER_TIMEOUT:?}: killing it");
        terminate(&mut child, Duration::from_secs(5));
    }
    for j in joins {
        let _ = j.join();
    }
    let stdout = out.lock().unwrap().clone();
    let stderr = err.lock().unwrap().clone();
    SchedulerRun {
        status,
        stdout,
        stderr,
    }
}

/// Polls `/master/state` until the framework is in `completed_frameworks` and no longer in
/// `frameworks`; returns its completed entry.
fn wait_completed(cluster: &Cluster, framework_id: &str) -> Result<Value, String> {
    let deadline = Instant::now() + TEARDOWN_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match cluster.state() {
            Ok(state) => {
                let find = |key: &str| {
                    state[key].as_array().and_then(|a| {
                        a.iter()
                            .find(|f| f["id"].as_str() == Some(framework_id))
                            .cloned()
                    })
                };
                match (find("frameworks"), find("completed_frameworks")) {
                    (None, Some(done)) => return Ok(done),
                    (active, done) => {
                        last = format!(
                            "in frameworks: {}, in completed_frameworks: {}",
                            active.is_some(),
                            done.is_some()
                        )
                    }
                }
            }
            Err(e) => last = e,
        }
        thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "framework {framework_id} not moved to completed_frameworks within {TEARDOWN_TIMEOUT:?} of TEARDOWN ({last})"
    ))
}

/// Polls the agent's `/state` until the framework has left `frameworks` for
/// `completed_frameworks` (the agent does so once all its executors terminated).
fn wait_agent_completed(cluster: &Cluster, framework_id: &str) -> Result<(), String> {
    let deadline = Instant::now() + TEARDOWN_TIMEOUT;
    let mut last = String::new();
    while Instant::now() < deadline {
        match cluster.agent_state() {
            Ok(state) => {
                let has = |key: &str| {
                    state[key]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|f| f["id"].as_str() == Some(framework_id)))
                };
                let (active, done) = (has("frameworks"), has("completed_frameworks"));
                if !active && done {
                    return Ok(());
                }
                last = format!("in frameworks: {active}, in completed_frameworks: {done}");
            }
            Err(e) => last = e,
        }
        thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "agent /state: framework {framework_id} not in completed_frameworks within {TEARDOWN_TIMEOUT:?} of TEARDOWN ({last})"
    ))
}

fn check(ok: bool, msg: String, failures: &mut Vec<String>) {
    if !ok {
        failures.push(msg);
    }
}

/// Asserts the common parts of a scheduler run and returns its framework ID.
fn check_run(
    name: &str,
    run: &SchedulerRun,
    expected: &[(&str, &[&str])],
    failures: &mut Vec<String>,
) {
    check(
        run.status.map(|s| s.success()).unwrap_or(false),
        format!("{name} exited with {:?} (0 expected)", run.status),
        failures,
    );
    check(
        run.stdout.iter().any(|l| l == "DONE"),
        format!("{name} did not print DONE"),
        failures,
    );
    check(
        run.framework_id().is_some(),
        format!("{name} never registered (no REGISTERED line)"),
        failures,
    );
    let updates = run.updates();
    for (task, states) in expected {
        let seen: Vec<&str> = updates
            .iter()
            .filter(|u| u.0 == *task)
            .map(|u| u.1.as_str())
            .collect();
        // The expected states must appear in this order (others may come in between).
        let mut it = seen.iter();
        let in_order = states.iter().all(|want| it.any(|s| s == want));
        check(
            in_order,
            format!("{name}: task {task}: expected updates {states:?} in order, got {seen:?}"),
            failures,
        );
        // The terminal update comes from the executor and carries a uuid (it is acknowledged).
        if let Some(last) = states.last() {
            let terminal = updates
                .iter()
                .find(|u| u.0 == *task && u.1 == *last && !u.2.contains("REASON_RECONCILIATION"));
            if let Some((_, _, rest)) = terminal {
                check(
                    rest.contains("uuid=yes") && rest.contains("source=SOURCE_EXECUTOR"),
                    format!("{name}: task {task}: {last} should come from the executor with a uuid, got `{rest}`"),
                    failures,
                );
            }
        }
    }
}

fn check_completed(
    cluster: &Cluster,
    name: &str,
    run: &SchedulerRun,
    tasks: &[(&str, &str)],
    failures: &mut Vec<String>,
) {
    let Some(fw) = run.framework_id() else { return };
    let clean = run.status.is_some_and(|s| s.success()) && run.stdout.iter().any(|l| l == "DONE");
    if !clean {
        // The scheduler did not finish (so maybe sent no TEARDOWN): the state checks
        // below would only add noise and 30 s waits.
        return;
    }
    if let Err(e) = wait_agent_completed(cluster, &fw) {
        failures.push(format!("{name}: {e}"));
    }
    match wait_completed(cluster, &fw) {
        Err(e) => failures.push(format!("{name}: {e}")),
        Ok(done) => {
            let mut all: Vec<&Value> = Vec::new();
            for key in ["tasks", "completed_tasks"] {
                if let Some(a) = done[key].as_array() {
                    all.extend(a.iter());
                }
            }
            for (task, state) in tasks {
                let found = all.iter().find(|t| t["id"].as_str() == Some(task));
                let got = found.and_then(|t| t["state"].as_str());
                check(
                    got == Some(state),
                    format!("{name}: completed framework {fw}: task {task} has state {got:?} in /master/state, {state} expected"),
                    failures,
                );
            }
        }
    }
}

fn finish(name: &str, run: &SchedulerRun, failures: Vec<String>) {
    if failures.is_empty() {
        println!("{}", run.transcript(name));
        return;
    }
    panic!(
        "{}\n\n{name} failed:\n  - {}",
        run.transcript(name),
        failures.join("\n  - ")
    );
}

#[test]
fn pymesos_command_tasks() {
    require_pymesos();
    let cluster = Cluster::start();
    let n_echo = 3;
    let run = run_scheduler("command_scheduler.py", &cluster.master, n_echo);

    let echo_ids: Vec<String> = (0..n_echo).map(|i| format!("echo-{i}")).collect();
    let finished: &[&str] = &["TASK_RUNNING", "TASK_FINISHED"];
    let mut expected: Vec<(&str, &[&str])> =
        echo_ids.iter().map(|t| (t.as_str(), finished)).collect();
    expected.push(("fail-3", &["TASK_RUNNING", "TASK_FAILED"]));
    expected.push(("sleeper", &["TASK_RUNNING", "TASK_KILLED"]));

    let mut failures = Vec::new();
    check_run("command_scheduler.py", &run, &expected, &mut failures);
    for l in ["RECONCILE implicit", "KILL sleeper"] {
        check(
            run.stdout.iter().any(|x| x == l),
            format!("command_scheduler.py did not print `{l}`"),
            &mut failures,
        );
    }
    for prefix in ["DECLINE ", "REOFFER "] {
        check(
            run.stdout.iter().any(|x| x.starts_with(prefix)),
            format!(
                "command_scheduler.py did not print a `{}` line",
                prefix.trim()
            ),
            &mut failures,
        );
    }
    check(
        run.updates().iter().any(|u| {
            u.0 == "sleeper"
                && u.1 == "TASK_RUNNING"
                && u.2.contains("reason=REASON_RECONCILIATION")
        }),
        "no TASK_RUNNING reconciliation update for the sleeper after an implicit RECONCILE"
            .to_string(),
        &mut failures,
    );
    for l in run.stdout.iter().filter(|l| l.starts_with("RESULT ")) {
        check(
            l.ends_with(" ok"),
            format!("command_scheduler.py: {l}"),
            &mut failures,
        );
    }
    for l in run.stdout.iter().filter(|l| l.starts_with("FAIL ")) {
        failures.push(format!("command_scheduler.py: {l}"));
    }

    let mut final_states: Vec<(&str, &str)> = echo_ids
        .iter()
        .map(|t| (t.as_str(), "TASK_FINISHED"))
        .collect();
    final_states.push(("fail-3", "TASK_FAILED"));
    final_states.push(("sleeper", "TASK_KILLED"));
    check_completed(
        &cluster,
        "command_scheduler.py",
        &run,
        &final_states,
        &mut failures,
    );
    finish("command_scheduler.py", &run, failures);
}

#[test]
fn pymesos_custom_executor() {
    require_pymesos();
    let cluster = Cluster::start();
    let n = 3;
    let run = run_scheduler("custom_scheduler.py", &cluster.master, n);

    let ids: Vec<String> = (0..n).map(|i| format!("custom-{i}")).collect();
    let states: &[&str] = &["TASK_RUNNING", "TASK_FINISHED"];
    let expected: Vec<(&str, &[&str])> = ids.iter().map(|t| (t.as_str(), states)).collect();

    let mut failures = Vec::new();
    check_run("custom_scheduler.py", &run, &expected, &mut failures);
    for id in &ids {
        check(
            run.stdout.iter().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() == 5
                    && w[0] == "MESSAGE"
                    && w[1] == "compat-executor"
                    && w[3] == id
                    && w[4] == "ok"
            }),
            format!("custom_scheduler.py: no framework message echoing the data of {id}"),
            &mut failures,
        );
    }
    for l in run.stdout.iter().filter(|l| l.starts_with("RESULT ")) {
        check(
            l.contains(" ok "),
            format!("custom_scheduler.py: {l}"),
            &mut failures,
        );
    }
    for l in run.stdout.iter().filter(|l| l.starts_with("FAIL ")) {
        failures.push(format!("custom_scheduler.py: {l}"));
    }
    let final_states: Vec<(&str, &str)> =
        ids.iter().map(|t| (t.as_str(), "TASK_FINISHED")).collect();
    check_completed(
        &cluster,
        "custom_scheduler.py",
        &run,
        &final_states,
        &mut failures,
    );
    finish("custom_scheduler.py", &run, failures);
}
