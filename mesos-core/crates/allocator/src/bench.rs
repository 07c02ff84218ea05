//! Benchmark workloads (plain code, no assertions). Used by `benches/allocator.rs`.
//!
//! `suppress_offers` clones Mesos' `SuppressOffers` and `ExtremeSuppressOffers` on the same
//! agents. `decline_offers` clones Mesos' `HierarchicalAllocator_BENCHMARK_Test.DeclineOffers`:
//! agents of `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, each with
//! `cpus:16;mem:2014;disk:1024` plus 16 port fragments already used by a framework
//! (round-robin); every offer is declined with a filter of `INT_MAX` seconds (capped at
//! 365 days by the allocator) and the clock advances one allocation interval per round.
//! `large_and_small_quota` clones Mesos' `HierarchicalAllocator_WithQuotaParam.
//! LargeAndSmallQuota` (drf sorter).
//!
//! `resource_labels` clones Mesos' `ResourceLabels`: DeclineOffers with every framework
//! in `role1` and, on each agent, two 8-cpu dynamic reservations for `role1` (principal
//! `principal1`) with 12 labels each: `key0=value0` .. `key10=value10` and a last one
//! unique to the agent (`unique_key_1=value_<i>`, `unique_key_2=value_<i>`), so the two
//! differ only in their last label and no two agents' reservations can merge. Mesos'
//! test appends both unique labels to the first set by mistake (13 and 11 labels); here
//! each has its 12. Mesos also leaves the reserved cpus out of the agent's total while
//! counting them as used (its subtraction skips what it cannot find); here the total holds
//! them (`cpus:8` unreserved plus the two reservations, so still 24 cpus), so the free
//! chunk offered each round is the same as in DeclineOffers and the reservations stay in
//! the holding framework's allocation, the role's share and the cluster totals.

use crate::{Allocator, AllocatorConfig, FrameworkOptions, QuotaConfig};
use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::resources::{Label, RangeSet, Reservation, Reservations, Resources};
use std::time::{Duration, Instant};

/// Figures of one run.
#[derive(Clone, Debug, Default)]
pub struct DeclineOffersReport {
    pub agents: usize,
    pub frameworks: usize,
    pub add_frameworks: Duration,
    pub add_agents: Duration,
    /// Time of each `allocate()`.
    pub rounds: Vec<Duration>,
    /// Offers made by each round.
    pub offers: Vec<usize>,
    pub median_ms: f64,
    pub max_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Mesos' `fragment(range, n)`: `n` single values `begin, begin+2, …` of the range.
fn fragment(begin: u64, end: u64, n: u64) -> RangeSet {
    RangeSet::new(
        (0..n)
            .map(|i| begin + 2 * i)
            .filter(|v| *v <= end)
            .map(|v| (v, v)),
    )
}

/// What the agents of a DeclineOffers-style run hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// DeclineOffers: everything unreserved, frameworks in role `*`.
    Unreserved,
    /// ResourceLabels: two labelled 8-cpu reservations per agent, frameworks in `role1`.
    Labelled,
}

impl Shape {
    fn role(self) -> &'static str {
        match self {
            Shape::Unreserved => "*",
            Shape::Labelled => "role1",
        }
    }
}

/// The 12 labels of Mesos' ResourceLabels: `key0=value0` .. `key10=value10`, then `last`.
fn bench_labels(last: Label) -> Vec<Label> {
    let mut labels: Vec<Label> = (0..11)
        .map(|i| Label::new(format!("key{i}"), format!("value{i}")))
        .collect();
    labels.push(last);
    labels
}

