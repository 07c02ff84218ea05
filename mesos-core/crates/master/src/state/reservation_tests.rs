//! Reserved resources through the master: an agent with a static reservation
//! (`cpus(role1):8` in its `--resources`), offers in both wire formats, and a task launched
//! on the reserved cpus.

use super::tests::{events, master};
use super::*;
use serde_json::json;

fn subscribe(m: &mut Master, stream: &str, caps: &[&str], role: &str) -> FrameworkId {
    let caps: Vec<_> = caps.iter().map(|c| json!({"type": c})).collect();
    let mut info: FrameworkInfo = serde_json::from_value(
        json!({"user": "u", "name": stream, "failover_timeout": 0.0, "capabilities": caps}),
    )
    .unwrap();
    info.role = Some(role.into());
    let out = m.handle(
        0.0,
        Input::Scheduler {
            stream: Some(stream.into()),
            framework_id: None,
            call: Call::Subscribe(mesos_proto::scheduler::Subscribe {
                framework_info: info,
                suppressed_roles: vec![],
                offer_constraints: None,
            }),
        },
    );
    events(&out, stream)
        .into_iter()
        .find_map(|e| match e {
            Event::Subscribed(s) => Some(s.framework_id),
            _ => None,
        })
        .unwrap()
}

fn offers(out: &Outputs, stream: &str) -> Vec<Offer> {
    events(out, stream)
        .into_iter()
        .flat_map(|e| match e {
            Event::Offers(o) => o.offers,
            _ => vec![],
        })
        .collect()
}

fn add_agent(m: &mut Master, flag: &str) {
    let mut info: AgentInfo =
        serde_json::from_value(json!({"hostname": "agent1", "port": 5051})).unwrap();
    info.resources = Resources::parse_flag(flag).unwrap().to_wire(None);
    m.handle(
        0.0,
        Input::AgentConnect {
            conn: 1,
            registration: Registration::Register {
                agent_info: info,
                version: "1.11.0".into(),
            },
        },
    );
}

#[test]
fn a_static_reservation_is_offered_to_its_role_in_both_formats() {
    let mut m = master();
    add_agent(&mut m, "cpus(role1):8;cpus:2;mem:1024");
    let star = subscribe(&mut m, "star", &[], "*");
    let out = m.handle(1.0, Input::Tick);
    let o = offers(&out, "star");
    assert_eq!(o.len(), 1);
    let got = Resources::from_wire(&o[0].resources).unwrap();
    assert_eq!(got, Resources::parse_flag("cpus:2;mem:1024").unwrap());
    assert_eq!(o[0].framework_id, star);

    // Pre-refinement framework of role1: `role: "role1"`, no `reservations`.
    subscribe(&mut m, "old", &[], "role1");
    let out = m.handle(2.0, Input::Tick);
    let o = offers(&out, "old");
    assert_eq!(o.len(), 1, "{:?}", out.effects);
    let wire = serde_json::to_value(&o[0].resources).unwrap();
    assert_eq!(
        wire,
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 8.0}, "role": "role1"}])
    );
    assert_eq!(
        Resources::from_wire(&o[0].resources).unwrap(),
        Resources::parse_flag("cpus(role1):8").unwrap()
    );
}

#[test]
fn refinement_frameworks_get_reservations_and_launch_on_them() {
    let mut m = master();
    add_agent(&mut m, "cpus(role1):8;mem(role1):512");
    let fid = subscribe(&mut m, "new", &["RESERVATION_REFINEMENT"], "role1");
    let out = m.handle(1.0, Input::Tick);
    let o = offers(&out, "new");
    assert_eq!(o.len(), 1);
    let wire = serde_json::to_value(&o[0].resources).unwrap();
    assert!(wire.as_array().unwrap().iter().all(|r| {
        r.get("role").is_none() && r["reservations"] == json!([{"type": "STATIC", "role": "role1"}])
    }));

    // A task on the reserved resources, named with their reservation, is launched.
    let task = json!({
        "name": "t", "task_id": {"value": "t"}, "agent_id": o[0].agent_id,
        "resources": Resources::parse_flag("cpus(role1):1;mem(role1):64").unwrap().to_wire(None),
        "command": {"value": "sleep 10"}
    });
    let op: Operation =
        serde_json::from_value(json!({"type": "LAUNCH", "launch": {"task_infos": [task]}}))
            .unwrap();
    let out = m.handle(
        1.0,
        Input::Scheduler {
            stream: Some("new".into()),
            framework_id: Some(fid.clone()),
            call: Call::Accept(mesos_proto::scheduler::Accept {
                offer_ids: vec![o[0].id.clone()],
                operations: vec![op],
                filters: None,
            }),
        },
    );
    assert!(
        out.effects.iter().any(|e| matches!(
            e,
            Output::ToAgent {
                message: MasterToAgent::RunTask { .. },
                ..
            }
        )),
        "{:?}",
        out.effects
    );

    // The same cpus named as unreserved are not in the offer: the task is refused. (The
    // rest of the first offer was declined with the default 5 s filter.)
    let out = m.handle(10.0, Input::Tick);
    let o = offers(&out, "new");
    assert_eq!(o.len(), 1, "the rest is offered again");
    let task = json!({
        "name": "u", "task_id": {"value": "u"}, "agent_id": o[0].agent_id,
        "resources": Resources::parse_flag("cpus:1;mem:64").unwrap().to_wire(None),
        "command": {"value": "sleep 10"}
    });
    let op: Operation =
        serde_json::from_value(json!({"type": "LAUNCH", "launch": {"task_infos": [task]}}))
            .unwrap();
    let out = m.handle(
        10.0,
        Input::Scheduler {
            stream: Some("new".into()),
            framework_id: Some(fid),
            call: Call::Accept(mesos_proto::scheduler::Accept {
                offer_ids: vec![o[0].id.clone()],
                operations: vec![op],
                filters: None,
            }),
        },
    );
    assert!(!out.effects.iter().any(|e| matches!(
        e,
        Output::ToAgent {
            message: MasterToAgent::RunTask { .. },
            ..
        }
    )));
    let refused = events(&out, "new").into_iter().any(|e| match e {
        Event::Update(u) => u.status.state == TaskState::TaskError,
        _ => false,
    });
    assert!(refused, "{:?}", out.effects);
}
