//! The core replayed deterministically: fake offers and status updates, checked
//! outputs.

use mesos_core::proto::ids::{AgentId, FrameworkId, OfferId, TaskId};
use mesos_core::proto::scheduler::{Call, Event, Offers, Update};
use mesos_core::proto::v1::{Offer, Resource, TaskInfo, TaskState, TaskStatus};
use serde_json::json;

use super::{Config, Marathon, Output};

fn core() -> Marathon {
    let mut m = Marathon::new(Config::default(), 7);
    m.subscribed(1000.0, "fw-1", "127.0.0.1:5050");
    m
}

fn offer(id: &str, agent: &str, host: &str, cpus: f64) -> Offer {
    Offer {
        id: OfferId::new(id),
        framework_id: FrameworkId::new("fw-1"),
        agent_id: AgentId::new(agent),
        hostname: host.into(),
        url: None,
        resources: vec![
            Resource::scalar("cpus", cpus),
            Resource::scalar("mem", 4096.0),
            Resource::ranges("ports", &[(31000, 31010)]),
        ],
        attributes: Vec::new(),
        executor_ids: Vec::new(),
        allocation_info: None,
    }
}

fn offers(m: &mut Marathon, now: f64, list: Vec<Offer>) -> Vec<Output> {
    m.event(now, Event::Offers(Offers { offers: list }))
}

fn launched(out: &[Output]) -> Vec<TaskInfo> {
    out.iter()
        .filter_map(|o| match o {
            Output::Call(c) => match &**c {
                Call::Accept(a) => Some(a.operations.clone()),
                _ => None,
            },
            _ => None,
        })
        .flatten()
        .filter_map(|op| op.launch)
        .flat_map(|l| l.task_infos)
        .collect()
}

fn declined(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Call(c) if matches!(**c, Call::Decline(_))))
        .count()
}

fn update(m: &mut Marathon, now: f64, task: &str, state: TaskState) -> Vec<Output> {
    let mut s = TaskStatus::new(TaskId::new(task), state);
    s.agent_id = Some(AgentId::new("a1"));
    s.uuid = Some("dXVpZA==".into());
    m.event(now, Event::Update(Update { status: s }))
}

fn events(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => e["eventType"].as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

fn env_of(t: &TaskInfo, name: &str) -> Option<String> {
    t.command
        .as_ref()?
        .environment
        .as_ref()?
        .variables
        .iter()
        .find(|v| v.name == name)
        .and_then(|v| v.value.clone())
}

#[test]
fn an_app_is_launched_from_offers_and_its_deployment_finishes_when_running() {
    let mut m = core();
    let mut out = Vec::new();
    let app = json!({"id": "/web", "cmd": "sleep 100", "cpus": 0.5, "mem": 64, "instances": 2,
                     "env": {"GREETING": "hi"}});
    let created = m.create_app(1001.0, app, false, &mut out).unwrap();
    assert_eq!(created.app_id, "/web");
    assert_eq!(m.deployments_json().len(), 1);
    // Something waits for offers: the subscription's SUPPRESS is lifted.
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Call(c) if matches!(**c, Call::Revive(_)))));
    assert!(out.iter().any(|o| matches!(o, Output::Store(_))));

    let out = offers(
        &mut m,
        1002.0,
        vec![offer("o1", "a1", "h1", 0.7), offer("o2", "a2", "h2", 4.0)],
    );
    let tasks = launched(&out);
    assert_eq!(tasks.len(), 2, "one fits on o1, one on o2");
    // Nothing waits any more: offers are suppressed.
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Call(c) if matches!(**c, Call::Suppress(_)))));
    let t = &tasks[0];
    assert_eq!(t.name, "web");
    assert!(t.task_id.value.starts_with("web.instance-"));
    assert_eq!(env_of(t, "GREETING").as_deref(), Some("hi"));
    assert_eq!(env_of(t, "MARATHON_APP_ID").as_deref(), Some("/web"));
    assert_eq!(env_of(t, "PORT0").as_deref(), Some("31000"));
    assert_eq!(env_of(t, "PORT_10000").as_deref(), Some("31000"));
    assert_eq!(env_of(t, "HOST").as_deref(), Some("h1"));

    let ids: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
    update(&mut m, 1003.0, &ids[0], TaskState::TaskRunning);
    assert_eq!(m.deployments_json().len(), 1, "one of two running");
    let out = update(&mut m, 1004.0, &ids[1], TaskState::TaskRunning);
    let kinds = events(&out);
    assert!(
        kinds.contains(&"deployment_success".to_string()),
        "{kinds:?}"
    );
    assert!(m.deployments_json().is_empty());
}

