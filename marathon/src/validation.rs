//! App validation (spec A1, A3, A10): every violation carries the path Marathon
//! reports (`/cpus`, `/portDefinitions(0)/port`, `/` for whole-object errors) and
//! its messages; [`error_body`] renders the 422 body.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{json, Value};

use crate::app::{AppDefinition, NetworkMode, UnreachableStrategy, HEALTH_CHECK_PROTOCOLS};

/// One invalid field: its path and its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub path: String,
    pub errors: Vec<String>,
}

/// Collects violations, merging messages for the same path (first-seen order).
#[derive(Debug, Default, Clone)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn add(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        let path = path.into();
        let msg = msg.into();
        match self.0.iter_mut().find(|v| v.path == path) {
            Some(v) => {
                if !v.errors.contains(&msg) {
                    v.errors.push(msg)
                }
            }
            None => self.0.push(Violation {
                path,
                errors: vec![msg],
            }),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }
}

/// The 422 body: `{"message":"Object is not valid","details":[{"path","errors"}]}`.
pub fn error_body(violations: &[Violation]) -> Value {
    json!({
        "message": "Object is not valid",
        "details": violations,
    })
}

/// The id segment rule of `PathId.scala` (spec A1).
pub const ID_PATTERN: &str =
    r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$";
pub const RESERVED_ID_SUFFIXES: [&str; 3] = ["restart", "tasks", "versions"];
pub const CMD_ARGS_CONTAINER: &str =
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";

/// One `label` of a segment: `[a-z0-9]` or `[a-z0-9][a-z0-9-]*[a-z0-9]`.
fn valid_label(l: &str) -> bool {
    let b = l.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// Whether one path segment fully matches [`ID_PATTERN`] (dot-separated labels).
pub fn valid_segment(seg: &str) -> bool {
    seg.split('.').all(valid_label)
}

/// Validate a canonical (absolute) id; messages go to `path`.
pub fn validate_id(id: &str, path: &str, errs: &mut Violations) {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    if segments.is_empty() {
        errs.add(path, "Path must contain at least one path element");
        return;
    }
    if segments.iter().any(|s| !valid_segment(s)) {
        errs.add(
            path,
            format!("must fully match regular expression '{ID_PATTERN}'"),
        );
    }
    if segments
        .last()
        .is_some_and(|l| RESERVED_ID_SUFFIXES.contains(l))
    {
        errs.add(
            path,
            "must not end with any of the following reserved keywords: restart, tasks, versions, ., ..",
        );
    }
}

fn fmt_f(v: f64) -> String {
    format!("{v:?}")
}

fn min_f(errs: &mut Violations, path: &str, v: f64, min: f64) {
    if v.is_nan() || v < min {
        errs.add(
            path,
            format!("got {}, expected {} or more", fmt_f(v), fmt_f(min)),
        );
    }
}

fn min_i(errs: &mut Violations, path: &str, v: i64, min: i64) {
    if v < min {
        errs.add(path, format!("got {v}, expected {min} or more"));
    }
}

fn port_range(errs: &mut Violations, path: &str, v: i64) {
    if !(0..=65535).contains(&v) {
        errs.add(path, format!("got {v}, expected between 0 and 65535"));
    }
}

fn protocol(errs: &mut Violations, path: &str, p: &str) {
    if !matches!(p, "tcp" | "udp" | "udp,tcp") {
        errs.add(path, "is not one of (tcp,udp,udp,tcp)");
    }
}

fn unique_names<'a>(
    errs: &mut Violations,
    path: &str,
    names: impl Iterator<Item = Option<&'a String>>,
) {
    let mut seen = HashSet::new();
    if names.flatten().any(|n| !seen.insert(n)) {
        errs.add(path, "Port names must be unique.");
    }
}

/// Constraint operators accepted (spec A3; `IS` is 1.6+).
pub const CONSTRAINT_OPERATORS: [&str; 7] = [
    "UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS",
];

/// A cheap syntax check of a Java regex (no regex engine here): balanced
/// groups/classes, no trailing escape, no quantifier with nothing to repeat.
pub fn plausible_regex(re: &str) -> bool {
    let mut depth = 0i32;
    let mut in_class = false;
    let mut prev_atom = false;
    let mut chars = re.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if chars.next().is_none() {
                    return false;
                }
                prev_atom = true;
            }
            _ if in_class => {
                if c == ']' {
                    in_class = false;
                    prev_atom = true;
                }
            }
            '[' => in_class = true,
            '(' => {
                depth += 1;
                prev_atom = false;
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
                prev_atom = true;
            }
            '*' | '+' | '?' | '{' => {
                if !prev_atom {
                    return false;
                }
                if c == '{' {
                    // skip to the closing brace
                    if !chars.by_ref().any(|x| x == '}') {
                        return false;
                    }
                }
                // allow lazy/possessive suffix: `*?`, `++`
                prev_atom = c == '*' || c == '+' || c == '?' || c == '{';
            }
            '|' => prev_atom = false,
            _ => prev_atom = true,
        }
    }
    depth == 0 && !in_class
}