/// Agent `i`'s total and used resources for ResourceLabels: `cpus:8` unreserved plus two
/// 8-cpu reservations (used), and the DeclineOffers usage of mem, disk and ports.
fn labelled_agent(
    i: usize,
    base_total: &Resources,
    base_used: &Resources,
) -> (Resources, Resources) {
    let reserve = |n: u8| {
        let last = Label::new(format!("unique_key_{n}"), format!("value_{i}"));
        let r = Reservation::new_dynamic("role1", Some("principal1"), bench_labels(last));
        let r = Reservations::one(r).expect("a valid reservation");
        Resources::new().with_scalar("cpus", 8.0).into_reserved(&r)
    };
    let reserved = reserve(1)
        .checked_add(&reserve(2))
        .expect("distinct reservations");
    let total = base_total
        .checked_add(&reserved)
        .expect("reservations add to the unreserved total");
    let used = base_used
        .checked_add(&reserved)
        .expect("reservations add to the used resources");
    (total, used)
}

/// An allocator with `frameworks` frameworks (role `*`, or `role1` for `Labelled`) and
/// `agents` agents of Mesos' benchmark shape (`cpus:24;mem:4096;disk:4096;ports:[31000-32000]`,
/// of which `cpus:16;mem:2014;disk:1024` and 16 port fragments are used by one framework,
/// round robin; with `Labelled`, 16 of the cpus are the two labelled reservations). Prints
/// the two "Added" lines; returns the allocator, framework ids and timings.
fn setup(
    agents: usize,
    frameworks: usize,
    shape: Shape,
) -> (Allocator, Vec<FrameworkId>, Duration, Duration) {
    let config = AllocatorConfig {
        seed: 42,
        ..Default::default()
    };
    let mut alloc = Allocator::new(config);
    let fw_ids: Vec<FrameworkId> = (0..frameworks)
        .map(|i| FrameworkId::new(format!("framework-{i}")))
        .collect();
    let role = shape.role();
    let start = Instant::now();
    for id in &fw_ids {
        alloc.add_framework(id.clone(), FrameworkOptions::with_roles(&[role]));
    }
    let add_frameworks = start.elapsed();
    println!(
        "Added {frameworks} frameworks in {:.3}ms",
        ms(add_frameworks)
    );

    let (total, used) = match shape {
        Shape::Unreserved => ("cpus:24", "cpus:16;mem:2014;disk:1024"),
        Shape::Labelled => ("cpus:8", "mem:2014;disk:1024"),
    };
    let total = Resources::parse_flag(&format!("{total};mem:4096;disk:4096;ports:[31000-32000]"))
        .expect("valid resources");
    let used = Resources::parse_flag(used)
        .expect("valid resources")
        .with_ranges("ports", fragment(31000, 32000, 16));
    let agent_ids: Vec<AgentId> = (0..agents)
        .map(|i| AgentId::new(format!("agent-{i}")))
        .collect();
    let start = Instant::now();
    for (i, id) in agent_ids.iter().enumerate() {
        let fw = fw_ids[i % frameworks].clone();
        // As in Mesos, the labelled reservations are made inside the timed loop.
        let (total, used) = match shape {
            Shape::Unreserved => (total.clone(), used.clone()),
            Shape::Labelled => labelled_agent(i, &total, &used),
        };
        alloc.add_agent(id.clone(), total, vec![(fw, role.to_string(), used)]);
    }
    let add_agents = start.elapsed();
    println!("Added {agents} agents in {:.3}ms", ms(add_agents));
    (alloc, fw_ids, add_frameworks, add_agents)
}

/// Runs the workload and prints Mesos-style lines to stdout; returns the figures.
pub fn decline_offers(agents: usize, frameworks: usize, rounds: usize) -> DeclineOffersReport {
    run_declines(agents, frameworks, rounds, Shape::Unreserved)
}

/// Mesos' ResourceLabels (see the module documentation): DeclineOffers with two labelled
/// reservations per agent. Same lines; the summary starts with `W1 ResourceLabels`.
pub fn resource_labels(agents: usize, frameworks: usize, rounds: usize) -> DeclineOffersReport {
    run_declines(agents, frameworks, rounds, Shape::Labelled)
}

