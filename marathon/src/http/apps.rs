//! `/v2/apps...` and `/v2/tasks...`.

use axum::http::{HeaderValue, Method};
use axum::response::Response;
use serde_json::{json, Value};

use super::{error_response, json_response, method_not_allowed, parse_body, AppState, Req};
use crate::core::view::Embed;
use crate::core::{ApiError, Created, DeploymentResult, UpdateOptions};

fn deployment_response(status: u16, r: &DeploymentResult) -> Response {
    let mut resp = json_response(status, r.to_json());
    if let Ok(v) = HeaderValue::from_str(&r.deployment_id) {
        resp.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    resp
}

fn created_response(c: Created) -> Response {
    let mut resp = json_response(201, c.app);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&c.app_id) {
        h.insert("Location", v);
    }
    if let Ok(v) = HeaderValue::from_str(&c.result.deployment_id) {
        h.insert("Marathon-Deployment-Id", v);
    }
    resp
}

fn result<T>(r: Result<T, ApiError>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(e) => error_response(e),
    }
}

pub async fn apps(state: &AppState, req: Req) -> Response {
    let h = &state.handle;
    let force = req.query.flag("force", false);
    let embeds: Vec<String> = req
        .query
        .all("embed")
        .into_iter()
        .map(str::to_string)
        .collect();
    let rest = req.path.trim_start_matches("/v2/apps").to_string();
    if rest.is_empty() {
        return match req.method {
            Method::GET => {
                let embed = Embed::parse(embeds.iter().map(String::as_str), Embed::default());
                let (cmd, id, label) = (
                    req.query.get("cmd").map(str::to_string),
                    req.query.get("id").map(str::to_string),
                    req.query.get("label").map(str::to_string),
                );
                let r = h
                    .read(move |m, now| {
                        m.list_apps(now, cmd.as_deref(), id.as_deref(), label.as_deref(), &embed)
                    })
                    .await
                    .and_then(|x| x);
                result(r, |apps| json_response(200, json!({ "apps": apps })))
            }
            Method::POST => {
                let body = match parse_body(&req.body) {
                    Ok(b) => b,
                    Err(e) => return error_response(e),
                };
                let r = h
                    .run(move |m, now, out| m.create_app(now, body, force, out))
                    .await
                    .and_then(|x| x);
                result(r, created_response)
            }
            Method::PUT | Method::PATCH => {
                let body = match parse_body(&req.body) {
                    Ok(b) => b,
                    Err(e) => return error_response(e),
                };
                let Value::Array(list) = body else {
                    return error_response(ApiError {
                        status: 422,
                        body: json!({"message": "Invalid JSON", "details": [{"path": "/", "errors": ["error.expected.jsarray"]}]}),
                    });
                };
                let patch = req.method == Method::PATCH;
                let partial = patch || req.query.flag("partialUpdate", true);
                let r = h
                    .run(move |m, now, out| m.update_apps(now, list, partial, force, patch, out))
                    .await
                    .and_then(|x| x);
                result(r, |d| deployment_response(200, &d))
            }
            _ => method_not_allowed(),
        };
    }
    // /v2/apps/<id>[/restart|/tasks[/<task>]|/versions[/<v>]] or /v2/apps/<group>/*
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let n = segs.len();
    let id_of = |k: usize| format!("/{}", segs[..k].join("/"));
    if n >= 2 && segs[n - 1] == "*" && req.method == Method::GET {
        let group = id_of(n - 1);
        let embed = Embed::parse(embeds.iter().map(String::as_str), Embed::default());
        let r = h
            .read(move |m, now| m.apps_under(now, &group, &embed))
            .await;
        return result(r, |apps| json_response(200, json!({ "*": apps })));
    }
    if n >= 2 && segs[n - 1] == "restart" {
        if req.method != Method::POST {
            return method_not_allowed();
        }
        let id = id_of(n - 1);
        let body_force = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|b| b.get("force").and_then(Value::as_bool))
            .unwrap_or(false);
        let force = force || body_force;
        let r = h
            .run(move |m, now, out| m.restart_app(now, &id, force, out))
            .await
            .and_then(|x| x);
        return result(r, |d| deployment_response(200, &d));
    }
    if n >= 2 && segs[n - 1] == "versions" {
        let id = id_of(n - 1);
        let r = h.read(move |m, _| m.app_versions(&id)).await;
        return result(r, |v| match v {
            Some(v) => json_response(200, json!({ "versions": v })),
            None => error_response(ApiError::app_not_found(&format!(
                "/{}",
                segs[..n - 1].join("/")
            ))),
        });
    }
    if n >= 3 && segs[n - 2] == "versions" {
        let id = id_of(n - 2);
        let v = segs[n - 1].to_string();
        let id2 = id.clone();
        let r = h.read(move |m, _| m.app_version(&id2, &v)).await;
        return result(r, |v| match v {
            Some(v) => json_response(200, v),
            None => error_response(ApiError::app_not_found(&id)),
        });
    }
    if n >= 2 && segs[n - 1] == "tasks" {
        return app_tasks(state, &req, id_of(n - 1), None).await;
    }
    if n >= 3 && segs[n - 2] == "tasks" {
        return app_tasks(state, &req, id_of(n - 2), Some(segs[n - 1].to_string())).await;
    }
    let id = id_of(n);
    match req.method {
        Method::GET => {
            let embed = Embed::parse(embeds.iter().map(String::as_str), Embed::for_app_get());
            let id2 = id.clone();
            let r = h.read(move |m, now| m.app_info(now, &id2, &embed)).await;
            result(r, |a| match a {
                Some(a) => json_response(200, json!({ "app": a })),
                None => error_response(ApiError::app_not_found(&id)),
            })
        }
        Method::PUT | Method::PATCH => {
            let body = match parse_body(&req.body) {
                Ok(b) => b,
                Err(e) => return error_response(e),
            };
            let patch = req.method == Method::PATCH;
            let partial = patch || req.query.flag("partialUpdate", true);
            let r = h
                .run(move |m, now, out| {
                    let opts = UpdateOptions {
                        partial,
                        force,
                        must_exist: patch,
                    };
                    m.update_app(now, &id, body, opts, out)
                })
                .await
                .and_then(|x| x);
            result(r, |(d, created)| {
                let mut resp = deployment_response(if created { 201 } else { 200 }, &d);
                if created {
                    if let Ok(v) = HeaderValue::from_str(&format!("/{}", segs.join("/"))) {
                        resp.headers_mut().insert("Location", v);
                    }
                }
                resp
            })
        }
        Method::DELETE => {
            let force = req.query.flag("force", true);
            let r = h
                .run(move |m, now, out| m.delete_app(now, &id, force, out))
                .await
                .and_then(|x| x);
            result(r, |d| deployment_response(200, &d))
        }
        _ => method_not_allowed(),
    }
}

