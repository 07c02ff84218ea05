//! Unit tests of the agent state machine.

use crate::agent::Agent;
use crate::state::*;
use mesos_proto::executor::{self as ex, Call, CallType, Event};
use mesos_proto::ids::*;
use mesos_proto::internal::{AgentToMaster, MasterToAgent, Registration};
use mesos_proto::v1::*;
use std::time::Duration;

fn t(s: u64) -> Duration {
    Duration::from_secs(1_700_000_000 + s)
}

fn framework() -> FrameworkInfo {
    serde_json::from_value(
        serde_json::json!({"user": "u", "name": "fw", "id": {"value": "F"}, "checkpoint": true}),
    )
    .unwrap()
}

fn command_task(id: &str, cmd: &str) -> TaskInfo {
    serde_json::from_value(serde_json::json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": "A-S0"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
        "command": {"value": cmd}
    }))
    .unwrap()
}

fn registered() -> Agent {
    let mut a = Agent::new(AgentConfig::for_tests(), 7, t(0));
    let out = a.handle(t(0), Input::Master(registered_msg(false)));
    assert!(out.contains(&Output::Checkpoint(CheckpointOp::PutAgent(a.agent_info()))));
    a
}

fn registered_msg(re: bool) -> MasterToAgent {
    let (agent_id, master_id) = (AgentId::new("A-S0"), "M".to_string());
    if re {
        MasterToAgent::Reregistered {
            agent_id,
            master_id,
            epoch: 1,
            ping_interval_secs: 15.0,
            max_missed_pongs: 5,
        }
    } else {
        MasterToAgent::Registered {
            agent_id,
            master_id,
            epoch: 1,
            ping_interval_secs: 15.0,
            max_missed_pongs: 5,
        }
    }
}

fn run(a: &mut Agent, now: Duration, task: TaskInfo) -> Vec<Output> {
    a.handle(
        now,
        Input::Master(MasterToAgent::RunTask {
            framework: framework(),
            task,
        }),
    )
}

fn launch_of(out: &[Output]) -> LaunchRequest {
    out.iter()
        .find_map(|o| match o {
            Output::Launch(l) => Some((**l).clone()),
            _ => None,
        })
        .expect("a Launch output")
}

fn call(kind: CallType, eid: &str) -> Call {
    Call {
        executor_id: ExecutorId::new(eid),
        framework_id: FrameworkId::new("F"),
        kind,
        subscribe: None,
        update: None,
        message: None,
    }
}

fn subscribe(a: &mut Agent, now: Duration, eid: &str, conn: u64) -> Vec<Output> {
    let mut c = call(CallType::Subscribe, eid);
    c.subscribe = Some(ex::Subscribe::default());
    a.handle(
        now,
        Input::Executor {
            call: c,
            conn: Some(conn),
        },
    )
}

fn update(
    a: &mut Agent,
    now: Duration,
    eid: &str,
    task: &str,
    state: TaskState,
    uuid: &str,
) -> Vec<Output> {
    let mut s = TaskStatus::new(TaskId::new(task), state).with_source("SOURCE_EXECUTOR");
    s.uuid = Some(uuid.to_string());
    let mut c = call(CallType::Update, eid);
    c.update = Some(ex::Update { status: s });
    a.handle(
        now,
        Input::Executor {
            call: c,
            conn: None,
        },
    )
}

fn ack(a: &mut Agent, now: Duration, task: &str, uuid: &str) -> Vec<Output> {
    a.handle(
        now,
        Input::Master(MasterToAgent::Acknowledge {
            framework_id: FrameworkId::new("F"),
            task_id: TaskId::new(task),
            uuid: uuid.to_string(),
        }),
    )
}

fn sent_updates(out: &[Output]) -> Vec<TaskStatus> {
    out.iter()
        .filter_map(|o| match o {
            Output::ToMaster(AgentToMaster::StatusUpdate { status, .. }) => Some(status.clone()),
            _ => None,
        })
        .collect()
}

