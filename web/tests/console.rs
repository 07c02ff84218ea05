//! The master's cluster console in a real browser (headless chromium through WebDriver):
//! its tables match `/master/state`, search and sort work, a running task shows up, and
//! the main pages are saved as screenshots in `target/ui-screenshots/`.

mod support;

use mesos_core::client::{EventStream, SchedulerClient};
use mesos_core::proto::resources::Resources;
use mesos_core::proto::scheduler::{Accept, Acknowledge, Call, Event};
use mesos_core::proto::v1::*;
use serde_json::{json, Value};
use std::time::Instant;
use support::{Browser, TABLE_ROWS, WAIT};

async fn state(master: &str) -> Value {
    let body = reqwest::get(format!("http://{master}/master/state"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// Subscribe a framework, launch a task printing a line a second as `task` and wait until
/// it runs. The client and its event stream: the framework lives as long as they do.
async fn run_task(master: &str, task: &str) -> (SchedulerClient, EventStream) {
    let info: FrameworkInfo = serde_json::from_value(json!({
        "user": "root", "name": "console-test", "role": "web", "failover_timeout": 0.0,
        "principal": "console-principal"
    }))
    .unwrap();
    let (client, mut events) = SchedulerClient::subscribe(master, info)
        .await
        .expect("subscribe");
    let t = Instant::now();
    let mut launched = false;
    loop {
        let left = WAIT.saturating_sub(t.elapsed());
        let ev = tokio::time::timeout(left, events.next())
            .await
            .expect("task runs in time")
            .expect("event stream open");
        match ev {
            Event::Offers(o) if !launched => {
                let offer = &o.offers[0];
                let info: TaskInfo = serde_json::from_value(json!({
                    "name": task, "task_id": {"value": task}, "agent_id": offer.agent_id,
                    "resources": Resources::parse_flag("cpus:0.1;mem:32").unwrap().to_wire(None),
                    "command": {"value": "i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 1; done"},
                }))
                .unwrap();
                let op: Operation = serde_json::from_value(
                    json!({"type": "LAUNCH", "launch": {"task_infos": [info]}}),
                )
                .unwrap();
                let status = client
                    .call(Call::Accept(Accept {
                        offer_ids: vec![offer.id.clone()],
                        operations: vec![op],
                        // Keep the rest of this agent out of offers for the whole test, so
                        // the framework holds exactly the other agent's offer however slow
                        // the run is (the default filter lasts 5 s).
                        filters: Some(Filters {
                            refuse_seconds: Some(3600.0),
                        }),
                    }))
                    .await
                    .unwrap();
                assert_eq!(status, 202);
                launched = true;
            }
            Event::Update(u) => {
                if let (Some(uuid), Some(agent)) = (&u.status.uuid, &u.status.agent_id) {
                    client
                        .call(Call::Acknowledge(Acknowledge {
                            agent_id: agent.clone(),
                            task_id: u.status.task_id.clone(),
                            uuid: uuid.clone(),
                        }))
                        .await
                        .unwrap();
                }
                if u.status.state == TaskState::TaskRunning {
                    return (client, events);
                }
                assert!(!u.status.state.is_terminal(), "task ended: {:?}", u.status);
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_tables_match_the_master_state() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = support::cluster(
        dir.path(),
        2,
        "cpus:4;mem:4096;disk:10000;ports:[31000-31099]",
        Some("rack:r1"),
    )
    .await;
    let master = cluster.master_addr().to_string();
    let _framework = run_task(&master, "console-probe").await;
    let base = format!("http://{master}");

    let browser = Browser::start(1440, 900).await;

    // Overview: the cards show the agent count and cluster totals.
    browser.goto(&format!("{base}/")).await;
    let cards = browser
        .wait_for(
            "the overview cards",
            r##"const c = document.getElementById("overview-cards");
               if (!c || c.children.length < 8) return null;
               return Object.fromEntries([...c.children].map((card) => [
                 card.querySelector(".label").textContent, card.querySelector(".value").textContent]));"##,
            json!([]),
        )
        .await;
    assert_eq!(cards["Agents"], "2", "{cards}");
    assert_eq!(cards["Frameworks"], "1", "{cards}");
    assert_eq!(cards["Tasks"], "1", "{cards}");
    assert_eq!(cards["CPUs"], "0.1 / 8", "allocated / total: {cards}");
    assert_eq!(cards["Memory"], "32 MB / 8 GB", "{cards}");
    assert_eq!(cards["Leader"], master, "{cards}");
    browser.screenshot("console-overview").await;

    // Agents: one row per registered agent, with its hostname and resources.
    browser.goto(&format!("{base}/#/agents")).await;
    let rows = browser
        .wait_for("the agents table", TABLE_ROWS, json!(["agents-table"]))
        .await;
    let s = state(&master).await;
    let slaves = s["slaves"].as_array().unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), slaves.len());
    for a in slaves {
        let id = a["id"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r["key"] == id)
            .unwrap_or_else(|| panic!("no row for agent {id}: {rows:?}"));
        assert_eq!(
            row["cells"]["hostname"],
            format!("{}:{}", a["hostname"].as_str().unwrap(), a["port"])
        );
        assert_eq!(row["cells"]["cpus"], "4");
        assert_eq!(row["cells"]["mem"], "4 GB");
        assert_eq!(row["cells"]["attributes"], "rack:r1");
        assert_eq!(row["cells"]["health"], "active");
    }
    browser.screenshot("console-agents").await;

    // Frameworks: ours, with its role and its one task.
    browser.goto(&format!("{base}/#/frameworks")).await;
    let rows = browser
        .wait_for(
            "the frameworks table",
            TABLE_ROWS,
            json!(["frameworks-table"]),
        )
        .await;
    let fw = &s["frameworks"][0];
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), s["frameworks"].as_array().unwrap().len());
    assert_eq!(rows[0]["key"], fw["id"]);
    assert_eq!(rows[0]["cells"]["name"], "console-test");
    assert_eq!(rows[0]["cells"]["role"], "web");
    assert_eq!(rows[0]["cells"]["principal"], "console-principal");
    assert_eq!(rows[0]["cells"]["tasks"], "1");
    assert_eq!(rows[0]["cells"]["cpus"], "0.1");
    browser.screenshot("console-frameworks").await;

    // Tasks: the running task on the agent the master names.
    browser.goto(&format!("{base}/#/tasks")).await;
    let rows = browser
        .wait_for("the tasks table", TABLE_ROWS, json!(["tasks-table"]))
        .await;
    let task = &fw["tasks"][0];
    let agent = slaves
        .iter()
        .find(|a| a["id"] == task["slave_id"])
        .expect("the task's agent");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let cells = &rows[0]["cells"];
    assert_eq!(cells["id"], "console-probe");
    assert_eq!(cells["state"], "RUNNING");
    assert_eq!(cells["framework"], "console-test");
    assert_eq!(cells["agent"], agent["hostname"]);
    assert_eq!(cells["mem"], "32 MB");
    browser.screenshot("console-tasks").await;

    // Search narrows the rows; nothing matches an unknown word.
    let shown = browser
        .eval(
            r##"const input = document.querySelector("main input[type=search]");
               input.value = "no-such-task"; input.dispatchEvent(new Event("input"));
               return document.querySelectorAll("#tasks-table tbody tr[data-key]").length;"##,
            json!([]),
        )
        .await;
    assert_eq!(shown, 0);

    // Sorting by a header (keyboard-usable buttons) flips the order.
    browser.goto(&format!("{base}/#/agents")).await;
    browser
        .wait_for("the agents table", TABLE_ROWS, json!(["agents-table"]))
        .await;
    let order = r##"return [...document.querySelectorAll("#agents-table tbody tr[data-key]")].map((r) => r.dataset.key);"##;
    let click_id = r##"document.querySelector('#agents-table th[data-key="id"] button').click();
                      return document.querySelector('#agents-table th[data-key="id"]').getAttribute("aria-sort");"##;
    let before = browser.eval(order, json!([])).await;
    assert_eq!(browser.eval(click_id, json!([])).await, "descending");
    let after = browser.eval(order, json!([])).await;
    let mut reversed = before.as_array().unwrap().clone();
    reversed.reverse();
    assert_eq!(after.as_array().unwrap(), &reversed);
    // The same from the keyboard: Enter on the focused header sorts back.
    browser
        .send_keys(r##"#agents-table th[data-key="id"] button"##, "\u{E007}")
        .await;
    let sort = browser
        .eval(
            r##"return document.querySelector('#agents-table th[data-key="id"]').getAttribute("aria-sort");"##,
            json!([]),
        )
        .await;
    assert_eq!(sort, "ascending");
    assert_eq!(browser.eval(order, json!([])).await, before);

    // The task's sandbox: its files listed from the agent, stdout followed live.
    browser.goto(&format!("{base}/#/tasks")).await;
    browser
        .wait_for("the tasks table", TABLE_ROWS, json!(["tasks-table"]))
        .await;
    browser
        .eval(
            r##"document.querySelector('#tasks-table td[data-key="sandbox"] a').click();"##,
            json!([]),
        )
        .await;
    let files = browser
        .wait_for("the sandbox listing", TABLE_ROWS, json!(["sandbox-table"]))
        .await;
    let names: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"stdout") && names.contains(&"stderr"),
        "{names:?}"
    );
    browser
        .eval(
            r##"document.querySelector('#sandbox-table tr[data-key="stdout"] a').click();"##,
            json!([]),
        )
        .await;
    let first = browser
        .wait_for(
            "stdout in the follow pane",
            r##"const t = document.getElementById("file-content")?.textContent ?? "";
               const m = [...t.matchAll(/tick (\d+)/g)];
               return m.length ? Number(m[m.length - 1][1]) : null;"##,
            json!([]),
        )
        .await
        .as_u64()
        .unwrap();
    // New output appears without reloading the page.
    browser
        .wait_for(
            "newer output in the follow pane",
            r##"const t = document.getElementById("file-content")?.textContent ?? "";
               return t.includes("tick " + (arguments[0] + 2));"##,
            json!([first]),
        )
        .await;
    browser.screenshot("console-sandbox").await;

    // Offers: the second agent's offer, which the framework holds.
    browser.goto(&format!("{base}/#/offers")).await;
    let offers = browser
        .wait_for("the offers table", TABLE_ROWS, json!(["offers-table"]))
        .await;
    let s = state(&master).await;
    let held: Vec<&Value> = s["frameworks"][0]["offers"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(held.len(), 1, "only the second agent is offered: {held:?}");
    assert_eq!(offers.as_array().unwrap().len(), held.len());
    assert_eq!(offers[0]["cells"]["framework"], "console-test");
    assert_eq!(offers[0]["key"], held[0]["id"]);

    // Roles: the framework's role with its allocation.
    browser.goto(&format!("{base}/#/roles")).await;
    let rows = browser
        .wait_for("the roles table", TABLE_ROWS, json!(["roles-table"]))
        .await;
    let web = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "web")
        .unwrap_or_else(|| panic!("no row for role web: {rows}"));
    assert_eq!(web["cells"]["cpus"], "0.1");
    browser.screenshot("console-roles").await;

    // At a narrower (laptop) size the overview still fits its cards.
    browser.set_window(1280, 800).await;
    browser.goto(&format!("{base}/")).await;
    browser
        .wait_for(
            "the overview at 1280x800",
            r##"const c = document.getElementById("overview-cards");
               return c && c.children.length >= 8 && document.documentElement.scrollWidth <= window.innerWidth ? true : null;"##,
            json!([]),
        )
        .await;
    browser.screenshot("console-overview-1280").await;

    // When the master goes away, the page says so instead of showing stale figures quietly.
    drop(_framework);
    cluster.shutdown(true).await;
    let banner = browser.banner().await;
    assert!(banner.contains("/master/state"), "{banner}");
    browser.screenshot("console-master-gone").await;
}
