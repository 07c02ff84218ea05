//! Mesos' `HealthCheck` (COMMAND, HTTP, TCP), as the command executor runs it.

use super::*;

impl TaskInfo {
    /// `health_check` read as a [`HealthCheck`]: `Ok(None)` without one, `Err` when it does
    /// not parse or is invalid (the message says why).
    pub fn health_check_spec(&self) -> Result<Option<HealthCheck>, String> {
        match &self.health_check {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value::<HealthCheck>(v.clone())
                .map(Some)
                .map_err(|e| e.to_string()),
        }
    }
}

/// `HealthCheck.type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthCheckType {
    Unknown,
    Command,
    Http,
    Tcp,
}

/// `HealthCheck.HTTPCheckInfo`: a GET to `<scheme>://127.0.0.1:<port><path>` (or `[::1]` for
/// `protocol: IPv6`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheckInfo {
    /// `IPv4` (default) or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(deserialize_with = "u32_lenient")]
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Statuses counted as healthy; empty means 200-399.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u32>,
}

/// `HealthCheck.TCPCheckInfo`: healthy when a TCP connection to the port can be opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheckInfo {
    /// `IPv4` (default) or `IPv6`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(deserialize_with = "u32_lenient")]
    pub port: u32,
}

/// A task's `health_check` (run by its executor), with Mesos' defaults filled in and
/// validated: the sub-message of `type` is present, durations are finite and not negative,
/// an HTTP `scheme` is `http` or `https` and its `path` starts with `/`. A check without
/// `type` (pre-1.2 form) gets the type of the one sub-message it has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawHealthCheck")]
pub struct HealthCheck {
    #[serde(rename = "type")]
    pub kind: HealthCheckType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheckInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpCheckInfo>,
    /// Default 15.
    pub delay_seconds: f64,
    /// Default 10.
    pub interval_seconds: f64,
    /// Default 20.
    pub timeout_seconds: f64,
    /// Default 3.
    pub consecutive_failures: u32,
    /// Default 10.
    pub grace_period_seconds: f64,
}

#[derive(Deserialize)]
struct RawHealthCheck {
    #[serde(rename = "type", default)]
    kind: Option<HealthCheckType>,
    #[serde(default)]
    command: Option<CommandInfo>,
    #[serde(default)]
    http: Option<HttpCheckInfo>,
    #[serde(default)]
    tcp: Option<TcpCheckInfo>,
    #[serde(default, deserialize_with = "opt_f64_lenient")]
    delay_seconds: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64_lenient")]
    interval_seconds: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64_lenient")]
    timeout_seconds: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64_lenient")]
    consecutive_failures: Option<f64>,
    #[serde(default, deserialize_with = "opt_f64_lenient")]
    grace_period_seconds: Option<f64>,
}

impl TryFrom<RawHealthCheck> for HealthCheck {
    type Error = String;

