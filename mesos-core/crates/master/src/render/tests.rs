//! `stream_state` against `state_json`, on a snapshot with every optional field.

use super::*;
use crate::snapshot::AgentView;
use mesos_proto::ids::*;
use mesos_proto::v1::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The pieces of [`stream_state`] joined.
fn write_state(s: &Snapshot, out: &mut Vec<u8>) {
    stream_state(s, &mut |segment| out.extend_from_slice(&segment));
}

fn task(fw: &FrameworkId, agent: &AgentId, n: usize, state: TaskState) -> TaskRecord {
    let id = TaskId::new(format!("t{n}"));
    let mut info = TaskInfo::new(format!("task \"{n}\""), id.clone(), agent.clone());
    if n.is_multiple_of(2) {
        info.labels = Some(json!({"labels": [{"key": "k", "value": "v\n"}]}));
        info.container = Some(json!({"type": "DOCKER", "docker": {"image": "x"}}));
        info.discovery = Some(json!({"visibility": "FRAMEWORK"}));
        info.health_check = Some(json!({"type": "TCP"}));
        info.limits = Some(json!({"cpus": 2.5}));
        let mut cmd = CommandInfo::shell("sleep 1");
        cmd.user = Some("nobody".into());
        info.command = Some(cmd);
    }
    let mut status = TaskStatus::new(id, state);
    status.timestamp = Some(1.5 + n as f64);
    if n.is_multiple_of(3) {
        status.healthy = Some(n.is_multiple_of(2));
        status.labels = Some(json!({"labels": []}));
        status.container_status = Some(json!({"network_infos": []}));
    }
    TaskRecord {
        info,
        framework_id: fw.clone(),
        agent_id: agent.clone(),
        executor_id: (!n.is_multiple_of(2)).then(|| ExecutorId::new("e")),
        role: "*".into(),
        state,
        resources: Resources::parse_flag(if n.is_multiple_of(4) {
            "cpus:0.5;mem:32;ports:[31000-31001]"
        } else {
            "cpus:1;mem:0.25"
        })
        .unwrap(),
        statuses: if n.is_multiple_of(5) {
            vec![]
        } else {
            vec![status]
        },
        unacked_uuid: None,
        resources_recovered: false,
        unreachable_time: None,
    }
}

fn snapshot() -> Snapshot {
    let agent = |n: usize, status: AgentStatus| {
        let mut info: AgentInfo = serde_json::from_value(json!({
            "hostname": format!("h{n}"), "port": 5051, "resources": [],
            "attributes": [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                           {"name": "n", "type": "SCALAR", "scalar": {"value": 2.0}}],
        }))
        .unwrap();
        info.id = Some(AgentId::new(format!("S{n}")));
        if n == 1 {
            info.attributes.clear();
        }
        AgentView {
            record: AgentRecord {
                info,
                total: Resources::parse_flag(if n == 1 {
                    "cpus:4;mem:1024;ports:[1-10];cpus(role1):2;disk(eng/dev):5"
                } else {
                    "cpus:4;mem:1024;ports:[1-10]"
                })
                .unwrap(),
                conn: None,
                status,
                version: "1.11.0".into(),
                registered_time: 10.25,
                reregistered_time: (n == 0).then_some(11.0),
                missed_pongs: 0,
                pong_seen: true,
                next_ping: 0.0,
                tasks: Default::default(),
            },
            used: Resources::parse_flag("cpus:1.5;mem:64").unwrap(),
            offered: Resources::new(),
        }
    };
    let agents = vec![
        agent(0, AgentStatus::Active),
        agent(1, AgentStatus::Active),
        agent(2, AgentStatus::Recovered { deadline: 1.0 }),
        agent(3, AgentStatus::Unreachable { since: 1.0 }),
    ];
    let aid = AgentId::new("S0");
    let mut frameworks = Vec::new();
    for f in 0..3 {
        let fid = FrameworkId::new(format!("F{f}"));
        let mut info = FrameworkInfo::placeholder(fid.clone());
        info.name = format!("fw{f}");
        if f == 1 {
            info.capabilities = vec![Capability {
                kind: "MULTI_ROLE".into(),
            }];
            info.roles = vec!["a".into(), "b".into()];
            info.labels = Some(json!({"labels": [{"key": "x"}]}));
            info.principal = Some("p".into());
        }
        let mut fw = FrameworkRecord::new(info, 5.0);
        fw.reregistered_time = (f == 2).then_some(6.0);
        let states = [
            TaskState::TaskRunning,
            TaskState::TaskUnreachable,
            TaskState::TaskStaging,
            TaskState::TaskKilling,
            TaskState::TaskRunning,
            TaskState::TaskRunning,
        ];
        for (n, st) in states.into_iter().enumerate() {
            let t = task(&fid, &aid, n + 10 * f, st);
            fw.tasks.insert(t.info.task_id.clone(), Arc::new(t));
        }
        let done = task(&fid, &aid, 99, TaskState::TaskFinished);
        fw.completed_tasks.push_back(Arc::new(done));
        let exec: ExecutorInfo = serde_json::from_value(json!({
            "executor_id": {"value": "e"}, "command": {"value": "run", "shell": false}
        }))
        .unwrap();
        let mut execs = BTreeMap::new();
        execs.insert(
            exec.executor_id.clone(),
            ExecutorRecord {
                info: exec,
                resources: Resources::parse_flag("cpus:0.1;mem:32").unwrap(),
                role: "*".into(),
            },
        );
        fw.executors.insert(aid.clone(), execs);
        frameworks.push(fw);
    }
    let completed = vec![frameworks.pop().unwrap()];
    let offers = vec![OfferRecord {
        id: OfferId::new("O1"),
        framework_id: FrameworkId::new("F0"),
        agent_id: aid.clone(),
        role: "*".into(),
        resources: Resources::parse_flag("cpus:2;mem:100").unwrap(),
        expires: None,
    }];
    let master = MasterInfo {
        id: "m".into(),
        ip: 0,
        port: 5050,
        pid: Some("master@127.0.0.1:5050".into()),
        hostname: Some("localhost".into()),
        version: None,
        address: None,
        capabilities: vec![],
    };
    // A real (empty) master's snapshot, then the content above.
    let registry = crate::registry::Registry::default();
    let master = Master::new(MasterConfig::new(master), registry, 1.0);
    let flags = [("port".to_string(), "5050".to_string())].into();
    let mut s = Snapshot::take(&master, &flags, 3.0);
    s.frameworks = frameworks;
    s.completed_frameworks = completed;
    s.agents = agents;
    s.offers = offers;
    s
}

