//! Marathon's event bus and the `/v2/events` Server-Sent Events stream (spec A9, C4, 0.5).
//!
//! Events are JSON objects with `eventType` and `timestamp`, built by the constructors below
//! (field names as Marathon's `eventToJson`). [`EventBus`] fans them out to every stream;
//! publishing never blocks: a stream that falls more than the bus capacity behind loses
//! the events it missed (logged) and goes on with the newer ones.
//!
//! A stream starts with its own `event_stream_attached` frame, whatever its filter; the
//! other streams see that attachment, and its `event_stream_detached` when the client goes,
//! as ordinary events. Each event is one frame `event: <type>\ndata: <JSON on one line>\n\n`.
//! A comment line (`:`) goes out every [`HEARTBEAT_INTERVAL`], which also makes a
//! disconnected client noticed.
//!
//! Filtering: with `event_type` values, a stream gets only those types; without, it gets
//! every type in [`CLIENT_KNOWN_EVENT_TYPES`] and nothing else. marathon-python 0.13.0 ends
//! its stream on an `eventType` it does not know, so the `scheduler_*` events reach only
//! streams that asked for them by name.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// How often an idle or busy stream gets a `:` comment line.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);

/// The 27 event types python marathon 0.13.0 knows (spec C4: the A9 table minus scheduler_*).
pub const CLIENT_KNOWN_EVENT_TYPES: [&str; 27] = [
    "api_post_event",
    "status_update_event",
    "instance_changed_event",
    "instance_health_changed_event",
    "unknown_instance_terminated_event",
    "framework_message_event",
    "add_health_check_event",
    "remove_health_check_event",
    "failed_health_check_event",
    "health_status_changed_event",
    "unhealthy_task_kill_event",
    "unhealthy_instance_kill_event",
    "group_change_success",
    "group_change_failed",
    "deployment_success",
    "deployment_failed",
    "deployment_info",
    "deployment_step_success",
    "deployment_step_failure",
    "app_terminated_event",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
    "subscribe_event",
    "unsubscribe_event",
    "event_stream_attached",
    "event_stream_detached",
];

/// Fan-out of Marathon events. Each event is a JSON object that has "eventType" and "timestamp".
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Value>>,
}

impl EventBus {
    /// A bus on which a subscriber may fall `capacity` events behind before it loses some.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        EventBus { sender }
    }

    /// Send `event` to every current subscriber, without waiting for any. An event without
    /// a string `eventType` (one line, non-empty) or without `timestamp` is dropped with an
    /// error log: clients would fail on it.
    pub fn publish(&self, event: Value) {
        self.publish_arc(Arc::new(event));
    }

    fn publish_arc(&self, event: Arc<Value>) {
        if event_type(&event).is_none() || event.get("timestamp").is_none() {
            tracing::error!(%event, "event without a valid eventType or timestamp; not published");
            return;
        }
        // An error only means that nobody is subscribed.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Value>> {
        self.sender.subscribe()
    }

    /// How many receivers (event streams included) are subscribed.
    pub fn subscriber_count(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// The event's type when it is usable as an SSE event name.
fn event_type(event: &Value) -> Option<&str> {
    event
        .get("eventType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && !t.contains(['\n', '\r']))
}

/// Whether a stream with the filter `types` gets events of type `event_type`.
fn wanted(types: &[String], event_type: &str) -> bool {
    if types.is_empty() {
        CLIENT_KNOWN_EVENT_TYPES.contains(&event_type)
    } else {
        types.iter().any(|t| t == event_type)
    }
}

/// `event: <type>\ndata: <json>\n\n` (serde_json never writes a raw line break).
fn frame(event_type: &str, event: &Value) -> Bytes {
    Bytes::from(format!("event: {event_type}\ndata: {event}\n\n"))
}

/// Whether the request's `Accept` headers name `text/event-stream` (Jetty's EventSource
/// answers other requests with 405).
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let media = range.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("text/event-stream")
        })
}

/// The whole `GET /v2/events` answer: 405 without `Accept: text/event-stream`, otherwise
/// the stream filtered by the `event_type` values among `query` (the decoded query
/// pairs; empty values are ignored).
pub fn events_endpoint(
    bus: &EventBus,
    headers: &HeaderMap,
    query: &[(String, String)],
    remote: String,
) -> Response {
    if !accepts_event_stream(headers) {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(json!({"message": "HTTP method GET is not supported by this URL"})),
        )
            .into_response();
    }
    let types = query
        .iter()
        .filter(|(k, v)| k == "event_type" && !v.is_empty())
        .map(|(_, v)| v.clone())
        .collect();
    sse_response(bus, types, remote, timestamp_now())
}

