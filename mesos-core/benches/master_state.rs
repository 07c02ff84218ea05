//! `cargo bench -p mesos-core --bench master_state` (performance-anchors W3: `/master/state`
//! at scale, and the master's memory).
//!
//! 1. `/master/state` of a real master (`mesos_master::start`, in-memory registry) that
//!    `STATE_AGENTS` agents (default 40,000) re-registered with over loopback HTTP, each
//!    carrying `TASKS_PER_AGENT` running tasks (default 10: 400,000 tasks) of 100
//!    frameworks. The endpoint is fetched `STATE_RUNS` times (default 3) by a client in
//!    another thread, timed from sending the request to the last byte of the body, while a
//!    third thread asks `/health` every millisecond; printed: the median time, the body
//!    size and the `/health` latency percentiles over all runs. `STATE=0` skips it.
//! 2. Memory: the heap the master state machine holds after `MEMORY_AGENTS` agents (default
//!    10,000) re-registered with no tasks, and with `TASKS_PER_AGENT` tasks each, counted by
//!    this binary's global allocator (bytes allocated minus bytes freed by the thread that
//!    builds the master; the state machine runs on that one thread).

mod common;

use mesos_core::proto::ids::*;
use mesos_core::proto::internal::Registration;
use mesos_core::proto::resources::Resources;
use mesos_core::proto::v1::*;
use mesos_master::registry::Registry;
use mesos_master::state::{Input, Master, MasterConfig};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts, per thread, the bytes allocated minus the bytes freed.
struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
}

fn held() -> isize {
    HELD.with(Cell::get)
}

fn count(delta: isize) {
    // `try_with`: nothing to count once the thread's locals are gone.
    let _ = HELD.try_with(|h| h.set(h.get() + delta));
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        count(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const FRAMEWORKS: usize = 100;

fn framework_info(f: usize) -> FrameworkInfo {
    let mut info = FrameworkInfo::placeholder(FrameworkId::new(format!("bench-{f:04}")));
    info.user = "bench".into();
    info.name = format!("bench-{f}");
    info.failover_timeout = 3600.0;
    info
}

fn agent_info(a: usize) -> AgentInfo {
    let total =
        Resources::parse_flag("cpus:64;mem:262144;disk:1000000;ports:[31000-32000]").unwrap();
    AgentInfo {
        hostname: format!("host{a}"),
        port: 5051,
        resources: total.to_wire(None),
        attributes: vec![],
        id: Some(AgentId::new(format!("bench-S{a}"))),
    }
}

fn task_resources() -> Vec<Resource> {
    Resources::parse_flag("cpus:0.1;mem:32")
        .unwrap()
        .to_wire(None)
}

/// Agent `a`'s re-registration with `tasks` running tasks, spread over the frameworks.
fn registration(a: usize, tasks: usize, task_res: &[Resource]) -> Registration {
    let info = agent_info(a);
    let mut frameworks: Vec<FrameworkInfo> = Vec::new();
    let tasks = (0..tasks)
        .map(|t| {
            let fw = framework_info((a * tasks + t) % FRAMEWORKS);
            let fid = fw.id.clone().unwrap();
            if !frameworks.iter().any(|x| x.id == fw.id) {
                frameworks.push(fw);
            }
            common::running_task(info.id.as_ref().unwrap(), fid, a, t, task_res)
        })
        .collect();
    Registration::Reregister {
        agent_info: info,
        version: "1.11.0".into(),
        tasks,
        executors: vec![],
        frameworks,
    }
}

/// The `p` quantile of `sorted`, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let Ok(r) = client.get(format!("{base}/metrics/snapshot")).send().await else {
        return -1.0;
    };
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default();
    v[name].as_f64().unwrap_or(-1.0)
}

