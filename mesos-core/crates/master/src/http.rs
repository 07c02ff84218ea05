//! HTTP routing for the master. Handlers only translate between HTTP and the state
//! machine's inputs, or render the published snapshot.

// Early returns carry a finished `Response`; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use crate::runtime::{Cmd, Sink};
use crate::snapshot::Snapshot;
use crate::state::*;
use crate::{metrics, operator, render};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use mesos_proto::internal::{AgentEnvelope, Registration};
use mesos_proto::recordio;
use mesos_proto::scheduler::Call;
use mesos_proto::v1::MasterInfo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Largest request body the master reads.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

pub struct App {
    pub cmds: mpsc::UnboundedSender<Cmd>,
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub operator: broadcast::Sender<Bytes>,
    pub next_conn: AtomicU64,
    pub heartbeat_interval: f64,
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

fn json_response(v: &Value, query: &HashMap<String, String>) -> Response {
    let body = serde_json::to_string(v).expect("json");
    if let Some(cb) = query.get("jsonp") {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/javascript")],
            format!("{cb}({body});"),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `/master/state`, written on a blocking thread (at 40,000 agents it takes the cores for a
/// while, and the async workers must keep answering `/health`, agents and schedulers) and
/// sent in pieces as they are written, so the transfer overlaps the rendering and the
/// 100 MB body is never copied into one buffer.
async fn state_response(snap: Arc<Snapshot>, query: HashMap<String, String>) -> Response {
    let jsonp = query.get("jsonp").cloned();
    let content_type = if jsonp.is_some() {
        "text/javascript"
    } else {
        "application/json"
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    tokio::task::spawn_blocking(move || {
        let mut send = |segment: Vec<u8>| {
            // A closed channel: the client went away; the rest is written and dropped.
            let _ = tx.blocking_send(segment);
        };
        if let Some(cb) = &jsonp {
            send(format!("{cb}(").into_bytes());
        }
        render::stream_state(&snap, &mut send);
        if jsonp.is_some() {
            send(b");".to_vec());
        }
        // Dropping the last reference to an old snapshot frees it here too, not on a worker.
        drop(snap);
    });
    let body =
        futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), |segment| {
            Ok::<_, std::convert::Infallible>(Bytes::from(segment))
        });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        Body::from_stream(body),
    )
        .into_response()
}

fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(seg);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn query_map(req: &Request<Body>) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 2 < b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (c, None) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A streaming body that tells the master when the client went away.
struct Watched {
    rx: mpsc::UnboundedReceiver<Bytes>,
    on_drop: Option<(mpsc::UnboundedSender<Cmd>, Input)>,
}

impl Stream for Watched {
    type Item = Result<Bytes, std::convert::Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|o| o.map(Ok))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some((cmds, input)) = self.on_drop.take() {
            let _ = cmds.send(Cmd::Input { input, reply: None });
        }
    }
}

fn stream_response(
    rx: mpsc::UnboundedReceiver<Bytes>,
    on_drop: Option<(mpsc::UnboundedSender<Cmd>, Input)>,
    stream_id: Option<&str>,
) -> Response {
    let body = Body::from_stream(Watched { rx, on_drop });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = stream_id {
        if let Ok(v) = HeaderValue::from_str(id) {
            resp.headers_mut().insert("Mesos-Stream-Id", v);
        }
    }
    resp
}

fn reply_response(r: Reply) -> Response {
    match r {
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Ok | Reply::StreamOpened => StatusCode::OK.into_response(),
        Reply::Error(code, msg) => text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            msg,
        ),
        Reply::Reconnect => text(
            StatusCode::CONFLICT,
            "Agent is not registered on this connection; re-register",
        ),
    }
}

/// Mesos' content checks: 400 without a Content-Type, 415 for anything but JSON.
fn check_json_content(headers: &HeaderMap) -> Result<(), Response> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(text(
            StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        ));
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let base = ct.split(';').next().unwrap_or("").trim();
    if base == "application/json" {
        Ok(())
    } else if base == "application/x-protobuf" {
        Err(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Expecting 'Content-Type' of application/json (protobuf is not supported by this master)",
        ))
    } else {
        Err(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of application/json or application/x-protobuf, got '{ct}'"),
        ))
    }
}

