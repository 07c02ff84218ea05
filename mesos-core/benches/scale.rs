//! W2 placement throughput (issue 7; `performance-anchors.md` section 10, row W2):
//! "C1M-lite". 5,000 simulated agents, 1,000 jobs of 1,000 tasks (cpus 0.05, mem 30),
//! some jobs with node constraints, placed through the real master (and its allocator)
//! by a Marathon-style framework; every task is acknowledged TASK_RUNNING by its
//! simulated executor, and the framework acknowledges the update. Each launch batch is
//! committed to SQLite (WAL, `synchronous=FULL`, one transaction per batch) before its
//! ACCEPTs are sent.
//!
//! ```text
//! cargo bench -p mesos-core --bench scale
//! W2_AGENTS=500 W2_JOBS=100 W2_TASKS=100 cargo bench -p mesos-core --bench scale
//! ```
//!
//! Everything runs in this process on the deterministic simulator (`mesos-sim`, faults
//! off, no property bookkeeping while running): its virtual clock drives timers and
//! network delays, and the figures are real elapsed time. Environment: `W2_AGENTS`,
//! `W2_JOBS`, `W2_TASKS`, `W2_PER_OFFER` (at most this many instances per offer, default 20, so
//! the 1M tasks spread over all agents in ten offer rounds; 0: as many as fit),
//! `W2_EXECUTOR` (`command`: Marathon's default, a command executor per task; `app`: one
//! executor per app and agent),
//! `W2_AGENT_RESOURCES`, `W2_SEED`, `W2_DIR` (where the SQLite file goes; a temporary
//! directory by default). Ends with one `W2 placement: ...` summary line.

use mesos_sim::{AppSpec, AppsConfig, Constraint, Faults, LaunchLog, LaunchRecord, Sim, SimConfig};
use rusqlite::{params, Connection};
use std::str::FromStr;
use std::time::{Duration, Instant};

fn env<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse '{v}'")),
        Err(_) => default,
    }
}

/// Process CPU time (user + system).
fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// 50 racks and 4 node classes, as text attributes.
fn attributes(i: usize) -> String {
    format!("rack:r{:02};class:c{}", i % 50, (i / 50) % 4)
}

/// The job mix: a tenth of the jobs on distinct hosts, a tenth pinned to one node class
/// (CLUSTER), a tenth to racks r10-r19 (LIKE "r1.*"), the rest unconstrained.
fn jobs(n: usize, tasks: u32, agents: usize) -> Vec<AppSpec> {
    (0..n)
        .map(|j| {
            let constraint = match j % 10 {
                0 if tasks as usize <= agents => Constraint::UniqueHostname,
                1 => Constraint::Cluster {
                    attr: "class".into(),
                    value: format!("c{}", (j / 10) % 4),
                },
                2 if agents >= 50 => Constraint::Like {
                    attr: "rack".into(),
                    prefix: "r1".into(),
                },
                _ => Constraint::None,
            };
            AppSpec {
                id: format!("job{j:04}"),
                instances: tasks,
                cpus: 0.05,
                mem: 30.0,
                constraint,
            }
        })
        .collect()
}

/// Marathon's store for the benchmark: SQLite in WAL mode with `synchronous=FULL`, so
/// each commit is on disk (the WAL is fsynced) when it returns.
struct SqliteLog {
    conn: Connection,
    path: String,
    _dir: Option<tempfile::TempDir>,
    batches: u64,
    records: u64,
    largest: usize,
    time: Duration,
}

impl SqliteLog {
    fn open() -> SqliteLog {
        let (dir, tmp) = match std::env::var("W2_DIR") {
            Ok(d) => (std::path::PathBuf::from(d), None),
            Err(_) => {
                let t = tempfile::tempdir().expect("temporary directory");
                (t.path().to_path_buf(), Some(t))
            }
        };
        std::fs::create_dir_all(&dir).expect("W2_DIR");
        let path = dir.join("w2-launches.db");
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).expect("open SQLite");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE instances (id TEXT PRIMARY KEY, app TEXT NOT NULL,
                                     agent TEXT NOT NULL, record TEXT NOT NULL);",
        )
        .expect("create table");
        SqliteLog {
            conn,
            path: path.display().to_string(),
            _dir: tmp,
            batches: 0,
            records: 0,
            largest: 0,
            time: Duration::ZERO,
        }
    }
}

impl LaunchLog for SqliteLog {
    fn commit(&mut self, batch: &[LaunchRecord]) -> Result<(), String> {
        let start = Instant::now();
        let tx = self.conn.transaction().map_err(|e| e.to_string())?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO instances (id, app, agent, record) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| e.to_string())?;
            for r in batch {
                let record = format!(
                    r#"{{"instanceId":"{}","appId":"/{}","agentId":"{}","host":"{}","state":"Staging","cpus":{},"mem":{}}}"#,
                    r.task_id, r.app_id, r.agent_id, r.hostname, r.cpus, r.mem
                );
                st.execute(params![r.task_id, r.app_id, r.agent_id, record])
                    .map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        self.batches += 1;
        self.records += batch.len() as u64;
        self.largest = self.largest.max(batch.len());
        self.time += start.elapsed();
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "SQLite WAL synchronous=FULL at {}, one transaction per launch batch: {} batches, \
             {} records (largest batch {}), {:.2} s in commits",
            self.path,
            self.batches,
            self.records,
            self.largest,
            self.time.as_secs_f64()
        )
    }
}

