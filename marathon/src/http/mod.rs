//! Marathon's REST API v2 over HTTP: request parsing and response shapes only; every
//! decision is the core's (spec A2, A10, section 0 for client quirks).

mod apps;
mod misc;
mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::core::{ApiError, Config};
use crate::runtime::Handle;
use crate::server::Leadership;

/// What the router holds: who leads, and how to reach it.
#[derive(Clone)]
pub struct RouterState {
    leadership: Arc<Leadership>,
    cfg: Arc<Config>,
    proxy: reqwest::Client,
}

impl RouterState {
    pub fn new(leadership: Arc<Leadership>, cfg: Arc<Config>) -> Self {
        RouterState {
            leadership,
            cfg,
            proxy: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
        }
    }
}

/// Everything a request handler on the leader can reach.
#[derive(Clone)]
pub struct AppState {
    pub handle: Handle,
    pub cfg: Arc<Config>,
    /// `host:port` this server is reachable at (what `/v2/leader` reports).
    pub advertised: String,
    pub leadership: Arc<Leadership>,
}

/// The router (paths are normalised by [`dispatch`]: double slashes collapse).
pub fn service(
    state: RouterState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    let router = Router::new().fallback(dispatch).with_state(state);
    router.into_make_service_with_connect_info::<SocketAddr>()
}

/// Parsed query string (repeated keys kept, booleans case-insensitive).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(
            q.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, k: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Jersey's `Boolean.valueOf`: "true" in any case is true, anything else false.
    pub fn flag(&self, k: &str, default: bool) -> bool {
        match self.get(k) {
            Some(v) => v.eq_ignore_ascii_case("true"),
            None => default,
        }
    }
}

pub fn json_response(status: u16, body: Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        "Content-Type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub fn error_response(e: ApiError) -> Response {
    json_response(e.status, e.body)
}

/// Parse a JSON body; Marathon answers malformed JSON with 400 "Invalid JSON".
pub fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| ApiError {
        status: 400,
        body: json!({"message": "Invalid JSON", "details": e.to_string()}),
    })
}

/// One request, already split: what the endpoint modules get.
pub struct Req {
    pub method: Method,
    /// The query string as received (for proxying).
    pub raw_query: Option<String>,
    /// The path with repeated slashes collapsed, without a trailing slash.
    pub path: String,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub remote: SocketAddr,
}

fn normalize_path(uri: &Uri) -> String {
    let mut p = String::with_capacity(uri.path().len());
    for seg in uri.path().split('/').filter(|s| !s.is_empty()) {
        p.push('/');
        p.push_str(&percent_decode(seg));
    }
    if p.is_empty() {
        p.push('/');
    }
    p
}

async fn dispatch(
    State(shared): State<RouterState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return json_response(413, json!({"message": "Request body too large"})),
    };
    let req = Req {
        raw_query: parts.uri.query().map(str::to_string),
        path: normalize_path(&parts.uri),
        query: Query::parse(parts.uri.query()),
        method: parts.method,
        headers: parts.headers,
        body,
        remote,
    };
    // The UI is served by every Marathon (its API calls are proxied like any other).
    if let Some(r) = ui(&req) {
        return r;
    }
    let advertised = shared.leadership.advertised.clone();
    let Some(handle) = shared.leadership.handle() else {
        // Not leading: answer /ping here, send the event stream to the leader, and
        // proxy everything else (spec A1).
        if req.path == "/ping" {
            return misc::ping(&req);
        }
        return match shared.leadership.leader() {
            Some(leader) if leader != advertised => {
                if req.path == "/v2/events" {
                    proxy::redirect(&leader, &req)
                } else {
                    proxy::forward(&shared.proxy, &leader, &advertised, req).await
                }
            }
            Some(_) => json_response(503, json!({"message": "Leader is starting; try again"})),
            None => json_response(
                502,
                json!({"message": "Could not determine the current leader"}),
            ),
        };
    };
    let state = AppState {
        handle,
        cfg: shared.cfg.clone(),
        advertised,
        leadership: shared.leadership.clone(),
    };
    let mut resp = if req.path == "/v2/apps" || req.path.starts_with("/v2/apps/") {
        apps::apps(&state, req).await
    } else if req.path == "/v2/tasks" || req.path.starts_with("/v2/tasks/") {
        apps::tasks(&state, req).await
    } else {
        misc::route(&state, req).await
    };
    let leader = format!("http://{}", state.advertised);
    if let Ok(v) = HeaderValue::from_str(&leader) {
        resp.headers_mut().insert("X-Marathon-Leader", v);
    }
    resp
}

pub fn not_found(path: &str) -> Response {
    json_response(404, json!({"message": format!("URI not found: {path}")}))
}

pub fn method_not_allowed() -> Response {
    json_response(405, json!({"message": "HTTP method not allowed"}))
}

pub fn empty(status: u16) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("static response")
}

/// The web UI: `/` redirects to `/ui/`, which is its page; its files are under `/static/`.
fn ui(req: &Req) -> Option<Response> {
    if req.method != axum::http::Method::GET && req.method != axum::http::Method::HEAD {
        return None;
    }
    let asset = match req.path.as_str() {
        "/" => {
            return Some(
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, "/ui/")],
                )
                    .into_response(),
            )
        }
        "/ui" | "/ui/" | "/ui/index.html" => mesos_web::asset(mesos_web::MARATHON_INDEX),
        p => mesos_web::static_asset(p),
    }?;
    Some(
        (
            [
                (axum::http::header::CONTENT_TYPE, asset.content_type),
                (axum::http::header::CACHE_CONTROL, "no-cache"),
            ],
            asset.body,
        )
            .into_response(),
    )
}