fn run_declines(
    agents: usize,
    frameworks: usize,
    rounds: usize,
    shape: Shape,
) -> DeclineOffersReport {
    let frameworks = frameworks.max(1);
    let name = match shape {
        Shape::Unreserved => "DeclineOffers",
        Shape::Labelled => "ResourceLabels",
    };
    println!("Using {agents} agents and {frameworks} frameworks, {rounds} rounds ({name})");
    let (mut alloc, _fw_ids, add_frameworks, add_agents) = setup(agents, frameworks, shape);
    let interval = alloc.config().allocation_interval;

    let refuse = Some(Duration::from_secs(i32::MAX as u64));
    // `W1_CLOCK=cpu`: time each round by this thread's time on a CPU (Linux schedstat),
    // so that time spent descheduled by other processes is left out.
    let on_cpu = std::env::var("W1_CLOCK").is_ok_and(|v| v == "cpu") && thread_cpu().is_some();
    if on_cpu {
        println!("round times are this thread's time on a CPU (W1_CLOCK=cpu)");
    }
    let mut now = Duration::ZERO;
    let mut outstanding = Vec::new();
    let mut declined = 0usize;
    let mut report = DeclineOffersReport {
        agents,
        frameworks,
        add_frameworks,
        add_agents,
        ..Default::default()
    };
    for i in 0..rounds {
        // Permanently decline every offer of the previous round.
        for g in outstanding.drain(..) {
            let g: crate::Grant = g;
            alloc.recover(
                &g.framework_id,
                &g.role,
                &g.agent_id,
                &g.resources,
                refuse,
                now,
            );
            declined += 1;
        }
        now += interval;
        let start = Instant::now();
        let cpu_start = if on_cpu { thread_cpu() } else { None };
        let grants = alloc.allocate(now);
        let took = match (cpu_start, thread_cpu()) {
            (Some(a), Some(b)) if on_cpu => b.saturating_sub(a),
            _ => start.elapsed(),
        };
        println!(
            "round {i} allocate() took {:.3}ms to make {} offers after filtering {declined} offers",
            ms(took),
            grants.len()
        );
        report.rounds.push(took);
        report.offers.push(grants.len());
        outstanding = grants;
    }

    let (median, max) = median_max(report.rounds.iter().copied());
    report.median_ms = median;
    report.max_ms = max;
    let busy = report
        .rounds
        .iter()
        .zip(&report.offers)
        .filter(|(_, n)| **n > 0)
        .map(|(d, _)| *d);
    let (busy_median, busy_max) = median_max(busy);
    let busy_count = report.offers.iter().filter(|n| **n > 0).count();
    println!(
        "rounds that made offers ({busy_count}): {busy_median:.3} ms median, {busy_max:.3} ms max"
    );
    let (aim, peer) = match shape {
        Shape::Unreserved => decline_offers_reference(agents, frameworks),
        Shape::Labelled => resource_labels_reference(agents, frameworks),
    };
    println!(
        "W1 {name}: {agents} agents x {frameworks} frameworks, {rounds} rounds: {busy_median:.3} ms per offering round median, {busy_max:.3} ms max; added {agents} agents in {:.3} ms (aim {aim}; Mesos {peer})",
        ms(add_agents)
    );
    report
}

/// The aim and Mesos' published figure for a DeclineOffers grid point (performance
/// anchors W1).
fn decline_offers_reference(agents: usize, frameworks: usize) -> (&'static str, &'static str) {
    match (agents, frameworks) {
        (10_000, 1_000) => (
            "100 ms per round, 100 ms to add 10k agents",
            "1.06 s per round, 1.61 s to add 10k agents",
        ),
        (10_000, 3_000) => ("none set", "2.47 s median of rounds 0-9"),
        (20_000, 2_000) => ("400 ms", "about 3.8 s"),
        (50_000, 6_000) => ("1 s", "none published"),
        _ => ("none for this grid", "none for this grid"),
    }
}

/// The aim and Mesos' published figure for ResourceLabels: Mesos publishes none; the W1
/// aims are the DeclineOffers ones.
fn resource_labels_reference(agents: usize, frameworks: usize) -> (&'static str, &'static str) {
    match (agents, frameworks) {
        (10_000, 1_000) => (
            "100 ms per round, 100 ms to add 10k agents, as DeclineOffers",
            "none published",
        ),
        _ => ("none for this grid", "none published"),
    }
}