fn events(out: &[Output]) -> Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::ToExecutor { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

const U1: &str = "AAAAAAAAAAAAAAAAAAAAAQ==";
const U2: &str = "AAAAAAAAAAAAAAAAAAAAAg==";
const U3: &str = "AAAAAAAAAAAAAAAAAAAAAw==";

#[test]
fn executors_are_told_the_agents_domain_socket() {
    let cfg = AgentConfig {
        domain_socket: Some(std::path::PathBuf::from("/var/lib/mesos/agent.sock")),
        ..AgentConfig::for_tests()
    };
    let mut a = Agent::new(cfg, 7, t(0));
    a.handle(t(0), Input::Master(registered_msg(false)));
    let out = run(&mut a, t(1), command_task("t1", "sleep 1"));
    let env: std::collections::HashMap<_, _> = launch_of(&out).env.iter().cloned().collect();
    assert_eq!(env["MESOS_DOMAIN_SOCKET"], "/var/lib/mesos/agent.sock");
    // Executors that do not know it still find the agent over TCP.
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5051");
}

#[test]
fn command_task_launch_flow() {
    let mut a = registered();
    let out = run(&mut a, t(1), command_task("t1", "echo hello; exit 0"));
    let l = launch_of(&out);
    assert!(l.command_executor);
    assert_eq!(l.executor_id.value, "t1");
    assert_eq!(
        l.executor_info.name.as_deref(),
        Some("Command Executor (Task: t1) (Command: sh -c 'echo hello; ...')")
    );
    assert_eq!(l.executor_info.source.as_deref(), Some("t1"));
    assert!(l.sandbox.ends_with(format!(
        "slaves/A-S0/frameworks/F/executors/t1/runs/{}",
        l.container_id.value
    )));
    let env: std::collections::HashMap<_, _> = l.env.iter().cloned().collect();
    assert_eq!(env["MESOS_FRAMEWORK_ID"], "F");
    assert_eq!(env["MESOS_EXECUTOR_ID"], "t1");
    assert_eq!(env["MESOS_AGENT_ENDPOINT"], "127.0.0.1:5051");
    assert_eq!(env["MESOS_HTTP_COMMAND_EXECUTOR"], "1");
    assert_eq!(env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"], "5secs");
    assert_eq!(env["MESOS_SLAVE_ID"], "A-S0");
    assert!(!env.contains_key("MESOS_DOMAIN_SOCKET"));
    // Executor resources are on top of the task's.
    assert!((l.resources.scalar("cpus") - 1.1).abs() < 1e-9);
    // Checkpointed before the launch.
    let put_exec = out
        .iter()
        .position(|o| matches!(o, Output::Checkpoint(CheckpointOp::PutExecutor(_))));
    let launch = out.iter().position(|o| matches!(o, Output::Launch(_)));
    assert!(put_exec.unwrap() < launch.unwrap());

    a.handle(
        t(2),
        Input::ContainerLaunched {
            container_id: l.container_id.clone(),
            pid: 4242,
        },
    );
    let out = subscribe(&mut a, t(2), "t1", 1);
    assert_eq!(out[0], Output::Reply(Ok(())));
    let ev = events(&out);
    match &ev[0] {
        Event::Subscribed { subscribed } => {
            assert_eq!(subscribed.framework_info.id, Some(FrameworkId::new("F")));
            assert_eq!(subscribed.executor_info.executor_id, ExecutorId::new("t1"));
            assert_eq!(subscribed.container_id, Some(l.container_id.clone()));
            assert_eq!(subscribed.agent_info.id, Some(AgentId::new("A-S0")));
        }
        e => panic!("expected SUBSCRIBED, got {e:?}"),
    }
    assert!(matches!(&ev[1], Event::Launch { launch } if launch.task.task_id.value == "t1"));

    let out = update(&mut a, t(3), "t1", "t1", TaskState::TaskStarting, U1);
    let persisted = out
        .iter()
        .position(|o| matches!(o, Output::Checkpoint(CheckpointOp::PutTask(_))))
        .unwrap();
    let acked = out
        .iter()
        .position(|o| {
            matches!(
                o,
                Output::ToExecutor {
                    event: Event::Acknowledged { .. },
                    ..
                }
            )
        })
        .unwrap();
    assert!(persisted < acked, "persist before acknowledging");
    let sent = sent_updates(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].agent_id, Some(AgentId::new("A-S0")));
    assert_eq!(sent[0].executor_id, Some(ExecutorId::new("t1")));
    assert_eq!(out.last(), Some(&Output::Reply(Ok(()))));
    assert_eq!(
        a.tasks.values().next().unwrap().state,
        TaskState::TaskStarting
    );
}

#[test]
fn one_update_in_flight_per_task_in_order() {
    let mut a = registered();
    let l = launch_of(&run(&mut a, t(1), command_task("t1", "sleep 1")));
    subscribe(&mut a, t(2), "t1", 1);
    assert_eq!(
        sent_updates(&update(
            &mut a,
            t(3),
            "t1",
            "t1",
            TaskState::TaskStarting,
            U1
        ))
        .len(),
        1
    );
    // RUNNING and FINISHED queue behind STARTING.
    assert!(sent_updates(&update(
        &mut a,
        t(3),
        "t1",
        "t1",
        TaskState::TaskRunning,
        U2
    ))
    .is_empty());
    assert!(sent_updates(&update(
        &mut a,
        t(3),
        "t1",
        "t1",
        TaskState::TaskFinished,
        U3
    ))
    .is_empty());
    // A wrong uuid does not advance.
    assert!(sent_updates(&ack(&mut a, t(4), "t1", U2)).is_empty());
    let out = ack(&mut a, t(4), "t1", U1);
    let s = sent_updates(&out);
    assert_eq!((s.len(), s[0].state), (1, TaskState::TaskRunning));
    let s = sent_updates(&ack(&mut a, t(5), "t1", U2));
    assert_eq!(s[0].state, TaskState::TaskFinished);
    // The terminal ack completes the task.
    let out = ack(&mut a, t(6), "t1", U3);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Checkpoint(CheckpointOp::RemoveTask(f, t, _))
            if *f == FrameworkId::new("F") && *t == TaskId::new("t1")
    )));
    assert!(a.tasks.is_empty());
    assert_eq!(a.completed_tasks.len(), 1);
    // Executor exit afterwards: no task updates, just EXECUTOR_EXITED.
    let out = a.handle(
        t(7),
        Input::ContainerExited {
            container_id: l.container_id,
            status: Some(0),
        },
    );
    assert!(sent_updates(&out).is_empty());
    assert!(
        out.contains(&Output::ToMaster(AgentToMaster::ExecutorExited {
            framework_id: FrameworkId::new("F"),
            executor_id: ExecutorId::new("t1"),
            status: 0
        }))
    );
    assert!(a.executors.is_empty() && a.frameworks.is_empty());
}

