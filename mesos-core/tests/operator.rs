//! Operator endpoints: the shapes tools rely on (spec section 6).

mod support;

use mesos_core::proto::recordio::Decoder;
use mesos_core::proto::v1::TaskState;
use serde_json::{json, Value};
use support::*;

async fn post(url: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn post_json(url: &str, body: Value) -> Value {
    let r = post(url, body).await;
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_endpoints_have_the_mesos_shapes() {
    let dir = TestDir::new();
    let cluster = cluster(
        dir.path(),
        2,
        "cpus:2;mem:1024;disk:1024;ports:[31000-31010]",
    )
    .await;
    let m = cluster.master_addr();
    let base = format!("http://{m}");

    let v = get_json(&format!("{base}/version")).await;
    assert_eq!(v["version"], "1.11.0");
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.bytes().await.unwrap().len(), 0);

    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for p in ["/redirect", "/master/redirect"] {
        let r = c.get(format!("{base}{p}")).send().await.unwrap();
        assert_eq!(r.status(), 307);
        assert_eq!(
            r.headers()["location"],
            format!("//127.0.0.1:{}", m.port()).as_str()
        );
    }

    // Run one task so that the state has a framework with a task.
    let mut fw = Framework::subscribe(m, framework_info(&[], 60.0)).await;
    let offer = fw.wait_offer().await;
    fw.launch(
        &offer,
        vec![command_task("op1", &offer, "sleep 60", "cpus:0.5;mem:32")],
    )
    .await;
    fw.wait_state("op1", TaskState::TaskRunning).await;

    let state = poll_json(&format!("{base}/master/state"), "running task", |s| {
        s["frameworks"][0]["tasks"][0]["state"] == "TASK_RUNNING"
    })
    .await;
    for key in [
        "version",
        "build_date",
        "build_time",
        "build_user",
        "start_time",
        "id",
        "pid",
        "hostname",
        "activated_slaves",
        "leader",
        "leader_info",
        "flags",
        "slaves",
        "frameworks",
        "completed_frameworks",
        "orphan_tasks",
        "unregistered_frameworks",
        "capabilities",
    ] {
        assert!(
            state.get(key).is_some(),
            "/master/state lacks {key}: {state}"
        );
    }
    assert_eq!(state["activated_slaves"], json!(2.0));
    let slave = &state["slaves"][0];
    assert!(slave["pid"].as_str().unwrap().starts_with("slave(1)@"));
    assert!(slave["resources"]["ports"]
        .as_str()
        .unwrap()
        .starts_with('['));
    for k in ["cpus", "gpus", "mem", "disk"] {
        assert!(slave["used_resources"][k].is_number(), "{k}");
    }
    let f = &state["frameworks"][0];
    assert_eq!(f["role"], "*");
    assert_eq!(f["active"], true);
    let t = &f["tasks"][0];
    assert_eq!(t["executor_id"], "");
    assert_eq!(t["slave_id"], offer.agent_id.value.as_str());
    assert_eq!(t["resources"]["cpus"], json!(0.5));
    assert_eq!(
        t["statuses"].as_array().unwrap().last().unwrap()["state"],
        "TASK_RUNNING"
    );

    // Aliases answer the same document.
    for p in ["/state", "/state.json", "/master/state.json"] {
        let s = get_json(&format!("{base}{p}")).await;
        assert_eq!(s["id"], state["id"], "{p}");
    }
    let jsonp = reqwest::get(format!("{base}/master/state?jsonp=cb"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(jsonp.starts_with("cb(") && jsonp.ends_with(");"));

    let summary = get_json(&format!("{base}/master/state-summary")).await;
    assert_eq!(summary["slaves"].as_array().unwrap().len(), 2);
    assert_eq!(summary["frameworks"][0]["TASK_RUNNING"], 1);

    let metrics = get_json(&format!("{base}/metrics/snapshot")).await;
    for k in [
        "master/elected",
        "master/uptime_secs",
        "master/slaves_active",
        "master/frameworks_active",
        "master/tasks_running",
        "master/cpus_total",
        "master/cpus_used",
        "master/mem_percent",
        "master/outstanding_offers",
        "allocator/mesos/allocation_runs",
        "system/cpus_total",
    ] {
        assert!(metrics[k].is_number(), "metric {k} missing: {metrics}");
    }
    assert_eq!(metrics["master/slaves_active"], json!(2.0));
    assert_eq!(metrics["master/tasks_running"], json!(1.0));
    assert_eq!(metrics["master/cpus_total"], json!(4.0));
    let prom = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(prom.contains("mesos_master_tasks_running 1"), "{prom}");

    // v1 operator API, also reached through /api/v1/operator (longest-prefix routing).
    let r = post(
        &format!("{base}/api/v1/operator"),
        json!({"type": "GET_HEALTH"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );
    let v: Value = post_json(&format!("{base}/api/v1"), json!({"type": "GET_TASKS"})).await;
    assert_eq!(v["get_tasks"]["tasks"][0]["task_id"]["value"], "op1");
    assert_eq!(v["get_tasks"]["tasks"][0]["state"], "TASK_RUNNING");
    let v: Value = post_json(&format!("{base}/api/v1"), json!({"type": "GET_AGENTS"})).await;
    assert_eq!(v["get_agents"]["agents"].as_array().unwrap().len(), 2);
    assert!(v["get_agents"]["agents"][0]["agent_info"]["id"]["value"].is_string());
    let v: Value = post_json(&format!("{base}/api/v1"), json!({"type": "GET_FRAMEWORKS"})).await;
    assert_eq!(
        v["get_frameworks"]["frameworks"][0]["framework_info"]["name"],
        "itest"
    );
    let v: Value = post_json(&format!("{base}/api/v1"), json!({"type": "GET_STATE"})).await;
    assert!(v["get_state"]["get_tasks"]["tasks"].is_array());
    assert!(v["get_state"]["get_agents"]["agents"].is_array());
    let v: Value = post_json(&format!("{base}/api/v1"), json!({"type": "GET_VERSION"})).await;
    assert_eq!(v["get_version"]["version_info"]["version"], "1.11.0");

    // SUBSCRIBE: SUBSCRIBED with the state, then events as they happen.
    let r = post(&format!("{base}/api/v1"), json!({"type": "SUBSCRIBE"})).await;
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut dec = Decoder::new();
    let mut seen: Vec<Value> = Vec::new();
    use futures::StreamExt;
    let mut killed = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen
        .iter()
        .any(|e| e["type"] == "TASK_UPDATED" && e["task_updated"]["state"] == "TASK_KILLED")
    {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("operator events")
            .unwrap()
            .unwrap();
        for rec in dec.feed(&chunk).unwrap() {
            seen.push(serde_json::from_slice(&rec).unwrap());
        }
        if !killed && seen.iter().any(|e| e["type"] == "SUBSCRIBED") {
            killed = true;
            fw.kill("op1").await;
        }
    }
    assert_eq!(seen[0]["type"], "SUBSCRIBED");
    assert_eq!(
        seen[0]["subscribed"]["get_state"]["get_tasks"]["tasks"][0]["task_id"]["value"],
        "op1"
    );
    cluster.shutdown(true).await;
}