/// Mesos' `SuppressOffers` (and, with `extreme`, `ExtremeSuppressOffers`): five allocation
/// cycles; before each, another fifth of the frameworks suppress offers (with `extreme`,
/// 99 % suppress from the first cycle), and the previous cycle's offers are recovered with
/// no filter. Prints Mesos' line per cycle and a summary; returns the cycle times.
pub fn suppress_offers(agents: usize, frameworks: usize, extreme: bool) -> Vec<Duration> {
    let frameworks = frameworks.max(1);
    let name = if extreme {
        "ExtremeSuppressOffers"
    } else {
        "SuppressOffers"
    };
    println!("Using {agents} agents and {frameworks} frameworks ({name})");
    let (mut alloc, fw_ids, _, _) = setup(agents, frameworks, Shape::Unreserved);
    let interval = alloc.config().allocation_interval;
    let mut now = Duration::ZERO;
    let mut outstanding: Vec<crate::Grant> = Vec::new();
    let mut suppressed = 0usize;
    let mut times = Vec::new();
    for cycle in 0..5 {
        for g in outstanding.drain(..) {
            alloc.recover(
                &g.framework_id,
                &g.role,
                &g.agent_id,
                &g.resources,
                None,
                now,
            );
        }
        let target = if extreme {
            frameworks * 99 / 100
        } else {
            (frameworks * (cycle + 1) / 5).min(frameworks)
        };
        while suppressed < target {
            alloc.suppress(&fw_ids[suppressed], &[]);
            suppressed += 1;
        }
        now += interval;
        let start = Instant::now();
        let grants = alloc.allocate(now);
        let took = start.elapsed();
        println!(
            "allocate() took {:.3}ms to make {} offers with {suppressed} out of {frameworks} frameworks suppressing",
            ms(took),
            grants.len()
        );
        times.push(took);
        outstanding = grants;
    }
    let (median, max) = median_max(times.iter().copied());
    println!(
        "W1 {name}: {agents} agents x {frameworks} frameworks, 5 cycles: {median:.3} ms per cycle median, {max:.3} ms max (aim 100; Mesos: no published figure)"
    );
    times
}

/// Figures of one `large_and_small_quota` run.
#[derive(Clone, Debug, Default)]
pub struct QuotaReport {
    pub agents: usize,
    pub roles: usize,
    pub allocations: usize,
    pub cycle: Duration,
    pub empty_cycle_allocations: usize,
    pub empty_cycle: Duration,
}

