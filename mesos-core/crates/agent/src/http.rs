//! The agent's HTTP endpoints: the v1 executor API, `/state`, `/metrics/snapshot`,
//! `/health` and the `/files/*` endpoints, also under the `/slave(1)` prefix.

use crate::runtime::{wall_now, Shared};
use crate::state::Input;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::Stream;
use mesos_proto::executor::{Call, CallType, Event};
use mesos_proto::recordio;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    // The read-only endpoints may be read by pages of other origins: the master's console
    // follows a task's sandbox files straight from its agent.
    let reads: Router<Arc<Shared>> = Router::new()
        .route("/health", get(health))
        .route("/state", get(state))
        .route("/state.json", get(state))
        .route("/metrics/snapshot", get(metrics))
        .route("/files/browse", get(crate::files::browse))
        .route("/files/browse.json", get(crate::files::browse))
        .route("/files/read", get(crate::files::read))
        .route("/files/read.json", get(crate::files::read))
        .route("/files/download", get(crate::files::download))
        .route("/files/download.json", get(crate::files::download))
        .layer(axum::middleware::map_response(allow_any_origin));
    let routes = reads.route("/api/v1/executor", post(executor_api));
    Router::new()
        .merge(routes.clone())
        .nest("/slave(1)", routes)
        .with_state(shared)
}

async fn allow_any_origin(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    r
}

pub(crate) fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

fn json_response(v: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let ctx = shared
        .view
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let v = shared.lock().agent.state_json(wall_now(), &ctx);
    json_response(&v)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let v = shared.lock().agent.metrics(wall_now());
    json_response(&v)
}

/// `application/json` (parameters such as `; charset=utf-8` allowed), 400 when missing,
/// 415 otherwise.
fn check_content_type(headers: &HeaderMap) -> Result<(), Response> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Expecting 'Content-Type' to be present",
        ));
    };
    let ct = ct.to_str().unwrap_or_default();
    let media = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(()),
        "application/x-protobuf" => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type 'application/x-protobuf' is not supported by this agent; use application/json",
        )),
        _ => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Expecting 'Content-Type' of application/json or application/x-protobuf, got '{ct}'"),
        )),
    }
}

async fn executor_api(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_content_type(&headers) {
        return r;
    }
    if let Some(accept) = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()) {
        let ok = accept
            .split(',')
            .map(|m| m.split(';').next().unwrap_or_default().trim())
            .any(|m| m == "application/json" || m == "*/*" || m == "application/*" || m.is_empty());
        if !ok {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                "Expecting 'Accept' to allow application/json",
            );
        }
    }
    let call = match Call::parse(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if call.kind != CallType::Subscribe {
        return match shared
            .dispatch_queued(Input::Executor { call, conn: None })
            .await
        {
            Some(Ok(())) | None => StatusCode::ACCEPTED.into_response(),
            Some(Err((code, msg))) => error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                msg,
            ),
        };
    }
    let conn = shared.new_conn();
    let (tx, rx) = mpsc::unbounded_channel();
    shared.lock().streams.insert(conn, tx);
    // Made before the SUBSCRIBE is handled: should this request go away while it waits in
    // the queue, dropping the stream queues the disconnection behind it.
    let stream = EventStream {
        rx,
        heartbeat: tokio::time::interval_at(
            tokio::time::Instant::now() + shared.heartbeat,
            shared.heartbeat,
        ),
        shared: shared.clone(),
        conn,
    };
    match shared
        .dispatch_queued(Input::Executor {
            call,
            conn: Some(conn),
        })
        .await
    {
        Some(Ok(())) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        // Dropping the stream forgets the connection.
        Some(Err((code, msg))) => error(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            msg,
        ),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "Agent is shutting down"),
    }
}

/// The RecordIO event stream of one executor subscription, with HEARTBEAT events every
/// `--executor_heartbeat_interval` (30 s by default). Dropping it tells the state machine
/// the executor disconnected.
struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
    heartbeat: tokio::time::Interval,
    shared: Arc<Shared>,
    conn: u64,
}

fn frame(e: &Event) -> Bytes {
    Bytes::from(recordio::encode(&serde_json::to_vec(e).unwrap_or_default()))
}

impl Stream for EventStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(e)) => return Poll::Ready(Some(Ok(frame(&e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if self.heartbeat.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Ok(frame(&Event::Heartbeat))));
        }
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if !self.shared.stopped() {
            self.shared.lock().streams.remove(&self.conn);
            // Through the queue: after the SUBSCRIBE that opened it, even if that still waits.
            self.shared
                .enqueue_all(vec![Input::ExecutorStreamClosed { conn: self.conn }]);
        }
    }
}
