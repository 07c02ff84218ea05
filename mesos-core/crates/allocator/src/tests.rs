//! Unit tests of the allocator's semantics.

use crate::*;
use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::resources::Resources;
use std::time::Duration;

// Shorthands shared with the quota tests.
pub(crate) fn r(s: &str) -> Resources {
    Resources::parse_flag(s).unwrap()
}
pub(crate) fn fw(s: &str) -> FrameworkId {
    FrameworkId::new(s)
}
pub(crate) fn ag(s: &str) -> AgentId {
    AgentId::new(s)
}
pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
fn new_alloc() -> Allocator {
    Allocator::new(AllocatorConfig::default())
}
pub(crate) fn roles(rs: &[&str]) -> FrameworkOptions {
    FrameworkOptions::with_roles(rs)
}
fn ok(a: &Allocator) {
    a.check_invariants().unwrap();
}

#[test]
fn a_framework_gets_the_whole_free_chunk() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024;ports:[31000-32000]"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(
        g,
        vec![Grant {
            framework_id: fw("f1"),
            role: "*".into(),
            agent_id: ag("a1"),
            resources: r("cpus:4;mem:1024;ports:[31000-32000]"),
        }]
    );
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus:4;mem:1024;ports:[31000-32000]")
    );
    assert!(
        a.allocate(secs(2)).is_empty(),
        "granted resources stay allocated"
    );
    assert_eq!(a.total(), r("cpus:4;mem:1024"));
    ok(&a);
}

#[test]
fn lowest_share_framework_goes_first() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_framework(fw("f2"), FrameworkOptions::default());
    // f1 already uses half the cpus of a0.
    a.add_agent(
        ag("a0"),
        r("cpus:10;mem:1000"),
        vec![(fw("f1"), "*".into(), r("cpus:5"))],
    );
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("f2"));
    assert_eq!(g[0].resources, r("cpus:5;mem:1000"));
    ok(&a);
}

#[test]
fn sorters_update_after_each_grant_and_ties_break_by_name() {
    let mut a = new_alloc();
    a.add_framework(fw("b"), FrameworkOptions::default());
    a.add_framework(fw("a"), FrameworkOptions::default());
    for i in 0..4 {
        a.add_agent(ag(&format!("s{i}")), r("cpus:1;mem:100"), vec![]);
    }
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 4);
    // Equal shares: "a" before "b"; then they alternate as shares grow.
    let who: Vec<&str> = g.iter().map(|g| g.framework_id.as_str()).collect();
    assert_eq!(who, vec!["a", "b", "a", "b"]);
}

#[test]
fn roles_are_sorted_by_weighted_share() {
    let setup = |weight: Option<f64>| {
        let mut a = new_alloc();
        if let Some(w) = weight {
            a.set_weight("r1", w);
        }
        a.add_framework(fw("f1"), roles(&["r1"]));
        a.add_framework(fw("f2"), roles(&["r2"]));
        a.add_agent(
            ag("used"),
            r("cpus:10;mem:1000"),
            vec![
                (fw("f1"), "r1".into(), r("cpus:4")),
                (fw("f2"), "r2".into(), r("cpus:2")),
            ],
        );
        a.add_agent(ag("x"), r("cpus:2;mem:100"), vec![]);
        a
    };
    // Unweighted: r2 (share 2/12) goes before r1 (4/12). Agents are shuffled, so look at
    // the first grant only.
    let mut a = setup(None);
    let g = a.allocate(secs(1));
    assert_eq!(g[0].role, "r2");
    // r1 with weight 4: 4/12/4 < 2/12.
    let mut a = setup(Some(4.0));
    assert_eq!(a.weight("r1"), 4.0);
    assert_eq!(a.weight("other"), 1.0);
    let g = a.allocate(secs(1));
    assert_eq!(g[0].role, "r1");
    assert_eq!(g[0].framework_id, fw("f1"));
    // Weights may change later.
    let mut a = setup(None);
    a.set_weight("r1", 4.0);
    assert_eq!(a.role_order()[0], "r1");
    a.set_weight("r1", 0.0); // ignored
    assert_eq!(a.weight("r1"), 4.0);
}