fn accepts_json(headers: &HeaderMap) -> bool {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(a) => a.split(',').any(|p| {
            let t = p.split(';').next().unwrap_or("").trim();
            t == "application/json" || t == "*/*" || t == "application/*" || t.is_empty()
        }),
    }
}

async fn read_body(body: Body) -> Result<Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body exceeds {MAX_BODY} bytes"),
        )
    })
}

async fn ask(app: &App, input: Input) -> Reply {
    match send_input(app, input) {
        Ok(rx) => rx.await.unwrap_or_else(|_| shutting_down()),
        Err(r) => r,
    }
}

/// Queue an input for the state machine; its reply comes on the receiver.
fn send_input(app: &App, input: Input) -> Result<oneshot::Receiver<Reply>, Reply> {
    let (tx, rx) = oneshot::channel();
    app.cmds
        .send(Cmd::Input {
            input,
            reply: Some(tx),
        })
        .map(|()| rx)
        .map_err(|_| shutting_down())
}

fn shutting_down() -> Reply {
    Reply::Error(503, "Master is shutting down".into())
}

/// What this master is doing now: leading (with the running state machine's handle) or
/// following a leader elsewhere (or none known).
#[derive(Clone)]
pub enum Mode {
    Leading(Arc<App>),
    Following { leader: Option<MasterInfo> },
}

pub struct Server {
    pub mode: watch::Receiver<Mode>,
    /// This master's own MasterInfo (as a follower it has no state machine).
    pub me: MasterInfo,
    pub flags: std::collections::BTreeMap<String, String>,
    pub start_time: f64,
}

fn normalized_path(req: &Request<Body>) -> String {
    let path = normalize(req.uri().path());
    path.strip_prefix("/master/api/")
        .map(|p| format!("/api/{p}"))
        .unwrap_or(path)
}

pub async fn route(State(server): State<Arc<Server>>, req: Request<Body>) -> Response {
    let mode = server.mode.borrow().clone();
    match mode {
        Mode::Leading(app) => leader_route(app, req).await,
        Mode::Following { leader } => follower_route(&server, leader.as_ref(), req),
    }
}

/// A non-leading master: the scheduler, operator and agent APIs go to the leader with a
/// 307 (503 while no leader is known); `/redirect`, `/health`, `/version`, `/state` and
/// metrics are answered here.
fn follower_route(server: &Server, leader: Option<&MasterInfo>, req: Request<Body>) -> Response {
    let path = normalized_path(&req);
    let q = query_map(&req);
    // Elected but not serving yet (the registry is loading): never redirect to ourselves.
    let leader = leader.filter(|l| !(l.port == server.me.port && l.hostname == server.me.hostname));
    let leader_addr =
        leader.map(|l| format!("{}:{}", l.hostname.clone().unwrap_or_default(), l.port));
    let redirect = |target: String| match &leader_addr {
        Some(a) => (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, format!("//{a}{target}"))],
        )
            .into_response(),
        None => text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected"),
    };
    match path.as_str() {
        "/api/v1/scheduler" => redirect("/master/api/v1/scheduler".into()),
        p if p == "/api/v1" || p.starts_with("/api/v1/") => redirect(format!("/master{p}")),
        p if p.starts_with("/internal/agent/") || p == "/teardown" || p == "/master/teardown" => {
            redirect(p.to_string())
        }
        "/redirect" | "/master/redirect" => redirect(String::new()),
        "/health" | "/master/health" => StatusCode::OK.into_response(),
        "/version" => json_response(&render::version_json(), &q),
        "/state"
        | "/master/state"
        | "/state.json"
        | "/master/state.json"
        | "/state-summary"
        | "/master/state-summary" => json_response(
            &render::follower_state_json(&server.me, leader, &server.flags, server.start_time),
            &q,
        ),
        "/metrics/snapshot" => json_response(
            &json!({"master/elected": 0.0, "master/uptime_secs": (crate::runtime::wall_now() - server.start_time).max(0.0)}),
            &q,
        ),
        // The console works on any master: it reads `/master/state`, which says who leads.
        p => ui(p).unwrap_or_else(|| text(StatusCode::NOT_FOUND, "Not found")),
    }
}

/// The cluster console: its page at `/`, its files under `/static/`.
fn ui(path: &str) -> Option<Response> {
    let asset = match path {
        "/" | "/index.html" => mesos_web::asset(mesos_web::CONSOLE_INDEX),
        p => mesos_web::static_asset(p),
    }?;
    Some(
        (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, asset.content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            asset.body,
        )
            .into_response(),
    )
}

