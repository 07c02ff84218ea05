use super::*;
use proptest::prelude::*;

#[test]
fn parses_the_text_flag() {
    let r = Resources::parse_flag(
        "cpus:4;mem:1024;ports:[31000-32000, 21000-24000];bugs(debug):{a,b};disk(*):5",
    )
    .unwrap();
    assert_eq!(r.scalar("cpus"), 4.0);
    assert_eq!(r.scalar("mem"), 1024.0);
    assert_eq!(r.scalar("disk"), 5.0);
    assert_eq!(
        r.ranges("ports").unwrap().to_string(),
        "[21000-24000, 31000-32000]"
    );
    // `name(role)` is a static reservation: not in the unreserved pool.
    assert_eq!(r.set("bugs"), None);
    let debug = Reservations::one(Reservation::new_static("debug")).unwrap();
    assert_eq!(
        r.reserved_with(&debug).flatten().set("bugs").unwrap().len(),
        2
    );
}

#[test]
fn parses_the_json_flag() {
    let r = Resources::parse_flag(
        r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2.5}},
            {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":3}]}}]"#,
    )
    .unwrap();
    assert_eq!(r.scalar("cpus"), 2.5);
    assert_eq!(r.ranges("ports").unwrap().len(), 3);
}

#[test]
fn rejects_bad_flags() {
    assert!(Resources::parse_flag("cpus:-1").is_err());
    assert!(Resources::parse_flag("cpus").is_err());
    assert!(Resources::parse_flag("ports:[5-1]").is_err());
    assert!(Resources::parse_flag("cpus:abc").is_err());
}

#[test]
fn subtraction_is_checked() {
    let total = Resources::parse_flag("cpus:1;mem:128;ports:[1-10]").unwrap();
    let used = Resources::parse_flag("cpus:0.5;ports:[3-4]").unwrap();
    let left = total.checked_sub(&used).unwrap();
    assert_eq!(left.scalar("cpus"), 0.5);
    assert_eq!(left.ranges("ports").unwrap().to_string(), "[1-2, 5-10]");
    assert_eq!(left.checked_sub(&used), Err(ResourceError::Insufficient));
    assert_eq!(left.checked_add(&used).unwrap(), total);
}

#[test]
fn summary_has_the_mesos_shape() {
    let r = Resources::parse_flag("cpus:2;mem:10;ports:[31000-32000]").unwrap();
    let s = r.summary();
    assert_eq!(s["disk"], json!(0.0));
    assert_eq!(s["ports"], json!("[31000-32000]"));
}

fn labels(n: usize, last: &str) -> Vec<Label> {
    let mut v: Vec<Label> = (0..n)
        .map(|i| Label::new(format!("key{i}"), format!("value{i}")))
        .collect();
    v.push(Label::new("unique", last));
    v
}

fn dynamic(role: &str, last_label: &str) -> Reservations {
    Reservations::one(Reservation::new_dynamic(
        role,
        Some("principal1"),
        labels(11, last_label),
    ))
    .unwrap()
}

fn cpus(n: f64) -> Resources {
    Resources::new().with_scalar("cpus", n)
}

#[test]
fn labels_distinguish_reservations() {
    let a = dynamic("role1", "a");
    let b = dynamic("role1", "b");
    assert_ne!(a, b);
    let ra = cpus(8.0).into_reserved(&a);
    let rb = cpus(8.0).into_reserved(&b);
    let both = ra.checked_add(&rb).unwrap();
    assert_eq!(
        both.reservations().count(),
        2,
        "different labels never merge"
    );
    assert_eq!(both.quantity("cpus"), 16.0);
    assert_eq!(both.scalar("cpus"), 0.0, "nothing is unreserved");
    assert!(both.contains(&ra) && both.contains(&rb));
    assert!(!ra.contains(&rb));
    assert_eq!(both.checked_sub(&ra).unwrap(), rb);
    // The same labels in another order are the same reservation.
    let mut shuffled = labels(11, "a");
    shuffled.reverse();
    let a2 = Reservations::one(Reservation::new_dynamic(
        "role1",
        Some("principal1"),
        shuffled,
    ))
    .unwrap();
    assert_eq!(a, a2);
    let merged = ra.checked_add(&cpus(2.0).into_reserved(&a2)).unwrap();
    assert_eq!(merged.reservations().count(), 1);
    assert_eq!(merged.reserved_with(&a).quantity("cpus"), 10.0);
}

