//! `/v2/events` over real HTTP: an axum server on a loopback port and a streaming reqwest
//! client that checks the SSE framing byte by byte.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use marathon::events::{self, EventBus, CLIENT_KNOWN_EVENT_TYPES, HEARTBEAT_INTERVAL};
use serde_json::{json, Value};

const TS: &str = "2024-05-01T10:00:00.000Z";

#[derive(Clone)]
struct Server {
    bus: EventBus,
    heartbeat: Duration,
}

/// `events_endpoint` as the API would mount it; with another heartbeat, the parts by hand.
async fn handler(
    State(server): State<Server>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if server.heartbeat == HEARTBEAT_INTERVAL {
        return events::events_endpoint(&server.bus, &headers, &query, peer.ip().to_string());
    }
    if !events::accepts_event_stream(&headers) {
        return axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let types = query
        .into_iter()
        .filter(|(k, _)| k == "event_type")
        .map(|(_, v)| v)
        .collect();
    events::sse_response_with_heartbeat(
        &server.bus,
        types,
        peer.ip().to_string(),
        events::timestamp_now(),
        server.heartbeat,
    )
}

async fn serve(bus: &EventBus, heartbeat: Duration) -> String {
    let app = Router::new()
        .route("/v2/events", get(handler))
        .with_state(Server {
            bus: bus.clone(),
            heartbeat,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    format!("http://{addr}/v2/events")
}

#[derive(Debug, PartialEq)]
enum Item {
    Comment(String),
    Event(String, Value),
}

/// A line-by-line SSE reader that insists on Marathon's framing.
struct Sse {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buf: Vec<u8>,
}

impl Sse {
    async fn open(url: &str) -> (reqwest::header::HeaderMap, Sse) {
        let response = reqwest::Client::new()
            .get(url)
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        let sse = Sse {
            body: Box::pin(response.bytes_stream()),
            buf: Vec::new(),
        };
        (headers, sse)
    }

    async fn line(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return String::from_utf8(line[..i].to_vec()).unwrap();
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk.unwrap()),
                Ok(None) => panic!("the event stream ended"),
                Err(_) => panic!("nothing on the event stream for 10 s"),
            }
        }
    }

    /// The next frame: a `:` comment line, or exactly `event: <t>`, `data: <json>`, blank.
    async fn item(&mut self) -> Item {
        let first = self.line().await;
        if let Some(comment) = first.strip_prefix(':') {
            return Item::Comment(comment.to_string());
        }
        let name = first
            .strip_prefix("event: ")
            .unwrap_or_else(|| panic!("expected an event line, got {first:?}"))
            .to_string();
        let data_line = self.line().await;
        let data = data_line
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("expected a data line, got {data_line:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        let blank = self.line().await;
        assert_eq!(blank, "", "a frame ends with a blank line");
        assert_eq!(data["eventType"], name, "event name and eventType agree");
        assert!(data["timestamp"].is_string(), "{data}");
        Item::Event(name, data)
    }

    /// The next event, skipping heartbeats.
    async fn event(&mut self) -> (String, Value) {
        loop {
            if let Item::Event(name, data) = self.item().await {
                return (name, data);
            }
        }
    }
}

#[tokio::test]
async fn the_stream_starts_with_its_attachment_and_frames_each_event() {
    let bus = EventBus::new(64);
    let url = serve(&bus, HEARTBEAT_INTERVAL).await;
    let (headers, mut sse) = Sse::open(&url).await;
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["cache-control"], "no-cache");

    let (name, attached) = sse.event().await;
    assert_eq!(name, "event_stream_attached");
    assert_eq!(attached["remoteAddress"], "127.0.0.1");
    let keys: BTreeSet<&str> = attached
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["eventType", "remoteAddress", "timestamp"])
    );

    // Line breaks inside values stay escaped: one data line per event.
    let update = events::status_update_event(
        TS,
        "agent-1",
        "app.6a1b",
        "TASK_RUNNING",
        "first line\nsecond line",
        "/app",
        "host-1",
        &["10.0.0.5".to_string(), "fd00::5".to_string()],
        &[31000, 31001],
        "2024-05-01T09:00:00.000Z",
    );
    bus.publish(update.clone());
    let (name, data) = sse.event().await;
    assert_eq!(name, "status_update_event");
    assert_eq!(data, update);
    assert_eq!(
        data["ipAddresses"],
        json!([{"ipAddress": "10.0.0.5", "protocol": "IPv4"}, {"ipAddress": "fd00::5", "protocol": "IPv6"}])
    );

    // An event that clients could not parse is not published at all.
    bus.publish(json!({"timestamp": TS, "no": "eventType"}));
    bus.publish(json!({"eventType": "app_terminated_event"}));
    bus.publish(events::app_terminated_event(TS, "/app"));
    let (name, data) = sse.event().await;
    assert_eq!(name, "app_terminated_event");
    assert_eq!(data["appId"], "/app");
}

