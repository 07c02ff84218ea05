//! Group commands (spec A7): create, update (a tree, `scaleBy`, dependencies), delete.
//! Groups are implicit in app ids; explicit ones carry dependencies.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::commands::{key_of, parse_app, ApiError, DeploymentResult};
use super::model::GroupMeta;
use super::{under, Marathon, Output};
use crate::app::{canonical_id, AppDefinition};
use crate::health::iso8601;
use crate::store::StoreOp;
use crate::validation::{validate_id, Violations};

impl Marathon {
    /// `POST /v2/groups[/{id}]`.
    pub fn create_group(
        &mut self,
        now: f64,
        id: Option<&str>,
        body: Value,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let gid = group_id(id, &body)?;
        if gid != "/" && (self.group_exists(&gid) || self.apps.contains_key(&gid)) {
            return Err(ApiError::new(
                409,
                format!("Group {gid} is already created. Use PUT to change this group."),
            ));
        }
        self.update_group(now, Some(&gid), body, force, out)
    }

    /// `PUT /v2/groups[/{id}]`: a tree, `{"scaleBy": f}`, or dependencies only.
    pub fn update_group(
        &mut self,
        now: f64,
        id: Option<&str>,
        body: Value,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let gid = group_id(id, &body)?;
        if !body.is_object() {
            return Err(ApiError::new(422, "Group update must be a JSON object"));
        }
        if let Some(f) = body.get("scaleBy") {
            let Some(f) = f.as_f64().filter(|f| *f >= 0.0) else {
                return Err(ApiError::invalid(vec![crate::validation::Violation {
                    path: "/scaleBy".into(),
                    errors: vec!["must be a non-negative number".into()],
                }]));
            };
            if !self.group_exists(&gid) {
                return Err(ApiError::group_not_found(&gid));
            }
            let mut target = self.apps.clone();
            let ids: Vec<String> = target.keys().filter(|a| under(&gid, a)).cloned().collect();
            for app_id in ids {
                let old = target[&app_id].clone();
                let mut app = old.clone();
                app.instances = (app.instances as f64 * f).ceil() as i64;
                self.stamp(now, &mut app, Some(&old), false);
                target.insert(app_id, app);
            }
            return self.deploy(now, target, BTreeSet::new(), force, out);
        }
        if body.get("version").is_some() {
            return Err(ApiError::new(
                422,
                "Rolling back a group to a version is not supported; roll back its apps with PUT /v2/apps/{id}.",
            ));
        }
        // A tree: collect groups and apps (ids relative to their group).
        let mut metas: BTreeMap<String, GroupMeta> = BTreeMap::new();
        let mut new_apps: Vec<AppDefinition> = Vec::new();
        let mut errs = Violations::default();
        collect_tree(&gid, &body, "", &mut metas, &mut new_apps, &mut errs)?;
        if !errs.is_empty() {
            return Err(ApiError::invalid(errs.into_vec()));
        }
        let mut target = self.apps.clone();
        // As Marathon's GroupUpdate: `apps` replaces the group's own apps, `groups` its
        // subgroups (with their apps); what the body leaves out stays.
        let (own, nested) = (body.get("apps").is_some(), body.get("groups").is_some());
        target.retain(|a, _| {
            if !under(&gid, a) || a == &gid {
                return true;
            }
            let direct = a.matches('/').count() == gid_depth(&gid) + 1;
            !(direct && own || !direct && nested)
        });
        let others = target.clone();
        for mut app in new_apps {
            let previous = self.apps.get(&app.id).cloned();
            self.assign_service_ports(&mut app, &others);
            let unchanged = previous.as_ref().is_some_and(|p| {
                let mut q = app.clone();
                q.version = p.version.clone();
                q.version_info = p.version_info.clone();
                &q == p
            });
            if unchanged {
                target.insert(app.id.clone(), previous.expect("checked"));
            } else {
                self.stamp(now, &mut app, previous.as_ref(), false);
                target.insert(app.id.clone(), app);
            }
        }
        // Group metadata takes part in the plan (dependencies), so it is applied
        // first and put back if the deployment is refused.
        let saved = self.groups.clone();
        let version = iso8601(now);
        let mut ops = Vec::new();
        for (g, mut meta) in metas {
            meta.version = version.clone();
            ops.push(StoreOp::Put(
                format!("group/{}", key_of(&g)),
                serde_json::to_vec(&meta).expect("groups serialize"),
            ));
            self.groups.insert(g, meta);
        }
        if body.get("groups").is_some() {
            let stale: Vec<String> = self
                .groups
                .keys()
                .filter(|g| under(&gid, g) && *g != &gid && !ops_mention(&ops, g))
                .cloned()
                .collect();
            for g in stale {
                self.groups.remove(&g);
                ops.push(StoreOp::Delete(format!("group/{}", key_of(&g))));
            }
        }
        match self.deploy(now, target, BTreeSet::new(), force, out) {
            Ok(r) => {
                out.push(Output::Store(ops));
                Ok(r)
            }
            Err(e) => {
                self.groups = saved;
                Err(e)
            }
        }
    }