#[test]
fn reserved_and_unreserved_stay_apart() {
    let r = dynamic("role1", "x");
    let total = cpus(8.0)
        .checked_add(&cpus(16.0).into_reserved(&r))
        .unwrap();
    assert_eq!(total.scalar("cpus"), 8.0);
    assert_eq!(total.quantity("cpus"), 24.0);
    // Unreserved cpus cannot be taken from reserved ones, nor the other way round.
    assert!(!total.contains(&cpus(9.0)));
    assert_eq!(
        total.checked_sub(&cpus(9.0)),
        Err(ResourceError::Insufficient)
    );
    assert!(!cpus(100.0).contains(&cpus(1.0).into_reserved(&r)));
    assert_eq!(
        cpus(100.0).checked_sub(&cpus(1.0).into_reserved(&r)),
        Err(ResourceError::Insufficient)
    );
    let left = total.checked_sub(&cpus(16.0).into_reserved(&r)).unwrap();
    assert_eq!(left, cpus(8.0));
    assert!(
        !left.has_reservations(),
        "an emptied reservation is dropped"
    );
    // Saturating subtraction never moves quantities between pools either.
    assert_eq!(total.saturating_sub(&cpus(100.0)), total.reserved());
}

#[test]
fn aggregation_keeps_reservations_apart() {
    let a = cpus(8.0).into_reserved(&dynamic("role1", "agent-1"));
    let b = cpus(8.0).into_reserved(&dynamic("role1", "agent-2"));
    let sum = a.aggregate(&b).aggregate(&a).aggregate(&cpus(1.0));
    assert_eq!(sum.reservations().count(), 2);
    assert_eq!(sum.quantity("cpus"), 25.0);
    assert_eq!(sum.flatten(), cpus(25.0));
    assert_eq!(sum.summary()["cpus"], json!(25.0));
}

#[test]
fn reserved_by_role_sums_each_role() {
    let r = cpus(1.0)
        .aggregate(&cpus(8.0).into_reserved(&dynamic("role1", "a")))
        .aggregate(&cpus(8.0).into_reserved(&dynamic("role1", "b")))
        .aggregate(
            &cpus(2.0).into_reserved(&Reservations::one(Reservation::new_static("r2")).unwrap()),
        );
    let by = r.reserved_by_role();
    assert_eq!(by.len(), 2);
    assert_eq!(by["role1"], cpus(16.0));
    assert_eq!(by["r2"], cpus(2.0));
    assert_eq!(r.unreserved(), cpus(1.0));
}

#[test]
fn reserved_and_sets_leaves_out_unreserved_scalars_and_ranges() {
    let r = Resources::parse_flag("cpus:1;ports:[1-5];bugs:{a};cpus(role1):2;ports(role1):[7-8]")
        .unwrap();
    let rest = r.reserved_and_sets();
    assert_eq!(
        rest,
        Resources::parse_flag("bugs:{a};cpus(role1):2;ports(role1):[7-8]").unwrap()
    );
    assert_eq!(
        rest.checked_add(&Resources::parse_flag("cpus:1;ports:[1-5]").unwrap())
            .unwrap(),
        r
    );
}

#[test]
fn allocatable_to_follows_the_role_tree() {
    let parent = Reservations::one(Reservation::new_static("eng")).unwrap();
    let other = Reservations::one(Reservation::new_static("engineering")).unwrap();
    let r = cpus(1.0)
        .checked_add(&cpus(2.0).into_reserved(&parent))
        .unwrap()
        .checked_add(&cpus(4.0).into_reserved(&other))
        .unwrap();
    assert_eq!(r.allocatable_to("eng").quantity("cpus"), 3.0);
    assert_eq!(r.allocatable_to("eng/dev").quantity("cpus"), 3.0);
    assert_eq!(r.allocatable_to("engineering").quantity("cpus"), 5.0);
    assert_eq!(r.allocatable_to("*").quantity("cpus"), 1.0);
    assert_eq!(r.allocatable_to("ops"), cpus(1.0));
}