async fn leader_route(app: Arc<App>, req: Request<Body>) -> Response {
    let path = normalized_path(&req);
    let q = query_map(&req);
    let method = req.method().clone();
    let snap = || app.snapshot.borrow().clone();
    let get_only = |f: &dyn Fn() -> Response| -> Response {
        if method == Method::GET || method == Method::HEAD || method == Method::POST {
            f()
        } else {
            text(StatusCode::METHOD_NOT_ALLOWED, "Expecting GET")
        }
    };
    match path.as_str() {
        "/api/v1/scheduler" => scheduler(&app, req).await,
        p if p == "/api/v1" || p.starts_with("/api/v1/") => operator_api(&app, req).await,
        "/internal/agent/connect" => agent_connect(&app, req).await,
        "/internal/agent/message" => agent_message(&app, req).await,
        "/version" => get_only(&|| json_response(&render::version_json(), &q)),
        "/health" | "/master/health" => get_only(&|| StatusCode::OK.into_response()),
        "/redirect" | "/master/redirect" => {
            let s = snap();
            match &s.leader {
                Some(l) => {
                    let loc = format!("//{}:{}", l.hostname.clone().unwrap_or_default(), l.port);
                    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, loc)]).into_response()
                }
                None => text(StatusCode::SERVICE_UNAVAILABLE, "No leader elected"),
            }
        }
        "/state" | "/master/state" | "/state.json" | "/master/state.json" => {
            if method == Method::GET || method == Method::HEAD || method == Method::POST {
                state_response(snap(), q).await
            } else {
                text(StatusCode::METHOD_NOT_ALLOWED, "Expecting GET")
            }
        }
        "/state-summary" | "/master/state-summary" => {
            get_only(&|| json_response(&render::state_summary_json(&snap()), &q))
        }
        "/frameworks" | "/master/frameworks" => {
            get_only(&|| json_response(&render::frameworks_json(&snap()), &q))
        }
        "/slaves" | "/master/slaves" => {
            get_only(&|| json_response(&render::slaves_json(&snap()), &q))
        }
        "/tasks" | "/master/tasks" => get_only(&|| match render::tasks_json(&snap(), &q) {
            Ok(v) => json_response(&v, &q),
            Err(e) => text(StatusCode::BAD_REQUEST, e),
        }),
        "/roles" | "/master/roles" => get_only(&|| json_response(&render::roles_json(&snap()), &q)),
        "/quota" | "/master/quota" => {
            get_only(&|| json_response(&operator::get_quota(&snap())["status"], &q))
        }
        "/flags" | "/master/flags" => {
            get_only(&|| json_response(&json!({"flags": snap().flags}), &q))
        }
        "/metrics/snapshot" => {
            get_only(&|| json_response(&serde_json::Value::Object(metrics::snapshot(&snap())), &q))
        }
        "/metrics" => get_only(&|| {
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                metrics::prometheus(&metrics::snapshot(&snap())),
            )
                .into_response()
        }),
        "/teardown" | "/master/teardown" => teardown(&app, req).await,
        p if p.starts_with("/redirect/") || p.starts_with("/master/redirect/") => {
            text(StatusCode::NOT_FOUND, "Not found")
        }
        p => get_only(&|| ui(p).unwrap_or_else(|| text(StatusCode::NOT_FOUND, "Not found"))),
    }
}