#[test]
fn duplicate_updates_are_acknowledged_not_forwarded() {
    let mut a = registered();
    run(&mut a, t(1), command_task("t1", "sleep 1"));
    subscribe(&mut a, t(2), "t1", 1);
    update(&mut a, t(3), "t1", "t1", TaskState::TaskRunning, U1);
    let out = update(&mut a, t(3), "t1", "t1", TaskState::TaskRunning, U1);
    assert!(sent_updates(&out).is_empty());
    assert_eq!(events(&out).len(), 1);
    assert_eq!(a.tasks.values().next().unwrap().pending.len(), 1);
}

#[test]
fn unacknowledged_updates_retry_with_doubling_backoff() {
    let mut a = registered();
    run(&mut a, t(0), command_task("t1", "sleep 1"));
    subscribe(&mut a, t(0), "t1", 1);
    update(&mut a, t(0), "t1", "t1", TaskState::TaskRunning, U1);
    assert!(sent_updates(&a.handle(t(9), Input::Tick)).is_empty());
    assert_eq!(sent_updates(&a.handle(t(10), Input::Tick)).len(), 1);
    assert!(sent_updates(&a.handle(t(29), Input::Tick)).is_empty());
    assert_eq!(sent_updates(&a.handle(t(30), Input::Tick)).len(), 1);
    assert!(sent_updates(&a.handle(t(69), Input::Tick)).is_empty());
    assert_eq!(sent_updates(&a.handle(t(70), Input::Tick)).len(), 1);
    // Not while disconnected; resent at once after re-registration.
    a.handle(t(71), Input::MasterDisconnected);
    assert!(sent_updates(&a.handle(t(500), Input::Tick)).is_empty());
    let out = a.handle(t(501), Input::Master(registered_msg(true)));
    assert_eq!(sent_updates(&out).len(), 1);
    assert!(sent_updates(&ack(&mut a, t(502), "t1", U1)).is_empty());
    assert!(sent_updates(&a.handle(t(600), Input::Tick)).is_empty());
}