fn state(agents: usize, tasks_per_agent: usize, runs: usize) {
    // The master gets its own runtime, as in `mesos-master` (a worker per core).
    let master_rt = tokio::runtime::Runtime::new().unwrap();
    let master = master_rt
        .block_on(mesos_master::start(mesos_master::MasterFlags::local(None)))
        .expect("master starts");
    let base = format!("http://{}", master.addr());
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();

    // Every agent re-registers (and is admitted, as after a failover); its stream is
    // dropped once the master has answered, which leaves the agent active but
    // disconnected (it would be marked unreachable only after 75 s without pongs).
    let fed = Instant::now();
    let task_res = task_resources();
    client_rt.block_on(async {
        use futures::StreamExt;
        futures::stream::iter(0..agents)
            .map(|a| {
                let body =
                    serde_json::to_vec(&registration(a, tasks_per_agent, &task_res)).expect("json");
                let req = client
                    .post(format!("{base}/internal/agent/connect"))
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send();
                async move {
                    let r = req.await.expect("connect");
                    assert!(r.status().is_success(), "re-registration: {}", r.status());
                }
            })
            .buffer_unordered(16)
            .for_each(|_| async {})
            .await;
        // Wait for a published snapshot that holds all of them.
        let want = (agents * tasks_per_agent) as f64;
        while metric(&client, &base, "master/slaves_active").await != agents as f64
            || metric(&client, &base, "master/tasks_running").await != want
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    println!(
        "{agents} agents with {} tasks re-registered over HTTP in {:.1} s",
        agents * tasks_per_agent,
        fed.elapsed().as_secs_f64()
    );

    // Check the content once, untimed.
    let body = client_rt.block_on(async {
        let r = client.get(format!("{base}/master/state")).send().await;
        r.unwrap().bytes().await.unwrap()
    });
    let v: serde_json::Value = serde_json::from_slice(&body).expect("state is JSON");
    let slaves = v["slaves"].as_array().map_or(0, Vec::len);
    let tasks: usize = v["frameworks"].as_array().map_or(0, |f| {
        f.iter()
            .map(|f| f["tasks"].as_array().map_or(0, Vec::len))
            .sum()
    });
    assert_eq!(slaves, agents);
    assert_eq!(tasks, agents * tasks_per_agent);
    drop((v, body));

    // `/health` every millisecond, from its own thread and connection.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let url = format!("{base}/health");
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let client = reqwest::Client::new();
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let r = client.get(&url).send().await.expect("health");
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                    samples.push(t.elapsed());
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                samples
            })
        })
    };
    let mut times = Vec::new();
    let mut size = 0;
    client_rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for _ in 0..runs {
            let t = Instant::now();
            let r = client.get(format!("{base}/master/state")).send().await;
            size = r.unwrap().bytes().await.unwrap().len();
            times.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    stop.store(true, Ordering::Relaxed);
    let mut health = poller.join().unwrap();
    health.sort();
    let each: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1e3))
        .collect();
    times.sort();
    println!(
        "/master/state runs: {} ms; /health meanwhile: {} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        each.join(", "),
        health.len(),
        percentile(&health, 0.5),
        percentile(&health, 0.99),
        percentile(&health, 1.0)
    );
    println!(
        "W3 state: /master/state for {agents} agents and {} tasks rendered in {:.0} ms ({:.0} MB; aim 500) while /health p99 {:.2} ms (aim 10)",
        agents * tasks_per_agent,
        percentile(&times, 0.5),
        size as f64 / 1e6,
        percentile(&health, 0.99)
    );
    master_rt.block_on(master.shutdown());
}

/// Heap bytes a master state machine holds after `agents` agents re-registered with
/// `tasks_per_agent` tasks each (registry, agents, frameworks, tasks, allocator).
fn master_heap(agents: usize, tasks_per_agent: usize) -> isize {
    let before = held();
    let mut registry = Registry::default();
    for f in 0..FRAMEWORKS {
        let info = framework_info(f);
        registry.frameworks.insert(info.id.clone().unwrap(), info);
    }
    let info = common::master_info();
    let task_res = task_resources();
    let registrations: Vec<Registration> = (0..agents)
        .map(|a| registration(a, tasks_per_agent, &task_res))
        .collect();
    let mut master = Master::new(MasterConfig::new(info), registry, 1000.0);
    for (i, registration) in registrations.into_iter().enumerate() {
        let conn = i as u64 + 1;
        drop(master.handle(1000.0, Input::AgentConnect { conn, registration }));
    }
    drop(task_res);
    let tasks: usize = master.frameworks().values().map(|f| f.tasks.len()).sum();
    assert_eq!(tasks, agents * tasks_per_agent);
    let bytes = held() - before;
    drop(master);
    bytes
}

fn memory(agents: usize, tasks_per_agent: usize) {
    let empty = master_heap(agents, 0);
    let full = master_heap(agents, tasks_per_agent);
    let per_agent = empty as f64 / agents as f64;
    let per_task = (full - empty) as f64 / (agents * tasks_per_agent) as f64;
    println!(
        "master heap: {:.1} MB for {agents} agents without tasks, {:.1} MB with {} tasks",
        empty as f64 / 1e6,
        full as f64 / 1e6,
        agents * tasks_per_agent
    );
    println!(
        "W3 memory: master holds {:.0} KB per 1000 tasks and {:.0} KB per 1000 agents ({agents} agents, {tasks_per_agent} tasks each, {FRAMEWORKS} frameworks; heap bytes counted by the global allocator)",
        per_task * 1000.0 / 1024.0,
        per_agent * 1000.0 / 1024.0
    );
}

fn main() {
    let tasks_per_agent = env("TASKS_PER_AGENT", 10);
    if env("STATE", 1) == 1 {
        state(
            env("STATE_AGENTS", 40_000),
            tasks_per_agent,
            env("STATE_RUNS", 3),
        );
    }
    memory(env("MEMORY_AGENTS", 10_000), tasks_per_agent);
}