#[tokio::test]
async fn event_type_parameters_filter_but_the_attachment_always_comes_first() {
    let bus = EventBus::new(64);
    let url = serve(&bus, HEARTBEAT_INTERVAL).await;
    let (_, mut sse) = Sse::open(&format!(
        "{url}?event_type=deployment_info&event_type=app_terminated_event"
    ))
    .await;
    assert_eq!(sse.event().await.0, "event_stream_attached");

    let plan = json!({"id": "d1", "original": {}, "target": {}, "steps": [], "version": TS});
    let step = json!({"actions": [{"action": "StartApplication", "app": "/app"}]});
    bus.publish(events::status_update_event(
        TS,
        "a",
        "t",
        "TASK_RUNNING",
        "",
        "/app",
        "h",
        &[],
        &[],
        TS,
    ));
    bus.publish(events::deployment_success(TS, "d0", plan.clone()));
    bus.publish(events::app_terminated_event(TS, "/app"));
    bus.publish(events::group_change_success(TS, "/", TS));
    bus.publish(events::deployment_info(TS, plan.clone(), step.clone()));
    // Events arrive in publication order, so the unwanted ones were skipped.
    assert_eq!(sse.event().await.0, "app_terminated_event");
    let (name, info) = sse.event().await;
    assert_eq!(name, "deployment_info");
    assert_eq!(info["plan"], plan);
    assert_eq!(info["currentStep"], step);
}

#[tokio::test]
async fn unknown_types_go_only_to_streams_that_ask_for_them() {
    let bus = EventBus::new(64);
    let url = serve(&bus, HEARTBEAT_INTERVAL).await;
    let (_, mut all) = Sse::open(&url).await;
    assert_eq!(all.event().await.0, "event_stream_attached");
    let (_, mut scheduler) = Sse::open(&format!(
        "{url}?event_type=scheduler_registered_event&event_type=scheduler_disconnected_event&event_type=app_terminated_event"
    ))
    .await;
    assert_eq!(scheduler.event().await.0, "event_stream_attached");
    // The unfiltered stream sees the other stream attach (a type python clients know).
    let (name, other) = all.event().await;
    assert_eq!(name, "event_stream_attached");
    assert_eq!(other["remoteAddress"], "127.0.0.1");

    bus.publish(events::scheduler_registered_event(
        TS,
        "fw-1",
        "10.0.0.1:5050",
    ));
    bus.publish(events::scheduler_reregistered_event(TS, "10.0.0.1:5050"));
    bus.publish(events::scheduler_disconnected_event(TS));
    bus.publish(events::app_terminated_event(TS, "/marker"));

    let (name, data) = all.event().await;
    assert_eq!(
        (name.as_str(), &data["appId"]),
        ("app_terminated_event", &json!("/marker"))
    );

    let (name, data) = scheduler.event().await;
    assert_eq!(name, "scheduler_registered_event");
    assert_eq!(data["frameworkId"], "fw-1");
    assert_eq!(data["master"], "10.0.0.1:5050");
    assert_eq!(scheduler.event().await.0, "scheduler_disconnected_event");
    assert_eq!(scheduler.event().await.0, "app_terminated_event");
}

