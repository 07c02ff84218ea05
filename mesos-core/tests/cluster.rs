//! End-to-end tests over loopback: a real master, real agents, real executor processes,
//! driven through the public v1 scheduler client.

mod support;

use mesos_core::proto::resources::Resources;
use mesos_core::proto::scheduler::{Call, Reconcile, Roles};
use mesos_core::proto::v1::*;
use std::time::Duration;
use support::*;

const RES: &str = "cpus:2;mem:1024;disk:1024;ports:[31000-31010]";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn command_tasks_finish_fail_and_get_killed() {
    let dir = TestDir::new();
    let cluster = cluster(dir.path(), 1, RES).await;
    let mut fw = Framework::subscribe(cluster.master_addr(), framework_info(&[], 60.0)).await;
    let offer = fw.wait_offer().await;
    assert_eq!(
        Resources::from_wire(&offer.resources)
            .unwrap()
            .scalar("cpus"),
        2.0
    );
    fw.launch(
        &offer,
        vec![
            command_task(
                "ok",
                &offer,
                "echo hello-$MESOS_TASK_ID; exit 0",
                "cpus:0.5;mem:64",
            ),
            command_task("bad", &offer, "exit 3", "cpus:0.5;mem:64"),
            command_task(
                "long",
                &offer,
                "sleep 60",
                "cpus:0.5;mem:64;ports:[31000-31000]",
            ),
        ],
    )
    .await;
    fw.wait_state("ok", TaskState::TaskFinished).await;
    assert_eq!(
        fw.states_of("ok"),
        vec![
            TaskState::TaskStarting,
            TaskState::TaskRunning,
            TaskState::TaskFinished
        ]
    );
    let failed = fw.wait_state("bad", TaskState::TaskFailed).await;
    assert!(
        failed.message.as_deref().unwrap_or("").contains("status 3"),
        "{failed:?}"
    );
    fw.wait_state("long", TaskState::TaskRunning).await;
    fw.kill("long").await;
    fw.wait_state("long", TaskState::TaskKilled).await;

    // The sandbox stdout is readable through the agent's /files/read.
    let agent = cluster.agent_addrs()[0];
    let dir = sandbox_dir(agent, "ok").await;
    let out = get_json(&format!(
        "http://{agent}/files/read?path={dir}/stdout&offset=0"
    ))
    .await;
    assert!(out["data"].as_str().unwrap().contains("hello-ok"), "{out}");

    // /master/state reflects the finished tasks.
    let m = cluster.master_addr();
    poll_json(
        &format!("http://{m}/master/state"),
        "completed tasks",
        |s| {
            s["frameworks"][0]["completed_tasks"]
                .as_array()
                .is_some_and(|t| t.len() == 3)
        },
    )
    .await;
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decline_filters_suppress_revive_and_reconcile() {
    let dir = TestDir::new();
    let cluster = cluster(dir.path(), 1, RES).await;
    let mut fw = Framework::subscribe(cluster.master_addr(), framework_info(&[], 60.0)).await;
    let offer = fw.wait_offer().await;
    fw.decline(&offer, 3600.0).await;
    // Filtered: no offer for several allocation intervals.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), fw.wait_offer())
            .await
            .is_err(),
        "declined resources must stay filtered"
    );
    fw.client
        .call(Call::Revive(Roles::default()))
        .await
        .unwrap();
    let offer = fw.wait_offer().await;
    fw.client
        .call(Call::Suppress(Roles::default()))
        .await
        .unwrap();
    fw.decline(&offer, 0.0).await;
    assert!(
        tokio::time::timeout(Duration::from_secs(3), fw.wait_offer())
            .await
            .is_err(),
        "suppressed framework gets no offers"
    );
    fw.client
        .call(Call::Revive(Roles::default()))
        .await
        .unwrap();
    let offer = fw.wait_offer().await;
    fw.launch(
        &offer,
        vec![command_task("r1", &offer, "sleep 60", "cpus:1;mem:64")],
    )
    .await;
    fw.wait_state("r1", TaskState::TaskRunning).await;
    let before = fw.updates.len();
    fw.client
        .call(Call::Reconcile(Reconcile::default()))
        .await
        .unwrap();
    fw.until("reconciliation answer", |f| {
        f.updates[before..].iter().any(|u| {
            u.reason.as_deref() == Some("REASON_RECONCILIATION")
                && u.state == TaskState::TaskRunning
        })
    })
    .await;
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn framework_failover_keeps_tasks() {
    let dir = TestDir::new();
    let cluster = cluster(dir.path(), 1, RES).await;
    let m = cluster.master_addr();
    let mut fw = Framework::subscribe(m, framework_info(&[], 300.0)).await;
    let id = fw.id();
    let offer = fw.wait_offer().await;
    fw.launch(
        &offer,
        vec![command_task("f1", &offer, "sleep 120", "cpus:1;mem:64")],
    )
    .await;
    fw.wait_state("f1", TaskState::TaskRunning).await;
    // A second scheduler instance takes over with the same ID: the first stream is failed over.
    let mut info = framework_info(&[], 300.0);
    info.id = Some(id.clone());
    let mut fw2 = Framework::subscribe(m, info).await;
    assert_eq!(fw2.id(), id);
    fw.until("failover error", |f| {
        f.errors.iter().any(|e| e == "Framework failed over")
    })
    .await;
    fw2.client
        .call(Call::Reconcile(Reconcile::default()))
        .await
        .unwrap();
    fw2.wait_state("f1", TaskState::TaskRunning).await;
    // The old stream ID is no longer accepted.
    let err = fw
        .client
        .call(Call::Reconcile(Reconcile::default()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_restart_loses_no_running_task() {
    let dir = TestDir::new();
    let mut cluster = cluster(dir.path(), 1, RES).await;
    let m = cluster.master_addr();
    let mut fw = Framework::subscribe(m, framework_info(&[], 300.0)).await;
    let id = fw.id();
    let offer = fw.wait_offer().await;
    fw.launch(
        &offer,
        vec![command_task("m1", &offer, "sleep 120", "cpus:1;mem:64")],
    )
    .await;
    fw.wait_state("m1", TaskState::TaskRunning).await;

    cluster.restart_master().await.unwrap();
    // The agent re-registers by itself.
    poll_json(&format!("http://{m}/master/state"), "agent back", |s| {
        s["slaves"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let mut info = framework_info(&[], 300.0);
    info.id = Some(id.clone());
    let mut fw = Framework::subscribe(m, info).await;
    assert_eq!(fw.id(), id);
    fw.client
        .call(Call::Reconcile(Reconcile::default()))
        .await
        .unwrap();
    let s = fw.wait_state("m1", TaskState::TaskRunning).await;
    assert_eq!(s.reason.as_deref(), Some("REASON_RECONCILIATION"));
    // And the task is still controllable.
    fw.kill("m1").await;
    fw.wait_state("m1", TaskState::TaskKilled).await;
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agent_restart_keeps_task_and_delivers_updates() {
    let dir = TestDir::new();
    let mut cluster = cluster(dir.path(), 1, RES).await;
    let m = cluster.master_addr();
    let mut fw = Framework::subscribe(m, framework_info(&[], 300.0)).await;
    let offer = fw.wait_offer().await;
    // The task outlives the agent restart, then finishes while the agent is back.
    fw.launch(
        &offer,
        vec![command_task(
            "a1",
            &offer,
            "sleep 6; echo done",
            "cpus:1;mem:64",
        )],
    )
    .await;
    fw.wait_state("a1", TaskState::TaskRunning).await;
    cluster.restart_agent(0).await.unwrap();
    fw.wait_state("a1", TaskState::TaskFinished).await;
    let agent_id = offer.agent_id.clone();
    poll_json(
        &format!("http://{m}/master/state"),
        "same agent re-registered",
        |s| s["slaves"][0]["id"] == agent_id.value.as_str(),
    )
    .await;
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_agent_tasks_become_unreachable_then_reconcile() {
    let dir = TestDir::new();
    let mut c = mesos_core::cluster::LocalClusterConfig::new(dir.path().join("work"));
    c.agent_resources = Some(RES.into());
    c.launcher_dir = Some(launcher_dir(dir.path()));
    let mut flags = mesos_core::cluster::MasterFlags::local(None);
    flags.agent_ping_timeout = "300ms".into();
    flags.max_agent_ping_timeouts = 3;
    c.master_flags = Some(flags);
    let mut cluster = mesos_core::cluster::LocalCluster::start(c).await.unwrap();
    let m = cluster.master_addr();
    let mut pa = Framework::subscribe(m, framework_info(&["PARTITION_AWARE"], 300.0)).await;
    let offer = pa.wait_offer().await;
    pa.launch(
        &offer,
        vec![command_task("p1", &offer, "sleep 120", "cpus:1;mem:64")],
    )
    .await;
    pa.wait_state("p1", TaskState::TaskRunning).await;

    cluster.stop_agent(0).await;
    let s = pa.wait_state("p1", TaskState::TaskUnreachable).await;
    assert_eq!(s.reason.as_deref(), Some("REASON_SLAVE_REMOVED"));
    assert!(s.unreachable_time.is_some());
    let metrics = get_json(&format!("http://{m}/metrics/snapshot")).await;
    assert_eq!(metrics["master/slaves_unreachable"], serde_json::json!(1.0));

    // The agent comes back with the task still running.
    cluster.start_agent(0).await.unwrap();
    poll_json(&format!("http://{m}/master/state"), "agent back", |s| {
        s["slaves"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let before = pa.updates.len();
    pa.client
        .call(Call::Reconcile(Reconcile::default()))
        .await
        .unwrap();
    pa.until("p1 reconciled running", |f| {
        f.updates[before..]
            .iter()
            .any(|u| u.task_id.value == "p1" && u.state == TaskState::TaskRunning)
    })
    .await;
    cluster.shutdown(true).await;
}