async fn scheduler(app: &App, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Expecting POST");
    }
    if let Err(r) = check_json_content(req.headers()) {
        return r;
    }
    let headers = req.headers().clone();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let parsed = match Call::parse(&body) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let stream_header = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Call::Subscribe(_) = &parsed.call {
        if !accepts_json(&headers) {
            return text(
                StatusCode::NOT_ACCEPTABLE,
                "Expecting 'Accept' to allow application/json",
            );
        }
        if stream_header.is_some() {
            return text(
                StatusCode::BAD_REQUEST,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let stream = uuid::Uuid::new_v4().to_string();
        let (sink, rx): (Sink, _) = mpsc::unbounded_channel();
        let (tx, reply) = oneshot::channel();
        let input = Input::Scheduler {
            stream: Some(stream.clone()),
            framework_id: parsed.framework_id,
            call: parsed.call,
        };
        if app
            .cmds
            .send(Cmd::Subscribe {
                stream: stream.clone(),
                sink,
                input,
                reply: tx,
            })
            .is_err()
        {
            return text(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down");
        }
        return match reply.await {
            Ok(Reply::StreamOpened) => stream_response(
                rx,
                Some((
                    app.cmds.clone(),
                    Input::StreamClosed {
                        stream: stream.clone(),
                    },
                )),
                Some(&stream),
            ),
            Ok(other) => reply_response(other),
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down"),
        };
    }
    let input = Input::Scheduler {
        stream: stream_header,
        framework_id: parsed.framework_id,
        call: parsed.call,
    };
    reply_response(ask(app, input).await)
}

async fn agent_connect(app: &App, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Expecting POST");
    }
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let registration: Registration = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse registration: {e}"),
            )
        }
    };
    let conn = app.next_conn.fetch_add(1, Ordering::Relaxed);
    let (sink, rx): (Sink, _) = mpsc::unbounded_channel();
    let (tx, reply) = oneshot::channel();
    let sent = app.cmds.send(Cmd::AgentConnect {
        conn,
        sink,
        input: Input::AgentConnect { conn, registration },
        reply: tx,
    });
    if sent.is_err() || reply.await.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Master is shutting down");
    }
    stream_response(
        rx,
        Some((app.cmds.clone(), Input::AgentDisconnected { conn })),
        None,
    )
}

async fn agent_message(app: &App, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Expecting POST");
    }
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    /// An [`AgentEnvelope`] or an [`AgentBatch`].
    #[derive(serde::Deserialize)]
    struct Incoming {
        agent_id: mesos_proto::ids::AgentId,
        message: Option<mesos_proto::internal::AgentToMaster>,
        #[serde(default)]
        messages: Vec<mesos_proto::internal::AgentToMaster>,
    }
    let incoming: Incoming = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse agent message: {e}"),
            )
        }
    };
    // All of the batch goes to the state machine at once (it handles what is queued in one
    // go); the first refusal is the answer. Not registered (409): the agent reconnects and
    // resends its pending updates.
    let mut waiting = Vec::new();
    for message in incoming.message.into_iter().chain(incoming.messages) {
        let envelope = AgentEnvelope {
            agent_id: incoming.agent_id.clone(),
            message,
        };
        match send_input(app, Input::AgentMessage { envelope }) {
            Ok(rx) => waiting.push(rx),
            Err(r) => return reply_response(r),
        }
    }
    let mut reply = Reply::Accepted;
    for rx in waiting {
        let r = rx.await.unwrap_or_else(|_| shutting_down());
        if matches!(reply, Reply::Accepted | Reply::Ok) {
            reply = r;
        }
    }
    reply_response(reply)
}

async fn teardown(app: &App, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Expecting POST");
    }
    let q = query_map(&req);
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        })
        .collect();
    let Some(id) = form.get("frameworkId").or_else(|| q.get("frameworkId")) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Missing 'frameworkId' query parameter in the request body",
        );
    };
    let fid = mesos_proto::ids::FrameworkId::new(id.clone());
    reply_response(ask(app, Input::TeardownFramework { framework_id: fid }).await)
}

