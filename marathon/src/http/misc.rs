//! Deployments, groups, queue, info, leader, events, ping and metrics.

use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{
    empty, error_response, json_response, method_not_allowed, not_found, parse_body, AppState, Req,
};
use crate::core::view::Embed;
use crate::core::{ApiError, Connection, DeploymentResult};
use crate::health::iso8601;

use crate::MARATHON_VERSION;

fn deployment_response(status: u16, r: &DeploymentResult) -> Response {
    let mut resp = json_response(status, r.to_json());
    if let Ok(v) = HeaderValue::from_str(&r.deployment_id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    resp
}

fn result<T>(r: Result<T, ApiError>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => error_response(e),
    }
}

/// `GET /ping`: `pong`, as JSON when the client prefers it.
pub fn ping(req: &Req) -> Response {
    let wants_json = req
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/plain"));
    if wants_json {
        json_response(200, json!("pong"))
    } else {
        ([(header::CONTENT_TYPE, "text/plain")], "pong").into_response()
    }
}

pub async fn route(state: &AppState, req: Req) -> Response {
    let h = &state.handle;
    let path = req.path.clone();
    let force = req.query.flag("force", false);
    match (req.method.clone(), path.as_str()) {
        (Method::GET, "/") => Response::builder()
            .status(302)
            .header("Location", "/ui/")
            .body(axum::body::Body::empty())
            .expect("static response"),
        (Method::GET, "/ping") => ping(&req),
        (Method::GET, "/metrics") => {
            let r = h
                .read(|m, _| {
                    let apps = m.apps.len();
                    let tasks = m.instances.len();
                    let deployments = m.deployments.len();
                    json!({
                        "version": "4.0.0",
                        "counters": {},
                        "gauges": {
                            "marathon.apps.active.gauge": {"value": apps},
                            "marathon.instances.running.gauge": {"value": tasks},
                            "marathon.deployments.active.gauge": {"value": deployments},
                        },
                        "histograms": {}, "meters": {}, "timers": {},
                    })
                })
                .await;
            result(r, |v| json_response(200, v))
        }
        (Method::GET, "/v2/info") => info(state).await,
        (Method::GET, "/v2/leader") => match state.leadership.leader() {
            Some(l) => json_response(200, json!({ "leader": l })),
            None => json_response(404, json!({"message": "There is no leader"})),
        },
        (Method::DELETE, "/v2/leader") => {
            // A single Marathon stays leader: abdicating would leave no one to lead.
            if state.cfg.zk.is_none() {
                json_response(
                    404,
                    json!({"message": "This Marathon runs without ZooKeeper; there is no other instance to hand leadership to"}),
                )
            } else {
                state.leadership.abdicate();
                json_response(200, json!({"message": "Leadership abdicated"}))
            }
        }
        (Method::GET, "/v2/plugins") => json_response(200, json!({"plugins": []})),
        (Method::GET, "/v2/events") => {
            if !crate::events::accepts_event_stream(&req.headers) {
                return json_response(
                    405,
                    json!({"message": "GET /v2/events needs Accept: text/event-stream"}),
                );
            }
            let types: Vec<String> = req
                .query
                .all("event_type")
                .into_iter()
                .map(str::to_string)
                .collect();
            crate::events::sse_response(
                &state.handle.bus,
                types,
                req.remote.ip().to_string(),
                iso8601(crate::runtime::now()),
            )
        }
        (Method::GET, "/v2/deployments") => {
            let r = h.read(|m, _| m.deployments_json()).await;
            result(r, |d| json_response(200, json!(d)))
        }
        (Method::DELETE, p) if p.starts_with("/v2/deployments/") => {
            let id = p.trim_start_matches("/v2/deployments/").to_string();
            let r = h
                .run(move |m, now, out| m.cancel_deployment(now, &id, force, out))
                .await
                .and_then(|x| x);
            result(r, |d| match d {
                Some(d) => deployment_response(200, &d),
                None => empty(202),
            })
        }
        (Method::GET, "/v2/queue") => {
            let embed = req.query.all("embed").contains(&"lastUnusedOffers");
            let r = h.read(move |m, now| m.queue_json(now, embed)).await;
            result(r, |q| json_response(200, q))
        }
        (Method::DELETE, p) if p.starts_with("/v2/queue/") && p.ends_with("/delay") => {
            let id = p
                .trim_start_matches("/v2/queue")
                .trim_end_matches("/delay")
                .to_string();
            let r = h
                .run(move |m, now, out| m.reset_delay(now, &id, out))
                .await
                .and_then(|x| x);
            result(r, |()| empty(204))
        }
        (_, p) if p == "/v2/groups" || p.starts_with("/v2/groups/") => groups(state, req).await,
        (_, p) if p.starts_with("/v2/eventSubscriptions") || p.starts_with("/v2/pods") => {
            not_found(p)
        }
        // A resource that exists, asked with a method it does not take (Jersey: 405).
        (_, p) if is_known(p) => method_not_allowed(),
        (_, p) => not_found(p),
    }
}

/// The paths served here (with some method).
fn is_known(p: &str) -> bool {
    matches!(
        p,
        "/" | "/ping"
            | "/metrics"
            | "/v2/info"
            | "/v2/leader"
            | "/v2/plugins"
            | "/v2/events"
            | "/v2/deployments"
            | "/v2/queue"
    ) || p.starts_with("/v2/deployments/")
        || (p.starts_with("/v2/queue/") && p.ends_with("/delay"))
}

