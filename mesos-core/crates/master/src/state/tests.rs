//! Deterministic tests of the master state machine: no sockets, no clock.

use super::*;
use mesos_proto::internal::{AgentToMaster, TaskSnapshot};
use mesos_proto::scheduler::{Accept, Acknowledge, Decline, Kill, ReconcileTask, Roles, Subscribe};
use serde_json::json;

const UUID: &str = "D2wrGp0+TFuKfx4tPEtaaQ==";

pub(super) fn master() -> Master {
    let info = MasterInfo {
        id: "M".into(),
        ip: 0,
        port: 5050,
        pid: Some("master@127.0.0.1:5050".into()),
        hostname: Some("localhost".into()),
        version: Some("1.11.0".into()),
        address: None,
        capabilities: vec![],
    };
    Master::new(MasterConfig::new(info), Registry::default(), 1000.0)
}

fn agent_info(id: Option<&str>) -> AgentInfo {
    let mut info: AgentInfo =
        serde_json::from_value(json!({"hostname": "agent1", "port": 5051})).unwrap();
    info.resources = Resources::parse_flag("cpus:4;mem:4096;disk:1000;ports:[31000-32000]")
        .unwrap()
        .to_wire(None);
    info.id = id.map(AgentId::new);
    info
}

fn fw_info(caps: &[&str], failover: f64) -> FrameworkInfo {
    let caps: Vec<_> = caps.iter().map(|c| json!({"type": c})).collect();
    serde_json::from_value(
        json!({"user": "u", "name": "fw", "failover_timeout": failover, "capabilities": caps}),
    )
    .unwrap()
}