#[test]
fn events_that_arrive_together_end_as_they_would_one_by_one() {
    let mut m = core();
    let mut out = Vec::new();
    let app = json!({"id": "/b", "cmd": "sleep 100", "cpus": 0.1, "mem": 16, "instances": 2,
                     "backoffSeconds": 0, "portDefinitions": []});
    m.create_app(1001.0, app, false, &mut out).unwrap();
    let tasks = launched(&offers(&mut m, 1002.0, vec![offer("o1", "a1", "h1", 1.0)]));
    assert_eq!(tasks.len(), 2);
    let status = |task: &TaskInfo, state: TaskState| {
        let mut s = TaskStatus::new(task.task_id.clone(), state);
        s.agent_id = Some(AgentId::new("a1"));
        s.uuid = Some("dXVpZA==".into());
        Event::Update(Update { status: s })
    };
    // Both running in one batch: the deployment ends, as it would one update at a time.
    let out = m.events(
        1003.0,
        [
            status(&tasks[0], TaskState::TaskRunning),
            status(&tasks[1], TaskState::TaskRunning),
        ],
    );
    let kinds = events(&out);
    assert_eq!(
        kinds.iter().filter(|k| *k == "status_update_event").count(),
        2,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"deployment_success".to_string()),
        "{kinds:?}"
    );
    assert!(m.deployments_json().is_empty());
    // A failure and an offer in one batch: the offer sees the replacement wanted (backoff
    // 0), so it launches one instead of being declined.
    let out = m.events(
        1004.0,
        [
            status(&tasks[0], TaskState::TaskFailed),
            Event::Offers(Offers {
                offers: vec![offer("o2", "a1", "h1", 1.0)],
            }),
        ],
    );
    assert_eq!(launched(&out).len(), 1, "{:?}", events(&out));
}

#[test]
fn a_failed_task_is_replaced_after_its_backoff() {
    let mut m = core();
    let mut out = Vec::new();
    let app = json!({"id": "/crash", "cmd": "exit 1", "cpus": 0.1, "mem": 16, "instances": 1,
                     "backoffSeconds": 10, "backoffFactor": 2, "portDefinitions": []});
    m.create_app(1000.0, app, false, &mut out).unwrap();
    let t = launched(&offers(&mut m, 1001.0, vec![offer("o1", "a1", "h1", 1.0)]));
    assert_eq!(t.len(), 1);
    update(&mut m, 1002.0, &t[0].task_id.value, TaskState::TaskFailed);
    // Within the delay: declined. The queue shows it.
    let out = offers(&mut m, 1005.0, vec![offer("o2", "a1", "h1", 1.0)]);
    assert!(launched(&out).is_empty());
    assert_eq!(declined(&out), 1);
    let q = m.queue_json(1005.0, false);
    assert_eq!(q["queue"][0]["delay"]["overdue"], false, "{q}");
    assert_eq!(q["queue"][0]["delay"]["timeLeftSeconds"], 7);
    // After it: launched again. A second failure doubles the delay.
    let t = launched(&offers(&mut m, 1012.5, vec![offer("o3", "a1", "h1", 1.0)]));
    assert_eq!(t.len(), 1);
    update(&mut m, 1013.0, &t[0].task_id.value, TaskState::TaskFailed);
    assert!(launched(&offers(&mut m, 1030.0, vec![offer("o4", "a1", "h1", 1.0)])).is_empty());
    assert_eq!(
        launched(&offers(&mut m, 1033.5, vec![offer("o5", "a1", "h1", 1.0)])).len(),
        1
    );
    // A reset clears the delay at once.
    let mut out = Vec::new();
    m.reset_delay(1034.0, "/crash", &mut out).unwrap();
}