#[test]
fn hierarchical_roles_share_through_their_subtree() {
    let mut a = new_alloc();
    a.add_framework(fw("fab"), roles(&["a/b"]));
    a.add_framework(fw("fac"), roles(&["a/c"]));
    a.add_framework(fw("fd"), roles(&["d"]));
    a.add_agent(
        ag("used"),
        r("cpus:10;mem:1000"),
        vec![
            (fw("fac"), "a/c".into(), r("cpus:4")),
            (fw("fd"), "d".into(), r("cpus:2")),
        ],
    );
    a.add_agent(ag("x"), r("cpus:1;mem:10"), vec![]);
    // Flat DRF would pick a/b (share 0); the subtree a (4) is above d (2).
    assert_eq!(a.role_order(), vec!["d", "a/b", "a/c"]);
    let g = a.allocate(secs(1));
    assert_eq!(g[0].framework_id, fw("fd"));
    let summary = a.role_allocations();
    let names: Vec<&str> = summary.iter().map(|s| s.role.as_str()).collect();
    assert_eq!(names, vec!["a/b", "a/c", "d"]);
    // A role that is both a leaf and a parent: its own allocation competes with its children.
    let mut a = new_alloc();
    a.add_framework(fw("fa"), roles(&["a"]));
    a.add_framework(fw("fab"), roles(&["a/b"]));
    a.add_agent(
        ag("u"),
        r("cpus:10;mem:100"),
        vec![(fw("fa"), "a".into(), r("cpus:3"))],
    );
    assert_eq!(a.role_order(), vec!["a/b", "a"]);
    ok(&a);
}

#[test]
fn suppress_and_revive() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), roles(&["r1", "r2"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    a.suppress(&fw("f1"), &[]);
    assert!(a.allocate(secs(1)).is_empty());
    a.revive(&fw("f1"), &["r2".to_string()]);
    let g = a.allocate(secs(2));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].role, "r2");
    a.recover(&fw("f1"), "r2", &ag("a1"), &g[0].resources, None, secs(2));
    a.suppress(&fw("f1"), &["r2".to_string()]);
    assert!(a.allocate(secs(3)).is_empty(), "r1 and r2 both suppressed");
    a.revive(&fw("f1"), &[]);
    assert_eq!(a.allocate(secs(4)).len(), 1);
    // Suppressed at subscription.
    let mut a = new_alloc();
    a.add_framework(
        fw("f1"),
        FrameworkOptions {
            suppressed_roles: vec!["*".into()],
            ..Default::default()
        },
    );
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    assert!(a.allocate(secs(1)).is_empty());
}

#[test]
fn filters_refuse_subsets_until_they_expire() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &g[0].resources,
        Some(secs(10)),
        secs(1),
    );
    assert_eq!(a.active_filters("*"), 1);
    assert!(a.allocate(secs(2)).is_empty(), "same offer is filtered");
    assert!(
        a.allocate(secs(10)).is_empty(),
        "still filtered just before expiry"
    );
    let g = a.allocate(secs(11));
    assert_eq!(g.len(), 1, "filter expired at 1 + 10 s");
    assert_eq!(a.active_filters("*"), 0);
    ok(&a);
}

#[test]
fn a_bigger_offer_passes_a_filter_and_a_subset_does_not() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(
        ag("a1"),
        r("cpus:4;mem:1024"),
        vec![(fw("f1"), "*".into(), r("cpus:2;mem:512"))],
    );
    let g = a.allocate(secs(1));
    assert_eq!(g[0].resources, r("cpus:2;mem:512"));
    // Decline only part of it: the rest stays allocated.
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &r("cpus:1;mem:512"),
        Some(secs(100)),
        secs(1),
    );
    assert!(a.allocate(secs(2)).is_empty());
    // Return the rest without a filter: the free chunk is cpus:2;mem:512 now, bigger
    // than the refused cpus:1;mem:512.
    a.recover(&fw("f1"), "*", &ag("a1"), &r("cpus:1"), None, secs(2));
    let g = a.allocate(secs(3));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].resources, r("cpus:2;mem:512"));
    // Decline the whole chunk, then a task (cpus:1) finishes: cpus:3;mem:512 passes.
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &g[0].resources,
        Some(secs(100)),
        secs(3),
    );
    assert!(a.allocate(secs(4)).is_empty());
    a.recover(&fw("f1"), "*", &ag("a1"), &r("cpus:1"), None, secs(4));
    assert_eq!(a.allocate(secs(5))[0].resources, r("cpus:3;mem:512"));
    ok(&a);
}

#[test]
fn filters_are_per_framework_and_cleared_by_revive() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &g[0].resources,
        Some(secs(1000)),
        secs(1),
    );
    a.add_framework(fw("f2"), FrameworkOptions::default());
    let g = a.allocate(secs(2));
    assert_eq!(g[0].framework_id, fw("f2"), "f1's filter does not block f2");
    a.recover(
        &fw("f2"),
        "*",
        &ag("a1"),
        &g[0].resources,
        Some(secs(1000)),
        secs(2),
    );
    assert!(a.allocate(secs(3)).is_empty());
    a.revive(&fw("f1"), &[]);
    assert_eq!(a.active_filters("*"), 1);
    let g = a.allocate(secs(4));
    assert_eq!(g[0].framework_id, fw("f1"));
}

