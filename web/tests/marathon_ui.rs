//! The Marathon UI in a real browser (headless chromium through WebDriver): create an app
//! with the form, see its instances run, scale it, kill an instance while scaling down, a
//! 422 shown at its field, the deployments page, destroy; screenshots of the main pages in
//! `target/ui-screenshots/`.

mod support;

use marathon::core::Config;
use serde_json::{json, Value};
use support::{Browser, TABLE_ROWS};

const APP: &str = "/ui-test/sleeper";

/// Rows of the instances table in state RUNNING, or null until there are `n`.
const RUNNING_INSTANCES: &str = r##"
const rows = [...document.querySelectorAll("#instances-table tbody tr[data-key]")];
const running = rows.filter((r) => r.querySelector('td[data-key="state"]').textContent === "RUNNING");
return running.length === arguments[0] && rows.length === arguments[0] ? running.length : null;
"##;

async fn api(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = r.status().as_u16();
    let body = r.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Set a form field's value as typing would.
const SET_FIELD: &str = r##"
const f = document.getElementById("field-" + arguments[0]);
f.value = arguments[1];
f.dispatchEvent(new Event("input", { bubbles: true }));
return true;
"##;

const CLICK: &str = r##"document.querySelector(arguments[0]).click(); return true;"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_ui_deploys_scales_and_destroys_an_app() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, server) = support::cluster_with_marathon(dir.path(), Config::default()).await;
    let base = format!("http://{}", server.addr());
    let browser = Browser::start(1440, 1000).await;

    // `/` leads to the UI; with no app yet the list says so.
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "the empty apps list",
            r##"return location.pathname === "/ui/" && document.querySelector("#apps-table .empty") ? true : null;"##,
            json!([]),
        )
        .await;

    // Create an app through the form.
    browser.eval(CLICK, json!(["#create-app"])).await;
    browser.wait_for_element("app-form").await;
    for (field, value) in [
        ("id", APP),
        ("cmd", "echo started $MARATHON_APP_ID; sleep 600"),
        ("cpus", "0.1"),
        ("mem", "16"),
        ("instances", "2"),
        ("env", "GREETING=hello"),
        ("labels", "team=web"),
        ("ports", "0"),
        ("constraints", "hostname:LIKE:.*"),
        ("healthProtocol", "COMMAND"),
        ("healthCommand", "true"),
        ("healthInterval", "1"),
        ("healthGrace", "10"),
    ] {
        browser.eval(SET_FIELD, json!([field, value])).await;
    }
    browser.screenshot("marathon-create").await;
    browser.eval(CLICK, json!(["#submit-app"])).await;
    browser
        .wait_for("2 running instances", RUNNING_INSTANCES, json!([2]))
        .await;
    let (_, app) = api(&base, &format!("/v2/apps{APP}")).await;
    let app = &app["app"];
    assert_eq!(app["env"]["GREETING"], "hello");
    assert_eq!(app["labels"]["team"], "web");
    assert_eq!(app["cmd"], "echo started $MARATHON_APP_ID; sleep 600");
    assert_eq!(app["constraints"], json!([["hostname", "LIKE", ".*"]]));
    assert_eq!(app["portDefinitions"].as_array().unwrap().len(), 1);
    assert_eq!(app["healthChecks"][0]["command"]["value"], "true", "{app}");
    // Each instance got a host port and its command check reports it healthy.
    browser
        .wait_for(
            "healthy instances with ports",
            r##"const rows = [...document.querySelectorAll("#instances-table tbody tr[data-key]")];
               return rows.length === 2 && rows.every((r) =>
                 r.querySelector('td[data-key="health"]').textContent === "healthy"
                 && /^\d+$/.test(r.querySelector('td[data-key="ports"]').textContent)) ? true : null;"##,
            json!([]),
        )
        .await;
    browser.screenshot("marathon-app").await;

    // An instance's stdout link opens its sandbox in the master's console, which shows
    // what the task printed.
    let stdout = browser
        .eval(
            r##"return document.querySelector('#instances-table td[data-key="logs"] a').href;"##,
            json!([]),
        )
        .await;
    let stdout = stdout.as_str().unwrap().to_string();
    assert!(
        stdout.starts_with(&format!("http://{}/#/sandbox/", cluster.master_addr())),
        "{stdout}"
    );
    browser.goto(&stdout).await;
    browser
        .wait_for(
            "the task's stdout in the console",
            r##"const t = document.getElementById("file-content")?.textContent ?? "";
               return t.includes("started " + arguments[0]) ? true : null;"##,
            json!([APP]),
        )
        .await;
    browser.screenshot("console-marathon-task-stdout").await;
    browser
        .goto(&format!("{base}/ui/#/app/{}", urlencode(APP)))
        .await;
    browser
        .wait_for("2 running instances", RUNNING_INSTANCES, json!([2]))
        .await;

    // Scale to 3 from the app page, once the creation deployment (which waits for the
    // health checks) is over: a change to an app in a deployment is answered 409.
    no_deployments(&base).await;
    browser
        .eval(
            SET_FIELD.replace("field-", "").as_str(),
            json!(["scale-instances", "3"]),
        )
        .await;
    browser.eval(CLICK, json!(["#scale-app"])).await;
    browser
        .wait_for("3 running instances", RUNNING_INSTANCES, json!([3]))
        .await;

    // The list shows the group as a folder, and inside it the app running 3 of 3.
    browser.goto(&format!("{base}/ui/#/apps")).await;
    let rows = browser
        .wait_for("the apps list", TABLE_ROWS, json!(["apps-table"]))
        .await;
    assert_eq!(rows[0]["key"], "/ui-test", "{rows}");
    assert_eq!(rows[0]["cells"]["instances"], "3 of 3");
    browser.screenshot("marathon-apps").await;
    browser.set_window(1920, 1080).await;
    browser.screenshot("marathon-apps-1920").await;
    browser.set_window(1440, 1000).await;
    browser.eval(CLICK, json!(["#apps-table a.folder"])).await;
    let rows = browser
        .wait_for(
            "the group's apps",
            // (Deploying until the scaling deployment is over, then Running.)
            r##"const r = [...document.querySelectorAll("#apps-table tbody tr[data-key]")];
               if (!r.length || r[0].dataset.key !== arguments[0]) return null;
               const cells = Object.fromEntries([...r[0].querySelectorAll("td")].map((c) => [c.dataset.key, c.textContent]));
               return cells.status === "Running" ? cells : null;"##,
            json!([APP]),
        )
        .await;
    assert_eq!(rows["name"], "sleeper");
    assert_eq!(rows["status"], "Running");
    assert_eq!(rows["instances"], "3 of 3");

    // Kill one selected instance and scale down with it (once the scaling is over: a
    // change to an app in a deployment is answered 409).
    no_deployments(&base).await;
    browser
        .goto(&format!("{base}/ui/#/app/{}", urlencode(APP)))
        .await;
    browser
        .wait_for("3 running instances", RUNNING_INSTANCES, json!([3]))
        .await;
    let killed = browser
        .eval(
            r##"const box = document.querySelector('#instances-table td[data-key="select"] input');
               box.click();
               return box.closest("tr").dataset.key;"##,
            json!([]),
        )
        .await;
    browser.eval(CLICK, json!(["#kill-scale"])).await;
    browser
        .wait_for("2 running instances", RUNNING_INSTANCES, json!([2]))
        .await;
    let (_, app) = api(&base, &format!("/v2/apps{APP}")).await;
    assert_eq!(app["app"]["instances"], 2);
    let ids: Vec<&Value> = app["app"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert!(!ids.contains(&&killed), "{killed} still listed: {ids:?}");

    // A 422 is shown at the field it is about.
    browser.goto(&format!("{base}/ui/#/create")).await;
    browser.wait_for_element("app-form").await;
    browser.eval(SET_FIELD, json!(["id", "/ui-test/bad"])).await;
    browser.eval(SET_FIELD, json!(["cmd", "sleep 1"])).await;
    browser.eval(SET_FIELD, json!(["cpus", "-1"])).await;
    browser.eval(CLICK, json!(["#submit-app"])).await;
    let error = browser
        .wait_for(
            "the cpus error",
            r##"const e = document.getElementById("error-cpus");
               return e && e.textContent
                 ? [e.textContent, document.getElementById("field-cpus").getAttribute("aria-invalid")] : null;"##,
            json!([]),
        )
        .await;
    assert_eq!(error[1], "true");
    assert!(!error[0].as_str().unwrap().is_empty());
    browser.screenshot("marathon-422").await;
    // JSON mode holds the same definition.
    browser.eval(CLICK, json!(["#json-mode"])).await;
    let definition = browser
        .eval(
            r##"return JSON.parse(document.getElementById("app-json").value);"##,
            json!([]),
        )
        .await;
    assert_eq!(definition["id"], "/ui-test/bad");
    assert_eq!(definition["cpus"], -1);
    let (status, _) = api(&base, "/v2/apps/ui-test/bad").await;
    assert_eq!(status, 404, "the invalid app was not created");

    // Deployments: a restart is listed while it runs (or already done), the page renders.
    browser.goto(&format!("{base}/ui/#/deployments")).await;
    browser.wait_for_element("deployments-table").await;

    // Destroy (two clicks: the first asks again), once the scaling down is over.
    no_deployments(&base).await;
    browser
        .goto(&format!("{base}/ui/#/app/{}", urlencode(APP)))
        .await;
    browser
        .wait_for("2 running instances", RUNNING_INSTANCES, json!([2]))
        .await;
    browser.eval(CLICK, json!(["#destroy-app"])).await;
    browser.eval(CLICK, json!(["#destroy-app"])).await;
    browser
        .wait_for(
            "the list after destroying",
            r##"return location.hash.startsWith("#/apps") ? true : null;"##,
            json!([]),
        )
        .await;
    let t = std::time::Instant::now();
    loop {
        let (status, _) = api(&base, &format!("/v2/apps{APP}")).await;
        if status == 404 {
            break;
        }
        assert!(t.elapsed() < support::WAIT, "the app was not destroyed");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // When Marathon goes away, the page says so.
    server.stop();
    let banner = browser.banner().await;
    // A stopped Marathon's listener answers 503 for a moment, then nothing: either way
    // the banner names the call that failed and why.
    assert!(banner.contains("/v2/"), "{banner}");
    browser.screenshot("marathon-gone").await;
    drop(browser);
    cluster.shutdown(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_ui_explains_waiting_apps_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let (cluster, server) = support::cluster_with_marathon(
        dir.path(),
        Config {
            decline_offer_duration: 0.5,
            ..Config::default()
        },
    )
    .await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    let browser = Browser::start(1440, 1000).await;

    // An app no agent can take: the app page says why it waits, from the queue.
    let r = post(
        "/v2/apps",
        json!({"id": "/ui-test/stuck", "cmd": "sleep 600", "cpus": 0.1, "mem": 16,
               "instances": 1, "constraints": [["hostname", "LIKE", "no-such-host"]]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    browser
        .goto(&format!("{base}/ui/#/app/{}", urlencode("/ui-test/stuck")))
        .await;
    let reason = browser
        .wait_for(
            "the waiting reason",
            r##"const r = document.getElementById("queue-reason");
               return r && !r.hidden && r.textContent.includes("UnfulfilledConstraint") ? r.textContent : null;"##,
            json!([]),
        )
        .await;
    assert!(
        reason
            .as_str()
            .unwrap()
            .starts_with("Waiting for 1 instance"),
        "{reason}"
    );
    let status = browser
        .eval(
            r##"return document.getElementById("app-status").textContent;"##,
            json!([]),
        )
        .await;
    assert_eq!(status, "Deploying");
    browser.screenshot("marathon-waiting").await;

    // Its deployment is listed; rolling it back from the deployments page removes the app
    // (the deployment created it).
    browser.goto(&format!("{base}/ui/#/deployments")).await;
    let rows = browser
        .wait_for("the deployment", TABLE_ROWS, json!(["deployments-table"]))
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["cells"]["apps"], "/ui-test/stuck");
    browser.screenshot("marathon-deployments").await;
    let id = rows[0]["key"].as_str().unwrap().to_string();
    browser
        .eval(CLICK, json!([format!("button[data-rollback=\"{id}\"]")]))
        .await;
    browser
        .wait_for(
            "no deployment left",
            r##"return document.querySelector("#deployments-table .empty") ? true : null;"##,
            json!([]),
        )
        .await;
    let t = std::time::Instant::now();
    while api(&base, "/v2/apps/ui-test/stuck").await.0 != 404 {
        assert!(
            t.elapsed() < support::WAIT,
            "the rolled back app is still there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // Versions: edit the command in the form, then apply the first version again.
    let r = post(
        "/v2/apps",
        json!({"id": "/ui-test/versioned", "cmd": "sleep 601", "cpus": 0.1, "mem": 16, "instances": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    // Editing while the creation deployment still runs is answered 409: the form offers
    // to stop that deployment. Wait for it to end instead.
    no_deployments(&base).await;
    browser
        .goto(&format!(
            "{base}/ui/#/edit/{}",
            urlencode("/ui-test/versioned")
        ))
        .await;
    browser
        .wait_for(
            "the filled form",
            r##"const f = document.getElementById("field-cmd"); return f && f.value === "sleep 601" ? true : null;"##,
            json!([]),
        )
        .await;
    browser.eval(SET_FIELD, json!(["cmd", "sleep 602"])).await;
    browser.eval(CLICK, json!(["#submit-app"])).await;
    let versions = browser
        .wait_for(
            "two versions",
            r##"const r = [...document.querySelectorAll("#versions-table tbody tr[data-key]")];
               return r.length === 2 ? r.map((x) => x.dataset.key) : null;"##,
            json!([]),
        )
        .await;
    let (_, app) = api(&base, "/v2/apps/ui-test/versioned").await;
    assert_eq!(app["app"]["cmd"], "sleep 602");
    // Newest first: the second row is the first version. (Applying it while the edit's
    // restart runs would be answered 409.)
    no_deployments(&base).await;
    let first = versions[1].as_str().unwrap().to_string();
    browser
        .eval(CLICK, json!([format!("button[data-version=\"{first}\"]")]))
        .await;
    let t = std::time::Instant::now();
    loop {
        let (_, app) = api(&base, "/v2/apps/ui-test/versioned").await;
        if app["app"]["cmd"] == "sleep 601" {
            break;
        }
        assert!(
            t.elapsed() < support::WAIT,
            "the rollback did not apply: {app}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    drop(browser);
    server.stop();
    cluster.shutdown(true).await;
}

async fn no_deployments(base: &str) {
    let t = std::time::Instant::now();
    while api(base, "/v2/deployments").await.1 != json!([]) {
        assert!(t.elapsed() < support::WAIT, "a deployment did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F")
}
