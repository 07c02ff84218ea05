//! Deployment plans (spec A6; Marathon `DeploymentPlan.scala`, `docs/deployments.md`):
//! which steps turn one set of apps into another, and how a rolling restart
//! proceeds from one evaluation to the next. Pure functions, no clock.
//!
//! [`build_steps`] orders the work: stop removed apps, start new apps (at 0
//! instances), then scale or restart apps layer by layer along their
//! dependencies. [`roll`] is the arithmetic of one `RestartApplication`: given
//! the counts of old and new instances it says how many old ones to kill and how
//! many new ones to launch now, within the app's `upgradeStrategy` (in
//! `plan/roll.rs`, re-exported here).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::app::{canonical_id, AppDefinition};

mod roll;
pub use roll::{max_capacity, min_healthy, roll, RollDecision, RollView};

/// The kind of a deployment action (spec A6 action names, apps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    StartApplication,
    StopApplication,
    ScaleApplication,
    RestartApplication,
}

/// One action of a step: `{"action": ..., "app": ...}` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    #[serde(rename = "action")]
    pub kind: ActionKind,
    pub app: String,
}

impl Action {
    fn new(kind: ActionKind, app: &str) -> Self {
        Action {
            kind,
            app: app.to_string(),
        }
    }
}

pub const CYCLE_ERROR: &str = "Dependency graph has cyclic dependencies";

/// The app without the fields a scale or a re-deploy of the same config touches.
fn config_of(app: &AppDefinition) -> AppDefinition {
    let mut a = app.clone();
    a.instances = 0;
    a.version = None;
    a.version_info = None;
    a
}

/// True if going from `old` to `new` changes anything but `instances`,
/// `version` and `version_info`, i.e. running instances must be replaced.
pub fn needs_restart(old: &AppDefinition, new: &AppDefinition) -> bool {
    config_of(old) != config_of(new)
}

/// Is `id` the path `path` or below it? (`/` holds everything.)
fn is_under(id: &str, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    path.is_empty()
        || id == path
        || (id.starts_with(path) && id.as_bytes().get(path.len()) == Some(&b'/'))
}

/// The groups strictly above an app id: `/a/b/c` -> `/`, `/a`, `/a/b`.
fn parent_groups(id: &str) -> Vec<String> {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    (0..segs.len())
        .map(|n| format!("/{}", segs[..n].join("/")))
        .collect()
}

/// The direct dependencies of every app in `apps`, as app ids of `apps`:
/// the app's own `dependencies` plus those of every group above it; a
/// dependency naming a group means every app under it. Dependencies on ids
/// that hold no app are dropped, and so is an app's dependency on itself
/// (e.g. through a dependency on its own group).
pub fn resolve_dependencies(
    apps: &BTreeMap<String, AppDefinition>,
    group_deps: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let group_deps: BTreeMap<String, Vec<String>> = group_deps
        .iter()
        .map(|(g, ds)| {
            (
                canonical_id(g),
                ds.iter().map(|d| canonical_id(d)).collect(),
            )
        })
        .collect();
    apps.iter()
        .map(|(id, app)| {
            let mut wanted: Vec<String> =
                app.dependencies.iter().map(|d| canonical_id(d)).collect();
            for g in parent_groups(id) {
                if let Some(ds) = group_deps.get(&g) {
                    wanted.extend(ds.iter().cloned());
                }
            }
            let deps = apps
                .keys()
                .filter(|other| *other != id && wanted.iter().any(|w| is_under(other, w)))
                .cloned()
                .collect();
            (id.clone(), deps)
        })
        .collect()
}