    fn try_from(raw: RawHealthCheck) -> Result<HealthCheck, String> {
        let kind = match raw.kind {
            Some(k) => k,
            None => match (&raw.command, &raw.http, &raw.tcp) {
                (Some(_), None, None) => HealthCheckType::Command,
                (None, Some(_), None) => HealthCheckType::Http,
                (None, None, Some(_)) => HealthCheckType::Tcp,
                _ => return Err("HealthCheck must specify 'type'".into()),
            },
        };
        match kind {
            HealthCheckType::Unknown => {
                return Err("'UNKNOWN' is not a valid health check type".into())
            }
            HealthCheckType::Command => match &raw.command {
                None => return Err("Expecting 'command' to be set for COMMAND health check".into()),
                Some(c) if c.value.as_deref().unwrap_or("").is_empty() => {
                    return Err("Command health check must contain 'command.value'".into())
                }
                Some(_) => {}
            },
            HealthCheckType::Http => {
                let Some(http) = &raw.http else {
                    return Err("Expecting 'http' to be set for HTTP health check".into());
                };
                if let Some(scheme) = &http.scheme {
                    if scheme != "http" && scheme != "https" {
                        return Err(format!("Unsupported HTTP health check scheme: '{scheme}'"));
                    }
                }
                if let Some(path) = &http.path {
                    if !path.starts_with('/') {
                        return Err(format!(
                            "The path '{path}' of HTTP health check must start with '/'"
                        ));
                    }
                }
            }
            HealthCheckType::Tcp => {
                if raw.tcp.is_none() {
                    return Err("Expecting 'tcp' to be set for TCP health check".into());
                }
            }
        }
        let seconds = |name: &str, v: Option<f64>, default: f64| match v {
            None => Ok(default),
            Some(s) if s.is_finite() && s >= 0.0 => Ok(s),
            Some(s) => Err(format!("Expecting '{name}' to be non-negative, got {s}")),
        };
        let consecutive_failures = match raw.consecutive_failures {
            None => 3,
            Some(n) if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n) => n as u32,
            Some(n) => return Err(format!("'consecutive_failures' {n} is not a uint32")),
        };
        Ok(HealthCheck {
            kind,
            command: raw.command,
            http: raw.http,
            tcp: raw.tcp,
            delay_seconds: seconds("delay_seconds", raw.delay_seconds, 15.0)?,
            interval_seconds: seconds("interval_seconds", raw.interval_seconds, 10.0)?,
            timeout_seconds: seconds("timeout_seconds", raw.timeout_seconds, 20.0)?,
            consecutive_failures,
            grace_period_seconds: seconds("grace_period_seconds", raw.grace_period_seconds, 10.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_check_defaults_and_validation() {
        let hc: HealthCheck =
            serde_json::from_str(r#"{"type":"COMMAND","command":{"value":"true"}}"#).unwrap();
        assert_eq!(hc.kind, HealthCheckType::Command);
        assert_eq!(
            (
                hc.delay_seconds,
                hc.interval_seconds,
                hc.timeout_seconds,
                hc.consecutive_failures,
                hc.grace_period_seconds
            ),
            (15.0, 10.0, 20.0, 3, 10.0)
        );
        // Defaults are written out.
        let out = serde_json::to_value(&hc).unwrap();
        assert_eq!(out["interval_seconds"], 10.0);
        assert_eq!(out["consecutive_failures"], 3);
        assert_eq!(out["type"], "COMMAND");

        let hc: HealthCheck = serde_json::from_str(
            r#"{"http":{"port":"8080","path":"/ping","statuses":[200]},"interval_seconds":"0.5",
                "consecutive_failures":1,"grace_period_seconds":null}"#,
        )
        .unwrap();
        assert_eq!(hc.kind, HealthCheckType::Http);
        assert_eq!(hc.http.as_ref().unwrap().port, 8080);
        assert_eq!(hc.interval_seconds, 0.5);
        assert_eq!(hc.consecutive_failures, 1);
        assert_eq!(hc.grace_period_seconds, 10.0);

        for bad in [
            r#"{"type":"HTTP"}"#,
            r#"{"type":"TCP","command":{"value":"x"}}"#,
            r#"{"type":"COMMAND","command":{"value":""}}"#,
            r#"{"type":"UNKNOWN"}"#,
            r#"{}"#,
            r#"{"type":"HTTP","http":{"port":80,"scheme":"ftp"}}"#,
            r#"{"type":"HTTP","http":{"port":80,"path":"health"}}"#,
            r#"{"type":"TCP","tcp":{"port":80},"timeout_seconds":-1}"#,
            r#"{"type":"TCP","tcp":{"port":80},"consecutive_failures":1.5}"#,
        ] {
            assert!(serde_json::from_str::<HealthCheck>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn task_info_reads_its_health_check() {
        let mut t = TaskInfo::new("t", TaskId::new("t"), AgentId::new("a"));
        assert_eq!(t.health_check_spec(), Ok(None));
        t.health_check = Some(serde_json::json!({"type": "TCP", "tcp": {"port": 31000}}));
        let hc = t.health_check_spec().unwrap().unwrap();
        assert_eq!(hc.tcp.unwrap().port, 31000);
        t.health_check = Some(serde_json::json!({"type": "TCP"}));
        assert!(t
            .health_check_spec()
            .unwrap_err()
            .contains("Expecting 'tcp'"));
    }
}
