//! What Marathon answers to bad requests (spec 0.6, A2, A10): malformed JSON, wrong types,
//! invalid fields, unknown paths and methods, conflicts and locks, and that a rejected
//! request changes nothing. After every bad request the server still answers `/ping`.

mod support;

use serde_json::{json, Value};
use support::{wait_until, Env};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn sleeper(id: &str) -> Value {
    json!({"id": id, "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 1})
}

/// An app whose deployment can never finish: no agent has that many cpus.
fn too_big(id: &str) -> Value {
    json!({"id": id, "cmd": "sleep 1000", "cpus": 100, "mem": 16, "instances": 1})
}

/// The 422 `details` entry for `path`, with its errors.
fn details_at(body: &Value, path: &str) -> Vec<String> {
    body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {body}"))
        .iter()
        .filter(|d| d["path"] == path)
        .flat_map(|d| d["errors"].as_array().cloned().unwrap_or_default())
        .map(|e| e.as_str().unwrap().to_string())
        .collect()
}

/// A request expected to fail with `status`; the body, after checking the server lives on.
async fn rejected(env: &Env, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let (s, b, _) = env.req(method, path, body).await;
    assert_eq!(s, status, "{method} {path}: {b}");
    env.assert_alive().await;
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_invalid_bodies() {
    let env = Env::start(&["localhost"]).await;

    // Not JSON at all: 400 with the parser's text.
    for (method, path) in [
        ("POST", "/v2/apps"),
        ("PUT", "/v2/apps/x"),
        ("PATCH", "/v2/apps/x"),
        ("PUT", "/v2/apps"),
        ("POST", "/v2/groups"),
        ("PUT", "/v2/groups/g"),
        ("POST", "/v2/tasks/delete"),
    ] {
        let (s, text, _) = env
            .raw(method, path, &[JSON], Some(r#"{"id": "broken", "cmd": "#))
            .await;
        assert_eq!(s, 400, "{method} {path}: {text}");
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(b["message"], "Invalid JSON", "{b}");
        assert!(b["details"].as_str().is_some_and(|d| !d.is_empty()), "{b}");
        env.assert_alive().await;
    }

    // Well-formed, wrong types: 422 "Invalid JSON" naming the field.
    let cases = [
        (
            json!({"id": "/typed", "cmd": "sleep 1", "cpus": "lots"}),
            "/cpus",
        ),
        (json!({"id": 7, "cmd": "sleep 1"}), "/id"),
        (
            json!({"id": "/typed", "cmd": "sleep 1", "instances": "three"}),
            "/instances",
        ),
        (
            json!({"id": "/typed", "cmd": "sleep 1",
                   "healthChecks": [{"protocol": "TCP", "intervalSeconds": "often"}]}),
            "/healthChecks(0)/intervalSeconds",
        ),
        (
            json!({"id": "/typed", "container": {"type": "DOCKER", "docker": {"image": 3}}}),
            "/container/docker/image",
        ),
        (
            json!({"id": "/typed", "cmd": "sleep 1", "env": {"A": 1}}),
            "/env/A",
        ),
    ];
    for (app, path) in cases {
        let b = rejected(&env, "POST", "/v2/apps", Some(app.clone()), 422).await;
        assert_eq!(b["message"], "Invalid JSON", "{app}: {b}");
        assert!(
            !details_at(&b, path).is_empty(),
            "{app}: no error at {path}: {b}"
        );
    }
    let b = rejected(&env, "POST", "/v2/apps", Some(json!([1, 2])), 422).await;
    assert!(!details_at(&b, "/").is_empty(), "{b}");

    // Valid JSON, invalid values: 422 "Object is not valid" with accord-style paths.
    let b = rejected(
        &env,
        "POST",
        "/v2/apps",
        Some(json!({"id": "/neg", "cmd": "sleep 1", "cpus": -1})),
        422,
    )
    .await;
    assert_eq!(b["message"], "Object is not valid", "{b}");
    assert!(!details_at(&b, "/cpus").is_empty(), "{b}");
    let b = rejected(
        &env,
        "POST",
        "/v2/apps",
        Some(json!({"id": "/hc", "cmd": "sleep 1",
                    "healthChecks": [{"protocol": "HTTP", "portIndex": 3, "intervalSeconds": 0}]})),
        422,
    )
    .await;
    assert!(
        !details_at(&b, "/healthChecks(0)/portIndex").is_empty(),
        "{b}"
    );
    assert_eq!(
        details_at(&b, "/healthChecks(0)/intervalSeconds"),
        ["got 0, expected 1 or more"],
        "{b}"
    );
    let b = rejected(
        &env,
        "POST",
        "/v2/apps",
        Some(json!({"id": "/up", "cmd": "sleep 1",
                    "upgradeStrategy": {"minimumHealthCapacity": 1.5}})),
        422,
    )
    .await;
    assert_eq!(
        details_at(&b, "/upgradeStrategy/minimumHealthCapacity"),
        ["is greater than 1"],
        "{b}"
    );
    let b = rejected(
        &env,
        "POST",
        "/v2/apps",
        Some(json!({"id": "/nothing"})),
        422,
    )
    .await;
    assert_eq!(
        details_at(&b, "/"),
        ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."],
        "{b}"
    );
    let b = rejected(
        &env,
        "POST",
        "/v2/apps",
        Some(json!({"id": "/Upper_Case", "cmd": "sleep 1"})),
        422,
    )
    .await;
    assert!(
        details_at(&b, "/id")
            .iter()
            .any(|e| e.starts_with("must fully match regular expression")),
        "{b}"
    );

    // Nothing of the rejected apps exists.
    let apps = env.get("/v2/apps").await;
    assert_eq!(apps["apps"], json!([]), "{apps}");
    assert_eq!(env.get("/v2/deployments").await, json!([]));

    // `version` is a rollback and takes nothing but the id along.
    let (s, _, _) = env.req("POST", "/v2/apps", Some(sleeper("/v"))).await;
    assert_eq!(s, 201);
    let version = env.get("/v2/apps/v").await["app"]["version"].clone();
    let b = rejected(
        &env,
        "PUT",
        "/v2/apps/v",
        Some(json!({"version": version, "cpus": 0.2})),
        422,
    )
    .await;
    assert_eq!(
        b["message"],
        "The 'version' field may only be combined with the 'id' field."
    );
    let b = rejected(
        &env,
        "PUT",
        "/v2/apps/v",
        Some(json!({"version": "2001-01-01T00:00:00.000Z"})),
        404,
    )
    .await;
    assert!(b["message"].as_str().is_some(), "{b}");
    assert_eq!(
        env.get("/v2/apps/v").await["app"]["cpus"].as_f64(),
        Some(0.1),
        "a rejected change changes nothing"
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_methods_and_client_quirks() {
    let env = Env::start(&["localhost"]).await;
    let (s, _, _) = env.req("POST", "/v2/apps", Some(sleeper("/q"))).await;
    assert_eq!(s, 201);

    // Missing things: 404 with Marathon's messages.
    let b = rejected(
        &env,
        "PATCH",
        "/v2/apps/missing",
        Some(json!({"instances": 2})),
        404,
    )
    .await;
    assert_eq!(b["message"], "App '/missing' does not exist");
    let b = rejected(&env, "GET", "/v2/apps/missing", None, 404).await;
    assert_eq!(b["message"], "App '/missing' does not exist");
    let b = rejected(&env, "DELETE", "/v2/apps/missing", None, 404).await;
    assert_eq!(b["message"], "App '/missing' does not exist");
    let b = rejected(&env, "GET", "/v2/groups/missing", None, 404).await;
    assert_eq!(b["message"], "Group '/missing' does not exist");
    let b = rejected(&env, "DELETE", "/v2/deployments/nope", None, 404).await;
    assert_eq!(b["message"], "DeploymentPlan nope does not exist");
    let b = rejected(
        &env,
        "DELETE",
        "/v2/apps/q/tasks/q.instance-x._app.1",
        None,
        404,
    )
    .await;
    assert_eq!(b["message"], "Task 'q.instance-x._app.1' does not exist");
    for path in ["/v2/nothing", "/nothing", "/v2/apps2", "/v2/tasks/nothing"] {
        let b = rejected(&env, "GET", path, None, 404).await;
        assert_eq!(b["message"], format!("URI not found: {path}"), "{path}");
    }

    // Bad task requests: 400.
    let b = rejected(
        &env,
        "POST",
        "/v2/tasks/delete",
        Some(json!({"ids": ["nodots"]})),
        400,
    )
    .await;
    assert_eq!(b["message"], "Invalid task id 'nodots'");
    let b = rejected(
        &env,
        "DELETE",
        "/v2/apps/q/tasks?scale=true&wipe=true",
        None,
        400,
    )
    .await;
    assert_eq!(
        b["message"],
        "You cannot use scale and wipe at the same time."
    );

    // Known paths, wrong methods: 405.
    for (method, path) in [
        ("DELETE", "/v2/apps"),
        ("POST", "/v2/apps/q"),
        ("GET", "/v2/apps/q/restart"),
        ("PUT", "/v2/tasks"),
        ("GET", "/v2/tasks/delete"),
        ("POST", "/v2/info"),
        ("DELETE", "/v2/info"),
        ("PUT", "/ping"),
        ("POST", "/v2/deployments"),
        ("PATCH", "/v2/queue"),
        ("POST", "/v2/leader"),
        ("POST", "/v2/events"),
        ("DELETE", "/metrics"),
        ("POST", "/v2/plugins"),
        ("GET", "/v2/queue/q/delay"),
    ] {
        let b = rejected(&env, method, path, None, 405).await;
        assert!(b["message"].is_string(), "{method} {path}: {b}");
    }
    // The event stream needs Accept: text/event-stream.
    let (s, text, _) = env.raw("GET", "/v2/events", &[], None).await;
    assert_eq!(s, 405, "{text}");
    let (s, text, _) = env
        .raw("GET", "/v2/events", &[("Accept", "application/json")], None)
        .await;
    assert_eq!(s, 405, "{text}");
    env.assert_alive().await;

    // Python clients: double slashes, JSON content type on GET and DELETE, `True`.
    let (s, text, _) = env.raw("GET", "/v2/apps//q", &[JSON], None).await;
    assert_eq!(s, 200, "{text}");
    let (s, text, _) = env.raw("GET", "//v2//apps", &[JSON], None).await;
    assert_eq!(s, 200, "{text}");
    let (s, text, _) = env
        .raw(
            "GET",
            "/v2/apps/q?embed=app.tasks&embed=app.counts&embed=app.taskStats&embed=nonsense",
            &[JSON],
            None,
        )
        .await;
    assert_eq!(s, 200, "{text}");
    let app: Value = serde_json::from_str(&text).unwrap();
    assert!(app["app"]["tasks"].is_array(), "{app}");
    assert!(app["app"]["tasksRunning"].is_number(), "{app}");
    assert!(app["app"]["taskStats"].is_object(), "{app}");
    let (s, text, _) = env
        .raw(
            "GET",
            "/v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure",
            &[JSON],
            None,
        )
        .await;
    assert_eq!(s, 200, "{text}");
    let (s, text, _) = env
        .raw(
            "GET",
            "/v2/groups?embed=group.apps&embed=group.groups&embed=group.apps.counts",
            &[JSON],
            None,
        )
        .await;
    assert_eq!(s, 200, "{text}");
    let g: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(g["apps"][0]["id"], "/q", "{g}");
    assert!(g["apps"][0]["tasksRunning"].is_number(), "{g}");
    env.wait_deployed("q", 1).await;
    let (s, text, _) = env
        .raw(
            "PUT",
            "/v2/apps//q?force=True",
            &[JSON],
            Some(r#"{"instances": 2}"#),
        )
        .await;
    assert_eq!(s, 200, "{text}");
    env.wait_deployed("q", 2).await;
    let (s, text, _) = env
        .raw("DELETE", "/v2/apps//q?force=False", &[JSON], None)
        .await;
    assert_eq!(s, 200, "{text}");
    let (s, _, _) = env.req("GET", "/v2/apps/q", None).await;
    assert_eq!(s, 404);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_locks_and_all_or_nothing_changes() {
    let env = Env::start(&["localhost"]).await;
    let (s, created, _) = env.req("POST", "/v2/apps", Some(sleeper("/one"))).await;
    assert_eq!(s, 201);
    env.wait_deployed("one", 1).await;

    // The same id again: 409 without a `deployments` list.
    let b = rejected(&env, "POST", "/v2/apps", Some(sleeper("/one")), 409).await;
    assert_eq!(b["message"], "An app with id [/one] already exists.");
    assert!(b.get("deployments").is_none(), "{b}");

    // PUT /v2/apps with one invalid entry: 422, and nothing of it is applied.
    let batch = json!([
        {"id": "/one", "cmd": "sleep 2000"},
        {"id": "/two", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16},
        {"id": "/three", "cmd": "sleep 1000", "cpus": -2},
    ]);
    let b = rejected(&env, "PUT", "/v2/apps", Some(batch), 422).await;
    assert_eq!(b["message"], "Object is not valid", "{b}");
    assert!(!details_at(&b, "/(2)/cpus").is_empty(), "{b}");
    let b = rejected(
        &env,
        "PUT",
        "/v2/apps",
        Some(json!([sleeper("/two"), {"id": "/four", "cmd": "sleep 1", "mem": "much"}])),
        422,
    )
    .await;
    assert_eq!(b["message"], "Invalid JSON", "{b}");
    assert!(!details_at(&b, "/(1)/mem").is_empty(), "{b}");
    let b = rejected(
        &env,
        "PUT",
        "/v2/apps",
        Some(json!([sleeper("/two"), {"cmd": "sleep 1"}])),
        422,
    )
    .await;
    assert!(!details_at(&b, "/(1)/id").is_empty(), "{b}");
    let b = rejected(&env, "PUT", "/v2/apps", Some(sleeper("/two")), 422).await;
    assert!(
        !details_at(&b, "/").is_empty(),
        "an object where a list belongs: {b}"
    );
    let (s, _, _) = env.req("GET", "/v2/apps/two", None).await;
    assert_eq!(s, 404, "the valid new entry was not created");
    let one = env.get("/v2/apps/one").await;
    assert_eq!(one["app"]["cmd"], "sleep 1000", "{one}");
    assert_eq!(one["app"]["version"], created["version"], "{one}");
    assert_eq!(
        env.get("/v2/apps/one/versions").await["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(env.get("/v2/deployments").await, json!([]));
    // A batch whose entries are all valid applies as one deployment.
    let (s, r, _) = env
        .req(
            "PUT",
            "/v2/apps",
            Some(json!([{"id": "/one", "instances": 2}, sleeper("/two")])),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    assert!(r["deploymentId"].is_string(), "{r}");
    env.wait_deployed("one", 2).await;
    env.wait_deployed("two", 1).await;

    // A deployment that cannot finish locks its app.
    let (s, big, headers) = env.req("POST", "/v2/apps", Some(too_big("/big"))).await;
    assert_eq!(s, 201, "{big}");
    let dep = headers["Marathon-Deployment-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let b = rejected(&env, "PUT", "/v2/apps/big", Some(json!({"cpus": 0.1})), 409).await;
    assert_eq!(
        b["message"],
        format!("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{dep}'.")
    );
    assert_eq!(b["deployments"], json!([{"id": dep}]), "{b}");
    for (method, path, body) in [
        ("POST", "/v2/apps/big/restart", None),
        ("PATCH", "/v2/apps/big", Some(json!({"instances": 2}))),
        ("DELETE", "/v2/apps/big?force=false", None),
        ("PUT", "/v2/apps", Some(json!([{"id": "/big", "mem": 32}]))),
    ] {
        let b = rejected(&env, method, path, body, 409).await;
        assert_eq!(
            b["deployments"],
            json!([{"id": dep}]),
            "{method} {path}: {b}"
        );
    }
    assert_eq!(
        env.get("/v2/apps/big").await["app"]["cpus"].as_f64(),
        Some(100.0)
    );
    // With force the change supersedes the stuck deployment and goes through.
    let (s, r, _) = env
        .req("PUT", "/v2/apps/big?force=true", Some(json!({"cpus": 0.1})))
        .await;
    assert_eq!(s, 200, "{r}");
    assert_ne!(r["deploymentId"], dep.as_str());
    env.wait_deployed("big", 1).await;
    let deployments = env.get("/v2/deployments").await;
    assert_eq!(deployments, json!([]), "{deployments}");

    // Cancelling a stuck deployment without force rolls its change back.
    let (s, r, _) = env
        .req("PUT", "/v2/apps/one", Some(json!({"cpus": 100})))
        .await;
    assert_eq!(s, 200, "{r}");
    let stuck = r["deploymentId"].as_str().unwrap().to_string();
    let (s, rollback, headers) = env
        .req("DELETE", &format!("/v2/deployments/{stuck}"), None)
        .await;
    assert_eq!(s, 200, "{rollback}");
    let rb = rollback["deploymentId"].as_str().unwrap().to_string();
    assert_ne!(rb, stuck);
    assert!(rollback["version"].is_string(), "{rollback}");
    assert_eq!(headers["Marathon-Deployment-Id"], rb.as_str());
    wait_until("the rollback to finish", || async {
        let d = env.get("/v2/deployments").await;
        d.as_array().unwrap().is_empty().then_some(())
    })
    .await;
    let one = env.get("/v2/apps/one").await;
    assert_eq!(one["app"]["cpus"].as_f64(), Some(0.1), "rolled back: {one}");
    env.wait_deployed("one", 2).await;
    // A rolled-back creation removes the app.
    let (s, _, headers) = env.req("POST", "/v2/apps", Some(too_big("/gone"))).await;
    assert_eq!(s, 201);
    let stuck = headers["Marathon-Deployment-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let (s, r, _) = env
        .req(
            "DELETE",
            &format!("/v2/deployments/{stuck}?force=false"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    wait_until("the app of the rolled-back creation to go", || async {
        let (s, _, _) = env.req("GET", "/v2/apps/gone", None).await;
        (s == 404).then_some(())
    })
    .await;

    // With force it is just stopped: 202, no body, the app stays as it is.
    let (s, _, headers) = env.req("POST", "/v2/apps", Some(too_big("/stays"))).await;
    assert_eq!(s, 201);
    let stuck = headers["Marathon-Deployment-Id"]
        .to_str()
        .unwrap()
        .to_string();
    let (s, text, _) = env
        .raw(
            "DELETE",
            &format!("/v2/deployments/{stuck}?force=true"),
            &[JSON],
            None,
        )
        .await;
    assert_eq!((s, text.as_str()), (202, ""));
    let d = env.get("/v2/deployments").await;
    assert_eq!(d, json!([]), "{d}");
    let stays = env.get("/v2/apps/stays").await;
    assert_eq!(stays["app"]["cpus"].as_f64(), Some(100.0), "{stays}");
    assert_eq!(stays["app"]["deployments"], json!([]), "{stays}");
    env.assert_alive().await;
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_that_exist_are_not_created_again() {
    let env = Env::start(&["localhost"]).await;
    let group = json!({"id": "/x", "apps": [
        {"id": "a", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16, "instances": 0}
    ]});
    let (s, r, headers) = env.req("POST", "/v2/groups", Some(group.clone())).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(headers["Location"], "/x");
    for (path, body) in [
        ("/v2/groups", group.clone()),
        ("/v2/groups/x", json!({})),
        ("/v2/groups//x", json!({"apps": []})),
    ] {
        let b = rejected(&env, "POST", path, Some(body), 409).await;
        assert_eq!(
            b["message"], "Group /x is already created. Use PUT to change this group.",
            "POST {path}"
        );
        assert!(b.get("deployments").is_none(), "{b}");
    }
    // Invalid apps in a group: 422 with the path into the tree, nothing created.
    let b = rejected(
        &env,
        "POST",
        "/v2/groups",
        Some(json!({"id": "/y", "apps": [{"id": "ok", "cmd": "sleep 1"}, {"id": "bad", "cmd": "sleep 1", "mem": -1}]})),
        422,
    )
    .await;
    assert!(!details_at(&b, "/apps(1)/mem").is_empty(), "{b}");
    let (s, _, _) = env.req("GET", "/v2/groups/y", None).await;
    assert_eq!(s, 404);
    let (s, _, _) = env.req("GET", "/v2/apps/y/ok", None).await;
    assert_eq!(s, 404);
    let x = env.get("/v2/groups/x").await;
    assert_eq!(x["apps"][0]["id"], "/x/a", "{x}");
    env.shutdown().await;
}