#[test]
fn reservation_stacks_are_validated() {
    let dynamic = |role: &str| Reservation::new_dynamic(role, None, vec![]);
    assert!(Reservations::new(vec![]).is_err());
    assert!(Reservations::one(Reservation::new_static("*")).is_err());
    assert!(Reservations::one(Reservation::new_static("a//b")).is_err());
    let refined = Reservations::new(vec![Reservation::new_static("a"), dynamic("a/b")]).unwrap();
    assert!(refined.is_refined());
    assert_eq!(refined.role(), "a/b");
    assert!(refined.allocatable_to("a/b/c") && !refined.allocatable_to("a"));
    assert!(Reservations::new(vec![dynamic("a"), dynamic("b")]).is_err());
    assert!(Reservations::new(vec![dynamic("a"), Reservation::new_static("a/b")]).is_err());
}

#[test]
fn wire_round_trip_with_labels() {
    let r = dynamic("role1", "agent-7");
    let total = Resources::parse_flag("cpus:8;mem:4096;ports:[31000-32000]")
        .unwrap()
        .checked_add(&cpus(8.0).into_reserved(&r))
        .unwrap()
        .checked_add(
            &Resources::new()
                .with_ranges("ports", RangeSet::new([(40000, 40010)]))
                .into_reserved(&r),
        )
        .unwrap();
    let wire = total.to_wire(None);
    let json = serde_json::to_value(&wire).unwrap();
    let reserved_cpus = json
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cpus" && r.get("reservations").is_some())
        .unwrap();
    assert_eq!(reserved_cpus["reservations"][0]["type"], "DYNAMIC");
    assert_eq!(reserved_cpus["reservations"][0]["role"], "role1");
    assert_eq!(reserved_cpus["reservations"][0]["principal"], "principal1");
    let labels = reserved_cpus["reservations"][0]["labels"]["labels"]
        .as_array()
        .unwrap();
    assert_eq!(labels.len(), 12);
    assert!(labels.contains(&json!({"key": "unique", "value": "agent-7"})));
    assert!(reserved_cpus.get("role").is_none());
    let back: Vec<v1::Resource> = serde_json::from_value(json).unwrap();
    assert_eq!(Resources::from_wire(&back).unwrap(), total);

    // Pre-refinement format: `role` + `reservation{principal, labels}`.
    let legacy = total.to_wire(Some("*"));
    let lj = serde_json::to_value(&legacy).unwrap();
    let lc = lj
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cpus" && r["role"] == "role1")
        .unwrap();
    assert_eq!(lc["reservation"]["principal"], "principal1");
    assert_eq!(
        lc["reservation"]["labels"]["labels"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    assert!(lc.get("reservations").is_none());
    assert_eq!(Resources::from_wire(&legacy).unwrap(), total);
}

#[test]
fn reads_the_legacy_reservation_fields() {
    let list: Vec<v1::Resource> = serde_json::from_value(json!([
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "role": "web"},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 3}, "role": "web",
         "reservation": {"principal": "ops", "labels": {"labels": [{"key": "k", "value": "v"}]}}},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "*"},
    ]))
    .unwrap();
    let r = Resources::from_wire(&list).unwrap();
    assert_eq!(r.scalar("cpus"), 1.0);
    assert_eq!(r.quantity("cpus"), 6.0);
    let stat = Reservations::one(Reservation::new_static("web")).unwrap();
    let dynr = Reservations::one(Reservation::new_dynamic(
        "web",
        Some("ops"),
        vec![Label::new("k", "v")],
    ))
    .unwrap();
    assert_eq!(r.reserved_with(&stat).quantity("cpus"), 2.0);
    assert_eq!(r.reserved_with(&dynr).quantity("cpus"), 3.0);

    let bad = |v: Value| {
        let list: Vec<v1::Resource> = serde_json::from_value(v).unwrap();
        Resources::from_wire(&list).is_err()
    };
    assert!(
        bad(
            json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservations": [{"role": "a"}]}])
        ),
        "type is required"
    );
    assert!(bad(
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservations": [{"type": "DYNAMIC", "role": "*"}]}])
    ));
    assert!(bad(
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "role": "b", "reservations": [{"type": "DYNAMIC", "role": "a"}]}])
    ));
    assert!(
        bad(
            json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservation": {"principal": "p"}}])
        ),
        "a reservation needs a role"
    );
    assert!(bad(
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservations": [{"type": "DYNAMIC", "role": "a", "labels": {"labels": [{"value": "v"}]}}]}])
    ));
}