fn main() {
    let agents: usize = env("W2_AGENTS", 5_000);
    let njobs: usize = env("W2_JOBS", 1_000);
    let tasks: u32 = env("W2_TASKS", 1_000);
    let per_offer: u32 = env("W2_PER_OFFER", 20);
    let executor: String = env("W2_EXECUTOR", "command".to_string());
    let app_executor = match executor.as_str() {
        "command" => false,
        "app" => true,
        other => panic!("W2_EXECUTOR: 'command' or 'app', not '{other}'"),
    };
    let seed: u64 = env("W2_SEED", 1);
    let resources: String = env(
        "W2_AGENT_RESOURCES",
        "cpus:16;mem:16384;disk:100000".to_string(),
    );
    let total = njobs as u64 * tasks as u64;
    println!(
        "W2 parameters: {agents} agents ({resources}; attributes rack r00-r49, class c0-c3), \
         {njobs} jobs x {tasks} tasks of cpus 0.05 mem 30 (1/10 hostname UNIQUE, 1/10 class \
         CLUSTER, 1/10 rack LIKE r1.*), {} instances per offer, {}, seed {seed}",
        if per_offer == 0 {
            "as many".to_string()
        } else {
            per_offer.to_string()
        },
        if app_executor {
            "one executor per app and agent"
        } else {
            "a command executor per task"
        }
    );

    let mut cfg = SimConfig::small(Faults {
        task_end: 0.0,
        ..Faults::none()
    });
    cfg.agents = agents;
    cfg.frameworks = 0;
    cfg.agent_resources = resources;
    cfg.agent_attributes = Some(attributes);
    cfg.properties = false;
    cfg.duration = 1e9;

    let setup = Instant::now();
    let mut sim = Sim::new(seed, cfg);
    let fw = sim.add_apps_framework(
        AppsConfig {
            per_offer,
            app_executor,
            ..AppsConfig::default()
        },
        Some(Box::new(SqliteLog::open())),
    );
    while sim.active_agents() < agents || !sim.subscribed(fw) {
        assert!(sim.now() < 600.0, "cluster not up after 600 simulated s");
        sim.step();
    }
    println!(
        "set-up: {agents} agents registered and the framework subscribed in {:.2} s ({:.1} simulated s)",
        setup.elapsed().as_secs_f64(),
        sim.now()
    );

    let start = Instant::now();
    let cpu0 = cpu_time();
    let sim0 = sim.now();
    sim.submit_apps(fw, jobs(njobs, tasks, agents));
    let mut last = (Duration::ZERO, 0u64, 0u64);
    let mut next_mark = 1u64;
    let mut steps = 0u64;
    loop {
        assert!(sim.step(), "the simulation ran out of events");
        steps += 1;
        if !steps.is_multiple_of(256) {
            continue;
        }
        let p = sim.apps_progress(fw);
        if p.running * 10 >= next_mark * total || p.running == total {
            let now = start.elapsed();
            let dt = (now - last.0).as_secs_f64().max(1e-9);
            println!(
                "{:>3}% at {:7.2} s: scheduled {:>8} ({:>6.0}/s), running {:>8} ({:>6.0}/s), simulated {:.1} s",
                p.running * 100 / total,
                now.as_secs_f64(),
                p.scheduled,
                (p.scheduled - last.1) as f64 / dt,
                p.running,
                (p.running - last.2) as f64 / dt,
                sim.now() - sim0
            );
            last = (now, p.scheduled, p.running);
            while next_mark * total <= p.running * 10 {
                next_mark += 1;
            }
        }
        if p.running == total {
            break;
        }
        assert!(
            sim.now() - sim0 < 24.0 * 3600.0,
            "not done after a simulated day: {p:?}"
        );
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    let p = sim.apps_progress(fw);
    println!(
        "done: {} tasks running in {wall:.2} s wall, {cpu:.2} s CPU ({:.1} CPU-us per task), \
         {:.1} simulated s, {steps} events; {} offers ({} declined), {} accepts, {} relaunched",
        p.running,
        cpu * 1e6 / total as f64,
        sim.now() - sim0,
        p.offers,
        p.declined,
        p.accepts,
        p.relaunched
    );
    if let Some(log) = sim.launch_log() {
        println!("launch log: {log}");
    }
    match sim.check_placement(fw) {
        Ok(c) => println!(
            "checks: {} running in the framework, {} at the master, {} in executors; no agent \
             over-committed; constraints hold; {} agents used, at most {} tasks on one",
            p.running, c.master_running, c.executors_running, c.agents_used, c.max_per_agent
        ),
        Err(e) => panic!("W2 checks failed: {e}"),
    }
    println!(
        "W2 placement: {:.0} tasks/s sustained over {total} tasks ({agents} agents, {njobs} jobs \
         x {tasks} tasks; aim 5000; Nomad C1M 3750)",
        total as f64 / wall
    );
    // A million tasks' worth of records take seconds to free; the process is ending.
    std::mem::forget(sim);
}
