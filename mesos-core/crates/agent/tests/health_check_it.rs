//! Mesos-level health checks (`TaskInfo.health_check`) run by the command executor, end to
//! end against a fake master over loopback.

mod common;

use common::*;
use mesos_proto::internal::MasterToAgent;
use mesos_proto::v1::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const HEALTH_REASON: &str = "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED";

fn run_checked_task(fake: &Fake, id: &str, cmd: &str, health_check: Value) {
    let task: TaskInfo = serde_json::from_value(json!({
        "name": id, "task_id": {"value": id}, "agent_id": {"value": AGENT_ID},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
        "command": {"value": cmd, "environment": {"variables": [{"name": "MARK", "value": "m1"}]}},
        "health_check": health_check,
    }))
    .unwrap();
    fake.send(MasterToAgent::RunTask {
        framework: framework(),
        task,
    });
}

/// The health updates of `task` so far (TASK_RUNNING with `healthy` set).
fn health_updates(fake: &Fake, task: &str) -> Vec<TaskStatus> {
    fake.updates()
        .into_iter()
        .filter(|s| {
            s.task_id.value == task && s.state == TaskState::TaskRunning && s.healthy.is_some()
        })
        .collect()
}

/// Distinct updates (the agent may forward an update more than once), in order.
fn distinct(updates: Vec<TaskStatus>) -> Vec<TaskStatus> {
    let mut seen = std::collections::BTreeSet::new();
    updates
        .into_iter()
        .filter(|s| seen.insert(s.uuid.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_command_check_reports_healthy_once() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    // The check runs in the sandbox with the task's environment.
    run_checked_task(
        &fake,
        "ok",
        "touch ready; sleep 30",
        json!({"type": "COMMAND",
               "command": {"value": "test -f ready && test \"$MARK\" = m1 && test \"$MESOS_TASK_ID\" = ok"},
               "delay_seconds": 0, "interval_seconds": 0.2, "grace_period_seconds": 5}),
    );
    let healthy = wait_until("a healthy update", || {
        health_updates(&fake, "ok")
            .into_iter()
            .find(|s| s.healthy == Some(true))
    })
    .await;
    assert_eq!(healthy.reason.as_deref(), Some(HEALTH_REASON));
    assert_eq!(healthy.source.as_deref(), Some("SOURCE_EXECUTOR"));
    assert!(healthy.uuid.is_some());
    // Later passing checks change nothing, so nothing more is reported.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ups = distinct(health_updates(&fake, "ok"));
    assert_eq!(
        ups.iter().map(|s| s.healthy).collect::<Vec<_>>(),
        [Some(true)],
        "{ups:?}"
    );
    kill(&fake, "ok");
    let killed = wait_state(&fake, "ok", TaskState::TaskKilled).await;
    assert_eq!(killed.healthy, None);
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_check_kills_the_task_after_three_failures() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_checked_task(
        &fake,
        "sick",
        "sleep 30",
        json!({"type": "COMMAND", "command": {"value": "exit 1"},
               "delay_seconds": 0, "interval_seconds": 0.3, "timeout_seconds": 5,
               "consecutive_failures": 3, "grace_period_seconds": 0}),
    );
    let killed = wait_state(&fake, "sick", TaskState::TaskKilled).await;
    assert_eq!(killed.healthy, Some(false));
    assert_eq!(killed.source.as_deref(), Some("SOURCE_EXECUTOR"));
    assert!(
        killed
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Command terminated with signal")),
        "{killed:?}"
    );
    // The first failure and the fatal third one are reported as unhealthy.
    let ups = distinct(health_updates(&fake, "sick"));
    assert_eq!(
        ups.iter().map(|s| s.healthy).collect::<Vec<_>>(),
        [Some(false), Some(false)],
        "{ups:?}"
    );
    assert!(ups
        .iter()
        .all(|s| s.reason.as_deref() == Some(HEALTH_REASON)));
    // Three probes 0.3 s apart.
    let (first, last) = (ups[0].timestamp.unwrap(), ups[1].timestamp.unwrap());
    assert!(last - first >= 0.55, "{first} {last}");
    // Nothing but the kill ended the task, and nothing follows the terminal update.
    let states: Vec<TaskState> = distinct(
        fake.updates()
            .into_iter()
            .filter(|s| s.task_id.value == "sick")
            .collect(),
    )
    .iter()
    .map(|s| s.state)
    .collect();
    assert_eq!(states.last(), Some(&TaskState::TaskKilled), "{states:?}");
    assert!(!states.contains(&TaskState::TaskFailed), "{states:?}");
    assert_eq!(executor_exited(&fake, "sick").await, 0);
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_the_grace_period_are_ignored() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    run_checked_task(
        &fake,
        "slow",
        "sleep 30",
        json!({"type": "TCP", "tcp": {"port": 1},
               "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 1,
               "consecutive_failures": 2, "grace_period_seconds": 2}),
    );
    let running = wait_until("TASK_RUNNING", || {
        fake.updates()
            .into_iter()
            .find(|s| s.task_id.value == "slow" && s.state == TaskState::TaskRunning)
    })
    .await;
    let unhealthy = wait_until("an unhealthy update", || {
        health_updates(&fake, "slow").into_iter().next()
    })
    .await;
    assert_eq!(unhealthy.healthy, Some(false));
    let after = unhealthy.timestamp.unwrap() - running.timestamp.unwrap();
    assert!(after >= 1.9, "reported {after} s after launch");
    let killed = wait_state(&fake, "slow", TaskState::TaskKilled).await;
    assert_eq!(killed.healthy, Some(false));
    agent.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_reports_healthy() {
    let (fake, _maddr, _dir, agent) = start_acked(flags).await;
    // A local HTTP server stands in for the task's endpoint.
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    run_checked_task(
        &fake,
        "web",
        "sleep 30",
        json!({"type": "HTTP", "http": {"port": port, "path": "/health"},
               "delay_seconds": 0, "interval_seconds": 0.2}),
    );
    let healthy = wait_until("a health update", || {
        health_updates(&fake, "web").into_iter().next()
    })
    .await;
    assert_eq!(healthy.healthy, Some(true));
    kill(&fake, "web");
    wait_state(&fake, "web", TaskState::TaskKilled).await;
    agent.shutdown(true).await;
}