#[test]
fn filter_lifetime_is_at_least_the_allocation_interval() {
    let mut a = Allocator::new(AllocatorConfig {
        allocation_interval: secs(5),
        ..Default::default()
    });
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(0));
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &g[0].resources,
        Some(Duration::from_millis(1)),
        secs(0),
    );
    assert!(a.allocate(secs(4)).is_empty());
    assert_eq!(a.allocate(secs(5)).len(), 1);
    // Zero means no filter.
    let g = a.allocate(secs(6));
    assert!(g.is_empty());
    let held = a.agent_allocated(&ag("a1"));
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &held,
        Some(Duration::ZERO),
        secs(6),
    );
    assert_eq!(a.active_filters("*"), 0);
    assert_eq!(a.allocate(secs(6)).len(), 1);
}

#[test]
fn gpu_agents_only_go_to_gpu_aware_frameworks() {
    let mut a = new_alloc();
    a.add_framework(fw("plain"), FrameworkOptions::default());
    a.add_agent(ag("gpu"), r("cpus:4;mem:1024;gpus:1"), vec![]);
    a.add_agent(ag("cpu"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].agent_id, ag("cpu"));
    a.add_framework(
        fw("gpu-fw"),
        FrameworkOptions {
            gpu_aware: true,
            ..Default::default()
        },
    );
    let g = a.allocate(secs(2));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("gpu-fw"));
    assert_eq!(g[0].resources.scalar("gpus"), 1.0);

    let mut a = Allocator::new(AllocatorConfig {
        filter_gpu_resources: false,
        ..Default::default()
    });
    a.add_framework(fw("plain"), FrameworkOptions::default());
    a.add_agent(ag("gpu"), r("cpus:4;mem:1024;gpus:1"), vec![]);
    assert_eq!(a.allocate(secs(1)).len(), 1);
}

#[test]
fn chunks_below_min_allocatable_are_not_offered() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("tiny"), r("cpus:0.005;mem:16;disk:100"), vec![]);
    a.add_agent(ag("cpu"), r("cpus:0.01"), vec![]);
    a.add_agent(ag("mem"), r("mem:32"), vec![]);
    let mut got: Vec<String> = a
        .allocate(secs(1))
        .into_iter()
        .map(|g| g.agent_id.value)
        .collect();
    got.sort();
    assert_eq!(got, vec!["cpu", "mem"]);
    let mut a = Allocator::new(AllocatorConfig {
        min_allocatable: vec![r("cpus:1;mem:64")],
        ..Default::default()
    });
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("x"), r("cpus:2;mem:32"), vec![]);
    assert!(a.allocate(secs(1)).is_empty());
    a.add_agent(ag("y"), r("cpus:1;mem:64"), vec![]);
    assert_eq!(a.allocate(secs(2)).len(), 1);
}

#[test]
fn inactive_frameworks_and_agents_get_nothing() {
    let mut a = new_alloc();
    a.add_framework(
        fw("f1"),
        FrameworkOptions {
            active: false,
            ..Default::default()
        },
    );
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    assert!(a.allocate(secs(1)).is_empty());
    a.activate_framework(&fw("f1"));
    a.deactivate_agent(&ag("a1"));
    assert!(a.allocate(secs(2)).is_empty());
    a.activate_agent(&ag("a1"));
    let g = a.allocate(secs(3));
    assert_eq!(g.len(), 1);
    a.deactivate_framework(&fw("f1"));
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus:4;mem:1024"),
        "kept while inactive"
    );
    a.recover(&fw("f1"), "*", &ag("a1"), &g[0].resources, None, secs(3));
    assert!(a.allocate(secs(4)).is_empty());
}

#[test]
fn recover_add_used_and_remove_framework_accounting() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024;ports:[1-10]"), vec![]);
    a.add_agent(ag("a2"), r("cpus:2;mem:512"), vec![]);
    a.add_used(&fw("f1"), "*", &ag("a1"), &r("cpus:1;mem:100;ports:[2-3]"));
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus:1;mem:100;ports:[2-3]")
    );
    // Over-commit attempts are clamped to what is free.
    a.add_used(&fw("f1"), "*", &ag("a2"), &r("cpus:5"));
    assert_eq!(a.agent_allocated(&ag("a2")), r("cpus:2"));
    assert_eq!(a.allocation(&fw("f1"), "*", &ag("a2")), r("cpus:2"));
    // Recovering more than is allocated frees only what is allocated.
    a.recover(
        &fw("f1"),
        "*",
        &ag("a2"),
        &r("cpus:3;mem:10"),
        None,
        secs(0),
    );
    assert_eq!(a.agent_allocated(&ag("a2")), Resources::new());
    ok(&a);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 2);
    let on_a1 = g.iter().find(|g| g.agent_id == ag("a1")).unwrap();
    assert_eq!(on_a1.resources, r("cpus:3;mem:924;ports:[1-1,4-10]"));
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus:4;mem:1024;ports:[1-10]")
    );
    let s = a.role_allocations();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].allocated, r("cpus:6;mem:1536"));
    assert_eq!(s[0].frameworks, vec![fw("f1")]);
    assert!((s[0].dominant_share - 1.0).abs() < 1e-9);
    a.remove_framework(&fw("f1"));
    assert_eq!(a.agent_allocated(&ag("a1")), Resources::new());
    assert_eq!(a.agent_allocated(&ag("a2")), Resources::new());
    assert!(a.role_allocations().is_empty());
    ok(&a);
    // Recovering for an unknown framework is a no-op.
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &r("cpus:1"),
        Some(secs(5)),
        secs(1),
    );
    ok(&a);
}