/// Mesos' `LargeAndSmallQuota`: `small` roles with quota `cpus:1;mem:1024;disk:1024` and
/// `large` roles with `cpus:4;mem:4096;disk:4096`, one framework per role, on
/// `small/5 + 5·large` agents of `cpus:2;mem:2048;disk:2048`, so that satisfying the
/// quotas chops agents. Mesos' benchmark predates quota limits and sets guarantees only;
/// here the limits equal the guarantees (as a pre-1.9 quota meant). Times the cycle
/// that satisfies every quota, then the next, empty one.
pub fn large_and_small_quota(small: usize, large: usize) -> QuotaReport {
    let agents = small / 5 + 5 * large;
    let roles = small + large;
    println!(
        "Using {agents} agents, {small} small and {large} large quota roles, one framework each (LargeAndSmallQuota, drf)"
    );
    let mut alloc = Allocator::new(AllocatorConfig {
        seed: 42,
        ..Default::default()
    });
    let small_q = Resources::parse_flag("cpus:1;mem:1024;disk:1024").expect("valid resources");
    let large_q = Resources::parse_flag("cpus:4;mem:4096;disk:4096").expect("valid resources");
    let start = Instant::now();
    for i in 0..roles {
        let (role, q) = if i < small {
            (format!("small-role-{i}"), &small_q)
        } else {
            (format!("large-role-{}", i - small), &large_q)
        };
        alloc
            .update_quota(&role, QuotaConfig::guarantee_and_limit(q))
            .expect("top-level role");
        alloc.add_framework(
            FrameworkId::new(format!("framework-{i}")),
            FrameworkOptions::with_roles(&[role]),
        );
    }
    println!(
        "Added {roles} frameworks with quota in {:.3}ms",
        ms(start.elapsed())
    );
    let total = Resources::parse_flag("cpus:2;mem:2048;disk:2048").expect("valid resources");
    let start = Instant::now();
    for i in 0..agents {
        alloc.add_agent(AgentId::new(format!("agent-{i}")), total.clone(), vec![]);
    }
    println!("Added {agents} agents in {:.3}ms", ms(start.elapsed()));
    let interval = alloc.config().allocation_interval;
    let mut report = QuotaReport {
        agents,
        roles,
        ..Default::default()
    };
    let start = Instant::now();
    report.allocations = alloc.allocate(interval).len();
    report.cycle = start.elapsed();
    println!(
        "Made {} allocations in {:.3}ms",
        report.allocations,
        ms(report.cycle)
    );
    let start = Instant::now();
    report.empty_cycle_allocations = alloc.allocate(interval * 2).len();
    report.empty_cycle = start.elapsed();
    println!(
        "Made {} allocations in {:.3}ms",
        report.empty_cycle_allocations,
        ms(report.empty_cycle)
    );
    let peer = match (small, large) {
        (2500, 500) => "Mesos 15300",
        _ => "Mesos: none published for this size",
    };
    println!(
        "W1 LargeAndSmallQuota: {agents} agents x {roles} roles: {} allocations in {:.3} ms, empty cycle {:.3} ms (aim 1000; {peer})",
        report.allocations,
        ms(report.cycle),
        ms(report.empty_cycle)
    );
    report
}

/// This thread's time on a CPU so far (`/proc/thread-self/schedstat`, Linux only).
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn median_max(rounds: impl Iterator<Item = Duration>) -> (f64, f64) {
    let mut sorted: Vec<f64> = rounds.map(ms).collect();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (median, sorted.last().copied().unwrap_or(0.0))
}

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// Entry point for a bench binary: `AGENTS` (default 10,000), `FRAMEWORKS` (1,000) and
/// `ROUNDS` (2 × frameworks) from the environment, or `--agents N --frameworks N
/// --rounds N` on the command line. `W1_ONLY=DeclineOffers` or `W1_ONLY=ResourceLabels`
/// runs that workload alone; `W1_CLOCK=cpu` times their rounds by the thread's CPU time.
pub fn main_from_env() {
    let mut agents = env_usize("AGENTS").unwrap_or(10_000);
    let mut frameworks = env_usize("FRAMEWORKS").unwrap_or(1_000);
    let mut rounds = env_usize("ROUNDS");
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let val = args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), val) {
            ("--agents", Some(v)) => agents = v,
            ("--frameworks", Some(v)) => frameworks = v,
            ("--rounds", Some(v)) => rounds = Some(v),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    let rounds = rounds.unwrap_or(2 * frameworks);
    let only = std::env::var("W1_ONLY").unwrap_or_default();
    if only == "ResourceLabels" {
        resource_labels(agents, frameworks, rounds);
        return;
    }
    decline_offers(agents, frameworks, rounds);
    if only == "DeclineOffers" {
        return;
    }
    resource_labels(agents, frameworks, rounds);
    suppress_offers(agents, frameworks, false);
    suppress_offers(agents, frameworks, true);
    for (small, large) in [(25, 5), (250, 50), (2500, 500)] {
        large_and_small_quota(small, large);
    }
    // The other grid points of the anchors, ten rounds each (as Mesos' DeclineOffers/22
    // reports rounds 0-9). `W1_GRID=0` skips them.
    if std::env::var("W1_GRID").map_or(true, |v| v != "0") {
        for (a, f) in [(10_000, 3_000), (20_000, 2_000), (50_000, 6_000)] {
            decline_offers(a, f, 10);
        }
    }
}