pub(super) fn events(out: &Outputs, stream: &str) -> Vec<Event> {
    out.effects
        .iter()
        .filter_map(|o| match o {
            Output::ToFramework { stream: s, event } if s == stream => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn agent_msgs(out: &Outputs) -> Vec<MasterToAgent> {
    out.effects
        .iter()
        .filter_map(|o| match o {
            Output::ToAgent { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

struct Harness {
    m: Master,
    now: f64,
    agent: AgentId,
    fid: FrameworkId,
}

impl Harness {
    fn new(caps: &[&str]) -> Harness {
        let mut m = master();
        let now = 1000.0;
        let out = m.handle(
            now,
            Input::AgentConnect {
                conn: 1,
                registration: Registration::Register {
                    agent_info: agent_info(None),
                    version: "1.11.0".into(),
                },
            },
        );
        assert!(
            matches!(out.effects[0], Output::Persist(RegistryOp::AdmitAgent(_))),
            "persist first"
        );
        let agent = match &agent_msgs(&out)[0] {
            MasterToAgent::Registered { agent_id, .. } => agent_id.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(agent.value, "M-S0");
        let out = m.handle(now, subscribe_input("s1", fw_info(caps, 60.0)));
        assert!(matches!(
            out.effects[0],
            Output::Persist(RegistryOp::PutFramework(_))
        ));
        let evs = events(&out, "s1");
        let fid = match &evs[0] {
            Event::Subscribed(s) => s.framework_id.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(evs[1], Event::Heartbeat);
        assert_eq!(fid.value, "M-0000");
        Harness { m, now, agent, fid }
    }

    fn call(&mut self, call: Call) -> Outputs {
        self.m.handle(
            self.now,
            Input::Scheduler {
                stream: Some("s1".into()),
                framework_id: Some(self.fid.clone()),
                call,
            },
        )
    }

    fn tick(&mut self, secs: f64) -> Outputs {
        self.now += secs;
        self.m.handle(self.now, Input::Tick)
    }

    fn offers(&mut self) -> Vec<Offer> {
        let out = self.tick(1.0);
        offers_in(&out)
    }

    fn launch(&mut self, offer: &Offer, task_id: &str, res: &str) -> Outputs {
        let task = json!({
            "name": task_id, "task_id": {"value": task_id}, "agent_id": offer.agent_id,
            "resources": Resources::parse_flag(res).unwrap().to_wire(None),
            "command": {"value": "sleep 10"}
        });
        let op: Operation =
            serde_json::from_value(json!({"type": "LAUNCH", "launch": {"task_infos": [task]}}))
                .unwrap();
        self.call(Call::Accept(Accept {
            offer_ids: vec![offer.id.clone()],
            operations: vec![op],
            filters: None,
        }))
    }

    fn agent_update(&mut self, task: &str, state: TaskState) -> Outputs {
        self.agent_update_latest(task, state, None)
    }

    /// An update with the agent's latest state of the task beside it.
    fn agent_update_latest(
        &mut self,
        task: &str,
        state: TaskState,
        latest_state: Option<TaskState>,
    ) -> Outputs {
        let mut status = TaskStatus::new(TaskId::new(task), state).with_source("SOURCE_EXECUTOR");
        status.uuid = Some(UUID.into());
        self.m.handle(
            self.now,
            Input::AgentMessage {
                envelope: AgentEnvelope {
                    agent_id: self.agent.clone(),
                    message: AgentToMaster::StatusUpdate {
                        framework_id: self.fid.clone(),
                        status,
                        latest_state,
                    },
                },
            },
        )
    }
}

fn subscribe_input(stream: &str, info: FrameworkInfo) -> Input {
    Input::Scheduler {
        stream: Some(stream.into()),
        framework_id: info.id.clone(),
        call: Call::Subscribe(Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
            offer_constraints: None,
        }),
    }
}

fn updates(out: &Outputs) -> Vec<TaskStatus> {
    events(out, "s1")
        .into_iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.status),
            _ => None,
        })
        .collect()
}

#[test]
fn offers_whole_agent_in_pre_refinement_format() {
    let mut h = Harness::new(&[]);
    let offers = h.offers();
    assert_eq!(offers.len(), 1);
    let o = &offers[0];
    assert_eq!(o.id.value, "M-O1");
    assert!(o.allocation_info.is_none());
    assert!(o.resources.iter().all(|r| r.role.as_deref() == Some("*")));
    let res = Resources::from_wire(&o.resources).unwrap();
    assert_eq!(res.scalar("cpus"), 4.0);
    // Nothing more is offered while the offer is outstanding.
    assert!(h.offers().is_empty());
}

#[test]
fn multi_role_frameworks_see_allocation_info() {
    let mut m = master();
    m.handle(
        0.0,
        Input::AgentConnect {
            conn: 1,
            registration: Registration::Register {
                agent_info: agent_info(None),
                version: "1.11.0".into(),
            },
        },
    );
    let mut info = fw_info(&["MULTI_ROLE"], 0.0);
    info.roles = vec!["eng".into()];
    m.handle(0.0, subscribe_input("s", info));
    let out = m.handle(1.0, Input::Tick);
    let offer = events(&out, "s")
        .into_iter()
        .find_map(|e| match e {
            Event::Offers(o) => Some(o.offers[0].clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(offer.allocation_info.unwrap().role.as_deref(), Some("eng"));
    assert!(offer.resources.iter().all(|r| r.allocation_info.is_some()));
}

#[test]
fn launch_status_ack_and_completion() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    let out = h.launch(&offer, "t1", "cpus:1;mem:128");
    assert_eq!(out.reply, Reply::Accepted);
    let run = agent_msgs(&out);
    assert!(matches!(&run[0], MasterToAgent::RunTask { task, .. } if task.task_id.value == "t1"));
    assert_eq!(
        h.m.frameworks[&h.fid].tasks[&TaskId::new("t1")].state,
        TaskState::TaskStaging
    );

    let out = h.agent_update("t1", TaskState::TaskRunning);
    let ups = updates(&out);
    assert_eq!(ups[0].state, TaskState::TaskRunning);
    assert_eq!(ups[0].uuid.as_deref(), Some(UUID));
    assert_eq!(ups[0].agent_id.as_ref(), Some(&h.agent));

    // The unused part of the offer comes back after the 5 s default filter.
    assert!(h.offers().is_empty());
    let again = {
        h.tick(3.5);
        h.offers()
    };
    assert_eq!(again.len(), 1);
    assert_eq!(
        Resources::from_wire(&again[0].resources)
            .unwrap()
            .scalar("cpus"),
        3.0
    );

    h.agent_update("t1", TaskState::TaskFinished);
    let out = h.call(Call::Acknowledge(Acknowledge {
        agent_id: h.agent.clone(),
        task_id: TaskId::new("t1"),
        uuid: UUID.into(),
    }));
    assert!(
        matches!(&agent_msgs(&out)[0], MasterToAgent::Acknowledge { uuid, .. } if uuid == UUID)
    );
    let fw = &h.m.frameworks[&h.fid];
    assert!(fw.tasks.is_empty());
    assert_eq!(fw.completed_tasks.len(), 1);
}

#[test]
fn an_older_update_never_moves_a_task_back_from_its_latest_state() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.launch(&offer, "t1", "cpus:1;mem:128");
    let state = |h: &Harness| h.m.frameworks[&h.fid].tasks[&TaskId::new("t1")].state;
    // RUNNING delivered while the agent already knows the task FAILED: the master records
    // FAILED (and frees the resources) but forwards the RUNNING update as it is.
    let out = h.agent_update_latest("t1", TaskState::TaskRunning, Some(TaskState::TaskFailed));
    assert_eq!(updates(&out)[0].state, TaskState::TaskRunning);
    assert_eq!(state(&h), TaskState::TaskFailed);
    // Acknowledging the RUNNING update does not complete the task: FAILED is still to come.
    h.call(Call::Acknowledge(Acknowledge {
        agent_id: h.agent.clone(),
        task_id: TaskId::new("t1"),
        uuid: UUID.into(),
    }));
    assert!(h.m.frameworks[&h.fid]
        .tasks
        .contains_key(&TaskId::new("t1")));
    // A terminal task stays terminal, even for an update without `latest_state`.
    h.agent_update("t1", TaskState::TaskRunning);
    assert_eq!(state(&h), TaskState::TaskFailed);
    h.agent_update_latest("t1", TaskState::TaskFailed, Some(TaskState::TaskFailed));
    h.call(Call::Acknowledge(Acknowledge {
        agent_id: h.agent.clone(),
        task_id: TaskId::new("t1"),
        uuid: UUID.into(),
    }));
    let fw = &h.m.frameworks[&h.fid];
    assert!(fw.tasks.is_empty());
    assert_eq!(fw.completed_tasks[0].state, TaskState::TaskFailed);
}

#[test]
fn invalid_tasks_get_task_error_and_bad_offers_task_lost() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    let out = h.launch(&offer, "big", "cpus:100;mem:1");
    let ups = updates(&out);
    assert_eq!(ups[0].state, TaskState::TaskError);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_TASK_INVALID"));
    assert!(ups[0].uuid.is_none());
    // The offer was used up by that ACCEPT.
    let out = h.launch(&offer, "t2", "cpus:1;mem:1");
    let ups = updates(&out);
    assert_eq!(ups[0].state, TaskState::TaskLost);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_INVALID_OFFERS"));
}

#[test]
fn tasks_with_an_invalid_health_check_get_task_error() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    let task = |id: &str, check: serde_json::Value| {
        json!({
            "name": id, "task_id": {"value": id}, "agent_id": offer.agent_id,
            "resources": Resources::parse_flag("cpus:1;mem:1").unwrap().to_wire(None),
            "command": {"value": "sleep 10"}, "health_check": check
        })
    };
    let op: Operation = serde_json::from_value(json!({"type": "LAUNCH", "launch": {"task_infos": [
        task("bad", json!({"type": "HTTP", "tcp": {"port": 80}})),
        task("good", json!({"type": "TCP", "tcp": {"port": 80}, "interval_seconds": 1})),
    ]}}))
    .unwrap();
    let out = h.call(Call::Accept(Accept {
        offer_ids: vec![offer.id.clone()],
        operations: vec![op],
        filters: None,
    }));
    let ups = updates(&out);
    assert_eq!(ups.len(), 1, "{ups:?}");
    assert_eq!(ups[0].task_id.value, "bad");
    assert_eq!(ups[0].state, TaskState::TaskError);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_TASK_INVALID"));
    let msg = ups[0].message.as_deref().unwrap();
    assert!(
        msg.starts_with("Task's health check is invalid: Expecting 'http'"),
        "{msg}"
    );
    assert!(h.m.frameworks[&h.fid]
        .tasks
        .contains_key(&TaskId::new("good")));
}

#[test]
fn partition_aware_frameworks_get_task_dropped_for_bad_offers() {
    let mut h = Harness::new(&["PARTITION_AWARE"]);
    let offer = h.offers().remove(0);
    h.call(Call::Decline(Decline {
        offer_ids: vec![offer.id.clone()],
        filters: None,
    }));
    let ups = updates(&h.launch(&offer, "t", "cpus:1"));
    assert_eq!(ups[0].state, TaskState::TaskDropped);
}

/// The offers sent to the framework's stream in `out`.
fn offers_in(out: &Outputs) -> Vec<Offer> {
    events(out, "s1")
        .into_iter()
        .flat_map(|e| match e {
            Event::Offers(o) => o.offers,
            _ => vec![],
        })
        .collect()
}

#[test]
fn decline_filters_suppress_and_revive() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.call(Call::Decline(Decline {
        offer_ids: vec![offer.id.clone()],
        filters: Some(Filters {
            refuse_seconds: Some(100.0),
        }),
    }));
    h.tick(50.0);
    assert!(h.offers().is_empty(), "filtered for 100 s");
    // Offers follow a revive at once, not at the next periodic allocation.
    let out = h.call(Call::Revive(Roles::default()));
    assert_eq!(offers_in(&out).len(), 1, "revive clears filters");
    let offer = h.m.offers.keys().next().cloned().unwrap();
    h.call(Call::Suppress(Roles::default()));
    h.call(Call::Decline(Decline {
        offer_ids: vec![offer],
        filters: Some(Filters {
            refuse_seconds: Some(0.0),
        }),
    }));
    h.tick(10.0);
    assert!(h.offers().is_empty(), "suppressed");
    let out = h.call(Call::Revive(Roles::default()));
    assert_eq!(offers_in(&out).len(), 1);
}

#[test]
fn reconciliation_answers_like_mesos() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.launch(&offer, "t1", "cpus:1");
    h.agent_update("t1", TaskState::TaskRunning);
    let ups = updates(&h.call(Call::Reconcile(Default::default())));
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::TaskRunning);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_RECONCILIATION"));
    assert!(ups[0].uuid.is_none());
    let ups = updates(&h.call(Call::Reconcile(mesos_proto::scheduler::Reconcile {
        tasks: vec![
            ReconcileTask {
                task_id: TaskId::new("nope"),
                agent_id: Some(h.agent.clone()),
            },
            ReconcileTask {
                task_id: TaskId::new("nope2"),
                agent_id: Some(AgentId::new("unknown")),
            },
        ],
    })));
    // Non-partition-aware: GONE and UNKNOWN both read TASK_LOST.
    assert_eq!(ups.len(), 2);
    assert!(ups.iter().all(|u| u.state == TaskState::TaskLost));
    // KILL of an unknown task is an explicit reconciliation.
    let ups = updates(&h.call(Call::Kill(Kill {
        task_id: TaskId::new("ghost"),
        agent_id: None,
        kill_policy: None,
    })));
    assert_eq!(ups[0].state, TaskState::TaskLost);
}

#[test]
fn stream_checks_and_failover() {
    let mut h = Harness::new(&[]);
    let out = h.m.handle(
        h.now,
        Input::Scheduler {
            stream: Some("wrong".into()),
            framework_id: Some(h.fid.clone()),
            call: Call::Teardown,
        },
    );
    assert!(matches!(out.reply, Reply::Error(400, _)));
    let out = h.m.handle(
        h.now,
        Input::Scheduler {
            stream: Some("s1".into()),
            framework_id: Some(FrameworkId::new("other")),
            call: Call::Teardown,
        },
    );
    assert!(
        matches!(out.reply, Reply::Error(400, ref m) if m.contains("Framework cannot be found"))
    );
    // A second SUBSCRIBE with the ID fails the first stream over.
    let mut info = fw_info(&[], 60.0);
    info.id = Some(h.fid.clone());
    let out = h.m.handle(h.now, subscribe_input("s2", info));
    let old = events(&out, "s1");
    assert!(matches!(&old[0], Event::Error(e) if e.message == "Framework failed over"));
    assert!(out
        .effects
        .iter()
        .any(|o| matches!(o, Output::CloseStream { stream } if stream == "s1")));
    assert!(matches!(&events(&out, "s2")[0], Event::Subscribed(s) if s.framework_id == h.fid));
    // The old stream is now refused.
    let out = h.call(Call::Teardown);
    assert!(matches!(out.reply, Reply::Error(400, _)));
}

#[test]
fn disconnect_then_failover_timeout_removes_framework() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.launch(&offer, "t1", "cpus:1");
    h.m.handle(
        h.now,
        Input::StreamClosed {
            stream: "s1".into(),
        },
    );
    let fw = &h.m.frameworks[&h.fid];
    assert!(!fw.connected() && !fw.active);
    // Calls while disconnected: 403.
    assert!(matches!(h.call(Call::Teardown).reply, Reply::Error(403, _)));
    let out = h.tick(30.0);
    assert!(!agent_msgs(&out)
        .iter()
        .any(|m| matches!(m, MasterToAgent::ShutdownFramework { .. })));
    let out = h.tick(31.0);
    assert!(agent_msgs(&out)
        .iter()
        .any(|m| matches!(m, MasterToAgent::ShutdownFramework { .. })));
    assert!(!h.m.frameworks.contains_key(&h.fid));
    assert!(out
        .effects
        .iter()
        .any(|o| matches!(o, Output::Persist(RegistryOp::RemoveFramework(_)))));
    // Re-subscribing with the removed ID is refused.
    let mut info = fw_info(&[], 60.0);
    info.id = Some(h.fid.clone());
    let out = h.m.handle(h.now, subscribe_input("s3", info));
    assert!(
        matches!(&events(&out, "s3")[0], Event::Error(e) if e.message == "Framework has been removed")
    );
}