#[test]
fn kill_before_launch_reports_killed_and_destroys_the_executor() {
    let mut a = registered();
    let l = launch_of(&run(&mut a, t(1), command_task("t1", "sleep 100")));
    let out = a.handle(
        t(2),
        Input::Master(MasterToAgent::KillTask {
            framework_id: FrameworkId::new("F"),
            task_id: TaskId::new("t1"),
            kill_policy: None,
        }),
    );
    let s = sent_updates(&out);
    assert_eq!(s[0].state, TaskState::TaskKilled);
    assert_eq!(s[0].source.as_deref(), Some("SOURCE_AGENT"));
    assert!(s[0].uuid.is_some());
    assert!(out.contains(&Output::Destroy {
        container_id: l.container_id.clone()
    }));
}

#[test]
fn kill_of_a_launched_task_goes_to_the_executor() {
    let mut a = registered();
    run(&mut a, t(1), command_task("t1", "sleep 100"));
    subscribe(&mut a, t(2), "t1", 9);
    let out = a.handle(
        t(3),
        Input::Master(MasterToAgent::KillTask {
            framework_id: FrameworkId::new("F"),
            task_id: TaskId::new("t1"),
            kill_policy: None,
        }),
    );
    assert!(matches!(&events(&out)[..], [Event::Kill { kill }] if kill.task_id.value == "t1"));
    assert!(sent_updates(&out).is_empty());
}

/// Command task `t1` runs (its RUNNING acknowledged), then its executor exits with
/// status 9 at t(4): what the agent does then.
fn running_t1_whose_executor_exits(a: &mut Agent) -> Vec<Output> {
    let l = launch_of(&run(a, t(1), command_task("t1", "sleep 100")));
    subscribe(a, t(2), "t1", 1);
    update(a, t(3), "t1", "t1", TaskState::TaskRunning, U1);
    ack(a, t(3), "t1", U1);
    a.handle(
        t(4),
        Input::ContainerExited {
            container_id: l.container_id,
            status: Some(9),
        },
    )
}

#[test]
fn executor_exit_fails_non_terminal_tasks() {
    let mut a = registered();
    let out = running_t1_whose_executor_exits(&mut a);
    let s = sent_updates(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].state, TaskState::TaskFailed);
    assert_eq!(s[0].reason.as_deref(), Some("REASON_EXECUTOR_TERMINATED"));
    assert!(out.contains(&Output::CloseExecutorStream { conn: 1 }));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::ToMaster(AgentToMaster::ExecutorExited { status: 9, .. })
    )));
}

#[test]
fn registration_timeout_fails_tasks_and_destroys() {
    let mut a = registered();
    let l = launch_of(&run(&mut a, t(0), command_task("t1", "sleep 100")));
    assert!(sent_updates(&a.handle(t(59), Input::Tick)).is_empty());
    let out = a.handle(t(60), Input::Tick);
    let s = sent_updates(&out);
    assert_eq!(s[0].state, TaskState::TaskFailed);
    assert_eq!(
        s[0].reason.as_deref(),
        Some("REASON_EXECUTOR_REGISTRATION_TIMEOUT")
    );
    assert!(out.contains(&Output::Destroy {
        container_id: l.container_id.clone()
    }));
    // The later exit adds no second failure.
    let out = a.handle(
        t(61),
        Input::ContainerExited {
            container_id: l.container_id,
            status: None,
        },
    );
    assert!(sent_updates(&out).is_empty());
}

#[test]
fn unknown_executor_calls_are_400() {
    let mut a = registered();
    let out = a.handle(
        t(1),
        Input::Executor {
            call: call(CallType::Heartbeat, "nope"),
            conn: None,
        },
    );
    assert!(matches!(&out[..], [Output::Reply(Err((400, m)))] if m.contains("nope")));
}