#[test]
fn a_rolling_restart_replaces_tasks_one_at_a_time() {
    let mut m = core();
    let mut out = Vec::new();
    let app = json!({"id": "/r", "cmd": "sleep 1", "cpus": 0.1, "mem": 16, "instances": 2,
                     "portDefinitions": [],
                     "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.5}});
    m.create_app(1000.0, app, false, &mut out).unwrap();
    let old = launched(&offers(&mut m, 1001.0, vec![offer("o1", "a1", "h1", 4.0)]));
    for t in &old {
        update(&mut m, 1002.0, &t.task_id.value, TaskState::TaskRunning);
    }
    assert!(m.deployments_json().is_empty());
    let mut out = Vec::new();
    m.restart_app(1003.0, "/r", false, &mut out).unwrap();
    // No kill before a new task runs; at most one extra at a time.
    let kills = |out: &[Output]| {
        out.iter()
            .filter(|o| matches!(o, Output::Call(c) if matches!(**c, Call::Kill(_))))
            .count()
    };
    assert_eq!(kills(&out), 0);
    let new1 = launched(&offers(&mut m, 1004.0, vec![offer("o2", "a1", "h1", 4.0)]));
    assert_eq!(new1.len(), 1);
    let out = update(
        &mut m,
        1005.0,
        &new1[0].task_id.value,
        TaskState::TaskRunning,
    );
    assert_eq!(kills(&out), 1, "one old task goes once a new one runs");
    let dep = m.deployments_json();
    assert_eq!(dep[0]["currentActions"][0]["action"], "RestartApplication");
}

#[test]
fn versions_are_unique_and_increasing_within_one_millisecond() {
    let mut m = core();
    let a = m.new_version(1000.0);
    let b = m.new_version(1000.0);
    assert!(b > a, "{a} {b}");
    assert!(a.ends_with('Z'));
}

#[test]
fn a_group_update_replaces_only_what_it_names() {
    let mut m = core();
    let mut out = Vec::new();
    let app =
        |id: &str| json!({"id": id, "cmd": "sleep 1", "cpus": 0.1, "mem": 16, "instances": 0});
    m.create_group(
        1000.0,
        None,
        json!({"id": "/g", "apps": [app("a")], "groups": [{"id": "sub", "apps": [app("b")]}]}),
        false,
        &mut out,
    )
    .unwrap();
    let ids = |m: &Marathon| m.apps.keys().cloned().collect::<Vec<_>>();
    assert_eq!(ids(&m), ["/g/a", "/g/sub/b"]);
    // `apps` only: the group's own apps are replaced, the subgroup stays.
    m.update_group(
        1001.0,
        Some("/g"),
        json!({"apps": [app("c")]}),
        true,
        &mut out,
    )
    .unwrap();
    assert_eq!(ids(&m), ["/g/c", "/g/sub/b"]);
    // `groups` only: the subgroups are replaced, the own apps stay.
    m.update_group(1002.0, Some("/g"), json!({"groups": []}), true, &mut out)
        .unwrap();
    assert_eq!(ids(&m), ["/g/c"]);
    // A second POST of the group is refused, and changes nothing.
    let e = m
        .create_group(1003.0, Some("/g"), json!({"apps": []}), false, &mut out)
        .unwrap_err();
    assert_eq!(e.status, 409);
    assert_eq!(ids(&m), ["/g/c"]);
}

#[test]
fn health_check_changes_and_executor_messages_are_events() {
    let mut m = core();
    let mut out = Vec::new();
    let hc = json!([{"protocol": "TCP", "portIndex": 0}]);
    m.create_app(
        1000.0,
        json!({"id": "/h", "cmd": "sleep 1", "cpus": 0.1, "mem": 16, "instances": 0, "healthChecks": hc}),
        false,
        &mut out,
    )
    .unwrap();
    assert!(events(&out).contains(&"add_health_check_event".to_string()));
    let mut out = Vec::new();
    let opts = super::UpdateOptions {
        partial: true,
        force: true,
        must_exist: true,
    };
    m.update_app(1001.0, "/h", json!({"healthChecks": []}), opts, &mut out)
        .unwrap();
    let kinds = events(&out);
    assert_eq!(kinds[0], "api_post_event", "{kinds:?}");
    assert!(
        kinds.contains(&"remove_health_check_event".to_string()),
        "{kinds:?}"
    );
    let out = m.event(
        1002.0,
        Event::Message(mesos_core::proto::scheduler::Message {
            agent_id: AgentId::new("a1"),
            executor_id: mesos_core::proto::ids::ExecutorId::new("e1"),
            data: "aGk=".into(),
        }),
    );
    let msg = out
        .iter()
        .find_map(|o| match o {
            Output::Event(e) if e["eventType"] == "framework_message_event" => Some(e.clone()),
            _ => None,
        })
        .expect("a framework_message_event");
    assert_eq!(msg["message"], "aGk=");
    assert_eq!(msg["executorId"], "e1");
}
