//! Executor-run (COMMAND) health checks and the launch backoff of crashing apps, on a real
//! local cluster: the agent's command executor probes the task and reports `healthy` in its
//! status updates, which Marathon counts; a crashing app waits in `/v2/queue` with a growing
//! delay that `DELETE /v2/queue/{id}/delay` resets.

mod support;

use serde_json::{json, Value};
use support::{wait_until, Env};

fn command_checked(id: &str, check: &str) -> Value {
    json!({
        "id": id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1,
        "healthChecks": [{
            "protocol": "COMMAND", "command": {"value": check},
            "intervalSeconds": 1, "gracePeriodSeconds": 5, "timeoutSeconds": 2,
            "maxConsecutiveFailures": 2,
        }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_command_health_check_makes_the_task_healthy() {
    let env = Env::start(&["localhost"]).await;
    let (s, body, _) = env
        .req("POST", "/v2/apps", Some(command_checked("/hc/ok", "true")))
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["healthChecks"][0]["protocol"], "COMMAND", "{body}");
    assert_eq!(
        body["healthChecks"][0]["command"]["value"], "true",
        "{body}"
    );
    // The deployment only finishes once the executor reported the task healthy.
    let tasks = env.wait_deployed("hc/ok", 1).await;
    let app = env.get("/v2/apps/hc/ok").await;
    assert_eq!(app["app"]["tasksRunning"], 1, "{app}");
    assert_eq!(app["app"]["tasksHealthy"], 1, "{app}");
    assert_eq!(app["app"]["tasksUnhealthy"], 0, "{app}");
    let results = tasks[0]["healthCheckResults"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{}", tasks[0]);
    assert_eq!(results[0]["alive"], true, "{}", tasks[0]);
    assert!(results[0]["firstSuccess"].is_string(), "{}", tasks[0]);
    // Healthy tasks stay: the same one is still there a few probes later.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let again = env.running("hc/ok").await;
    assert_eq!(support::ids(&again), support::ids(&tasks));
    let app = env.get("/v2/apps/hc/ok").await;
    assert_eq!(app["app"]["tasksHealthy"], 1, "{app}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_command_health_check_gets_the_task_killed_and_replaced() {
    let env = Env::start(&["localhost"]).await;
    let (s, body, _) = env
        .req(
            "POST",
            "/v2/apps",
            Some(command_checked("/hc/bad", "false")),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let first = wait_until("the first task to run", || async {
        env.running("hc/bad")
            .await
            .first()
            .map(|t| t["id"].as_str().unwrap().to_string())
    })
    .await;
    // Never healthy, so the deployment cannot finish while the task runs.
    let app = env.get("/v2/apps/hc/bad").await;
    assert_eq!(app["app"]["tasksHealthy"], 0, "{app}");
    assert_eq!(
        app["app"]["deployments"].as_array().unwrap().len(),
        1,
        "{app}"
    );
    // After the grace period and two failed probes the executor kills it, and Marathon
    // launches a replacement.
    let second = wait_until("a replacement task", || async {
        let tasks = env.running("hc/bad").await;
        tasks
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .find(|t| *t != first)
    })
    .await;
    assert_ne!(first, second);
    let killed = env
        .master_task(&first)
        .await
        .unwrap_or_else(|| panic!("the master forgot {first}"));
    assert_eq!(killed["state"], "TASK_KILLED", "{killed}");
    let app = env.get("/v2/apps/hc/bad").await;
    assert_eq!(app["app"]["tasksHealthy"], 0, "{app}");
    assert_eq!(
        app["app"]["deployments"].as_array().unwrap().len(),
        1,
        "{app}"
    );
    env.shutdown().await;
}

/// The queue entry of `app`, if it waits.
async fn queued(env: &Env, app: &str) -> Option<Value> {
    let q = env.get("/v2/queue").await;
    q["queue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["app"]["id"] == app)
        .cloned()
}

async fn last_failure(env: &Env, app: &str) -> Value {
    let a = env
        .get(&format!("/v2/apps?embed=apps.lastTaskFailure&id={app}"))
        .await;
    a["apps"][0]["lastTaskFailure"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_app_is_delayed_and_the_delay_can_be_reset() {
    let env = Env::start(&["localhost"]).await;
    let app = json!({"id": "/crash", "cmd": "exit 1", "cpus": 0.1, "mem": 16, "instances": 1,
                     "backoffSeconds": 2, "backoffFactor": 2});
    let (s, body, _) = env.req("POST", "/v2/apps", Some(app)).await;
    assert_eq!(s, 201, "{body}");

    // Between launches the app waits in the queue: delayed, not overdue.
    let item = wait_until("the app to be delayed", || async {
        queued(&env, "/crash")
            .await
            .filter(|i| i["delay"]["overdue"] == false)
    })
    .await;
    let left = item["delay"]["timeLeftSeconds"].as_i64().unwrap();
    assert!(
        (1..=2).contains(&left),
        "the first delay is backoffSeconds: {item}"
    );
    assert_eq!(item["count"], 1, "{item}");
    assert_eq!(item["app"]["backoffSeconds"], 2, "{item}");

    // The failure is on the app: embedded on request in lists, always for one app.
    let failure = last_failure(&env, "/crash").await;
    assert_eq!(failure["appId"], "/crash", "{failure}");
    assert_eq!(failure["state"], "TASK_FAILED", "{failure}");
    assert!(
        failure["taskId"]
            .as_str()
            .unwrap()
            .starts_with("crash.instance-"),
        "{failure}"
    );
    assert!(failure["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(failure["version"], body["version"], "{failure}");
    assert_eq!(failure["host"], "localhost", "{failure}");
    let one = env.get("/v2/apps/crash").await;
    assert_eq!(one["app"]["lastTaskFailure"]["appId"], "/crash", "{one}");
    let plain = env.get("/v2/apps").await;
    assert!(plain["apps"][0].get("lastTaskFailure").is_none(), "{plain}");

    // Each failure doubles the delay: 2, 4, 8.
    let item = wait_until("the delay to grow", || async {
        queued(&env, "/crash").await.filter(|i| {
            i["delay"]["overdue"] == false && i["delay"]["timeLeftSeconds"].as_i64() >= Some(6)
        })
    })
    .await;
    assert!(
        item["delay"]["timeLeftSeconds"].as_i64().unwrap() <= 8,
        "{item}"
    );
    let before = last_failure(&env, "/crash").await["taskId"].clone();

    // Reset: overdue at once, launched again, and the next delay starts over.
    let (s, text, _) = env.raw("DELETE", "/v2/queue/crash/delay", &[], None).await;
    assert_eq!((s, text.as_str()), (204, ""));
    if let Some(i) = queued(&env, "/crash").await {
        assert_eq!(i["delay"]["overdue"], true, "{i}");
        assert_eq!(i["delay"]["timeLeftSeconds"], 0, "{i}");
    }
    let started = std::time::Instant::now();
    wait_until("the relaunched task to fail", || async {
        let f = last_failure(&env, "/crash").await;
        (f["taskId"] != before).then_some(())
    })
    .await;
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "relaunched without waiting out the old delay of 8 s"
    );
    let item = wait_until("the app to be delayed again", || async {
        queued(&env, "/crash")
            .await
            .filter(|i| i["delay"]["overdue"] == false)
    })
    .await;
    let left = item["delay"]["timeLeftSeconds"].as_i64().unwrap();
    assert!((1..=2).contains(&left), "the delay starts over: {item}");

    // Apps that do not wait in the queue have no delay to reset.
    let (s, body, _) = env.req("DELETE", "/v2/queue/nope/delay", None).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(
        body["message"],
        "Application /nope not found in tasks queue."
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_is_forgotten_after_a_quiet_period() {
    let env = Env::start(&["localhost"]).await;
    let runs = env.dir.path().join("runs");
    std::fs::create_dir_all(&runs).unwrap();
    let runs = runs.display().to_string();
    // Two quick crashes (delays 1, then 4 = maxLaunchDelaySeconds), then runs that last
    // longer than maxLaunchDelaySeconds before they crash.
    let cmd = format!(
        "n=$(ls {runs} | wc -l); touch {runs}/run-$n; if [ $n -lt 2 ]; then exit 1; fi; sleep 8; exit 1"
    );
    let app = json!({"id": "/quiet", "cmd": cmd, "cpus": 0.1, "mem": 16, "instances": 1,
                     "backoffSeconds": 1, "backoffFactor": 4, "maxLaunchDelaySeconds": 4});
    let (s, body, _) = env.req("POST", "/v2/apps", Some(app)).await;
    assert_eq!(s, 201, "{body}");
    wait_until("the delay to reach maxLaunchDelaySeconds", || async {
        queued(&env, "/quiet").await.filter(|i| {
            i["delay"]["overdue"] == false && i["delay"]["timeLeftSeconds"].as_i64() >= Some(3)
        })
    })
    .await;
    // The third run starts after that delay and crashes 8 s later: more than
    // maxLaunchDelaySeconds without a failure, so the delay starts over.
    let third = std::path::Path::new(&runs).join("run-2");
    wait_until("the third run", || async { third.exists().then_some(()) }).await;
    let item = wait_until("the app to wait after the third crash", || async {
        queued(&env, "/quiet")
            .await
            .filter(|i| i["delay"]["overdue"] == false)
    })
    .await;
    assert_eq!(
        item["delay"]["timeLeftSeconds"], 1,
        "back to backoffSeconds: {item}"
    );
    env.shutdown().await;
}