#[test]
fn second_task_for_custom_executor_reuses_it() {
    let mut a = registered();
    let mut t1 = command_task("a", "x");
    t1.command = None;
    t1.executor = Some(
        serde_json::from_value(
            serde_json::json!({"executor_id": {"value": "E"}, "command": {"value": "./exec"}}),
        )
        .unwrap(),
    );
    let mut t2 = t1.clone();
    t2.task_id = TaskId::new("b");
    let l = launch_of(&run(&mut a, t(1), t1));
    assert!(!l.command_executor);
    let out = run(&mut a, t(1), t2);
    assert!(!out.iter().any(|o| matches!(o, Output::Launch(_))));
    // Both queued tasks are launched on subscription, in order.
    let ev = events(&subscribe(&mut a, t(2), "E", 3));
    let ids: Vec<String> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Launch { launch } => Some(launch.task.task_id.value.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

fn run_group(a: &mut Agent, now: Duration, eid: &str, ids: &[&str]) -> Vec<Output> {
    let exec: ExecutorInfo = serde_json::from_value(serde_json::json!({
        "executor_id": {"value": eid}, "type": "DEFAULT",
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}]
    }))
    .unwrap();
    a.handle(
        now,
        Input::Master(MasterToAgent::RunTaskGroup {
            framework: framework(),
            executor: exec,
            tasks: ids.iter().map(|id| command_task(id, "sleep 10")).collect(),
        }),
    )
}

fn launched_groups(ev: &[Event]) -> Vec<Vec<String>> {
    ev.iter()
        .filter_map(|e| match e {
            Event::LaunchGroup { launch_group } => Some(
                launch_group
                    .task_group
                    .tasks
                    .iter()
                    .map(|t| t.task_id.value.clone())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn default_executor_task_groups_launch_the_default_executor() {
    let mut a = registered();
    let out = run_group(&mut a, t(1), "E", &["g1", "g2"]);
    assert!(sent_updates(&out).is_empty());
    let l = launch_of(&out);
    assert!(!l.command_executor);
    assert!(crate::executors::is_default_executor(&l.executor_info));
    assert_eq!(l.executor_info.kind.as_deref(), Some("DEFAULT"));
    let cmd = l.executor_info.command.clone().expect("command filled in");
    assert_eq!(
        cmd.value.as_deref(),
        Some("/usr/libexec/mesos/mesos-default-executor")
    );
    assert_eq!(cmd.arguments[1], "--launcher_dir=/usr/libexec/mesos");
    // Executor plus both tasks.
    assert!((l.resources.scalar("cpus") - 2.1).abs() < 1e-9);
    let env: std::collections::HashMap<_, _> = l.env.iter().cloned().collect();
    assert!(!env.contains_key("MESOS_HTTP_COMMAND_EXECUTOR"));
    // The group is delivered as one LAUNCH_GROUP on subscription.
    let ev = events(&subscribe(&mut a, t(2), "E", 3));
    assert_eq!(launched_groups(&ev), [vec!["g1", "g2"]]);
    // A second group goes to the same, running executor.
    let out = run_group(&mut a, t(3), "E", &["h1", "h2"]);
    assert!(!out.iter().any(|o| matches!(o, Output::Launch(_))));
    assert_eq!(launched_groups(&events(&out)), [vec!["h1", "h2"]]);
    // `/state` lists the group's tasks under the executor.
    let state = a.state_json(t(4), &Default::default());
    let tasks = &state["frameworks"][0]["executors"][0]["tasks"];
    assert_eq!(tasks.as_array().unwrap().len(), 4, "{state}");
    assert_eq!(tasks[0]["executor_id"], "E");
}

#[test]
fn killing_a_queued_group_task_kills_its_group() {
    let mut a = registered();
    run_group(&mut a, t(1), "E", &["g1", "g2"]);
    let out = a.handle(
        t(2),
        Input::Master(MasterToAgent::KillTask {
            framework_id: FrameworkId::new("F"),
            task_id: TaskId::new("g1"),
            kill_policy: None,
        }),
    );
    // The front update of each task goes out right away.
    let s = sent_updates(&out);
    let mut ids: Vec<&str> = s.iter().map(|s| s.task_id.value.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["g1", "g2"]);
    assert!(s.iter().all(|s| s.state == TaskState::TaskKilled));
    // No live task is left: the executor is destroyed.
    assert!(out.iter().any(|o| matches!(o, Output::Destroy { .. })));
}

#[test]
fn recovery_reconnects_live_executors_and_fails_dead_ones() {
    let mut a = registered();
    let live = launch_of(&run(&mut a, t(1), command_task("live", "sleep 100")));
    a.handle(
        t(1),
        Input::ContainerLaunched {
            container_id: live.container_id.clone(),
            pid: 11,
        },
    );
    let dead = launch_of(&run(&mut a, t(1), command_task("dead", "sleep 100")));
    a.handle(
        t(1),
        Input::ContainerLaunched {
            container_id: dead.container_id.clone(),
            pid: 12,
        },
    );
    let mut rec = Recovered {
        agent_info: Some(a.agent_info()),
        frameworks: a.frameworks.values().cloned().collect(),
        ..Default::default()
    };
    for e in a.executors.values() {
        rec.executors.push((e.clone(), e.pid == Some(11)));
    }
    rec.tasks = a.tasks.values().map(|t| TaskRecord::clone(t)).collect();

    let mut b = Agent::new(AgentConfig::for_tests(), 8, t(10));
    let out = b.handle(t(10), Input::Recover(rec));
    assert!(out.contains(&Output::Watch {
        container_id: live.container_id.clone(),
        pid: 11
    }));
    // Nothing goes to the master before registration.
    assert!(!out.iter().any(|o| matches!(o, Output::ToMaster(_))));
    assert_eq!(
        b.tasks[&(FrameworkId::new("F"), TaskId::new("dead"))].state,
        TaskState::TaskFailed
    );
    match b.registration() {
        Registration::Reregister {
            agent_info, tasks, ..
        } => {
            assert_eq!(agent_info.id, Some(AgentId::new("A-S0")));
            assert_eq!(tasks.len(), 2);
        }
        r => panic!("expected REREGISTER, got {r:?}"),
    }
    let out = b.handle(t(11), Input::Master(registered_msg(true)));
    let s = sent_updates(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].task_id.value, "dead");
    assert_eq!(s[0].reason.as_deref(), Some("REASON_EXECUTOR_TERMINATED"));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::ToMaster(AgentToMaster::ExecutorExited { status: -1, .. })
    )));
    // The live executor re-subscribes within the timeout; otherwise it is destroyed.
    assert!(subscribe(&mut b, t(12), "live", 1).contains(&Output::Reply(Ok(()))));
    let mut c = Agent::new(AgentConfig::for_tests(), 9, t(10));
    let rec2 = Recovered {
        agent_info: Some(a.agent_info()),
        frameworks: a.frameworks.values().cloned().collect(),
        executors: vec![(a.executors.values().next().unwrap().clone(), true)],
        tasks: a.tasks.values().map(|t| TaskRecord::clone(t)).collect(),
    };
    c.handle(t(10), Input::Recover(rec2));
    let out = c.handle(t(71), Input::Tick);
    assert!(out.iter().any(|o| matches!(o, Output::Destroy { .. })));
}