    /// `DELETE /v2/groups[/{id}]`.
    pub fn delete_group(
        &mut self,
        now: f64,
        id: &str,
        force: bool,
        out: &mut Vec<Output>,
    ) -> Result<DeploymentResult, ApiError> {
        let gid = canonical_id(id);
        if !self.group_exists(&gid) {
            return Err(ApiError::group_not_found(&gid));
        }
        let mut target = self.apps.clone();
        target.retain(|a, _| !under(&gid, a));
        let r = self.deploy(now, target, BTreeSet::new(), force, out)?;
        let gone: Vec<String> = self
            .groups
            .keys()
            .filter(|g| under(&gid, g) && *g != "/")
            .cloned()
            .collect();
        let mut ops = Vec::new();
        for g in gone {
            self.groups.remove(&g);
            ops.push(StoreOp::Delete(format!("group/{}", key_of(&g))));
        }
        out.push(Output::Store(ops));
        Ok(r)
    }
}

/// Number of segments of a group id (`/` has 0).
fn gid_depth(gid: &str) -> usize {
    gid.split('/').filter(|s| !s.is_empty()).count()
}

fn ops_mention(ops: &[StoreOp], g: &str) -> bool {
    let key = format!("group/{}", key_of(g));
    ops.iter()
        .any(|o| matches!(o, StoreOp::Put(k, _) if *k == key))
}

fn group_id(id: Option<&str>, body: &Value) -> Result<String, ApiError> {
    let raw = match id {
        Some(i) if !i.trim_matches('/').is_empty() => i.to_string(),
        _ => body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_string(),
    };
    let gid = canonical_id(&raw);
    if gid != "/" {
        let mut errs = Violations::default();
        validate_id(&gid, "/id", &mut errs);
        if !errs.is_empty() {
            return Err(ApiError::invalid(errs.into_vec()));
        }
    }
    Ok(gid)
}

/// Walk a group JSON tree rooted at `gid`.
fn collect_tree(
    gid: &str,
    body: &Value,
    path: &str,
    metas: &mut BTreeMap<String, GroupMeta>,
    apps: &mut Vec<AppDefinition>,
    errs: &mut Violations,
) -> Result<(), ApiError> {
    let deps: Vec<String> = body
        .get("dependencies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|d| resolve(gid, d))
                .collect()
        })
        .unwrap_or_default();
    if gid != "/" || !deps.is_empty() {
        metas.insert(
            gid.to_string(),
            GroupMeta {
                dependencies: deps,
                version: String::new(),
            },
        );
    }
    if let Some(list) = body.get("apps").and_then(Value::as_array) {
        for (i, a) in list.iter().enumerate() {
            let mut a = a.clone();
            let rel = a
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if rel.is_empty() {
                errs.add(format!("{path}/apps({i})/id"), "error.path.missing");
                continue;
            }
            a["id"] = json!(resolve(gid, &rel));
            if let Some(deps) = a.get("dependencies").and_then(Value::as_array).cloned() {
                a["dependencies"] = json!(deps
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|d| resolve(gid, d))
                    .collect::<Vec<_>>());
            }
            match parse_app(a) {
                Ok(app) => apps.push(app),
                Err(e) => {
                    if let Some(details) = e.body.get("details").and_then(Value::as_array) {
                        for d in details {
                            let p = d.get("path").and_then(Value::as_str).unwrap_or("/");
                            for m in d
                                .get("errors")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                            {
                                errs.add(
                                    format!("{path}/apps({i}){}", if p == "/" { "" } else { p }),
                                    m.as_str().unwrap_or_default(),
                                );
                            }
                        }
                    } else {
                        return Err(e);
                    }
                }
            }
        }
    }
    if let Some(list) = body.get("groups").and_then(Value::as_array) {
        for (i, g) in list.iter().enumerate() {
            let rel = g
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if rel.is_empty() {
                errs.add(format!("{path}/groups({i})/id"), "error.path.missing");
                continue;
            }
            let child = resolve(gid, &rel);
            collect_tree(&child, g, &format!("{path}/groups({i})"), metas, apps, errs)?;
        }
    }
    Ok(())
}

/// An id relative to a group (absolute ids stay as they are).
fn resolve(gid: &str, id: &str) -> String {
    if id.starts_with('/') {
        canonical_id(id)
    } else {
        canonical_id(&format!("{gid}/{id}"))
    }
}