/// Validate one constraint `[field, OPERATOR, value?]` at `path`.
pub fn validate_constraint(c: &[String], path: &str, errs: &mut Violations) {
    if c.len() < 2 {
        errs.add(path, "Missing field and operator");
        return;
    }
    if c.len() > 3 {
        errs.add(path, "Each constraint must have either 2 or 3 fields");
        return;
    }
    if c[0].is_empty() {
        errs.add(path, "Missing field and operator");
        return;
    }
    let op = c[1].as_str();
    let value = c.get(2).map(String::as_str);
    match op {
        "UNIQUE" => {
            if value.is_some() {
                errs.add(path, "Value specified but not used");
            }
        }
        "CLUSTER" => {}
        "IS" => {
            if value.is_none() {
                errs.add(path, "Missing value");
            }
        }
        "GROUP_BY" => {
            if let Some(v) = value {
                if v.parse::<u32>().is_err() {
                    errs.add(path, "Value was specified but is not a number");
                }
            }
        }
        "MAX_PER" => match value {
            None => errs.add(path, "Missing value"),
            Some(v) if v.parse::<u32>().is_err() => {
                errs.add(path, "Value was specified but is not a number")
            }
            Some(_) => {}
        },
        "LIKE" | "UNLIKE" => match value {
            None => errs.add(path, "A regular expression value must be provided"),
            // What placement will compile must compile here, or the app could never launch.
            Some(v) if !plausible_regex(v) || crate::constraints::Constraint::parse(c).is_err() => {
                errs.add(path, "Invalid regular expression")
            }
            Some(_) => {}
        },
        other => errs.add(path, format!("unknown constraint operator {other}")),
    }
}