#[test]
fn ping_timeout_and_master_error() {
    let mut a = registered();
    assert_eq!(
        a.handle(t(5), Input::Master(MasterToAgent::Ping)),
        vec![Output::ToMaster(AgentToMaster::Pong)]
    );
    assert!(!a.handle(t(80), Input::Tick).contains(&Output::Reconnect));
    assert!(a.handle(t(81), Input::Tick).contains(&Output::Reconnect));
    assert!(!a.registered);

    let mut a = registered();
    let l = launch_of(&run(&mut a, t(1), command_task("t1", "sleep 100")));
    let out = a.handle(
        t(2),
        Input::Master(MasterToAgent::Error {
            message: "no".into(),
        }),
    );
    assert!(out.contains(&Output::Destroy {
        container_id: l.container_id
    }));
    assert!(out.contains(&Output::Checkpoint(CheckpointOp::Wipe)));
    assert!(out.contains(&Output::Reconnect));
    assert!(matches!(a.registration(), Registration::Register { .. }));
}

#[test]
fn shutdown_executor_sends_shutdown_then_destroys_after_grace() {
    let mut a = registered();
    let l = launch_of(&run(&mut a, t(0), command_task("t1", "sleep 100")));
    subscribe(&mut a, t(0), "t1", 1);
    let out = a.handle(
        t(1),
        Input::Master(MasterToAgent::ShutdownExecutor {
            framework_id: FrameworkId::new("F"),
            executor_id: ExecutorId::new("t1"),
        }),
    );
    assert_eq!(events(&out), vec![Event::Shutdown]);
    assert!(!a
        .handle(t(6), Input::Tick)
        .iter()
        .any(|o| matches!(o, Output::Destroy { .. })));
    assert!(a.handle(t(7), Input::Tick).contains(&Output::Destroy {
        container_id: l.container_id.clone()
    }));
    // Non-terminal tasks of a shut down executor are reported killed.
    let out = a.handle(
        t(8),
        Input::ContainerExited {
            container_id: l.container_id,
            status: Some(9),
        },
    );
    assert_eq!(sent_updates(&out)[0].state, TaskState::TaskKilled);
}