async fn app_tasks(state: &AppState, req: &Req, id: String, task: Option<String>) -> Response {
    let h = &state.handle;
    match (&req.method, task) {
        (&Method::GET, None) => {
            let id2 = id.clone();
            let r = h.read(move |m, _| m.app_tasks(&id2)).await;
            result(r, |t| match t {
                Some(t) => json_response(200, json!({ "tasks": t })),
                None => error_response(ApiError::app_not_found(&id)),
            })
        }
        (&Method::DELETE, task) => {
            let scale = req.query.flag("scale", false);
            let wipe = req.query.flag("wipe", false);
            let force = req.query.flag("force", false);
            let host = req.query.get("host").map(str::to_string);
            let single = task.is_some();
            let r = h
                .run(move |m, now, out| {
                    let ids = match task {
                        Some(t) => {
                            if !m.task_exists(&t)
                                || crate::core::app_id_of_task(&t).as_deref()
                                    != Some(crate::app::canonical_id(&id).as_str())
                            {
                                return Err(ApiError::new(
                                    404,
                                    format!("Task '{t}' does not exist"),
                                ));
                            }
                            vec![t]
                        }
                        None => m.app_task_ids(&id, host.as_deref())?,
                    };
                    m.kill_tasks(now, ids, scale, wipe, force, out)
                })
                .await
                .and_then(|x| x);
            result(r, |k| match k {
                Ok(tasks) if single => json_response(
                    200,
                    json!({ "task": tasks.into_iter().next().unwrap_or(Value::Null) }),
                ),
                Ok(tasks) => json_response(200, json!({ "tasks": tasks })),
                Err(d) => deployment_response(200, &d),
            })
        }
        _ => method_not_allowed(),
    }
}

/// `GET /v2/tasks`, `POST /v2/tasks/delete`.
pub async fn tasks(state: &AppState, req: Req) -> Response {
    let h = &state.handle;
    match (req.method.clone(), req.path.as_str()) {
        (Method::GET, "/v2/tasks") => {
            let mut statuses: Vec<String> = req
                .query
                .all("status")
                .into_iter()
                .map(str::to_string)
                .collect();
            statuses.extend(req.query.all("status[]").into_iter().map(str::to_string));
            let r = h.read(move |m, _| m.all_tasks(&statuses)).await;
            result(r, |t| json_response(200, json!({ "tasks": t })))
        }
        (Method::POST, "/v2/tasks/delete") => {
            let body = match parse_body(&req.body) {
                Ok(b) => b,
                Err(e) => return error_response(e),
            };
            let Some(ids) = body.get("ids").and_then(Value::as_array) else {
                return error_response(ApiError {
                    status: 422,
                    body: json!({"message": "Invalid JSON", "details": [{"path": "/ids", "errors": ["error.path.missing"]}]}),
                });
            };
            let ids: Vec<String> = ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let scale = req.query.flag("scale", false);
            let wipe = req.query.flag("wipe", false);
            let force = req.query.flag("force", false);
            let r = h
                .run(move |m, now, out| m.kill_tasks(now, ids, scale, wipe, force, out))
                .await
                .and_then(|x| x);
            result(r, |k| match k {
                Ok(tasks) => json_response(200, json!({ "tasks": tasks })),
                Err(d) => deployment_response(200, &d),
            })
        }
        (_, "/v2/tasks") | (_, "/v2/tasks/delete") => method_not_allowed(),
        (_, p) => super::not_found(p),
    }
}
