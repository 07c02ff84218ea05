//! What the core writes to the store, and rebuilding the core from it.
//!
//! Keys: `framework-id`, `root-version`, `apps/<id>` (current definition),
//! `versions/<id>/<version>`, `group/<id>`, `deployment/<uuid>`, `instance/<task id>`
//! (`<id>` with `/` as `_`). Values are JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::model::{Deployment, GroupMeta, Instance};
use super::{Config, Marathon};
use crate::app::{AppDefinition, VersionInfo};
use crate::plan::Action;

/// An app as stored: the 1.5+ JSON, with `version` and `versionInfo`.
pub(crate) fn app_to_stored(app: &AppDefinition) -> Vec<u8> {
    serde_json::to_vec(app).expect("apps serialize")
}

fn app_from_value(v: Value) -> Result<AppDefinition, String> {
    let version = v.get("version").and_then(Value::as_str).map(str::to_string);
    let info: Option<VersionInfo> = v
        .get("versionInfo")
        .cloned()
        .and_then(|i| serde_json::from_value(i).ok());
    let mut app = AppDefinition::from_value(v).map_err(|e| e.to_string())?;
    app.version = version;
    app.version_info = info;
    Ok(app)
}

fn app_from_stored(bytes: &[u8]) -> Result<AppDefinition, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    app_from_value(v)
}

pub(crate) fn deployment_to_stored(d: &Deployment) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": d.id, "version": d.version,
        "original": d.original.values().collect::<Vec<_>>(),
        "target": d.target.values().collect::<Vec<_>>(),
        "steps": d.steps, "currentStep": d.current_step,
        "affected": d.affected, "restart": d.restart,
    }))
    .expect("deployments serialize")
}

fn deployment_from_stored(bytes: &[u8]) -> Result<Deployment, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let apps = |k: &str| -> Result<BTreeMap<String, AppDefinition>, String> {
        v.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|a| app_from_value(a.clone()).map(|a| (a.id.clone(), a)))
            .collect()
    };
    let steps: Vec<Vec<Action>> =
        serde_json::from_value(v.get("steps").cloned().unwrap_or(json!([])))
            .map_err(|e| e.to_string())?;
    let set = |k: &str| -> BTreeSet<String> {
        serde_json::from_value(v.get(k).cloned().unwrap_or(json!([]))).unwrap_or_default()
    };
    Ok(Deployment {
        id: v["id"].as_str().unwrap_or_default().to_string(),
        version: v["version"].as_str().unwrap_or_default().to_string(),
        original: apps("original")?,
        target: apps("target")?,
        steps,
        // Resume the interrupted step (its actions are idempotent).
        current_step: v["currentStep"].as_u64().unwrap_or(0) as usize,
        affected: set("affected"),
        restart: set("restart"),
    })
}

impl Marathon {
    /// Rebuild the core from every stored entry (as `Store::list("")` returns them).
    pub fn restore(
        cfg: Config,
        seed: u64,
        entries: Vec<(String, Vec<u8>)>,
    ) -> Result<Self, String> {
        let mut m = Marathon::new(cfg, seed);
        let mut deployments = Vec::new();
        for (key, value) in entries {
            let bad = |e: String| format!("stored entry '{key}' is unreadable: {e}");
            if key == "framework-id" {
                m.framework_id = Some(String::from_utf8_lossy(&value).into_owned());
            } else if key == "root-version" {
                m.root_version = String::from_utf8_lossy(&value).into_owned();
            } else if key.starts_with("apps/") {
                let app = app_from_stored(&value).map_err(bad)?;
                m.apps.insert(app.id.clone(), app);
            } else if key.starts_with("versions/") {
                let app = app_from_stored(&value).map_err(bad)?;
                let v = app.version.clone().unwrap_or_default();
                m.versions.entry(app.id.clone()).or_default().insert(v, app);
            } else if let Some(g) = key.strip_prefix("group/") {
                let meta: GroupMeta =
                    serde_json::from_slice(&value).map_err(|e| bad(e.to_string()))?;
                let id = if g == "root" {
                    "/".to_string()
                } else {
                    format!("/{}", g.replace('_', "/"))
                };
                m.groups.insert(id, meta);
            } else if key.starts_with("deployment/") {
                deployments.push(deployment_from_stored(&value).map_err(bad)?);
            } else if key.starts_with("instance/") {
                let mut i: Instance =
                    serde_json::from_slice(&value).map_err(|e| bad(e.to_string()))?;
                // Health checks are restarted when the task reports RUNNING again.
                i.health_started = false;
                m.instances.insert(i.task_id.clone(), i);
            }
        }
        deployments.sort_by(|a, b| a.version.cmp(&b.version));
        m.deployments = deployments;
        Ok(m)
    }
}
