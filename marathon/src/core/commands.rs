//! API mutations: every change to apps and groups becomes a deployment (spec A2, A6).
//! Each command checks everything before it changes anything, so a rejected request
//! leaves no trace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::model::{app_id_of_task, Deployment};
use super::{Marathon, Output};
use crate::app::{canonical_id, normalize, AppDefinition, RawApp, VersionInfo};
use crate::health::iso8601;
use crate::plan::build_steps;
use crate::store::StoreOp;
use crate::validation::{error_body, validate};

/// An error answer: status and Marathon's JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: json!({"message": message.into()}),
        }
    }

    pub fn app_not_found(id: &str) -> Self {
        Self::new(404, format!("App '{id}' does not exist"))
    }

    pub fn group_not_found(id: &str) -> Self {
        Self::new(404, format!("Group '{id}' does not exist"))
    }

    pub(crate) fn invalid(v: Vec<crate::validation::Violation>) -> Self {
        ApiError {
            status: 422,
            body: error_body(&v),
        }
    }
}

/// `{"version","deploymentId"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentResult {
    pub version: String,
    pub deployment_id: String,
}

impl DeploymentResult {
    pub fn to_json(&self) -> Value {
        json!({"version": self.version, "deploymentId": self.deployment_id})
    }
}

/// How a PUT/PATCH applies: merge with the existing app (`partialUpdate`), override
/// locks (`force`), refuse to create (PATCH).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateOptions {
    pub partial: bool,
    pub force: bool,
    pub must_exist: bool,
}

/// What `POST /v2/apps` (or a creating PUT) produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub app_id: String,
    pub app: Value,
    pub result: DeploymentResult,
}

