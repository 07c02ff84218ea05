//! Unit tests of quota: guarantees, limits, headroom, chopping.

use crate::tests::{ag, fw, r, roles, secs};
use crate::*;
use mesos_proto::resources::Resources;
use std::collections::BTreeMap;
fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}
fn quota(g: &[(&str, f64)], l: &[(&str, f64)]) -> QuotaConfig {
    QuotaConfig {
        guarantees: map(g),
        limits: map(l),
    }
}
fn granted_to(grants: &[Grant], f: &str) -> Resources {
    grants
        .iter()
        .filter(|g| g.framework_id == fw(f))
        .fold(Resources::new(), |acc, g| acc.aggregate(&g.resources))
}

#[test]
fn a_limit_chops_the_agent_and_the_rest_goes_on() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.update_quota("q", quota(&[], &[("cpus", 2.0)])).unwrap();
    a.add_framework(fw("fq"), roles(&["q"]));
    a.add_framework(fw("fo"), roles(&["o"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024;ports:[1-10]"), vec![]);
    // Both have share 0; "fo" would win the whole agent only by name order of roles:
    // "o" < "q". Make "o" hold something elsewhere so that "q" goes first.
    a.add_agent(
        ag("a0"),
        r("cpus:1;mem:32"),
        vec![(fw("fo"), "o".into(), r("cpus:1;mem:32"))],
    );
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 2, "{g:?}");
    assert_eq!(granted_to(&g, "fq"), r("cpus:2;mem:1024;ports:[1-10]"));
    assert_eq!(granted_to(&g, "fo"), r("cpus:2"));
    assert_eq!(a.consumed("q"), r("cpus:2;mem:1024"));
    a.check_invariants().unwrap();
    // At its limit, "q" gets nothing more even when resources come back elsewhere.
    a.recover(&fw("fo"), "o", &ag("a1"), &r("cpus:2"), None, secs(1));
    let g = a.allocate(secs(2));
    assert_eq!(granted_to(&g, "fq"), Resources::new());
    assert_eq!(granted_to(&g, "fo"), r("cpus:2"));
    a.check_invariants().unwrap();
}

#[test]
fn unmet_guarantees_go_first_whatever_the_drf_order() {
    let mut a = Allocator::new(AllocatorConfig {
        seed: 3,
        ..Default::default()
    });
    a.update_quota("q", quota(&[("cpus", 4.0)], &[])).unwrap();
    a.add_framework(fw("fq"), roles(&["q"]));
    a.add_framework(fw("fo"), roles(&["o"]));
    // "q" already holds half of its guarantee: its share is above "o"'s.
    a.add_agent(
        ag("a0"),
        r("cpus:2;mem:1024"),
        vec![(fw("fq"), "q".into(), r("cpus:2;mem:1024"))],
    );
    a.add_agent(ag("a1"), r("cpus:2;mem:1024"), vec![]);
    a.add_agent(ag("a2"), r("cpus:2;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(granted_to(&g, "fq"), r("cpus:2;mem:1024"));
    assert_eq!(granted_to(&g, "fo"), r("cpus:2;mem:1024"));
    assert_eq!(a.consumed("q"), r("cpus:4;mem:2048"));
    a.check_invariants().unwrap();
}

#[test]
fn the_headroom_is_held_back_from_other_roles() {
    let mut a = Allocator::new(AllocatorConfig::default());
    // "q" has no framework yet: its guarantee is still held back.
    a.update_quota("q", quota(&[("cpus", 4.0)], &[])).unwrap();
    a.add_framework(fw("fo"), roles(&["o"]));
    for i in 0..3 {
        a.add_agent(ag(&format!("a{i}")), r("cpus:2;mem:1024"), vec![]);
    }
    let g = a.allocate(secs(1));
    let o = granted_to(&g, "fo");
    assert_eq!(o.scalar("cpus"), 2.0, "only the surplus over 4 cpus: {g:?}");
    assert_eq!(o.scalar("mem"), 3072.0, "mem has no guarantee");
    a.check_invariants().unwrap();
    // The quota role arrives and gets its guarantee.
    a.add_framework(fw("fq"), roles(&["q"]));
    let g = a.allocate(secs(2));
    assert_eq!(granted_to(&g, "fq"), r("cpus:4"));
    // Removing the quota gives back plain DRF: nothing is held.
    a.remove_quota("q");
    assert!(a.quotas().is_empty());
    a.check_invariants().unwrap();
}

#[test]
fn a_limit_covers_sub_roles() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.update_quota("a", quota(&[], &[("cpus", 1.0), ("mem", 64.0)]))
        .unwrap();
    assert!(a.update_quota("a/b", quota(&[], &[("cpus", 1.0)])).is_err());
    a.add_framework(fw("f1"), roles(&["a/b"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(granted_to(&g, "f1"), r("cpus:1;mem:64"));
    assert_eq!(a.consumed("a"), r("cpus:1;mem:64"));
    assert_eq!(
        a.quotas(),
        vec![QuotaStatus {
            role: "a".into(),
            config: quota(&[], &[("cpus", 1.0), ("mem", 64.0)]),
            consumed: r("cpus:1;mem:64"),
        }]
    );
    assert!(a.allocate(secs(2)).is_empty(), "capped, nobody else");
    a.check_invariants().unwrap();
}

#[test]
fn a_zero_limit_forbids_and_the_default_config_removes() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.update_quota("q", quota(&[], &[("cpus", 0.0), ("mem", 0.0)]))
        .unwrap();
    a.add_framework(fw("fq"), roles(&["q"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    assert!(a.allocate(secs(1)).is_empty());
    a.update_quota("q", QuotaConfig::default()).unwrap();
    assert!(a.quota("q").is_none());
    let g = a.allocate(secs(2));
    assert_eq!(granted_to(&g, "fq"), r("cpus:4;mem:1024"));
    a.check_invariants().unwrap();
}

#[test]
fn a_declined_chopped_chunk_is_filtered() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.update_quota("q", quota(&[("cpus", 1.0)], &[("cpus", 1.0)]))
        .unwrap();
    a.add_framework(fw("fq"), roles(&["q"]));
    a.add_agent(ag("a1"), r("cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].resources, r("cpus:1;mem:1024"));
    a.recover(
        &fw("fq"),
        "q",
        &ag("a1"),
        &g[0].resources,
        Some(secs(60)),
        secs(1),
    );
    assert!(a.allocate(secs(2)).is_empty(), "the same chunk is refused");
    assert_eq!(a.allocate(secs(70)).len(), 1, "until the filter expires");
    a.check_invariants().unwrap();
}

#[test]
fn guarantees_chop_agents_between_roles() {
    // LargeAndSmallQuota in small: 5 small roles (cpus:1) and 1 large (cpus:4) on 6 agents
    // of cpus:2; every guarantee is met in one cycle, the next cycle is empty.
    let mut a = Allocator::new(AllocatorConfig::default());
    let small = Resources::parse_flag("cpus:1;mem:1024;disk:1024").unwrap();
    let large = Resources::parse_flag("cpus:4;mem:4096;disk:4096").unwrap();
    for i in 0..5 {
        let role = format!("small-{i}");
        a.update_quota(&role, QuotaConfig::guarantee_and_limit(&small))
            .unwrap();
        a.add_framework(fw(&role), roles(&[role.as_str()]));
    }
    a.update_quota("large-0", QuotaConfig::guarantee_and_limit(&large))
        .unwrap();
    a.add_framework(fw("large-0"), roles(&["large-0"]));
    for i in 0..6 {
        a.add_agent(ag(&format!("a{i}")), r("cpus:2;mem:2048;disk:2048"), vec![]);
    }
    let g = a.allocate(secs(1));
    for q in a.quotas() {
        let want = if q.role == "large-0" { &large } else { &small };
        assert_eq!(&q.consumed, want, "{}", q.role);
    }
    assert!(g.len() >= 6, "{g:?}");
    assert!(a.allocate(secs(2)).is_empty());
    a.check_invariants().unwrap();
}

#[test]
fn the_quota_bench_workload_meets_every_quota() {
    let report = crate::bench::large_and_small_quota(25, 5);
    assert_eq!(report.agents, 30);
    assert!(report.allocations >= 30, "{report:?}");
    assert_eq!(report.empty_cycle_allocations, 0);
}