#[test]
fn lost_agent_makes_tasks_unreachable_or_lost() {
    for (caps, expected) in [
        (vec![], TaskState::TaskLost),
        (vec!["PARTITION_AWARE"], TaskState::TaskUnreachable),
    ] {
        let mut h = Harness::new(&caps);
        let offer = h.offers().remove(0);
        h.launch(&offer, "t1", "cpus:1");
        h.agent_update("t1", TaskState::TaskRunning);
        h.m.handle(h.now, Input::AgentDisconnected { conn: 1 });
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.extend(updates(&h.tick(15.0)));
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].state, expected);
        assert_eq!(seen[0].reason.as_deref(), Some("REASON_SLAVE_REMOVED"));
        assert!(seen[0].unreachable_time.is_some());
        // The agent comes back with its task: reconciliation reports it running again.
        let snap = TaskSnapshot {
            framework_id: h.fid.clone(),
            executor_id: ExecutorId::new("t1"),
            task: h.m.frameworks[&h.fid].tasks[&TaskId::new("t1")]
                .info
                .clone(),
            state: TaskState::TaskRunning,
            status: None,
        };
        h.m.handle(
            h.now,
            Input::AgentConnect {
                conn: 2,
                registration: Registration::Reregister {
                    agent_info: agent_info(Some("M-S0")),
                    version: "1.11.0".into(),
                    tasks: vec![snap],
                    executors: vec![],
                    frameworks: vec![],
                },
            },
        );
        let ups = updates(&h.call(Call::Reconcile(Default::default())));
        assert_eq!(ups[0].state, TaskState::TaskRunning);
    }
}