/// Validate a normalised app. `Ok(())` or every violation found.
pub fn validate(app: &AppDefinition) -> Result<(), Vec<Violation>> {
    let mut errs = Violations::default();

    // id
    validate_id(&app.id, "/id", &mut errs);
    for (i, d) in app.dependencies.iter().enumerate() {
        validate_id(d, &format!("/dependencies({i})"), &mut errs);
    }

    // cmd / args / container
    let has_cmd = app.cmd.is_some();
    let has_args = app.args.as_ref().is_some_and(|a| !a.is_empty());
    let has_image = app.container.as_ref().and_then(|c| c.image()).is_some();
    if app.cmd.as_deref() == Some("") {
        errs.add("/cmd", "must not be an empty string");
    }
    if has_cmd && has_args {
        errs.add("/", CMD_ARGS_CONTAINER);
    }
    if !has_cmd && !has_args && !has_image {
        errs.add("/", CMD_ARGS_CONTAINER);
    }

    // resources and counters
    min_f(&mut errs, "/cpus", app.cpus, 0.001);
    min_f(&mut errs, "/mem", app.mem, 0.0);
    min_f(&mut errs, "/disk", app.disk, 0.0);
    min_i(&mut errs, "/gpus", app.gpus, 0);
    min_i(&mut errs, "/instances", app.instances, 0);
    min_i(&mut errs, "/backoffSeconds", app.backoff_seconds, 0);
    min_f(&mut errs, "/backoffFactor", app.backoff_factor, 1.0);
    min_i(
        &mut errs,
        "/maxLaunchDelaySeconds",
        app.max_launch_delay_seconds,
        0,
    );
    if let Some(g) = app.task_kill_grace_period_seconds {
        min_i(&mut errs, "/taskKillGracePeriodSeconds", g, 0);
    }

    // upgrade / unreachable strategies
    for (name, v) in [
        (
            "minimumHealthCapacity",
            app.upgrade_strategy.minimum_health_capacity,
        ),
        (
            "maximumOverCapacity",
            app.upgrade_strategy.maximum_over_capacity,
        ),
    ] {
        let path = format!("/upgradeStrategy/{name}");
        if v.is_nan() || v < 0.0 {
            errs.add(&path, "is less than 0");
        } else if v > 1.0 {
            errs.add(&path, "is greater than 1");
        }
    }
    if let UnreachableStrategy::Enabled {
        inactive_after_seconds,
        expunge_after_seconds,
    } = app.unreachable_strategy
    {
        min_i(
            &mut errs,
            "/unreachableStrategy/inactiveAfterSeconds",
            inactive_after_seconds,
            0,
        );
        if expunge_after_seconds < inactive_after_seconds {
            errs.add(
                "/unreachableStrategy/expungeAfterSeconds",
                "expungeAfterSeconds must be greater than or equal to inactiveAfterSeconds",
            );
        }
    }

    // constraints
    for (i, c) in app.constraints.iter().enumerate() {
        validate_constraint(c, &format!("/constraints({i})"), &mut errs);
    }

    // networks
    let host = app.networks.iter().any(|n| n.mode == NetworkMode::Host);
    if host && app.networks.len() > 1 {
        errs.add(
            "/networks",
            "Host networks may not have names or labels and may not be combined with other networks",
        );
    }
    if app
        .networks
        .iter()
        .filter(|n| n.mode == NetworkMode::ContainerBridge)
        .count()
        > 1
    {
        errs.add("/networks", "bridge networking may only be specified once");
    }

    // ports
    if let Some(pds) = &app.port_definitions {
        if !host && !pds.is_empty() {
            errs.add(
                "/portDefinitions",
                "portDefinitions are only allowed with host-networking",
            );
        }
        for (i, pd) in pds.iter().enumerate() {
            port_range(&mut errs, &format!("/portDefinitions({i})/port"), pd.port);
            protocol(
                &mut errs,
                &format!("/portDefinitions({i})/protocol"),
                &pd.protocol,
            );
        }
        unique_names(
            &mut errs,
            "/portDefinitions",
            pds.iter().map(|p| p.name.as_ref()),
        );
        // non-zero ports must be distinct
        let mut seen = HashSet::new();
        if pds
            .iter()
            .filter(|p| p.port != 0)
            .any(|p| !seen.insert(p.port))
        {
            errs.add("/portDefinitions", "Ports must be unique.");
        }
    }
    if let Some(c) = &app.container {
        if let Some(d) = &c.docker {
            if d.image.is_empty() {
                errs.add("/container/docker/image", "must not be empty");
            }
        }
        if let Some(pms) = &c.port_mappings {
            if host && !pms.is_empty() {
                errs.add(
                    "/container/portMappings",
                    "portMappings are not allowed with host-networking",
                );
            }
            for (i, pm) in pms.iter().enumerate() {
                let p = format!("/container/portMappings({i})");
                port_range(&mut errs, &format!("{p}/containerPort"), pm.container_port);
                if let Some(hp) = pm.host_port {
                    port_range(&mut errs, &format!("{p}/hostPort"), hp);
                }
                port_range(&mut errs, &format!("{p}/servicePort"), pm.service_port);
                protocol(&mut errs, &format!("{p}/protocol"), &pm.protocol);
            }
            unique_names(
                &mut errs,
                "/container/portMappings",
                pms.iter().map(|p| p.name.as_ref()),
            );
        }
        for (i, v) in c.volumes.iter().enumerate() {
            if v.container_path.is_empty() {
                errs.add(
                    format!("/container/volumes({i})/containerPath"),
                    "must not be empty",
                );
            }
            if let Some(m) = &v.mode {
                if m != "RO" && m != "RW" {
                    errs.add(
                        format!("/container/volumes({i})/mode"),
                        "is not one of (RO,RW)",
                    );
                }
            }
        }
    }

    // health checks
    let port_count = if host {
        app.port_definitions.as_ref().map_or(0, Vec::len)
    } else {
        app.container
            .as_ref()
            .and_then(|c| c.port_mappings.as_ref())
            .map_or(0, Vec::len)
    };
    for (i, hc) in app.health_checks.iter().enumerate() {
        let p = format!("/healthChecks({i})");
        if !HEALTH_CHECK_PROTOCOLS.contains(&hc.protocol.as_str()) {
            errs.add(
                format!("{p}/protocol"),
                format!("is not one of ({})", HEALTH_CHECK_PROTOCOLS.join(",")),
            );
        }
        if hc.protocol == "COMMAND" {
            if hc.command.as_ref().is_none_or(|c| c.value.is_empty()) {
                errs.add(format!("{p}/command"), "must not be empty");
            }
        } else if hc.port.is_none() {
            let idx = hc.port_index.unwrap_or(0);
            if idx < 0 || idx as usize >= port_count {
                errs.add(
                    format!("{p}/portIndex"),
                    "Health check port indices must address an element of the ports array or container port mappings.",
                );
            }
        }
        if let Some(port) = hc.port {
            port_range(&mut errs, &format!("{p}/port"), port);
        }
        min_i(
            &mut errs,
            &format!("{p}/gracePeriodSeconds"),
            hc.grace_period_seconds,
            0,
        );
        min_i(
            &mut errs,
            &format!("{p}/intervalSeconds"),
            hc.interval_seconds,
            1,
        );
        min_i(
            &mut errs,
            &format!("{p}/timeoutSeconds"),
            hc.timeout_seconds,
            1,
        );
        min_i(
            &mut errs,
            &format!("{p}/maxConsecutiveFailures"),
            hc.max_consecutive_failures,
            0,
        );
    }
    if app
        .health_checks
        .iter()
        .filter(|h| h.protocol.starts_with("MESOS_") || h.protocol == "COMMAND")
        .count()
        > 1
    {
        errs.add(
            "/healthChecks",
            "AppDefinition can contain at most one Mesos health check.",
        );
    }

    // fetch
    for (i, f) in app.fetch.iter().enumerate() {
        if f.uri.is_empty() {
            errs.add(format!("/fetch({i})/uri"), "must not be empty");
        }
    }

    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.into_vec())
    }
}