#[test]
fn written_state_is_the_value_state_byte_for_byte() {
    let s = snapshot();
    let mut written = Vec::new();
    write_state(&s, &mut written);
    let expected = serde_json::to_vec(&state_json(&s)).unwrap();
    assert_eq!(
        String::from_utf8(written).unwrap(),
        String::from_utf8(expected).unwrap()
    );
}

#[test]
fn reserved_resources_are_summed_by_role() {
    let state = state_json(&snapshot());
    let s1 = state["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "S1")
        .unwrap();
    assert_eq!(s1["resources"]["cpus"], json!(6.0));
    assert_eq!(s1["unreserved_resources"]["cpus"], json!(4.0));
    assert_eq!(s1["unreserved_resources"]["disk"], json!(0.0));
    assert_eq!(s1["reserved_resources"]["role1"]["cpus"], json!(2.0));
    assert_eq!(s1["reserved_resources"]["eng/dev"]["disk"], json!(5.0));
    let s0 = state["slaves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "S0")
        .unwrap();
    assert_eq!(s0["reserved_resources"], json!({}));
}

#[test]
fn a_large_state_written_in_chunks_is_the_value_state_byte_for_byte() {
    // Enough agents and tasks that they are written in chunks on several threads (where
    // there are several cores), with overlapping port ranges among the tasks.
    let mut s = snapshot();
    let fw = &mut s.frameworks[0];
    let fid = fw.id().clone();
    for n in 1000..11_000 {
        let state = if n % 7 == 0 {
            TaskState::TaskUnreachable
        } else {
            TaskState::TaskRunning
        };
        let mut t = task(&fid, &AgentId::new(format!("S{}", n % 50)), n, state);
        t.resources_recovered = n % 11 == 0;
        fw.tasks.insert(t.info.task_id.clone(), Arc::new(t));
    }
    let more: Vec<AgentView> = (0..5000)
        .map(|n| {
            let mut a = s.agents[0].clone();
            a.record.info.id = Some(AgentId::new(format!("X{n}")));
            a.record.info.hostname = format!("host-{n}");
            a
        })
        .collect();
    s.agents.extend(more);
    let mut written = Vec::new();
    write_state(&s, &mut written);
    let expected = serde_json::to_vec(&state_json(&s)).unwrap();
    assert!(written.len() > 1 << 20);
    assert!(
        written == expected,
        "written and Value forms differ (lengths {} and {})",
        written.len(),
        expected.len()
    );
}
