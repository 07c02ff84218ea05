//! Reserved resources in the allocator: offered only to their role (or its sub-roles),
//! counted in that role's allocation, kept apart by reservation (labels included).

use crate::tests::{ag, fw, r, roles, secs};
use crate::*;
use mesos_proto::resources::{Label, Reservation, Reservations, Resources};

fn labelled(role: &str, last: &str) -> Reservations {
    let mut labels: Vec<Label> = (0..11)
        .map(|i| Label::new(format!("key{i}"), format!("value{i}")))
        .collect();
    labels.push(Label::new("unique", last));
    Reservations::one(Reservation::new_dynamic(role, Some("principal1"), labels)).unwrap()
}

fn cpus(n: f64) -> Resources {
    Resources::new().with_scalar("cpus", n)
}

fn new_alloc() -> Allocator {
    Allocator::new(AllocatorConfig::default())
}

fn ok(a: &Allocator) {
    a.check_invariants().unwrap();
}

#[test]
fn reserved_cpus_go_only_to_their_role() {
    let mut a = new_alloc();
    a.add_framework(fw("star"), roles(&["*"]));
    a.add_agent(ag("a1"), r("cpus(role1):8;cpus:4;mem:1024"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("star"));
    assert_eq!(g[0].resources, r("cpus:4;mem:1024"));
    assert!(!g[0].resources.has_reservations());
    assert!(
        a.allocate(secs(2)).is_empty(),
        "nobody may take the reservation"
    );
    ok(&a);

    a.add_framework(fw("r1"), roles(&["role1"]));
    let g = a.allocate(secs(3));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("r1"));
    assert_eq!(g[0].role, "role1");
    assert_eq!(g[0].resources, r("cpus(role1):8"));
    assert_eq!(
        a.agent_allocated(&ag("a1")),
        r("cpus(role1):8;cpus:4;mem:1024")
    );
    ok(&a);
}

#[test]
fn an_unreserved_only_framework_never_gets_reserved_resources() {
    let mut a = new_alloc();
    a.add_framework(fw("star"), FrameworkOptions::default());
    a.add_framework(fw("other"), roles(&["role2"]));
    let resv = labelled("role1", "agent-1");
    let total = r("cpus:2;mem:512")
        .checked_add(&cpus(8.0).into_reserved(&resv))
        .unwrap();
    a.add_agent(ag("a1"), total, vec![]);
    for round in 1..=20 {
        let grants = a.allocate(secs(round));
        for g in &grants {
            assert!(!g.resources.has_reservations(), "round {round}: {g:?}");
            // Decline without a filter: offered again next round.
            a.recover(
                &g.framework_id,
                &g.role,
                &g.agent_id,
                &g.resources,
                None,
                secs(round),
            );
        }
        assert_eq!(grants.len(), 1);
        ok(&a);
    }
}

#[test]
fn two_roles_are_served_on_one_agent_in_one_cycle() {
    let mut a = new_alloc();
    a.add_framework(fw("star"), FrameworkOptions::default());
    a.add_framework(fw("r1"), roles(&["role1"]));
    let resv = labelled("role1", "agent-1");
    let total = r("cpus:8;mem:1024;ports:[1-10]")
        .checked_add(&cpus(8.0).into_reserved(&resv))
        .unwrap();
    a.add_agent(ag("a1"), total.clone(), vec![]);
    let mut g = a.allocate(secs(1));
    g.sort_by(|x, y| x.framework_id.cmp(&y.framework_id));
    assert_eq!(g.len(), 2, "{g:?}");
    // Both shares are 0, so `*` goes first (by name) and takes the unreserved part;
    // role1 is still offered its reservation on the same agent.
    assert_eq!(g[0].framework_id, fw("r1"));
    assert_eq!(g[0].resources, cpus(8.0).into_reserved(&resv));
    assert_eq!(g[1].framework_id, fw("star"));
    assert_eq!(g[1].resources, total.unreserved());
    ok(&a);
}