#[tokio::test]
async fn without_accept_event_stream_the_answer_is_405() {
    let bus = EventBus::new(8);
    let url = serve(&bus, HEARTBEAT_INTERVAL).await;
    let client = reqwest::Client::new();
    let plain = client.get(&url).send().await.unwrap();
    assert_eq!(plain.status(), 405);
    let json_only = client
        .get(&url)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_only.status(), 405);
    let body = json_body(json_only).await;
    assert!(body["message"].is_string());
    let any = client
        .get(&url)
        .header("Accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), 405);
    assert_eq!(
        bus.subscriber_count(),
        0,
        "refused requests do not subscribe"
    );
}

/// reqwest's `json` needs a feature this workspace does not enable.
async fn json_body(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn heartbeats_are_comment_lines_and_departures_are_announced() {
    let bus = EventBus::new(64);
    let url = serve(&bus, Duration::from_millis(200)).await;
    let (_, mut watcher) = Sse::open(&url).await;
    assert_eq!(watcher.event().await.0, "event_stream_attached");
    let started = Instant::now();
    assert_eq!(watcher.item().await, Item::Comment(String::new()));
    assert!(started.elapsed() < Duration::from_secs(2));

    let (_, mut leaver) = Sse::open(&format!("{url}?event_type=deployment_info")).await;
    assert_eq!(leaver.event().await.0, "event_stream_attached");
    assert_eq!(watcher.event().await.0, "event_stream_attached");
    assert_eq!(bus.subscriber_count(), 2);
    drop(leaver);
    // The server notices the closed connection at its next heartbeat write.
    let (name, detached) = watcher.event().await;
    assert_eq!(name, "event_stream_detached");
    assert_eq!(detached["remoteAddress"], "127.0.0.1");
    assert_eq!(bus.subscriber_count(), 1);
}

/// A client that does not read loses events; publishers never wait for it, and its stream
/// goes on with newer events.
#[tokio::test]
async fn a_slow_client_loses_events_without_blocking_publishers() {
    let bus = EventBus::new(16);
    let url = serve(&bus, HEARTBEAT_INTERVAL).await;
    let (_, mut slow) = Sse::open(&url).await;
    assert_eq!(slow.event().await.0, "event_stream_attached");

    // Far more than socket buffers hold: 2000 events of 16 KiB.
    let padding = "x".repeat(16 * 1024);
    let started = Instant::now();
    for seq in 0..2000 {
        let mut e = events::app_terminated_event(TS, &format!("/app-{seq}"));
        e["padding"] = json!(padding);
        e["seq"] = json!(seq);
        bus.publish(e);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "publishing took {:?}",
        started.elapsed()
    );

    // Read what got through, then a marker published once the client has caught up.
    let mut seqs = Vec::new();
    loop {
        let (name, data) = slow.event().await;
        assert_eq!(name, "app_terminated_event");
        let seq = data["seq"].as_u64().unwrap();
        seqs.push(seq);
        if seq == 1999 {
            break;
        }
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        seqs.len() < 2000,
        "some events were dropped ({} arrived)",
        seqs.len()
    );
    bus.publish(events::app_terminated_event(TS, "/after"));
    assert_eq!(slow.event().await.1["appId"], "/after");
}

#[test]
fn constructors_use_the_spec_field_names() {
    let plan = json!({"id": "d", "original": {}, "target": {}, "steps": [], "version": TS});
    let step = json!({"actions": []});
    let hc = json!({"protocol": "HTTP", "path": "/health"});
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (
            events::status_update_event(
                TS,
                "s",
                "t",
                "TASK_RUNNING",
                "m",
                "/a",
                "h",
                &[],
                &[1],
                "v",
            ),
            "status_update_event",
            vec![
                "slaveId",
                "taskId",
                "taskStatus",
                "message",
                "appId",
                "host",
                "ipAddresses",
                "ports",
                "version",
            ],
        ),
        (
            events::instance_changed_event(TS, "i", "Running", "/a", "ag", "h", "v"),
            "instance_changed_event",
            vec![
                "instanceId",
                "condition",
                "runSpecId",
                "agentId",
                "host",
                "runSpecVersion",
            ],
        ),
        (
            events::instance_health_changed_event(TS, "i", "/a", "v", None),
            "instance_health_changed_event",
            vec!["instanceId", "runSpecId", "runSpecVersion", "healthy"],
        ),
        (
            events::health_status_changed_event(TS, "/a", "i", "v", true),
            "health_status_changed_event",
            vec!["appId", "instanceId", "version", "alive"],
        ),
        (
            events::failed_health_check_event(TS, "/a", "i", hc.clone()),
            "failed_health_check_event",
            vec!["appId", "instanceId", "healthCheck"],
        ),
        (
            events::unhealthy_instance_kill_event(TS, "/a", "t", "i", "v", "r", "h", "s"),
            "unhealthy_instance_kill_event",
            vec![
                "appId",
                "taskId",
                "instanceId",
                "version",
                "reason",
                "host",
                "slaveId",
            ],
        ),
        (
            events::api_post_event(TS, "1.2.3.4", "/v2/apps", json!({"id": "/a"})),
            "api_post_event",
            vec!["clientIp", "uri", "appDefinition"],
        ),
        (
            events::group_change_success(TS, "/", "v"),
            "group_change_success",
            vec!["groupId", "version"],
        ),
        (
            events::deployment_info(TS, plan.clone(), step.clone()),
            "deployment_info",
            vec!["plan", "currentStep"],
        ),
        (
            events::deployment_step_success(TS, plan.clone(), step.clone()),
            "deployment_step_success",
            vec!["plan", "currentStep"],
        ),
        (
            events::deployment_step_failure(TS, plan.clone(), step.clone()),
            "deployment_step_failure",
            vec!["plan", "currentStep"],
        ),
        (
            events::deployment_success(TS, "d", plan.clone()),
            "deployment_success",
            vec!["id", "plan"],
        ),
        (
            events::deployment_failed(TS, "d", plan.clone(), None),
            "deployment_failed",
            vec!["id", "plan"],
        ),
        (
            events::deployment_failed(TS, "d", plan.clone(), Some("killed")),
            "deployment_failed",
            vec!["id", "plan", "reason"],
        ),
        (
            events::app_terminated_event(TS, "/a"),
            "app_terminated_event",
            vec!["appId"],
        ),
        (
            events::event_stream_attached(TS, "1.2.3.4"),
            "event_stream_attached",
            vec!["remoteAddress"],
        ),
        (
            events::event_stream_detached(TS, "1.2.3.4"),
            "event_stream_detached",
            vec!["remoteAddress"],
        ),
        (
            events::scheduler_registered_event(TS, "fw", "m"),
            "scheduler_registered_event",
            vec!["frameworkId", "master"],
        ),
        (
            events::scheduler_reregistered_event(TS, "m"),
            "scheduler_reregistered_event",
            vec!["master"],
        ),
        (
            events::scheduler_disconnected_event(TS),
            "scheduler_disconnected_event",
            vec![],
        ),
    ];
    for (event, event_type, fields) in cases {
        assert_eq!(event["eventType"], event_type);
        assert_eq!(event["timestamp"], TS);
        let got: BTreeSet<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        let mut want: BTreeSet<&str> = fields.into_iter().collect();
        want.extend(["eventType", "timestamp"]);
        assert_eq!(got, want, "{event_type}");
        assert_eq!(
            CLIENT_KNOWN_EVENT_TYPES.contains(&event_type),
            !event_type.starts_with("scheduler_"),
            "{event_type}"
        );
    }
    let health = events::instance_health_changed_event(TS, "i", "/a", "v", Some(false));
    assert_eq!(health["healthy"], false);
    assert_eq!(
        events::instance_health_changed_event(TS, "i", "/a", "v", None)["healthy"],
        Value::Null
    );
    assert_eq!(
        events::failed_health_check_event(TS, "/a", "i", hc.clone())["healthCheck"],
        hc
    );
}