#[test]
fn used_resources_of_unknown_frameworks_are_tracked() {
    let mut a = new_alloc();
    a.add_agent(
        ag("a1"),
        r("cpus:4;mem:1024"),
        vec![(fw("later"), "r".into(), r("cpus:3"))],
    );
    assert_eq!(a.agent_allocated(&ag("a1")), r("cpus:3"));
    a.add_framework(fw("other"), FrameworkOptions::default());
    let g = a.allocate(secs(1));
    assert_eq!(g[0].resources, r("cpus:1;mem:1024"));
    a.add_framework(fw("later"), roles(&["r"]));
    a.recover(&fw("later"), "r", &ag("a1"), &r("cpus:3"), None, secs(1));
    let g = a.allocate(secs(2));
    assert_eq!(g[0].framework_id, fw("later"));
    ok(&a);
    // A placeholder without allocations disappears with its last allocation.
    a.add_used(&fw("ghost"), "*", &ag("a1"), &r("cpus:1"));
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus:4;mem:1024"),
        "nothing free: clamped to zero"
    );
}

#[test]
fn update_framework_moves_roles_and_keeps_old_allocations_accounted() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), roles(&["r1"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g[0].role, "r1");
    a.update_framework(&fw("f1"), roles(&["r2"]));
    let s = a.role_allocations();
    assert_eq!(
        s.iter().map(|s| s.role.as_str()).collect::<Vec<_>>(),
        vec!["r1", "r2"]
    );
    a.add_agent(ag("a2"), r("cpus:1;mem:64"), vec![]);
    let g2 = a.allocate(secs(2));
    assert_eq!(g2[0].role, "r2");
    a.recover(
        &fw("f1"),
        "r1",
        &ag("a1"),
        &g[0].resources,
        Some(secs(10)),
        secs(2),
    );
    assert_eq!(
        a.active_filters("r1"),
        0,
        "no filters for an unsubscribed role"
    );
    let s = a.role_allocations();
    assert_eq!(
        s.iter().map(|s| s.role.as_str()).collect::<Vec<_>>(),
        vec!["r2"]
    );
    ok(&a);
}

#[test]
fn remove_agent_frees_its_allocations_and_filters() {
    let mut a = new_alloc();
    a.add_framework(fw("f1"), FrameworkOptions::default());
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    a.recover(
        &fw("f1"),
        "*",
        &ag("a1"),
        &r("cpus:1"),
        Some(secs(100)),
        secs(1),
    );
    assert_eq!(a.active_filters("*"), 1);
    a.remove_agent(&ag("a1"));
    assert_eq!(a.active_filters("*"), 0);
    assert_eq!(a.total(), Resources::new());
    assert!(a.role_allocations()[0].allocated.is_empty());
    ok(&a);
    // Re-adding gives a fresh agent.
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    assert_eq!(a.allocate(secs(2))[0].resources, g[0].resources);
    ok(&a);
}

#[test]
fn the_same_seed_gives_the_same_grants() {
    let run = |seed: u64| {
        let mut a = Allocator::new(AllocatorConfig {
            seed,
            ..Default::default()
        });
        for i in 0..5 {
            a.add_framework(fw(&format!("f{i}")), FrameworkOptions::default());
        }
        for i in 0..50 {
            a.add_agent(ag(&format!("a{i}")), r("cpus:2;mem:100"), vec![]);
        }
        a.allocate(secs(1))
    };
    assert_eq!(run(1), run(1));
    let order = |g: Vec<Grant>| g.into_iter().map(|g| g.agent_id).collect::<Vec<_>>();
    assert_ne!(order(run(1)), order(run(2)));
}

#[test]
fn the_allocator_can_move_between_threads() {
    fn assert_send<T: Send + Sync>() {}
    assert_send::<Allocator>();
}

#[test]
fn the_bench_workload_runs() {
    let report = crate::bench::decline_offers(20, 4, 6);
    assert_eq!(report.offers, vec![20, 20, 20, 20, 0, 0]);
}