/// Apps grouped by the longest dependency path below them: layer 0 depends on
/// nothing, layer n on something in layer n-1. Ids are sorted within a layer.
pub fn dependency_layers(
    apps: &BTreeMap<String, AppDefinition>,
    group_deps: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Vec<String>>, String> {
    let deps = resolve_dependencies(apps, group_deps);
    let mut level: BTreeMap<&str, usize> = BTreeMap::new();
    for id in deps.keys() {
        // Iterative depth-first search; `path` holds the apps being resolved.
        let mut path: Vec<&str> = Vec::new();
        let mut stack: Vec<(&str, bool)> = vec![(id.as_str(), false)];
        while let Some((node, expanded)) = stack.pop() {
            if level.contains_key(node) {
                continue;
            }
            if expanded {
                path.pop();
                let l = deps[node]
                    .iter()
                    .map(|d| level[d.as_str()] + 1)
                    .max()
                    .unwrap_or(0);
                level.insert(node, l);
                continue;
            }
            if path.contains(&node) {
                return Err(CYCLE_ERROR.to_string());
            }
            path.push(node);
            stack.push((node, true));
            for d in &deps[node] {
                if !level.contains_key(d.as_str()) {
                    if path.contains(&d.as_str()) {
                        return Err(CYCLE_ERROR.to_string());
                    }
                    stack.push((d.as_str(), false));
                }
            }
        }
    }
    let mut layers: Vec<Vec<String>> = Vec::new();
    for (id, l) in level {
        if layers.len() <= l {
            layers.resize(l + 1, Vec::new());
        }
        layers[l].push(id.to_string());
    }
    Ok(layers)
}

/// Steps for changing `original` into `target` (maps app id -> app).
/// `restart`: apps that must be restarted even if unchanged (POST /restart).
/// `group_deps`: group id -> dependency ids (a group's dependencies apply to
/// every app under that group path; a dependency may name an app or a group,
/// meaning all apps under it).
///
/// Step order: `StopApplication` for removed apps; `StartApplication` for new
/// apps; then the dependency layers of the target ([`dependency_layers`]), each
/// holding `ScaleApplication` for new apps and scale-only changes and
/// `RestartApplication` for other config changes or `restart` members. A config
/// change that leaves 0 instances is a `ScaleApplication` (nothing to roll).
/// Empty steps are dropped.
pub fn build_steps(
    original: &BTreeMap<String, AppDefinition>,
    target: &BTreeMap<String, AppDefinition>,
    restart: &BTreeSet<String>,
    group_deps: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Vec<Action>>, String> {
    let layers = dependency_layers(target, group_deps)?;
    let mut steps: Vec<Vec<Action>> = Vec::new();
    steps.push(
        original
            .keys()
            .filter(|id| !target.contains_key(*id))
            .map(|id| Action::new(ActionKind::StopApplication, id))
            .collect(),
    );
    steps.push(
        target
            .keys()
            .filter(|id| !original.contains_key(*id))
            .map(|id| Action::new(ActionKind::StartApplication, id))
            .collect(),
    );
    for layer in layers {
        let step = layer
            .iter()
            .filter_map(|id| {
                let new = &target[id];
                let kind = match original.get(id) {
                    None => Some(ActionKind::ScaleApplication),
                    Some(old) => change_kind(old, new, restart.contains(id)),
                };
                kind.map(|k| Action::new(k, id))
            })
            .collect();
        steps.push(step);
    }
    steps.retain(|s: &Vec<Action>| !s.is_empty());
    Ok(steps)
}

/// The action for an app present before and after, if any.
fn change_kind(old: &AppDefinition, new: &AppDefinition, forced: bool) -> Option<ActionKind> {
    let config_changed = needs_restart(old, new);
    if forced || (config_changed && new.instances > 0) {
        Some(ActionKind::RestartApplication)
    } else if config_changed || old.instances != new.instances {
        Some(ActionKind::ScaleApplication)
    } else {
        None
    }
}

/// Every app named by an action, sorted (the deployment's `affectedApps`).
pub fn affected_apps(steps: &[Vec<Action>]) -> BTreeSet<String> {
    steps.iter().flatten().map(|a| a.app.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use ActionKind::*;

    fn app(id: &str, extra: &str) -> AppDefinition {
        let body = format!(r#"{{"id":"{id}","cmd":"sleep 100"{extra}}}"#);
        AppDefinition::from_json(&body).unwrap()
    }

    fn apps(list: &[&AppDefinition]) -> BTreeMap<String, AppDefinition> {
        list.iter().map(|a| (a.id.clone(), (*a).clone())).collect()
    }

    fn act(kind: ActionKind, app: &str) -> Action {
        Action::new(kind, app)
    }

    fn one(kind: ActionKind, app: &str) -> Vec<Vec<Action>> {
        vec![vec![act(kind, app)]]
    }

    fn steps(
        original: &[&AppDefinition],
        target: &[&AppDefinition],
        restart: &[&str],
        groups: &[(&str, &[&str])],
    ) -> Result<Vec<Vec<Action>>, String> {
        let restart = restart.iter().map(|s| s.to_string()).collect();
        let groups = groups
            .iter()
            .map(|(g, ds)| (g.to_string(), ds.iter().map(|d| d.to_string()).collect()))
            .collect();
        build_steps(&apps(original), &apps(target), &restart, &groups)
    }

    /// No forced restarts, no group dependencies; must succeed.
    fn st(original: &[&AppDefinition], target: &[&AppDefinition]) -> Vec<Vec<Action>> {
        steps(original, target, &[], &[]).unwrap()
    }

    #[test]
    fn create_is_start_then_scale() {
        let a = app("/a", "");
        let s = st(&[], &[&a]);
        assert_eq!(
            s,
            vec![
                vec![act(StartApplication, "/a")],
                vec![act(ScaleApplication, "/a")]
            ]
        );
    }

    #[test]
    fn delete_scale_restart_are_one_step() {
        let a = app("/a", "");
        assert_eq!(st(&[&a], &[]), one(StopApplication, "/a"));
        let scaled = app("/a", r#","instances":5"#);
        assert_eq!(st(&[&a], &[&scaled]), one(ScaleApplication, "/a"));
        let changed = app("/a", r#","mem":64"#);
        assert_eq!(st(&[&a], &[&changed]), one(RestartApplication, "/a"));
        assert_eq!(
            steps(&[&a], &[&a], &["/a"], &[]).unwrap(),
            one(RestartApplication, "/a")
        );
        assert!(st(&[&a], &[&a]).is_empty());
    }

    #[test]
    fn version_only_is_no_change_and_zero_instances_is_scale() {
        let a = app("/a", "");
        let mut v = a.clone();
        v.version = Some("2020-01-01T00:00:00.000Z".into());
        assert!(!needs_restart(&a, &v));
        assert!(st(&[&a], &[&v]).is_empty());
        let off = app("/a", r#","instances":0,"mem":1"#);
        assert!(needs_restart(&a, &off));
        assert_eq!(st(&[&a], &[&off]), one(ScaleApplication, "/a"));
    }

    #[test]
    fn full_ordering() {
        let db = app("/db", "");
        let web = app("/web", r#","dependencies":["/db"]"#);
        let old = app("/old", "");
        let s = steps(&[&old, &db], &[&db, &web], &["/db"], &[]).unwrap();
        assert_eq!(
            s,
            vec![
                vec![act(StopApplication, "/old")],
                vec![act(StartApplication, "/web")],
                vec![act(RestartApplication, "/db")],
                vec![act(ScaleApplication, "/web")],
            ]
        );
        assert_eq!(
            affected_apps(&s).into_iter().collect::<Vec<_>>(),
            vec!["/db", "/old", "/web"]
        );
    }

    #[test]
    fn layers_by_longest_path() {
        // c -> b -> a, and c -> a: c is in layer 2, not 1.
        let a = app("/a", "");
        let b = app("/b", r#","dependencies":["/a"]"#);
        let c = app("/c", r#","dependencies":["/a","/b"]"#);
        let d = app("/d", "");
        let layers = dependency_layers(&apps(&[&a, &b, &c, &d]), &BTreeMap::new()).unwrap();
        assert_eq!(layers, vec![vec!["/a", "/d"], vec!["/b"], vec!["/c"]]);
    }

    #[test]
    fn group_dependencies_apply_to_apps_below() {
        let db1 = app("/backend/db1", "");
        let db2 = app("/backend/db2", "");
        let ui = app("/frontend/web/ui", "");
        let other = app("/backends", "");
        let s = steps(
            &[],
            &[&db1, &db2, &ui, &other],
            &[],
            &[("/frontend", &["/backend"])],
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[1],
            vec![
                act(ScaleApplication, "/backend/db1"),
                act(ScaleApplication, "/backend/db2"),
                act(ScaleApplication, "/backends"),
            ]
        );
        assert_eq!(s[2], vec![act(ScaleApplication, "/frontend/web/ui")]);
    }

    #[test]
    fn cycles_are_rejected() {
        let a = app("/a", r#","dependencies":["/b"]"#);
        let b = app("/b", r#","dependencies":["/a"]"#);
        assert_eq!(steps(&[], &[&a, &b], &[], &[]).unwrap_err(), CYCLE_ERROR);
        let x = app("/g1/x", "");
        let y = app("/g2/y", "");
        let err = steps(
            &[],
            &[&x, &y],
            &[],
            &[("/g1", &["/g2"]), ("/g2", &["/g1/x"])],
        );
        assert_eq!(err.unwrap_err(), CYCLE_ERROR);
        // A dependency on one's own group is not a cycle with itself.
        let z = app("/g3/z", "");
        assert!(steps(&[], &[&z], &[], &[("/g3", &["/g3"])]).is_ok());
    }

    #[test]
    fn dangling_dependencies_are_ignored() {
        let a = app("/a", r#","dependencies":["/missing"]"#);
        assert_eq!(st(&[], &[&a]).len(), 2);
    }

    #[test]
    fn action_wire_form() {
        let j = serde_json::to_value(act(ScaleApplication, "/foo")).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"action":"ScaleApplication","app":"/foo"})
        );
    }

    /// `n` apps; app i may depend on any app j (`edges`), some exist before
    /// with other instances. If a plan is built, every layered action comes
    /// after the layered actions of the apps it depends on, each app has at most
    /// one layered action, and stops and starts come first.
    fn check_order(
        n: usize,
        edges: &[(usize, usize)],
        before: &[bool],
    ) -> Result<bool, TestCaseError> {
        let id = |i: usize| format!("/g{}/app{i}", i % 3);
        let target: Vec<AppDefinition> = (0..n)
            .map(|i| {
                let deps: Vec<String> = edges
                    .iter()
                    .filter(|(a, _)| *a == i)
                    .map(|(_, b)| format!("\"{}\"", id(*b)))
                    .collect();
                app(&id(i), &format!(r#","dependencies":[{}]"#, deps.join(",")))
            })
            .collect();
        let original: Vec<AppDefinition> = (0..n)
            .filter(|i| before[*i])
            .map(|i| app(&id(i), r#","instances":7"#))
            .collect();
        let refs = |v: &[AppDefinition]| -> BTreeMap<String, AppDefinition> {
            v.iter().map(|a| (a.id.clone(), a.clone())).collect()
        };
        let Ok(plan) = build_steps(
            &refs(&original),
            &refs(&target),
            &BTreeSet::new(),
            &BTreeMap::new(),
        ) else {
            return Ok(false);
        };
        prop_assert!(plan.iter().all(|s| !s.is_empty()));
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        for (k, s) in plan.iter().enumerate() {
            for a in s {
                match a.kind {
                    StartApplication | StopApplication => prop_assert!(k <= 1),
                    _ => prop_assert!(at.insert(a.app.clone(), k).is_none()),
                }
            }
        }
        prop_assert_eq!(
            at.len(),
            n,
            "every app is scaled (new, or 7 -> 1 instances)"
        );
        for (a, b) in edges {
            if a != b {
                prop_assert!(at[&id(*b)] < at[&id(*a)]);
            }
        }
        Ok(true)
    }

    proptest! {
        #[test]
        fn acyclic_dependencies_are_respected(
            n in 1usize..9,
            raw in prop::collection::vec((0usize..9, 0usize..9), 0..15),
            before in prop::collection::vec(any::<bool>(), 9),
        ) {
            // Only edges to lower indices: acyclic, so a plan must exist.
            let edges: Vec<_> = raw.into_iter().filter(|(a, b)| a < &n && b < a).collect();
            prop_assert!(check_order(n, &edges, &before)?);
        }

        #[test]
        fn any_dependencies_are_ordered_or_cyclic(
            n in 1usize..9,
            raw in prop::collection::vec((0usize..9, 0usize..9), 0..12),
            before in prop::collection::vec(any::<bool>(), 9),
        ) {
            let edges: Vec<_> = raw.into_iter().filter(|(a, b)| a < &n && b < &n).collect();
            let built = check_order(n, &edges, &before)?;
            // Rejected only if following the edges from some app returns to it.
            let cyclic = (0..n).any(|s| {
                let mut seen = BTreeSet::new();
                let mut todo: Vec<usize> =
                    edges.iter().filter(|(a, b)| *a == s && *b != s).map(|e| e.1).collect();
                while let Some(x) = todo.pop() {
                    if x == s { return true; }
                    if seen.insert(x) {
                        todo.extend(edges.iter().filter(|(a, b)| *a == x && *b != x).map(|e| e.1));
                    }
                }
                false
            });
            prop_assert_eq!(built, !cyclic);
        }
    }
}