/// axum handler body for GET /v2/events: `event_types` are the repeated `event_type` query values (empty = all),
/// `remote` the client address, `now_iso` the timestamp for the attached event.
pub fn sse_response(
    bus: &EventBus,
    event_types: Vec<String>,
    remote: String,
    now_iso: String,
) -> Response {
    sse_response_with_heartbeat(bus, event_types, remote, now_iso, HEARTBEAT_INTERVAL)
}

/// [`sse_response`] with another heartbeat period (tests, tuning).
pub fn sse_response_with_heartbeat(
    bus: &EventBus,
    event_types: Vec<String>,
    remote: String,
    now_iso: String,
    heartbeat: Duration,
) -> Response {
    // Subscribe before announcing, so that nothing published after the attachment is missed.
    let receiver = bus.subscribe();
    let attached = Arc::new(event_stream_attached(&now_iso, &remote));
    let first = frame("event_stream_attached", &attached);
    bus.publish_arc(attached.clone());
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = StreamState {
        receiver,
        types: event_types,
        own_attached: attached,
        ticks,
        detach: DetachOnDrop {
            bus: bus.clone(),
            remote,
        },
    };
    let body = futures::stream::once(async move { Ok::<_, Infallible>(first) })
        .chain(futures::stream::unfold(state, next_frame));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("static response parts")
}

struct StreamState {
    receiver: broadcast::Receiver<Arc<Value>>,
    types: Vec<String>,
    /// This stream's own attachment, which it has sent already and skips on the bus.
    own_attached: Arc<Value>,
    ticks: tokio::time::Interval,
    detach: DetachOnDrop,
}

/// Announces `event_stream_detached` when the stream is dropped (the client went away).
struct DetachOnDrop {
    bus: EventBus,
    remote: String,
}

impl Drop for DetachOnDrop {
    fn drop(&mut self) {
        self.bus
            .publish(event_stream_detached(&timestamp_now(), &self.remote));
    }
}