#[test]
fn id_generator_gives_distinct_v4_uuids() {
    let mut g = IdGen::new(1);
    let a = g.next_text();
    let b = g.next_text();
    assert_ne!(a, b);
    assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    assert_eq!(
        mesos_proto::json::b64_decode(&g.next_b64()).unwrap().len(),
        16
    );
}

#[test]
fn containerizers_decide_which_tasks_run() {
    let docker_task = |id: &str| {
        let mut t = command_task(id, "echo hi");
        t.container = Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "img:1"}}));
        t
    };
    let failed = |out: &[Output]| {
        let s = sent_updates(out);
        assert_eq!(s.len(), 1, "{out:?}");
        assert_eq!(s[0].state, TaskState::TaskFailed);
        assert_eq!(
            s[0].reason.as_deref(),
            Some("REASON_CONTAINER_LAUNCH_FAILED")
        );
        assert!(!out.iter().any(|o| matches!(o, Output::Launch(_))));
        s[0].message.clone().unwrap()
    };
    // mesos only: DOCKER tasks fail.
    let mut a = registered();
    let msg = failed(&run(&mut a, t(1), docker_task("d1")));
    assert!(msg.contains("needs the docker containerizer"), "{msg}");
    // docker only: DOCKER command tasks run under the command executor in docker mode,
    // anything else fails.
    let mut cfg = AgentConfig::for_tests();
    cfg.containerizers = vec!["docker".into()];
    let mut a = Agent::new(cfg, 7, t(0));
    a.handle(t(0), Input::Master(registered_msg(false)));
    let l = launch_of(&run(&mut a, t(1), docker_task("d2")));
    assert!(crate::executors::is_docker_command_executor(
        l.command_executor,
        &l.executor_info
    ));
    let msg = failed(&run(&mut a, t(2), command_task("p1", "true")));
    assert!(msg.contains("--containerizers=docker"), "{msg}");
    // Custom executors in Docker containers are not supported.
    let mut custom = docker_task("d3");
    custom.command = None;
    custom.executor = Some(
        serde_json::from_value(serde_json::json!({
            "executor_id": {"value": "e1"}, "command": {"value": "run-executor"}
        }))
        .unwrap(),
    );
    let msg = failed(&run(&mut a, t(3), custom));
    assert!(msg.contains("command tasks only"), "{msg}");
}

#[test]
fn a_framework_back_after_completing_lists_its_executors_once() {
    let mut a = registered();
    // t1 runs and fails with its executor: the framework has nothing left and completes.
    let out = running_t1_whose_executor_exits(&mut a);
    let failed = sent_updates(&out)[0].uuid.clone().unwrap();
    ack(&mut a, t(5), "t1", &failed);
    let state = a.state_json(t(5), &Default::default());
    assert_eq!(state["frameworks"], serde_json::json!([]), "{state}");
    assert_eq!(state["completed_frameworks"][0]["id"], "F");
    // The framework runs t2: its executors show under the active entry only.
    run(&mut a, t(6), command_task("t2", "sleep 100"));
    let state = a.state_json(t(7), &Default::default());
    let active = &state["frameworks"][0];
    let done = &state["completed_frameworks"][0];
    assert_eq!(active["executors"][0]["id"], "t2", "{state}");
    assert_eq!(active["completed_executors"][0]["id"], "t1", "{state}");
    assert_eq!(done["id"], "F");
    assert_eq!(done["executors"], serde_json::json!([]), "{state}");
    assert_eq!(
        done["completed_executors"],
        serde_json::json!([]),
        "{state}"
    );
}
