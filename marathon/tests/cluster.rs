//! Marathon on a real local cluster (master and agents in-process, tasks are real
//! processes): apps, scaling, rolling restarts, health checks, kills, constraints,
//! failover of Marathon itself, and the event stream.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use support::{ids, wait_until, Env, WAIT};

fn sleeper(id: &str, n: u32) -> Value {
    json!({"id": id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": n})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_is_created_scaled_and_deleted() {
    let env = Env::start(&["localhost"]).await;
    let (s, body, headers) = env
        .req("POST", "/v2/apps", Some(sleeper("sleepy", 3)))
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(headers["Location"], "/sleepy");
    let dep = headers["Marathon-Deployment-Id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(body["id"], "/sleepy");
    assert_eq!(body["deployments"][0]["id"], dep.as_str());
    assert_eq!(body["tasksRunning"], 0);
    // The deployment does not finish before the tasks run.
    let deployments = env.get("/v2/deployments").await;
    assert_eq!(deployments.as_array().unwrap().len(), 1, "{deployments}");
    assert_eq!(deployments[0]["id"], dep.as_str());
    assert_eq!(deployments[0]["totalSteps"], 2);

    let tasks = env.wait_deployed("sleepy", 3).await;
    let first_three = ids(&tasks);
    for t in &tasks {
        assert_eq!(t["appId"], "/sleepy");
        assert!(
            t["id"].as_str().unwrap().starts_with("sleepy.instance-"),
            "{t}"
        );
        assert!(t["startedAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(t["servicePorts"], json!([10000]));
        assert_eq!(t["ports"].as_array().unwrap().len(), 1);
    }
    let app = env.get("/v2/apps/sleepy").await;
    assert_eq!(app["app"]["tasksRunning"], 3);
    assert_eq!(app["app"]["portDefinitions"][0]["port"], 10000);

    // Scale up, then down (the youngest go first).
    let (s, r, _) = env
        .req(
            "PUT",
            "/v2/apps//sleepy?force=False",
            Some(json!({"instances": 5})),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["deploymentId"].is_string() && r["version"].is_string());
    env.wait_deployed("sleepy", 5).await;
    let (s, _, _) = env
        .req("PUT", "/v2/apps/sleepy", Some(json!({"instances": 2})))
        .await;
    assert_eq!(s, 200);
    let two = env.wait_deployed("sleepy", 2).await;
    assert!(
        ids(&two).iter().all(|t| first_three.contains(t)),
        "the youngest go first: {:?} left of {first_three:?}",
        ids(&two)
    );
    let versions = env.get("/v2/apps/sleepy/versions").await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 3);

    // Delete: every task is killed.
    let (s, _, _) = env.req("DELETE", "/v2/apps/sleepy", None).await;
    assert_eq!(s, 200);
    let (s, body, _) = env.req("GET", "/v2/apps/sleepy", None).await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], "App '/sleepy' does not exist");
    wait_until("the tasks to be killed on the cluster", || async {
        let tasks = env.master_tasks().await;
        tasks
            .iter()
            .all(|t| t["state"] != "TASK_RUNNING")
            .then_some(())
    })
    .await;
    wait_until("the stop deployment to finish", || async {
        env.get("/v2/deployments")
            .await
            .as_array()
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_keeps_minimum_health_capacity() {
    let env = Env::start(&["localhost"]).await;
    let mut app = sleeper("roll", 3);
    app["upgradeStrategy"] = json!({"minimumHealthCapacity": 1, "maximumOverCapacity": 0.34});
    let (s, _, _) = env.req("POST", "/v2/apps", Some(app)).await;
    assert_eq!(s, 201);
    let old = ids(&env.wait_deployed("roll", 3).await);
    let (s, r, _) = env
        .req("PUT", "/v2/apps/roll", Some(json!({"cmd": "sleep 1001"})))
        .await;
    assert_eq!(s, 200, "{r}");
    let start = Instant::now();
    let mut max_seen = 0;
    loop {
        let running = env.running("roll").await;
        assert!(
            running.len() >= 3,
            "fewer than 3 running during the restart: {running:?}"
        );
        max_seen = max_seen.max(running.len());
        let a = env.get("/v2/apps/roll").await;
        if a["app"]["deployments"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(start.elapsed() < WAIT, "restart did not finish: {a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        max_seen <= 4,
        "more than one extra instance at a time: {max_seen}"
    );
    let new = env.wait_deployed("roll", 3).await;
    assert!(
        ids(&new).iter().all(|t| !old.contains(t)),
        "every task replaced"
    );
    let a = env.get("/v2/apps/roll").await;
    for t in &new {
        assert_eq!(t["version"], a["app"]["version"]);
    }
    // A restart without changes replaces them again.
    let (s, _, _) = env.req("POST", "/v2/apps/roll/restart", None).await;
    assert_eq!(s, 200);
    let again = env.wait_deployed("roll", 3).await;
    assert!(ids(&again).iter().all(|t| !ids(&new).contains(t)));
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_health_check_gets_the_task_replaced() {
    let env = Env::start(&["localhost"]).await;
    let check = |path: &str| {
        json!([{"protocol": "HTTP", "path": path, "portIndex": 0, "gracePeriodSeconds": 3,
                "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}])
    };
    let serve = "cd \"$MESOS_SANDBOX\" && echo ok > ok && exec python3 -m http.server $PORT0";
    let healthy = json!({"id": "web", "cmd": serve, "cpus": 0.1, "mem": 64, "instances": 1,
                         "healthChecks": check("/ok")});
    let (s, _, _) = env.req("POST", "/v2/apps", Some(healthy)).await;
    assert_eq!(s, 201);
    let tasks = env.wait_deployed("web", 1).await;
    let a = env.get("/v2/apps/web").await;
    assert_eq!(a["app"]["tasksHealthy"], 1, "{a}");
    let results = &tasks[0]["healthCheckResults"][0];
    assert_eq!(results["alive"], true, "{results}");
    assert!(results["firstSuccess"].as_str().unwrap().ends_with('Z'));

    let sick = json!({"id": "sick", "cmd": serve, "cpus": 0.1, "mem": 64, "instances": 1,
                      "healthChecks": check("/missing")});
    let (s, _, _) = env.req("POST", "/v2/apps", Some(sick)).await;
    assert_eq!(s, 201);
    let first = wait_until("a sick task to run", || async {
        env.running("sick")
            .await
            .first()
            .map(|t| t["id"].as_str().unwrap().to_string())
    })
    .await;
    // It never becomes healthy: killed after two failures past the grace period and
    // replaced by a new task.
    wait_until("the sick task to be replaced", || async {
        let now = env.running("sick").await;
        now.iter()
            .any(|t| t["id"].as_str() != Some(first.as_str()))
            .then_some(())
    })
    .await;
    let a = env.get("/v2/apps/sick").await;
    assert_eq!(
        a["app"]["deployments"].as_array().unwrap().len(),
        1,
        "never healthy: still deploying"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_task_is_replaced_and_scale_kill_shrinks() {
    let env = Env::start(&["localhost"]).await;
    env.req("POST", "/v2/apps", Some(sleeper("k", 2))).await;
    let tasks = env.wait_deployed("k", 2).await;
    let victim = tasks[0]["id"].as_str().unwrap().to_string();
    let (s, body, _) = env
        .req("DELETE", &format!("/v2/apps/k/tasks/{victim}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["task"]["id"], victim.as_str());
    let after = wait_until("a replacement", || async {
        let r = env.running("k").await;
        (r.len() == 2 && !ids(&r).contains(&victim)).then_some(r)
    })
    .await;
    // Kill with scale: the app shrinks instead.
    let one = after[0]["id"].as_str().unwrap().to_string();
    let (s, body, _) = env
        .req(
            "POST",
            "/v2/tasks/delete?scale=true",
            Some(json!({"ids": [one]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["deploymentId"].is_string());
    env.wait_deployed("k", 1).await;
    assert_eq!(env.get("/v2/apps/k").await["app"]["instances"], 1);
    // Unknown and malformed task ids.
    let (s, _, _) = env
        .req("DELETE", "/v2/apps/k/tasks/k.instance-nope._app.1", None)
        .await;
    assert_eq!(s, 404);
    let (s, body, _) = env
        .req("POST", "/v2/tasks/delete", Some(json!({"ids": ["nodots"]})))
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["message"], "Invalid task id 'nodots'");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_hostname_constraint_spreads_and_explains_the_wait() {
    let env = Env::start(&["localhost", "127.0.0.1"]).await;
    let mut app = sleeper("spread", 2);
    app["constraints"] = json!([["hostname", "UNIQUE"]]);
    env.req("POST", "/v2/apps", Some(app)).await;
    let tasks = env.wait_deployed("spread", 2).await;
    let mut hosts: Vec<&str> = tasks.iter().map(|t| t["host"].as_str().unwrap()).collect();
    hosts.sort();
    assert_eq!(hosts, ["127.0.0.1", "localhost"]);
    // A third instance has nowhere to go: it waits, and the queue says why.
    let (s, _, _) = env
        .req("PUT", "/v2/apps/spread", Some(json!({"instances": 3})))
        .await;
    assert_eq!(s, 200);
    let item = wait_until("the queue to show the refused offers", || async {
        let q = env.get("/v2/queue").await;
        let item = q["queue"].as_array()?.first()?.clone();
        let declined = item["processedOffersSummary"]["rejectSummaryLastOffers"]
            .as_array()?
            .iter()
            .find(|r| r["reason"] == "UnfulfilledConstraint")?["declined"]
            .as_u64()?;
        (declined > 0).then_some(item)
    })
    .await;
    assert_eq!(item["app"]["id"], "/spread");
    assert_eq!(item["count"], 1);
    assert_eq!(item["delay"]["overdue"], true);
    assert_eq!(env.running("spread").await.len(), 2);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_marathon_adopts_its_running_tasks() {
    let mut env = Env::start(&["localhost"]).await;
    env.req("POST", "/v2/apps", Some(sleeper("keep", 2))).await;
    let before = ids(&env.wait_deployed("keep", 2).await);
    let info = env.get("/v2/info").await;
    let framework_id = info["frameworkId"].as_str().unwrap().to_string();
    // A deployment that cannot finish (no agent is big enough) survives the restart.
    let mut big = sleeper("big", 1);
    big["cpus"] = json!(100);
    let (s, _, headers) = env.req("POST", "/v2/apps", Some(big)).await;
    assert_eq!(s, 201);
    let pending = headers["Marathon-Deployment-Id"]
        .to_str()
        .unwrap()
        .to_string();
    env.stop_marathon();
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.start_marathon().await;
    let info = env.get("/v2/info").await;
    assert_eq!(
        info["frameworkId"],
        framework_id.as_str(),
        "same framework id"
    );
    // Reconciliation confirms the tasks; none is relaunched.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = ids(&env.wait_deployed("keep", 2).await);
    assert_eq!(before, after);
    let deployments = env.get("/v2/deployments").await;
    assert_eq!(deployments.as_array().unwrap().len(), 1, "{deployments}");
    assert_eq!(deployments[0]["id"], pending.as_str());
    assert_eq!(
        deployments[0]["currentActions"][0]["action"],
        "ScaleApplication"
    );
    let q = env.get("/v2/queue").await;
    assert_eq!(q["queue"][0]["app"]["id"], "/big", "{q}");
    let running: Vec<Value> = env
        .master_tasks()
        .await
        .into_iter()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect();
    assert_eq!(running.len(), 2, "{running:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_reports_a_deployment_in_order() {
    let env = Env::start(&["localhost"]).await;
    let resp = env
        .http
        .get(format!("{}/v2/events", env.base))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let mut buf = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\n\n") {
                let frame = buf[..end].to_string();
                buf.drain(..end + 2);
                for line in frame.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                            let _ = tx.send(v);
                        }
                    }
                }
            }
        }
    });
    env.req("POST", "/v2/apps", Some(sleeper("ev", 1))).await;
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while !seen.iter().any(|e| e["eventType"] == "deployment_success") {
        assert!(start.elapsed() < WAIT, "no deployment_success: {seen:?}");
        if let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            seen.push(e);
        }
    }
    let kinds: Vec<&str> = seen
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "event_stream_attached", "{kinds:?}");
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("no {k}: {kinds:?}"))
    };
    assert!(pos("api_post_event") < pos("deployment_info"));
    assert!(pos("deployment_info") < pos("deployment_step_success"));
    let running = seen
        .iter()
        .position(|e| e["eventType"] == "status_update_event" && e["taskStatus"] == "TASK_RUNNING")
        .expect("a TASK_RUNNING update");
    assert!(running < pos("deployment_success"));
    for e in &seen {
        assert!(e["timestamp"].as_str().unwrap().ends_with('Z'), "{e}");
    }
    let success = &seen[pos("deployment_success")];
    assert!(success["plan"]["original"].is_object() && success["plan"]["target"].is_object());
    env.shutdown().await;
}