#[test]
fn master_restart_recovers_registry_and_waits_for_agents() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.launch(&offer, "t1", "cpus:1");
    h.agent_update("t1", TaskState::TaskRunning);
    let registry = h.m.registry.clone();
    assert_eq!(registry.agents.len(), 1);
    assert_eq!(registry.frameworks.len(), 1);

    let mut m2 = Master::new(h.m.config.clone(), registry, 2000.0);
    // The framework re-subscribes with its ID before the agent is back: an explicit
    // reconciliation of its task gets no answer while the agent is still recovering.
    let mut info = fw_info(&[], 60.0);
    info.id = Some(h.fid.clone());
    m2.handle(2000.0, subscribe_input("n1", info));
    let out = m2.handle(
        2000.0,
        Input::Scheduler {
            stream: Some("n1".into()),
            framework_id: Some(h.fid.clone()),
            call: Call::Reconcile(mesos_proto::scheduler::Reconcile {
                tasks: vec![ReconcileTask {
                    task_id: TaskId::new("t1"),
                    agent_id: Some(h.agent.clone()),
                }],
            }),
        },
    );
    assert!(events(&out, "n1").is_empty());
    let task = h.m.frameworks[&h.fid].tasks[&TaskId::new("t1")]
        .info
        .clone();
    m2.handle(
        2001.0,
        Input::AgentConnect {
            conn: 7,
            registration: Registration::Reregister {
                agent_info: agent_info(Some("M-S0")),
                version: "1.11.0".into(),
                tasks: vec![TaskSnapshot {
                    framework_id: h.fid.clone(),
                    executor_id: ExecutorId::new("t1"),
                    task,
                    state: TaskState::TaskRunning,
                    status: None,
                }],
                executors: vec![],
                frameworks: vec![],
            },
        },
    );
    let out = m2.handle(
        2001.0,
        Input::Scheduler {
            stream: Some("n1".into()),
            framework_id: Some(h.fid.clone()),
            call: Call::Reconcile(Default::default()),
        },
    );
    let ups = updates_on(&out, "n1");
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, TaskState::TaskRunning);
    // The task's resources are accounted: the next offer has 3 cpus.
    let out = m2.handle(2002.0, Input::Tick);
    let offer = events(&out, "n1")
        .into_iter()
        .find_map(|e| match e {
            Event::Offers(o) => Some(o.offers[0].clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        Resources::from_wire(&offer.resources)
            .unwrap()
            .scalar("cpus"),
        3.0
    );
}

fn updates_on(out: &Outputs, stream: &str) -> Vec<TaskStatus> {
    events(out, stream)
        .into_iter()
        .filter_map(|e| match e {
            Event::Update(u) => Some(u.status),
            _ => None,
        })
        .collect()
}

#[test]
fn heartbeats_every_interval() {
    let mut h = Harness::new(&[]);
    let out = h.tick(14.0);
    assert!(!events(&out, "s1").contains(&Event::Heartbeat));
    let out = h.tick(1.5);
    assert!(events(&out, "s1").contains(&Event::Heartbeat));
}

#[test]
fn offer_timeout_rescinds() {
    let mut m = master();
    m.config.offer_timeout = Some(10.0);
    m.handle(
        0.0,
        Input::AgentConnect {
            conn: 1,
            registration: Registration::Register {
                agent_info: agent_info(None),
                version: "1.11.0".into(),
            },
        },
    );
    m.handle(0.0, subscribe_input("s", fw_info(&[], 0.0)));
    m.handle(1.0, Input::Tick);
    let out = m.handle(12.0, Input::Tick);
    assert!(events(&out, "s")
        .iter()
        .any(|e| matches!(e, Event::Rescind(_))));
}

#[test]
fn invalid_framework_info_is_refused_on_the_stream() {
    let mut m = master();
    let mut info = fw_info(&[], 0.0);
    info.roles = vec!["a".into()];
    let out = m.handle(0.0, subscribe_input("s", info));
    assert!(matches!(&events(&out, "s")[0], Event::Error(_)));
    let mut info = fw_info(&[], 0.0);
    info.role = Some("/bad".into());
    let out = m.handle(0.0, subscribe_input("s", info));
    assert!(matches!(&events(&out, "s")[0], Event::Error(_)));
    assert!(m.frameworks.is_empty());
}

#[test]
fn launch_on_a_disconnected_agent_is_lost_not_stuck_staging() {
    let mut h = Harness::new(&[]);
    let offer = h.offers().remove(0);
    h.m.handle(h.now, Input::AgentDisconnected { conn: 1 });
    let out = h.launch(&offer, "t1", "cpus:1");
    assert!(agent_msgs(&out).is_empty());
    let ups = updates(&out);
    assert_eq!(ups[0].state, TaskState::TaskLost);
    assert_eq!(ups[0].reason.as_deref(), Some("REASON_AGENT_DISCONNECTED"));
    assert!(h.m.frameworks[&h.fid].tasks.is_empty());
}
