//! Quota through the operator API: UPDATE_QUOTA (validation, capacity check, force),
//! offers within the limit, GET_QUOTA, `/quota` and the `quota` object of `/master/roles`.

mod support;

use serde_json::{json, Value};
use support::*;

async fn post(url: &str, body: Value) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn update(force: bool, role: &str, guarantees: Value, limits: Value) -> Value {
    json!({"type": "UPDATE_QUOTA", "update_quota": {"force": force, "quota_configs": [
        {"role": role, "guarantees": guarantees, "limits": limits}
    ]}})
}

fn cpus(offer: &mesos_core::proto::v1::Offer) -> f64 {
    offer
        .resources
        .iter()
        .filter(|r| r.name == "cpus")
        .filter_map(|r| r.scalar.as_ref().map(|s| s.value))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn update_quota_limits_offers_and_get_quota_shows_it() {
    let dir = TestDir::new();
    let cluster = cluster(dir.path(), 1, "cpus:4;mem:1024;disk:1024").await;
    let m = cluster.master_addr();
    let api = format!("http://{m}/api/v1");

    // Refusals, each with Mesos' plain-text message.
    for (body, want) in [
        (
            update(false, "a/b", json!({}), json!({"cpus": {"value": 1}})),
            "top-level roles",
        ),
        (
            update(
                false,
                "q",
                json!({"cpus": {"value": 2}}),
                json!({"cpus": {"value": 1}}),
            ),
            "is not contained within limits",
        ),
        (
            update(false, "q", json!({"cpus": {"value": -1}}), json!({})),
            "Negative values not supported",
        ),
        (
            update(false, "q", json!({}), json!({"ports": {"value": 1}})),
            "'ports' is not a scalar resource",
        ),
        (
            update(false, "q", json!({"cpus": {"value": 100}}), json!({})),
            "exceed cluster capacity",
        ),
    ] {
        let (status, text) = post(&api, body).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains(want), "{text}");
    }
    // `force` skips the capacity check; a second update replaces it.
    let (status, text) = post(
        &api,
        update(true, "q", json!({"cpus": {"value": 100}}), json!({})),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = post(
        &api,
        update(
            false,
            "q",
            json!({"cpus": {"value": 1}}),
            json!({"cpus": {"value": 1}}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{text}");

    // A framework of role "q" is offered no more than the limit, every time.
    let mut info = framework_info(&["MULTI_ROLE"], 60.0);
    info.roles = vec!["q".into()];
    let mut fw = Framework::subscribe(m, info).await;
    let offer = fw.wait_offer().await;
    assert_eq!(cpus(&offer), 1.0, "{offer:?}");
    let roles = poll_json(&format!("http://{m}/master/roles"), "quota consumed", |v| {
        v["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["name"] == "q" && r["quota"]["consumed"]["cpus"] == 1.0)
    })
    .await;
    let q = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "q")
        .unwrap();
    assert_eq!(
        q["quota"],
        json!({"role": "q", "guarantee": {"cpus": 1.0}, "limit": {"cpus": 1.0},
               "consumed": {"cpus": 1.0, "mem": 1024.0, "disk": 1024.0}})
    );
    fw.decline(&offer, 0.0).await;
    let again = fw.wait_offer().await;
    assert_eq!(cpus(&again), 1.0, "{again:?}");

    // GET_QUOTA and /quota.
    let (status, text) = post(&api, json!({"type": "GET_QUOTA"})).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "GET_QUOTA");
    assert_eq!(
        v["get_quota"]["status"]["configs"],
        json!([{"role": "q", "guarantees": {"cpus": {"value": 1.0}}, "limits": {"cpus": {"value": 1.0}}}])
    );
    assert_eq!(v["get_quota"]["status"]["infos"][0]["role"], "q");
    assert_eq!(
        v["get_quota"]["status"]["infos"][0]["guarantee"][0]["scalar"]["value"],
        1.0
    );
    let status = get_json(&format!("http://{m}/quota")).await;
    assert_eq!(status, v["get_quota"]["status"]);
}