/// Parse and validate an app body (either input form). A field of the wrong type is
/// 422 "Invalid JSON" with that field's path (spec A10).
pub fn parse_app(body: Value) -> Result<AppDefinition, ApiError> {
    if !body.is_object() {
        return Err(ApiError {
            status: 422,
            body: json!({"message": "Invalid JSON",
                         "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]}),
        });
    }
    let raw: RawApp = serde_path_to_error::deserialize(body).map_err(|e| {
        let path = json_path(e.path());
        let error = play_error(&e.inner().to_string());
        ApiError {
            status: 422,
            body: json!({"message": "Invalid JSON",
                         "details": [{"path": path, "errors": [error]}]}),
        }
    })?;
    let app = normalize(raw).map_err(ApiError::invalid)?;
    validate(&app).map_err(ApiError::invalid)?;
    Ok(app)
}

/// A deserialisation path in Marathon's notation: `/healthChecks(0)/path`, `/` for the
/// whole object.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("({index})")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Serde's type errors as Play JSON's error keys (what Marathon answers); other
/// messages as they are.
fn play_error(msg: &str) -> String {
    if msg.starts_with("missing field") {
        return "error.path.missing".into();
    }
    let Some(expected) = msg
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
        .map(|(_, e)| e)
    else {
        return msg.to_string();
    };
    let key = if [
        "f64", "f32", "i64", "i32", "u64", "u32", "u16", "u8", "a number",
    ]
    .iter()
    .any(|n| expected.starts_with(n))
        || expected.contains("integer")
    {
        "jsnumber"
    } else if expected.starts_with("a string") || expected.starts_with("a borrowed string") {
        "jsstring"
    } else if expected.starts_with("a boolean") {
        "jsboolean"
    } else if expected.starts_with("a sequence") {
        "jsarray"
    } else if expected.starts_with("struct") || expected.starts_with("a map") {
        "jsobject"
    } else {
        return msg.to_string();
    };
    format!("error.expected.{key}")
}

/// Two definitions differ only in scaling (or not at all).
fn same_config(a: &AppDefinition, b: &AppDefinition) -> bool {
    let strip = |x: &AppDefinition| {
        let mut x = x.clone();
        x.instances = 0;
        x.version = None;
        x.version_info = None;
        x
    };
    strip(a) == strip(b)
}

/// Fields that only appear in replies; a PUT of a fetched app may carry them.
const READ_ONLY: [&str; 11] = [
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "lastTaskFailure",
    "taskStats",
    "readinessCheckResults",
    "versionInfo",
    "version",
];

impl Marathon {
    pub(crate) fn stamp(
        &mut self,
        now: f64,
        app: &mut AppDefinition,
        previous: Option<&AppDefinition>,
        restart: bool,
    ) {
        let v = self.new_version(now);
        let config_changed = restart || previous.is_none_or(|p| !same_config(p, app));
        let last_config = match (config_changed, previous) {
            (false, Some(p)) => super::deploy::config_version(p),
            _ => v.clone(),
        };
        app.version = Some(v.clone());
        app.version_info = Some(VersionInfo {
            last_scaling_at: v,
            last_config_change_at: last_config,
        });
    }

    /// Give `port: 0` definitions and `servicePort: 0` mappings a free service port.
    pub(crate) fn assign_service_ports(
        &self,
        app: &mut AppDefinition,
        others: &BTreeMap<String, AppDefinition>,
    ) {
        let mut used: BTreeSet<i64> = others
            .values()
            .filter(|a| a.id != app.id)
            .flat_map(|a| super::launch::service_ports(a).into_iter().map(i64::from))
            .collect();
        let is_host = app.is_host_networking();
        let next = |used: &mut BTreeSet<i64>| -> i64 {
            let mut p = self.cfg.local_port_min as i64;
            while used.contains(&p) && p < self.cfg.local_port_max as i64 {
                p += 1;
            }
            used.insert(p);
            p
        };
        if is_host {
            for pd in app.port_definitions.iter_mut().flatten() {
                used.insert(pd.port);
            }
            for pd in app.port_definitions.iter_mut().flatten() {
                if pd.port == 0 {
                    pd.port = next(&mut used);
                }
            }
        } else if let Some(pms) = app
            .container
            .as_mut()
            .and_then(|c| c.port_mappings.as_mut())
        {
            for pm in pms.iter() {
                used.insert(pm.service_port);
            }
            for pm in pms.iter_mut() {
                if pm.service_port == 0 {
                    pm.service_port = next(&mut used);
                }
            }
        }
    }

    pub(crate) fn group_exists(&self, id: &str) -> bool {
        id == "/"
            || self.groups.contains_key(id)
            || self.apps.keys().any(|a| a.starts_with(&format!("{id}/")))
    }

    /// The single place where app changes take effect: build the plan, check locks,
    /// persist, and start the deployment.
    pub(crate) fn deploy(
        &mut self,
        now: f64,
        target: BTreeMap<String, AppDefinition>,
        restart: BTreeSet<String>,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let mut affected: BTreeSet<String> = restart.clone();
        for id in self.apps.keys().chain(target.keys()) {
            if self.apps.get(id) != target.get(id) {
                affected.insert(id.clone());
            }
        }
        let conflicts: Vec<String> = self
            .deployments
            .iter()
            .filter(|d| !d.affected.is_disjoint(&affected))
            .map(|d| d.id.clone())
            .collect();
        if !conflicts.is_empty() && !force {
            let first = conflicts[0].clone();
            return Err(ApiError {
                status: 409,
                body: json!({
                    "message": format!("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/{first}'."),
                    "deployments": conflicts.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
                }),
            });
        }
        if self.deployments.len() - conflicts.len() >= self.cfg.max_running_deployments {
            return Err(ApiError::new(
                403,
                format!(
                    "Max number ({}) of running deployments is achieved. Wait for existing deployments to complete or cancel one of them.",
                    self.cfg.max_running_deployments
                ),
            ));
        }
        let original: BTreeMap<String, AppDefinition> = affected
            .iter()
            .filter_map(|id| self.apps.get(id).map(|a| (id.clone(), a.clone())))
            .collect();
        let target_affected: BTreeMap<String, AppDefinition> = affected
            .iter()
            .filter_map(|id| target.get(id).map(|a| (id.clone(), a.clone())))
            .collect();
        let group_deps: BTreeMap<String, Vec<String>> = self
            .groups
            .iter()
            .map(|(k, g)| (k.clone(), g.dependencies.clone()))
            .collect();
        let steps = build_steps(&original, &target_affected, &restart, &group_deps)
            .map_err(|e| ApiError::new(422, e))?;
        // Checked; from here on the change is applied.
        for id in &conflicts {
            self.cancel_deployment_record(now, id, "Superseded by a forced deployment", out);
        }
        let version = self.new_version(now);
        let id = self.new_uuid();
        let d = Deployment {
            id: id.clone(),
            version: version.clone(),
            original,
            target: target_affected,
            steps,
            current_step: 0,
            affected: affected.clone(),
            restart,
        };
        let mut ops = Vec::new();
        for app_id in &affected {
            match target.get(app_id) {
                Some(app) => {
                    let v = app.version.clone().unwrap_or_default();
                    let stored = super::persist::app_to_stored(app);
                    ops.push(StoreOp::Put(
                        format!("apps/{}", key_of(app_id)),
                        stored.clone(),
                    ));
                    ops.push(StoreOp::Put(
                        format!("versions/{}/{v}", key_of(app_id)),
                        stored,
                    ));
                    let versions = self.versions.entry(app_id.clone()).or_default();
                    versions.insert(v, app.clone());
                    while versions.len() > self.cfg.max_versions {
                        let oldest = versions.keys().next().cloned().expect("non-empty");
                        versions.remove(&oldest);
                        ops.push(StoreOp::Delete(format!(
                            "versions/{}/{oldest}",
                            key_of(app_id)
                        )));
                    }
                    let config_changed = self
                        .apps
                        .get(app_id)
                        .is_none_or(|old| !same_config(old, app));
                    if config_changed {
                        self.backoffs.remove(app_id);
                    }
                }
                None => {
                    ops.push(StoreOp::Delete(format!("apps/{}", key_of(app_id))));
                    self.backoffs.remove(app_id);
                    self.failures.remove(app_id);
                }
            }
        }
        ops.push(StoreOp::Put(
            format!("deployment/{id}"),
            super::persist::deployment_to_stored(&d),
        ));
        self.root_version = version.clone();
        ops.push(StoreOp::Put(
            "root-version".into(),
            version.clone().into_bytes(),
        ));
        out.push(Output::Store(ops));
        let ts = iso8601(now);
        for app_id in &affected {
            let old = self
                .apps
                .get(app_id)
                .map(|a| &a.health_checks[..])
                .unwrap_or(&[]);
            let new = target
                .get(app_id)
                .map(|a| &a.health_checks[..])
                .unwrap_or(&[]);
            let json = |h: &crate::app::HealthCheck| serde_json::to_value(h).unwrap_or_default();
            for h in new.iter().filter(|h| !old.contains(h)) {
                let v = target[app_id].version.clone().unwrap_or_default();
                out.push(Output::Event(crate::events::add_health_check_event(
                    &ts,
                    app_id,
                    &v,
                    json(h),
                )));
            }
            for h in old.iter().filter(|h| !new.contains(h)) {
                out.push(Output::Event(crate::events::remove_health_check_event(
                    &ts,
                    app_id,
                    json(h),
                )));
            }
        }
        self.apps = target;
        self.deployments.push(d);
        out.push(Output::Event(crate::events::group_change_success(
            &iso8601(now),
            "/",
            &version,
        )));
        self.step(now, out);
        Ok(DeploymentResult {
            version,
            deployment_id: id,
        })
    }

    /// Remove a running deployment without rolling back.
    fn cancel_deployment_record(
        &mut self,
        now: f64,
        id: &str,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        if let Some(pos) = self.deployments.iter().position(|d| d.id == id) {
            let mut ev = self.deployment_event("deployment_failed", pos, now);
            ev["reason"] = json!(reason);
            self.deployments.remove(pos);
            out.push(Output::Event(ev));
            out.push(Output::Store(vec![StoreOp::Delete(format!(
                "deployment/{id}"
            ))]));
        }
    }

    // ---- apps -------------------------------------------------------------

    /// `POST /v2/apps`.
    pub fn create_app(
        &mut self,
        now: f64,
        body: Value,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<Created, ApiError> {
        let mut app = parse_app(body.clone())?;
        if self.apps.contains_key(&app.id) {
            return Err(ApiError::new(
                409,
                format!("An app with id [{}] already exists.", app.id),
            ));
        }
        if self.group_exists(&app.id) {
            return Err(ApiError::new(
                409,
                format!("A group with id [{}] already exists.", app.id),
            ));
        }
        self.assign_service_ports(&mut app, &self.apps.clone());
        self.stamp(now, &mut app, None, false);
        let mut target = self.apps.clone();
        target.insert(app.id.clone(), app.clone());
        let result = self.deploy(now, target, BTreeSet::new(), force, out)?;
        // The request comes before what it caused.
        out.insert(
            0,
            Output::Event(crate::events::api_post_event(
                &iso8601(now),
                "",
                "/v2/apps",
                serde_json::to_value(&app).unwrap_or_default(),
            )),
        );
        let info = self.app_info(now, &app.id, &super::view::Embed::for_app_get());
        Ok(Created {
            app_id: app.id,
            app: info.unwrap_or(Value::Null),
            result,
        })
    }

    /// Resolve a PUT/PATCH body against the existing app: rollback, merge or create.
    /// Returns the new definition and whether it creates the app.
    fn updated_app(
        &mut self,
        now: f64,
        id: &str,
        body: Value,
        partial: bool,
        must_exist: bool,
    ) -> Result<(AppDefinition, bool), ApiError> {
        let id = canonical_id(id);
        let Value::Object(mut obj) = body else {
            return Err(ApiError {
                status: 422,
                body: json!({"message": "Invalid JSON",
                             "details": [{"path": "/", "errors": ["error.expected.jsobject"]}]}),
            });
        };
        let existing = self.apps.get(&id).cloned();
        if must_exist && existing.is_none() {
            return Err(ApiError::app_not_found(&id));
        }
        if let Some(v) = obj
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_string)
        {
            let only_version = obj.keys().all(|k| k == "version" || k == "id");
            if only_version {
                let Some(old) = self.versions.get(&id).and_then(|vs| vs.get(&v)).cloned() else {
                    return Err(ApiError::new(
                        404,
                        format!("Version '{v}' of app '{id}' does not exist"),
                    ));
                };
                let mut app = old;
                self.stamp(now, &mut app, existing.as_ref(), false);
                return Ok((app, existing.is_none()));
            }
        }
        for k in READ_ONLY {
            obj.remove(k);
        }
        obj.insert("id".into(), json!(id));
        let merged = match (&existing, partial) {
            (Some(old), true) => {
                let mut base = match serde_json::to_value(old).expect("apps serialize") {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                for k in READ_ONLY {
                    base.remove(k);
                }
                // A deprecated field in the body replaces its modern counterpart.
                if obj.contains_key("ports") {
                    base.remove("portDefinitions");
                }
                if obj.contains_key("uris") {
                    base.remove("fetch");
                }
                if obj.contains_key("ipAddress")
                    || obj
                        .get("container")
                        .and_then(|c| c.get("docker"))
                        .and_then(|d| d.get("network"))
                        .is_some()
                {
                    base.remove("networks");
                }
                if obj.contains_key("args") {
                    base.remove("cmd");
                }
                if obj.contains_key("cmd") {
                    base.remove("args");
                }
                base.extend(obj);
                Value::Object(base)
            }
            _ => Value::Object(obj),
        };
        let mut app = parse_app(merged)?;
        let mut others = self.apps.clone();
        others.remove(&id);
        self.assign_service_ports(&mut app, &others);
        self.stamp(now, &mut app, existing.as_ref(), false);
        Ok((app, existing.is_none()))
    }

    /// `PUT /v2/apps/{id}` (and `PATCH` with `must_exist`). Returns whether it created the app.
    pub fn update_app(
        &mut self,
        now: f64,
        id: &str,
        body: Value,
        opts: UpdateOptions,
        out: &mut Vec<Output>,
    ) -> Result<(DeploymentResult, bool), ApiError> {
        let UpdateOptions {
            partial,
            force,
            must_exist,
        } = opts;
        if body.get("version").is_some_and(Value::is_string) {
            let others = body
                .as_object()
                .is_some_and(|o| o.keys().any(|k| k != "version" && k != "id"));
            if others {
                return Err(ApiError::new(
                    422,
                    "The 'version' field may only be combined with the 'id' field.",
                ));
            }
        }
        let (app, created) = self.updated_app(now, id, body, partial, must_exist)?;
        let posted = crate::events::api_post_event(
            &iso8601(now),
            "",
            &format!("/v2/apps{}", app.id),
            serde_json::to_value(&app).unwrap_or_default(),
        );
        if self.group_exists(&app.id) && !self.apps.contains_key(&app.id) {
            return Err(ApiError::new(
                409,
                format!("A group with id [{}] already exists.", app.id),
            ));
        }
        let mut target = self.apps.clone();
        target.insert(app.id.clone(), app);
        let r = self.deploy(now, target, BTreeSet::new(), force, out)?;
        out.insert(0, Output::Event(posted));
        Ok((r, created))
    }

    /// `PUT /v2/apps` / `PATCH /v2/apps`: several apps in one deployment.
    pub fn update_apps(
        &mut self,
        now: f64,
        bodies: Vec<Value>,
        partial: bool,
        force: bool,
        must_exist: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let mut target = self.apps.clone();
        for (i, body) in bodies.into_iter().enumerate() {
            let Some(id) = body.get("id").and_then(Value::as_str).map(str::to_string) else {
                return Err(ApiError::invalid(vec![crate::validation::Violation {
                    path: format!("/({i})/id"),
                    errors: vec!["error.path.missing".into()],
                }]));
            };
            let (app, _) = self
                .updated_app(now, &id, body, partial, must_exist)
                .map_err(|e| in_entry(e, i))?;
            target.insert(app.id.clone(), app);
        }
        self.deploy(now, target, BTreeSet::new(), force, out)
    }

    /// `DELETE /v2/apps/{id}`.
    pub fn delete_app(
        &mut self,
        now: f64,
        id: &str,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let id = canonical_id(id);
        if !self.apps.contains_key(&id) {
            return Err(ApiError::app_not_found(&id));
        }
        let mut target = self.apps.clone();
        target.remove(&id);
        self.deploy(now, target, BTreeSet::new(), force, out)
    }

    /// `POST /v2/apps/{id}/restart`.
    pub fn restart_app(
        &mut self,
        now: f64,
        id: &str,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let id = canonical_id(id);
        let Some(old) = self.apps.get(&id).cloned() else {
            return Err(ApiError::app_not_found(&id));
        };
        let mut app = old.clone();
        self.stamp(now, &mut app, Some(&old), true);
        let mut target = self.apps.clone();
        target.insert(id.clone(), app);
        self.deploy(now, target, BTreeSet::from([id]), force, out)
    }

    /// Kill tasks of apps; with `scale`, the apps shrink by the killed count.
    /// Returns the killed tasks (as JSON) or the scaling deployment.
    pub fn kill_tasks(
        &mut self,
        now: f64,
        task_ids: Vec<String>,
        scale: bool,
        wipe: bool,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<Result<Vec<Value>, DeploymentResult>, ApiError> {
        if scale && wipe {
            return Err(ApiError::new(
                400,
                "You cannot use scale and wipe at the same time.",
            ));
        }
        let mut per_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in &task_ids {
            let Some(app) = app_id_of_task(t) else {
                return Err(ApiError::new(400, format!("Invalid task id '{t}'")));
            };
            if !self.instances.contains_key(t) {
                return Err(ApiError::new(404, format!("Task '{t}' does not exist")));
            }
            per_app.entry(app).or_default().push(t.clone());
        }
        if scale {
            let mut target = self.apps.clone();
            for (app_id, tasks) in &per_app {
                if let Some(app) = target.get_mut(app_id) {
                    let n = tasks
                        .iter()
                        .filter(|t| self.instances.get(*t).is_some_and(|i| i.is_active()))
                        .count() as i64;
                    let old = app.clone();
                    app.instances = (app.instances - n).max(0);
                    let mut app2 = app.clone();
                    self.stamp(now, &mut app2, Some(&old), false);
                    *app = app2;
                }
            }
            // Locks are checked before anything is killed.
            let r = self.deploy_after_kills(now, target, &task_ids, force, out)?;
            return Ok(Err(r));
        }
        let killed: Vec<Value> = task_ids
            .iter()
            .filter_map(|t| self.instances.get(t))
            .map(|i| self.task_json(i))
            .collect();
        for t in &task_ids {
            self.kill_instance(now, t, out);
        }
        self.step(now, out);
        Ok(Ok(killed))
    }

    fn deploy_after_kills(
        &mut self,
        now: f64,
        target: BTreeMap<String, AppDefinition>,
        kills: &[String],
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let affected: BTreeSet<&String> = target
            .iter()
            .filter(|(id, a)| self.apps.get(*id) != Some(a))
            .map(|(id, _)| id)
            .collect();
        if !force
            && self
                .deployments
                .iter()
                .any(|d| affected.iter().any(|a| d.affected.contains(*a)))
        {
            // Let deploy() produce the 409 body.
            return self.deploy(now, target, BTreeSet::new(), false, out);
        }
        for t in kills {
            self.kill_instance(now, t, out);
        }
        self.deploy(now, target, BTreeSet::new(), force, out)
    }

    /// The tasks of an app on `host` (`*` or None = all).
    pub fn app_task_ids(&self, app_id: &str, host: Option<&str>) -> Result<Vec<String>, ApiError> {
        let app_id = canonical_id(app_id);
        if !self.apps.contains_key(&app_id) {
            return Err(ApiError::app_not_found(&app_id));
        }
        Ok(self
            .instances
            .values()
            .filter(|i| i.app_id == app_id && !i.state.is_terminal())
            .filter(|i| host.is_none_or(|h| h == "*" || h == i.host))
            .map(|i| i.task_id.clone())
            .collect())
    }

    // ---- deployments -----------------------------------------------------

    /// `DELETE /v2/deployments/{id}`: `force` stops it (None); otherwise a rollback
    /// deployment reverts its change.
    pub fn cancel_deployment(
        &mut self,
        now: f64,
        id: &str,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<Option<DeploymentResult>, ApiError> {
        let Some(d) = self.deployments.iter().find(|d| d.id == id).cloned() else {
            return Err(ApiError::new(
                404,
                format!("DeploymentPlan {id} does not exist"),
            ));
        };
        if force {
            self.cancel_deployment_record(now, id, "Deployment cancelled", out);
            self.step(now, out);
            return Ok(None);
        }
        let mut target = self.apps.clone();
        for app in &d.affected {
            match d.original.get(app) {
                Some(orig) => {
                    let mut a = orig.clone();
                    let current = self.apps.get(app).cloned();
                    self.stamp(now, &mut a, current.as_ref(), false);
                    target.insert(app.clone(), a);
                }
                None => {
                    target.remove(app);
                }
            }
        }
        let r = self.deploy(now, target, BTreeSet::new(), true, out)?;
        Ok(Some(r))
    }

    // ---- queue -------------------------------------------------------------

    /// `DELETE /v2/queue/{id}/delay`.
    pub fn reset_delay(
        &mut self,
        now: f64,
        id: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), ApiError> {
        let id = canonical_id(id);
        if !self.queued_since.contains_key(&id) && !self.backoffs.contains_key(&id) {
            return Err(ApiError::new(
                404,
                format!("Application {id} not found in tasks queue."),
            ));
        }
        self.backoffs.remove(&id);
        self.step(now, out);
        Ok(())
    }
}

/// A 422 about entry `i` of a list body: its detail paths start with `/(i)`.
fn in_entry(mut e: ApiError, i: usize) -> ApiError {
    if let Some(details) = e.body.get_mut("details").and_then(Value::as_array_mut) {
        for d in details {
            let p = d.get("path").and_then(Value::as_str).unwrap_or("/");
            let p = format!("/({i}){}", if p == "/" { "" } else { p });
            d["path"] = json!(p);
        }
    }
    e
}

/// Store key segment of an id: `/a/b` -> `a_b` (the root is `root`).
pub(crate) fn key_of(id: &str) -> String {
    let k = id.trim_start_matches('/').replace('/', "_");
    if k.is_empty() {
        "root".into()
    } else {
        k
    }
}
