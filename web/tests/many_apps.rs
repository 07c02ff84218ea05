//! The Marathon UI with many apps (issue: 500 apps and 5,000 tasks render and update
//! without freezing the page). The UI runs in headless chromium against a fixture server
//! that serves the real UI files and Marathon-shaped answers for 500 apps of 10 running
//! instances each (an app page with 5,000 instances), and an event stream. The test checks
//! what is shown and that updates arrive; it prints how long rendering took and the
//! longest main-thread task (no timing assertion: the figures go to docs/benchmarks.md).

mod support;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::Browser;

const APPS: usize = 500;
const PER_APP: u64 = 10;
const BIG_APP_TASKS: usize = 5000;

#[derive(Default)]
struct Fixture {
    /// Bumped by every `/v2/apps` list: app-000's running count follows it.
    generation: AtomicU64,
}

fn app(i: usize, running: u64) -> Value {
    json!({
        "id": format!("/many/app-{i:03}"), "cmd": "sleep 600", "cpus": 0.1, "mem": 32.0,
        "disk": 0.0, "instances": PER_APP, "tasksRunning": running, "tasksStaged": 0,
        "tasksHealthy": running / 2, "tasksUnhealthy": 0, "deployments": [],
        "version": "2026-12-01T00:00:00.000Z",
    })
}

async fn apps(State(f): State<Arc<Fixture>>) -> Response {
    let g = f.generation.fetch_add(1, Ordering::SeqCst);
    // app-000 loses instances as the generations pass (an update to see).
    let first = PER_APP.saturating_sub(g / 2);
    let list: Vec<Value> = (0..APPS)
        .map(|i| app(i, if i == 0 { first } else { PER_APP }))
        .collect();
    axum::Json(json!({ "apps": list })).into_response()
}

async fn big_app(Path(_rest): Path<String>) -> Response {
    let tasks: Vec<Value> = (0..BIG_APP_TASKS)
        .map(|i| {
            json!({
                "id": format!("many_big.instance-{i:05}._app.1"), "appId": "/many/big",
                "host": format!("agent-{}", i % 50), "ports": [31000 + (i % 1000) as u64],
                "state": "TASK_RUNNING", "slaveId": format!("S{}", i % 50),
                "startedAt": "2026-12-01T00:00:00.000Z", "healthCheckResults": [],
            })
        })
        .collect();
    let mut a = app(0, BIG_APP_TASKS as u64);
    a["id"] = json!("/many/big");
    a["instances"] = json!(BIG_APP_TASKS);
    a["tasks"] = json!(tasks);
    axum::Json(json!({ "app": a })).into_response()
}

async fn events() -> Response {
    let ticks = futures::stream::unfold(0u64, |n| async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let chunk = format!(
            "event: status_update_event\ndata: {{\"eventType\":\"status_update_event\",\"n\":{n}}}\n\n"
        );
        Some((
            Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
            n + 1,
        ))
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(ticks),
    )
        .into_response()
}