#[test]
fn static_reservations_in_the_flag() {
    let r = Resources::parse_flag("cpus(role1):8;cpus:4;mem(*):10;ports(role1):[1-5]").unwrap();
    let role1 = Reservations::one(Reservation::new_static("role1")).unwrap();
    assert_eq!(r.scalar("cpus"), 4.0);
    assert_eq!(r.quantity("cpus"), 12.0);
    assert_eq!(r.scalar("mem"), 10.0);
    assert_eq!(r.ranges("ports"), None);
    let reserved = r.reserved_with(&role1);
    assert_eq!(reserved.quantity("cpus"), 8.0);
    assert_eq!(reserved.flatten().ranges("ports").unwrap().len(), 5);
    assert_eq!(
        r.to_string(),
        "cpus:4; mem:10; cpus(reservations: [(STATIC,role1)]):8; ports(reservations: [(STATIC,role1)]):[1-5]"
    );
    let wire = serde_json::to_value(r.to_wire(None)).unwrap();
    assert!(wire.as_array().unwrap().contains(
        &json!({"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0},
            "reservations": [{"type": "STATIC", "role": "role1"}]})
    ));
    assert!(Resources::parse_flag("cpus(a//b):1").is_err());
    assert!(Resources::parse_flag("cpus(role1:1").is_err());
    assert!(Resources::parse_flag("(role1):1").is_err());
}

fn arb_resources() -> impl Strategy<Value = Resources> {
    (
        0u32..10_000,
        0u32..100_000,
        proptest::collection::vec((0u64..200, 0u64..20), 0..4),
    )
        .prop_map(|(c, m, ranges)| {
            Resources::new()
                .with_scalar("cpus", c as f64 / 1000.0)
                .with_scalar("mem", m as f64)
                .with_ranges(
                    "ports",
                    RangeSet::new(ranges.into_iter().map(|(b, l)| (b, b + l))),
                )
        })
}

/// Up to three parts, each unreserved or under one of three reservations (two differ in
/// their last label only).
fn arb_mixed() -> impl Strategy<Value = Resources> {
    proptest::collection::vec((arb_resources(), 0usize..4), 0..4).prop_map(|parts| {
        let keys = [
            dynamic("role1", "a"),
            dynamic("role1", "b"),
            Reservations::one(Reservation::new_static("role2")).unwrap(),
        ];
        parts.into_iter().fold(Resources::new(), |acc, (r, k)| {
            let r = if k == 0 {
                r
            } else {
                r.into_reserved(&keys[k - 1])
            };
            acc.aggregate(&r)
        })
    })
}

proptest! {
    #[test]
    fn mixed_add_then_sub_round_trips(a in arb_mixed(), b in arb_mixed()) {
        let b = b.saturating_sub(&a);
        let sum = a.checked_add(&b).unwrap();
        prop_assert!(sum.contains(&a));
        prop_assert!(sum.contains(&b));
        prop_assert_eq!(sum.checked_sub(&b).unwrap(), a.clone());
        prop_assert_eq!(sum.checked_sub(&a).unwrap(), b.clone());
        for name in ["cpus", "mem"] {
            prop_assert_eq!(
                sum.quantity_milli(name),
                a.quantity_milli(name) + b.quantity_milli(name)
            );
        }
        // The unreserved part alone never contains a reserved remainder.
        if b.has_reservations() {
            prop_assert!(!sum.unreserved().contains(&b));
        }
    }

    #[test]
    fn mixed_wire_round_trips(a in arb_mixed()) {
        prop_assert_eq!(Resources::from_wire(&a.to_wire(None)).unwrap(), a.clone());
        prop_assert_eq!(Resources::from_wire(&a.to_wire(Some("*"))).unwrap(), a);
    }

    #[test]
    fn add_then_sub_round_trips(a in arb_resources(), b in arb_resources()) {
        let b = b.saturating_sub(&a);
        let sum = a.checked_add(&b).unwrap();
        prop_assert!(sum.contains(&a));
        prop_assert!(sum.contains(&b));
        prop_assert_eq!(sum.checked_sub(&b).unwrap(), a);
    }

    #[test]
    fn add_assign_matches_checked_add(a in arb_resources(), b in arb_resources()) {
        let mut x = a.clone();
        match a.checked_add(&b) {
            Ok(sum) => {
                x.try_add_assign(&b).unwrap();
                prop_assert_eq!(x, sum);
            }
            Err(_) => {
                prop_assert!(x.try_add_assign(&b).is_err());
                prop_assert_eq!(x, a);
            }
        }
    }

    #[test]
    fn wire_round_trips(a in arb_resources()) {
        prop_assert_eq!(Resources::from_wire(&a.to_wire(Some("*"))).unwrap(), a);
    }
}
