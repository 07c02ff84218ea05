//! A standby Marathon forwards API calls to the leader and redirects the event
//! stream there (spec A1, `LeaderProxyFilter`).

use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::Response;
use serde_json::json;

use super::{json_response, Req};

fn leader_url(leader: &str, req: &Req) -> String {
    match &req.raw_query {
        Some(q) => format!("http://{leader}{}?{q}", req.path),
        None => format!("http://{leader}{}", req.path),
    }
}

/// `GET /v2/events` on a standby: 307 to the leader (clients follow it by hand).
pub fn redirect(leader: &str, req: &Req) -> Response {
    let mut r = Response::builder()
        .status(307)
        .body(Body::empty())
        .expect("static response");
    if let Ok(v) = HeaderValue::from_str(&leader_url(leader, req)) {
        r.headers_mut().insert("Location", v);
    }
    r
}

const HOP_BY_HOP: [&str; 6] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
    "upgrade",
];

/// Forward one request to the leader and relay its answer.
pub async fn forward(client: &reqwest::Client, leader: &str, via: &str, req: Req) -> Response {
    let method = match reqwest::Method::from_bytes(req.method.as_str().as_bytes()) {
        Ok(m) => m,
        Err(_) => return json_response(405, json!({"message": "HTTP method not allowed"})),
    };
    let mut out = client.request(method, leader_url(leader, &req));
    for (k, v) in req.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    out = out.header("Via", format!("1.1 {via}"));
    let resp = match out.body(req.body.to_vec()).send().await {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                502,
                json!({"message": format!("Could not reach the leader at {leader}: {e}")}),
            )
        }
    };
    let mut r = Response::builder().status(resp.status().as_u16());
    for (k, v) in resp.headers().iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            r = r.header(k.as_str(), v.as_bytes());
        }
    }
    let body = resp.bytes().await.unwrap_or_default();
    r.body(Body::from(body))
        .unwrap_or_else(|_| json_response(502, json!({"message": "Bad answer from the leader"})))
}