async fn ui_file(Path(rest): Path<String>) -> Response {
    match mesos_web::asset(&rest) {
        Some(a) => ([(header::CONTENT_TYPE, a.content_type)], a.body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve() -> String {
    let app = Router::new()
        .route(
            "/ui/",
            get(|| async {
                let a = mesos_web::asset(mesos_web::MARATHON_INDEX).unwrap();
                ([(header::CONTENT_TYPE, a.content_type)], a.body)
            }),
        )
        .route("/static/*rest", get(ui_file))
        .route("/v2/apps", get(apps))
        .route("/v2/apps/many/big", get(|| big_app(Path(String::new()))))
        .route(
            "/v2/apps/many/big/versions",
            get(|| async { axum::Json(json!({"versions": ["2026-12-01T00:00:00.000Z"]})) }),
        )
        .route("/v2/apps/*rest", get(big_app))
        .route(
            "/v2/queue",
            get(|| async { axum::Json(json!({"queue": []})) }),
        )
        .route("/v2/deployments", get(|| async { axum::Json(json!([])) }))
        .route(
            "/v2/info",
            get(|| async { axum::Json(json!({"version": "1.10.17", "leader": "fixture"})) }),
        )
        .route("/v2/events", get(events))
        .with_state(Arc::new(Fixture::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Records long main-thread tasks (over 50 ms) from now on in `window.__long`.
const OBSERVE_LONG_TASKS: &str = r##"
window.__long = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); })
  .observe({ type: "longtask", buffered: false });
window.__t0 = performance.now();
return true;
"##;

const LONGEST: &str =
    r##"return [Math.round(Math.max(0, ...window.__long)), window.__long.length];"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_apps_render_and_update() {
    let base = serve().await;
    let browser = Browser::start(1440, 1000).await;

    // The root shows the group as one folder summing 500 apps x 10 instances.
    browser.goto(&format!("{base}/ui/#/apps")).await;
    let folder = browser
        .wait_for(
            "the group folder",
            r##"const r = document.querySelector('#apps-table tr[data-key="/many"] td[data-key="instances"]');
               return r ? r.textContent : null;"##,
            json!([]),
        )
        .await;
    assert!(folder.as_str().unwrap().ends_with("of 5000"), "{folder}");

    // Inside the group: 500 rows.
    browser.eval(OBSERVE_LONG_TASKS, json!([])).await;
    browser
        .goto(&format!("{base}/ui/#/apps?group=%2Fmany"))
        .await;
    browser.eval(OBSERVE_LONG_TASKS, json!([])).await;
    let rendered_ms = browser
        .wait_for(
            "500 app rows",
            r##"return document.querySelectorAll("#apps-table tbody tr[data-key]").length === arguments[0]
                 ? Math.round(performance.now() - window.__t0) : null;"##,
            json!([APPS]),
        )
        .await;
    // Events keep arriving; app-000's count changes as the fixture's generations pass, and
    // the page shows it without a reload.
    let updated = browser
        .wait_for(
            "an update of app-000",
            r##"const c = document.querySelector('#apps-table tr[data-key="/many/app-000"] td[data-key="instances"]');
               return c && c.textContent.startsWith("7 of") ? c.textContent : null;"##,
            json!([]),
        )
        .await;
    assert_eq!(updated, "7 of 10");
    // Searching 500 rows.
    let found = browser
        .eval(
            r##"const input = document.querySelector("main input[type=search]");
               input.value = "app-49"; input.dispatchEvent(new Event("input"));
               return document.querySelectorAll("#apps-table tbody tr[data-key]").length;"##,
            json!([]),
        )
        .await;
    assert_eq!(found, 10, "app-490..app-499");
    let list_longest = browser.eval(LONGEST, json!([])).await;
    browser.screenshot("marathon-500-apps").await;

    // An app page with 5,000 instances.
    browser
        .goto(&format!("{base}/ui/#/app/%2Fmany%2Fbig"))
        .await;
    browser.eval(OBSERVE_LONG_TASKS, json!([])).await;
    let big_ms = browser
        .wait_for(
            "5000 instance rows",
            r##"return document.querySelectorAll("#instances-table tbody tr[data-key]").length === arguments[0]
                 ? Math.round(performance.now() - window.__t0) : null;"##,
            json!([BIG_APP_TASKS]),
        )
        .await;
    // Let a few refreshes (one a second at most) go by, then read the longest task.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let big_longest = browser.eval(LONGEST, json!([])).await;
    // The page still answers: a script runs and sees the rows.
    let rows = browser
        .eval(
            r##"return document.querySelectorAll("#instances-table tbody tr[data-key]").length;"##,
            json!([]),
        )
        .await;
    assert_eq!(rows, BIG_APP_TASKS);
    browser.screenshot("marathon-5000-instances").await;

    println!(
        "many apps: 500 app rows shown {rendered_ms} ms after navigating; longest main-thread task while listing, updating and searching: {} ms ({} tasks over 50 ms)",
        list_longest[0], list_longest[1]
    );
    println!(
        "many apps: 5000 instance rows shown {big_ms} ms after navigating; longest main-thread task over 3 s of refreshes: {} ms ({} tasks over 50 ms)",
        big_longest[0], big_longest[1]
    );
}