async fn operator_api(app: &App, req: Request<Body>) -> Response {
    if req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Expecting POST");
    }
    if let Err(r) = check_json_content(req.headers()) {
        return r;
    }
    if !accepts_json(req.headers()) {
        return text(
            StatusCode::NOT_ACCEPTABLE,
            "Expecting 'Accept' to allow application/json",
        );
    }
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let call: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Failed to parse body into JSON: {e}"),
            )
        }
    };
    let Some(kind) = call.get("type").and_then(Value::as_str) else {
        return text(
            StatusCode::BAD_REQUEST,
            "Failed to validate master::Call: Expecting 'type' to be present",
        );
    };
    let s = app.snapshot.borrow().clone();
    let respond = |field: &str, v: Value| {
        let t = field.to_ascii_uppercase();
        let mut out = json!({ "type": t });
        out[field] = v;
        json_response(&out, &HashMap::new())
    };
    match kind {
        "GET_HEALTH" => respond("get_health", json!({"healthy": true})),
        "GET_VERSION" => respond(
            "get_version",
            json!({"version_info": render::version_json()}),
        ),
        "GET_FLAGS" => respond("get_flags", operator::get_flags(&s)),
        "GET_MASTER" => respond("get_master", operator::get_master(&s)),
        "GET_STATE" => respond("get_state", operator::get_state(&s)),
        "GET_AGENTS" => respond("get_agents", operator::get_agents(&s)),
        "GET_FRAMEWORKS" => respond("get_frameworks", operator::get_frameworks(&s)),
        "GET_TASKS" => respond("get_tasks", operator::get_tasks(&s)),
        "GET_EXECUTORS" => respond("get_executors", operator::get_executors(&s)),
        "GET_METRICS" => {
            let m = metrics::snapshot(&s);
            let list: Vec<Value> = m
                .into_iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect();
            respond("get_metrics", json!({ "metrics": list }))
        }
        "GET_ROLES" => {
            let roles: Vec<Value> = s
                .roles
                .iter()
                .map(|r| json!({"name": r.name, "weight": r.weight, "frameworks": r.frameworks.iter().map(|f| json!({"value": f})).collect::<Vec<_>>(), "resources": r.allocated.to_wire(Some("*"))}))
                .collect();
            respond("get_roles", json!({ "roles": roles }))
        }
        "GET_WEIGHTS" => {
            let w: Vec<Value> = s
                .roles
                .iter()
                .map(|r| json!({"role": r.name, "weight": r.weight}))
                .collect();
            respond("get_weights", json!({ "weight_infos": w }))
        }
        "UPDATE_WEIGHTS" => {
            let infos = call["update_weights"]["weight_infos"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut weights = Vec::new();
            for w in infos {
                let role = w["role"].as_str().unwrap_or("").to_string();
                let weight = w["weight"].as_f64().unwrap_or(-1.0);
                if let Err(e) = mesos_proto::ids::validate_role(&role) {
                    return text(StatusCode::BAD_REQUEST, e);
                }
                if weight <= 0.0 || !weight.is_finite() {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("Invalid weight '{weight}': weights must be positive"),
                    );
                }
                weights.push((role, weight));
            }
            reply_response(ask(app, Input::UpdateWeights { weights }).await)
        }
        "GET_QUOTA" => respond("get_quota", operator::get_quota(&s)),
        "UPDATE_QUOTA" => match operator::parse_update_quota(&call) {
            Ok((force, configs)) => {
                reply_response(ask(app, Input::UpdateQuota { force, configs }).await)
            }
            Err(e) => text(StatusCode::BAD_REQUEST, e),
        },
        "TEARDOWN" => {
            let id = call["teardown"]["framework_id"]["value"]
                .as_str()
                .unwrap_or("");
            if id.is_empty() {
                return text(StatusCode::BAD_REQUEST, "Failed to validate master::Call: Expecting 'teardown.framework_id' to be present");
            }
            let fid = mesos_proto::ids::FrameworkId::new(id);
            reply_response(ask(app, Input::TeardownFramework { framework_id: fid }).await)
        }
        "SUBSCRIBE" => operator_subscribe(app, &s),
        other => text(
            StatusCode::NOT_IMPLEMENTED,
            format!("Operator call '{other}' is not supported by this master"),
        ),
    }
}

fn operator_subscribe(app: &App, s: &Snapshot) -> Response {
    let mut events = app.operator.subscribe();
    let (sink, rx): (Sink, _) = mpsc::unbounded_channel();
    let first = json!({
        "type": "SUBSCRIBED",
        "subscribed": {"get_state": operator::get_state(s), "heartbeat_interval_seconds": app.heartbeat_interval}
    });
    let _ = sink.send(Bytes::from(recordio::encode(
        &serde_json::to_vec(&first).expect("json"),
    )));
    let _ = sink.send(Bytes::from(recordio::encode(br#"{"type":"HEARTBEAT"}"#)));
    let interval = app.heartbeat_interval;
    tokio::spawn(async move {
        let mut hb = tokio::time::interval(std::time::Duration::from_secs_f64(interval));
        hb.tick().await;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Ok(bytes) => if sink.send(bytes).is_err() { break },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                },
                _ = hb.tick() => {
                    if sink.send(Bytes::from(recordio::encode(br#"{"type":"HEARTBEAT"}"#))).is_err() { break }
                }
                _ = sink.closed() => break,
            }
        }
    });
    stream_response(rx, None, None)
}