async fn info(state: &AppState) -> Response {
    let cfg = state.cfg.clone();
    let advertised = state.advertised.clone();
    let r = state
        .handle
        .read(move |m, _| {
            let master_url = match m.connection() {
                Connection::Subscribed { master } => master.clone(),
                Connection::Disconnected => cfg.master.clone(),
            };
            json!({
                "name": "marathon",
                "version": MARATHON_VERSION,
                "buildref": env!("CARGO_PKG_VERSION"),
                "elected": true,
                "leader": advertised,
                "frameworkId": m.framework_id(),
                "marathon_config": {
                    "access_control_allow_origin": null, "checkpoint": true,
                    "decline_offer_duration": (cfg.decline_offer_duration * 1000.0) as i64,
                    "default_network_name": null, "env_vars_prefix": null, "executor": "//cmd",
                    "failover_timeout": cfg.failover_timeout as i64, "features": [],
                    "framework_name": cfg.framework_name, "ha": cfg.zk.is_some(),
                    "hostname": cfg.hostname, "launch_token": 100, "launch_token_refresh_interval": 30000,
                    "leader_proxy_connection_timeout_ms": 5000, "leader_proxy_read_timeout_ms": 10000,
                    "local_port_max": cfg.local_port_max, "local_port_min": cfg.local_port_min,
                    "master": cfg.master, "max_instances_per_offer": 5, "mesos_bridge_name": "mesos-bridge",
                    "mesos_heartbeat_failure_threshold": 5, "mesos_heartbeat_interval": 15000,
                    "mesos_leader_ui_url": format!("http://{}/", master_url.trim_start_matches("http://").trim_end_matches('/')),
                    "mesos_role": cfg.role, "mesos_user": cfg.user, "new_group_enforce_role": "off",
                    "min_revive_offers_interval": 5000, "offer_matching_timeout": 3000,
                    "on_elected_prepare_timeout": 180000, "reconciliation_initial_delay": 15000,
                    "reconciliation_interval": 600000, "scale_apps_initial_delay": 15000,
                    "scale_apps_interval": 300000, "store_cache": true, "task_launch_confirm_timeout": 300000,
                    "task_launch_timeout": 300000, "task_lost_expunge_initial_delay": 300000,
                    "task_lost_expunge_interval": 30000, "task_reservation_timeout": 20000,
                    "webui_url": null, "maintenance_mode": false,
                },
                "zookeeper_config": {
                    "zk": cfg.zk, "zk_compression": true, "zk_compression_threshold": 65536,
                    "zk_connection_timeout": 10000, "zk_max_node_size": 1024000,
                    "zk_max_versions": cfg.max_versions, "zk_session_timeout": 10000, "zk_timeout": 10000,
                },
                "http_config": {"http_port": cfg.http_port, "https_port": 8443},
            })
        })
        .await;
    result(r, |v| json_response(200, v))
}

async fn groups(state: &AppState, req: Req) -> Response {
    let h = &state.handle;
    let force = req.query.flag("force", false);
    let rest = req.path.trim_start_matches("/v2/groups").to_string();
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let n = segs.len();
    let id = format!("/{}", segs.join("/"));
    if n >= 1 && segs[n - 1] == "versions" && req.method == Method::GET {
        let gid = format!("/{}", segs[..n - 1].join("/"));
        let r = h
            .read(move |m, _| m.has_group(&gid).then(|| m.root_version.clone()))
            .await;
        return result(r, |v| match v {
            Some(v) => json_response(200, json!(if v.is_empty() { vec![] } else { vec![v] })),
            None => error_response(ApiError::group_not_found(&format!(
                "/{}",
                segs[..n - 1].join("/")
            ))),
        });
    }
    match req.method {
        Method::GET => {
            let embeds = req.query.all("embed");
            let (eg, ea, app_embed) = if embeds.is_empty() {
                (true, true, Embed::default())
            } else {
                (
                    embeds.contains(&"group.groups"),
                    embeds.contains(&"group.apps"),
                    Embed::parse(
                        embeds
                            .iter()
                            .copied()
                            .filter(|e| e.starts_with("group.apps.")),
                        Embed::default(),
                    ),
                )
            };
            let id2 = id.clone();
            let r = h
                .read(move |m, now| m.group_json(now, &id2, eg, ea, &app_embed))
                .await;
            result(r, |g| match g {
                Some(g) => json_response(200, g),
                None => error_response(ApiError::group_not_found(&id)),
            })
        }
        Method::POST | Method::PUT | Method::PATCH => {
            let body = match parse_body(&req.body) {
                Ok(Value::Null) => json!({}),
                Ok(b) => b,
                Err(e) => return error_response(e),
            };
            let create = req.method == Method::POST;
            let dry_run = req.query.flag("dryRun", false);
            let target = (n > 0).then(|| id.clone());
            // The created group: the path's, else the body's id (relative to the root).
            let location = match (&target, body.get("id").and_then(Value::as_str)) {
                (None, Some(body_id)) => crate::app::canonical_id(body_id),
                _ => id.clone(),
            };
            let r = h
                .run(move |m, now, out| {
                    if dry_run {
                        return Err(ApiError::new(422, "dryRun is not supported"));
                    }
                    if create {
                        m.create_group(now, target.as_deref(), body, force, out)
                    } else {
                        m.update_group(now, target.as_deref(), body, force, out)
                    }
                })
                .await
                .and_then(|x| x);
            result(r, |d| {
                let mut resp = deployment_response(if create { 201 } else { 200 }, &d);
                if create {
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        resp.headers_mut().insert("Location", v);
                    }
                }
                resp
            })
        }
        Method::DELETE => {
            let r = h
                .run(move |m, now, out| m.delete_group(now, &id, force, out))
                .await
                .and_then(|x| x);
            result(r, |d| deployment_response(200, &d))
        }
        _ => method_not_allowed(),
    }
}
