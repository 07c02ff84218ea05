//! Bad input gets Mesos' status codes and a clear message, and loses nothing accepted.

mod support;

use serde_json::json;
use support::*;

async fn post_raw(
    url: &str,
    ct: Option<&str>,
    stream_id: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut r = reqwest::Client::new().post(url).body(body);
    if let Some(ct) = ct {
        r = r.header("Content-Type", ct);
    }
    if let Some(s) = stream_id {
        r = r.header("Mesos-Stream-Id", s);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduler_api_rejects_bad_input_like_mesos() {
    let dir = TestDir::new();
    let cluster = cluster(dir.path(), 1, "cpus:1;mem:256").await;
    let m = cluster.master_addr();
    let url = format!("http://{m}/api/v1/scheduler");
    let mut fw = Framework::subscribe(m, framework_info(&[], 60.0)).await;
    let fid = fw.id();
    let sid = fw.client.stream_id().to_string();
    let teardown = json!({"type": "RECONCILE", "framework_id": fid, "reconcile": {}})
        .to_string()
        .into_bytes();

    // Content type: missing 400, other 415, charset parameter tolerated.
    assert_eq!(
        post_raw(&url, None, Some(&sid), teardown.clone()).await.0,
        400
    );
    assert_eq!(
        post_raw(&url, Some("text/plain"), Some(&sid), teardown.clone())
            .await
            .0,
        415
    );
    assert_eq!(
        post_raw(
            &url,
            Some("application/json; charset=utf-8"),
            Some(&sid),
            teardown.clone()
        )
        .await
        .0,
        202
    );
    // Malformed JSON and missing required fields: 400 with a message.
    let (s, msg) = post_raw(
        &url,
        Some("application/json"),
        Some(&sid),
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(msg.contains("Failed to parse"), "{msg}");
    let (s, msg) = post_raw(
        &url,
        Some("application/json"),
        None,
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}}"#.to_vec(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(msg.contains("user"), "{msg}");
    let (s, msg) = post_raw(
        &url,
        Some("application/json"),
        Some(&sid),
        json!({"type":"ACCEPT","framework_id":fid})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(msg.contains("accept"), "{msg}");
    // Unknown framework, missing and wrong stream IDs.
    let (s, msg) = post_raw(
        &url,
        Some("application/json"),
        Some(&sid),
        json!({"type":"RECONCILE","framework_id":{"value":"nope"},"reconcile":{}})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!((s, msg.as_str()), (400, "Framework cannot be found"));
    assert_eq!(
        post_raw(&url, Some("application/json"), None, teardown.clone())
            .await
            .0,
        400
    );
    assert_eq!(
        post_raw(
            &url,
            Some("application/json"),
            Some("bogus"),
            teardown.clone()
        )
        .await
        .0,
        400
    );
    // SUBSCRIBE with a stream ID header is refused.
    let sub = json!({"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}})
        .to_string()
        .into_bytes();
    assert_eq!(
        post_raw(&url, Some("application/json"), Some(&sid), sub)
            .await
            .0,
        400
    );
    // Oversized body.
    let big = vec![b' '; 17 * 1024 * 1024];
    assert_eq!(
        post_raw(&url, Some("application/json"), Some(&sid), big)
            .await
            .0,
        413
    );
    // Bad ACK uuid.
    let ack = json!({"type":"ACKNOWLEDGE","framework_id":fid,"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"!!"}});
    let (s, msg) = post_raw(
        &url,
        Some("application/json"),
        Some(&sid),
        ack.to_string().into_bytes(),
    )
    .await;
    assert_eq!(s, 400);
    assert!(msg.contains("base64"), "{msg}");
    // GET is not allowed.
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 405);

    // Nothing was lost: the framework still gets offers and can launch.
    let offer = fw.wait_offer().await;
    fw.launch(
        &offer,
        vec![command_task("still-ok", &offer, "true", "cpus:0.1;mem:32")],
    )
    .await;
    fw.wait_state("still-ok", mesos_core::proto::v1::TaskState::TaskFinished)
        .await;
    cluster.shutdown(true).await;
}

#[test]
fn bad_flags_exit_2_with_one_line() {
    let bin = env!("CARGO_BIN_EXE_mesos-master");
    let out = std::process::Command::new(bin)
        .arg("--no_such_flag")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(bin)
        .args([
            "--registry=in_memory",
            "--port=0",
            "--offer_timeout=5parsecs",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("offer_timeout"), "{err}");
    let agent = env!("CARGO_BIN_EXE_mesos-agent");
    let dir = TestDir::new();
    let out = std::process::Command::new(agent)
        .args(["--master=127.0.0.1:1", "--port=0", "--resources=cpus:-1"])
        .arg(format!("--work_dir={}", dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