async fn next_frame(mut s: StreamState) -> Option<(Result<Bytes, Infallible>, StreamState)> {
    loop {
        tokio::select! {
            received = s.receiver.recv() => match received {
                Ok(event) => {
                    if Arc::ptr_eq(&event, &s.own_attached) {
                        continue;
                    }
                    let Some(t) = event_type(&event) else { continue };
                    if wanted(&s.types, t) {
                        let bytes = frame(t, &event);
                        return Some((Ok(bytes), s));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        remote = %s.detach.remote,
                        missed,
                        "event stream client too slow: it misses {missed} events"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            },
            _ = s.ticks.tick() => return Some((Ok(Bytes::from_static(b":\n")), s)),
        }
    }
}

/// The current time as Marathon writes timestamps: `2014-03-01T23:29:30.158Z` (UTC, ms).
pub fn timestamp_now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format_timestamp(since.as_millis() as i64)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_timestamp(unix_millis: i64) -> String {
    crate::health::iso8601(unix_millis as f64 / 1000.0)
}

// ---------------------------------------------------------------------------------------
// Event constructors (field names as spec A9).
// ---------------------------------------------------------------------------------------

/// `{"remoteAddress", "eventType": "event_stream_attached", "timestamp"}`
pub fn event_stream_attached(timestamp: &str, remote_address: &str) -> Value {
    json!({
        "remoteAddress": remote_address,
        "eventType": "event_stream_attached",
        "timestamp": timestamp,
    })
}

/// `{"remoteAddress", "eventType": "event_stream_detached", "timestamp"}`
pub fn event_stream_detached(timestamp: &str, remote_address: &str) -> Value {
    json!({
        "remoteAddress": remote_address,
        "eventType": "event_stream_detached",
        "timestamp": timestamp,
    })
}

/// A Mesos task status. `ip_addresses` become `[{"ipAddress", "protocol": "IPv4"|"IPv6"}]`.
#[allow(clippy::too_many_arguments)]
pub fn status_update_event(
    timestamp: &str,
    slave_id: &str,
    task_id: &str,
    task_status: &str,
    message: &str,
    app_id: &str,
    host: &str,
    ip_addresses: &[String],
    ports: &[u32],
    version: &str,
) -> Value {
    let ip_addresses: Vec<Value> = ip_addresses
        .iter()
        .map(|ip| {
            let protocol = if ip.contains(':') { "IPv6" } else { "IPv4" };
            json!({"ipAddress": ip, "protocol": protocol})
        })
        .collect();
    json!({
        "eventType": "status_update_event",
        "timestamp": timestamp,
        "slaveId": slave_id,
        "taskId": task_id,
        "taskStatus": task_status,
        "message": message,
        "appId": app_id,
        "host": host,
        "ipAddresses": ip_addresses,
        "ports": ports,
        "version": version,
    })
}

/// `condition` is Marathon's instance condition, e.g. `Running`, `Killed`.
pub fn instance_changed_event(
    timestamp: &str,
    instance_id: &str,
    condition: &str,
    run_spec_id: &str,
    agent_id: &str,
    host: &str,
    run_spec_version: &str,
) -> Value {
    json!({
        "eventType": "instance_changed_event",
        "timestamp": timestamp,
        "instanceId": instance_id,
        "condition": condition,
        "runSpecId": run_spec_id,
        "agentId": agent_id,
        "host": host,
        "runSpecVersion": run_spec_version,
    })
}

/// `healthy` is `null` while the health is unknown.
pub fn instance_health_changed_event(
    timestamp: &str,
    instance_id: &str,
    run_spec_id: &str,
    run_spec_version: &str,
    healthy: Option<bool>,
) -> Value {
    json!({
        "eventType": "instance_health_changed_event",
        "timestamp": timestamp,
        "instanceId": instance_id,
        "runSpecId": run_spec_id,
        "runSpecVersion": run_spec_version,
        "healthy": healthy,
    })
}

pub fn health_status_changed_event(
    timestamp: &str,
    app_id: &str,
    instance_id: &str,
    version: &str,
    alive: bool,
) -> Value {
    json!({
        "eventType": "health_status_changed_event",
        "timestamp": timestamp,
        "appId": app_id,
        "instanceId": instance_id,
        "version": version,
        "alive": alive,
    })
}

/// `health_check` is the health check's JSON as in the app definition.
pub fn failed_health_check_event(
    timestamp: &str,
    app_id: &str,
    instance_id: &str,
    health_check: Value,
) -> Value {
    json!({
        "eventType": "failed_health_check_event",
        "timestamp": timestamp,
        "appId": app_id,
        "instanceId": instance_id,
        "healthCheck": health_check,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn unhealthy_instance_kill_event(
    timestamp: &str,
    app_id: &str,
    task_id: &str,
    instance_id: &str,
    version: &str,
    reason: &str,
    host: &str,
    slave_id: &str,
) -> Value {
    json!({
        "eventType": "unhealthy_instance_kill_event",
        "timestamp": timestamp,
        "appId": app_id,
        "taskId": task_id,
        "instanceId": instance_id,
        "version": version,
        "reason": reason,
        "host": host,
        "slaveId": slave_id,
    })
}

/// `app_definition` is the full app as the API returns it.
pub fn api_post_event(timestamp: &str, client_ip: &str, uri: &str, app_definition: Value) -> Value {
    json!({
        "eventType": "api_post_event",
        "timestamp": timestamp,
        "clientIp": client_ip,
        "uri": uri,
        "appDefinition": app_definition,
    })
}

pub fn group_change_success(timestamp: &str, group_id: &str, version: &str) -> Value {
    json!({
        "eventType": "group_change_success",
        "timestamp": timestamp,
        "groupId": group_id,
        "version": version,
    })
}

/// `plan` should be the heavy form `{id, original, target, steps, version}` (spec A9, C4);
/// `current_step` is `{"actions":[{"action","app"}]}`.
pub fn deployment_info(timestamp: &str, plan: Value, current_step: Value) -> Value {
    deployment_step_event("deployment_info", timestamp, plan, current_step)
}

pub fn deployment_step_success(timestamp: &str, plan: Value, current_step: Value) -> Value {
    deployment_step_event("deployment_step_success", timestamp, plan, current_step)
}

pub fn deployment_step_failure(timestamp: &str, plan: Value, current_step: Value) -> Value {
    deployment_step_event("deployment_step_failure", timestamp, plan, current_step)
}

fn deployment_step_event(
    event_type: &str,
    timestamp: &str,
    plan: Value,
    current_step: Value,
) -> Value {
    json!({
        "eventType": event_type,
        "timestamp": timestamp,
        "plan": plan,
        "currentStep": current_step,
    })
}

/// `id` is the deployment id.
pub fn deployment_success(timestamp: &str, id: &str, plan: Value) -> Value {
    json!({
        "eventType": "deployment_success",
        "timestamp": timestamp,
        "id": id,
        "plan": plan,
    })
}

/// A message an executor sent to the framework (`data` is the base64 of the wire).
pub fn framework_message_event(
    timestamp: &str,
    slave_id: &str,
    executor_id: &str,
    message: &str,
) -> Value {
    json!({
        "eventType": "framework_message_event",
        "timestamp": timestamp,
        "slaveId": slave_id,
        "executorId": executor_id,
        "message": message,
    })
}

/// A health check an app version brings.
pub fn add_health_check_event(
    timestamp: &str,
    app_id: &str,
    version: &str,
    health_check: Value,
) -> Value {
    json!({
        "eventType": "add_health_check_event",
        "timestamp": timestamp,
        "appId": app_id,
        "version": version,
        "healthCheck": health_check,
    })
}

/// A health check an app version dropped.
pub fn remove_health_check_event(timestamp: &str, app_id: &str, health_check: Value) -> Value {
    json!({
        "eventType": "remove_health_check_event",
        "timestamp": timestamp,
        "appId": app_id,
        "healthCheck": health_check,
    })
}

/// `reason` is included when known.
pub fn deployment_failed(timestamp: &str, id: &str, plan: Value, reason: Option<&str>) -> Value {
    let mut event = json!({
        "eventType": "deployment_failed",
        "timestamp": timestamp,
        "id": id,
        "plan": plan,
    });
    if let Some(reason) = reason {
        event["reason"] = json!(reason);
    }
    event
}

pub fn app_terminated_event(timestamp: &str, app_id: &str) -> Value {
    json!({
        "eventType": "app_terminated_event",
        "timestamp": timestamp,
        "appId": app_id,
    })
}

/// Sent only to streams that ask for it by name (python clients do not know it).
pub fn scheduler_registered_event(timestamp: &str, framework_id: &str, master: &str) -> Value {
    json!({
        "eventType": "scheduler_registered_event",
        "timestamp": timestamp,
        "frameworkId": framework_id,
        "master": master,
    })
}

/// Sent only to streams that ask for it by name.
pub fn scheduler_reregistered_event(timestamp: &str, master: &str) -> Value {
    json!({
        "eventType": "scheduler_reregistered_event",
        "timestamp": timestamp,
        "master": master,
    })
}

/// Sent only to streams that ask for it by name.
pub fn scheduler_disconnected_event(timestamp: &str) -> Value {
    json!({
        "eventType": "scheduler_disconnected_event",
        "timestamp": timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_utc_millis() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(1_393_716_570_158),
            "2014-03-01T23:29:30.158Z"
        );
        assert_eq!(
            format_timestamp(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_timestamp(1_709_251_199_999),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_timestamp(4_102_444_800_000),
            "2100-01-01T00:00:00.000Z"
        );
        let now = timestamp_now();
        assert_eq!(now.len(), 24, "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
    }

    #[test]
    fn the_filter_keeps_unknown_types_for_those_who_ask() {
        assert!(wanted(&[], "status_update_event"));
        assert!(!wanted(&[], "scheduler_registered_event"));
        let asked = vec!["scheduler_registered_event".to_string()];
        assert!(wanted(&asked, "scheduler_registered_event"));
        assert!(!wanted(&asked, "status_update_event"));
    }

    #[test]
    fn the_known_types_are_the_a9_table_without_scheduler_events() {
        let mut sorted = CLIENT_KNOWN_EVENT_TYPES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 27);
        assert!(sorted.iter().all(|t| !t.starts_with("scheduler_")));
    }

    #[test]
    fn accept_headers_are_parsed() {
        let mut h = HeaderMap::new();
        assert!(!accepts_event_stream(&h));
        h.insert(header::ACCEPT, "*/*".parse().unwrap());
        assert!(!accepts_event_stream(&h));
        h.append(
            header::ACCEPT,
            "application/json, Text/Event-Stream;q=0.9".parse().unwrap(),
        );
        assert!(accepts_event_stream(&h));
    }
}