#[test]
fn reservations_count_toward_the_role_and_labels_keep_them_apart() {
    let mut a = new_alloc();
    a.add_framework(fw("r1"), roles(&["role1"]));
    let (x, y) = (labelled("role1", "x"), labelled("role1", "y"));
    let reserved = cpus(8.0)
        .into_reserved(&x)
        .checked_add(&cpus(8.0).into_reserved(&y))
        .unwrap();
    let total = r("cpus:8;mem:4096").checked_add(&reserved).unwrap();
    a.add_agent(ag("a1"), total.clone(), vec![]);
    assert_eq!(
        a.total(),
        r("cpus:24;mem:4096"),
        "totals count reservations"
    );
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].resources, total);
    assert_eq!(g[0].resources.reservations().count(), 2);
    let role1 = a
        .role_allocations()
        .into_iter()
        .find(|s| s.role == "role1")
        .unwrap();
    assert_eq!(role1.allocated.scalar("cpus"), 24.0);
    assert_eq!(role1.dominant_share, 1.0);
    // Returning one labelled reservation frees exactly that one.
    a.recover(
        &fw("r1"),
        "role1",
        &ag("a1"),
        &cpus(8.0).into_reserved(&x),
        None,
        secs(1),
    );
    let left = a.allocation(&fw("r1"), "role1", &ag("a1"));
    assert_eq!(
        left,
        total.checked_sub(&cpus(8.0).into_reserved(&x)).unwrap()
    );
    // Returning cpus under a reservation the framework does not hold frees nothing.
    let z = labelled("role1", "z");
    a.recover(
        &fw("r1"),
        "role1",
        &ag("a1"),
        &cpus(8.0).into_reserved(&z),
        None,
        secs(1),
    );
    assert_eq!(a.allocation(&fw("r1"), "role1", &ag("a1")), left);
    ok(&a);
    let g = a.allocate(secs(2));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].resources, cpus(8.0).into_reserved(&x));
    ok(&a);
}

#[test]
fn declined_reservations_are_filtered_and_sub_roles_may_use_them() {
    let mut a = new_alloc();
    a.add_framework(fw("dev"), roles(&["eng/dev"]));
    a.add_framework(fw("ops"), roles(&["ops"]));
    a.add_agent(ag("a1"), r("cpus(eng):4;mem(eng):256"), vec![]);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(
        g[0].framework_id,
        fw("dev"),
        "eng's reservation serves eng/dev"
    );
    a.recover(
        &g[0].framework_id,
        &g[0].role,
        &g[0].agent_id,
        &g[0].resources,
        Some(secs(60)),
        secs(1),
    );
    assert!(
        a.allocate(secs(2)).is_empty(),
        "filtered for dev, never for ops"
    );
    ok(&a);
    let g = a.allocate(secs(62));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("dev"));
    ok(&a);
}

#[test]
fn used_reservations_are_accounted_on_add_agent() {
    let mut a = new_alloc();
    a.add_framework(fw("r1"), roles(&["role1"]));
    a.add_framework(fw("star"), FrameworkOptions::default());
    let resv = labelled("role1", "agent-1");
    let reserved = cpus(8.0).into_reserved(&resv);
    let total = r("cpus:8;mem:1024").checked_add(&reserved).unwrap();
    a.add_agent(
        ag("a1"),
        total,
        vec![(fw("r1"), "role1".into(), reserved.clone())],
    );
    assert_eq!(a.allocation(&fw("r1"), "role1", &ag("a1")), reserved);
    let g = a.allocate(secs(1));
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].framework_id, fw("star"), "r1's share is already 1/2");
    assert_eq!(g[0].resources, r("cpus:8;mem:1024"));
    ok(&a);
    // Used resources under a reservation the agent does not have are not accounted.
    let other = cpus(1.0).into_reserved(&labelled("role1", "elsewhere"));
    a.add_used(&fw("r1"), "role1", &ag("a1"), &other);
    assert_eq!(a.allocation(&fw("r1"), "role1", &ag("a1")), reserved);
    ok(&a);
}

#[test]
fn with_quota_reserved_resources_still_go_only_to_their_role() {
    let mut a = new_alloc();
    a.update_quota("q", QuotaConfig::guarantee_and_limit(&r("cpus:2")))
        .unwrap();
    a.add_framework(fw("fq"), roles(&["q"]));
    a.add_framework(fw("r1"), roles(&["role1"]));
    a.add_agent(ag("a1"), r("cpus(role1):8;cpus:4;mem:1024"), vec![]);
    let grants = a.allocate(secs(1));
    let mut got_reserved = false;
    for g in &grants {
        if g.framework_id == fw("fq") {
            assert!(!g.resources.has_reservations(), "{g:?}");
        } else {
            got_reserved |= g.resources.contains(&r("cpus(role1):8"));
        }
    }
    assert!(got_reserved, "{grants:?}");
    ok(&a);
}
