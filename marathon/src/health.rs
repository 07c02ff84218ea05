//! Marathon-level health checks (spec A3 "Health checks", A5 health results).
//!
//! Two halves:
//! * [`CheckState`]: the pure per-task, per-check bookkeeping behind a
//!   `healthCheckResults` element (no clock inside: callers pass `now`), deciding when the
//!   health changed and when the task must be killed;
//! * [`start`]: the probes Marathon itself runs (`HTTP`, `HTTPS`, `TCP`) against a task's
//!   host and ports, as tokio tasks that report every result on a channel. `COMMAND` and
//!   `MESOS_*` checks are run by the agent's executor and reach Marathon as `healthy` in
//!   status updates, so they are not probed here.
//!
//! Marathon's rules:
//! * HTTP(S): `GET <scheme>://<host>:<port><path>` (redirects are not followed); healthy if
//!   the status is 200-399. Any other status is a failure whose cause is the status line
//!   (`503 Service Unavailable`), except that a 1xx status is discarded when the check has
//!   `ignoreHttp1xx` (the health stays as it was). HTTPS does not verify certificates.
//! * TCP: healthy if a connection opens within the timeout.
//! * Failures are ignored (the state does not change) until `gracePeriodSeconds` after the
//!   task started, unless the check already succeeded once.
//! * `maxConsecutiveFailures` failures in a row kill the task; `0` never kills.

use crate::app::HealthCheck;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Pure per-task health bookkeeping (no clock inside; `now` is seconds since the epoch as f64).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckState {
    pub alive: bool,
    pub consecutive_failures: u32,
    pub first_success: Option<f64>,
    pub last_success: Option<f64>,
    pub last_failure: Option<f64>,
    pub last_failure_cause: Option<String>,
}

/// What a recorded result means for the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing a caller must act on (including a failure ignored in the grace period).
    Unchanged,
    /// `alive` flipped, or this was the first result that counted.
    Changed,
    /// `maxConsecutiveFailures` consecutive failures outside the grace period: kill the
    /// task. The state has changed as for `Changed` (it is now not alive). Every further
    /// failure answers `Kill` again; callers kill once.
    Kill,
}

impl CheckState {
    /// No result yet: not alive, nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record one probe `result` at `now` for a task that started (TASK_RUNNING) at
    /// `task_started_at`.
    pub fn record(
        &mut self,
        now: f64,
        task_started_at: f64,
        check: &HealthCheck,
        result: Result<(), String>,
    ) -> Verdict {
        let first_result = self.last_success.is_none() && self.last_failure.is_none();
        let was_alive = self.alive;
        match result {
            Ok(()) => {
                self.first_success.get_or_insert(now);
                self.last_success = Some(now);
                self.consecutive_failures = 0;
                self.alive = true;
            }
            Err(cause) => {
                let grace_ends = task_started_at + check.grace_period_seconds.max(0) as f64;
                if self.first_success.is_none() && now < grace_ends {
                    return Verdict::Unchanged;
                }
                self.last_failure = Some(now);
                self.last_failure_cause = Some(cause);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.alive = false;
                let max = check.max_consecutive_failures;
                if max > 0 && i64::from(self.consecutive_failures) >= max {
                    return Verdict::Kill;
                }
            }
        }
        if first_result || was_alive != self.alive {
            Verdict::Changed
        } else {
            Verdict::Unchanged
        }
    }
}

/// healthCheckResults JSON element: {"alive","consecutiveFailures","firstSuccess","lastSuccess","lastFailure","lastFailureCause","instanceId"} with timestamps as ISO-8601 UTC with milliseconds and a trailing Z (null when absent).
pub fn result_json(state: &CheckState, instance_id: &str) -> Value {
    let ts = |t: Option<f64>| t.map_or(Value::Null, |t| Value::String(iso8601(t)));
    json!({
        "alive": state.alive,
        "consecutiveFailures": state.consecutive_failures,
        "firstSuccess": ts(state.first_success),
        "lastSuccess": ts(state.last_success),
        "lastFailure": ts(state.last_failure),
        "lastFailureCause": state.last_failure_cause,
        "instanceId": instance_id,
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_year(year: i64) -> i64 {
    if is_leap(year) {
        366
    } else {
        365
    }
}

/// Year, month (1-12) and day (1-31) of the day `days` after 1970-01-01 (may be negative).
fn civil_date(mut days: i64) -> (i64, u32, u32) {
    let mut year = 1970;
    // Whole 400-year cycles (146097 days each) first, so far-off dates stay cheap.
    year += 400 * days.div_euclid(146_097);
    days = days.rem_euclid(146_097);
    while days >= days_in_year(year) {
        days -= days_in_year(year);
        year += 1;
    }
    let feb = if is_leap(year) { 29 } else { 28 };
    let lengths = [31, feb, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let mut month = 1;
    for len in lengths {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    (year, month, days as u32 + 1)
}

/// `t` seconds since the epoch as ISO-8601 UTC with milliseconds, e.g.
/// `2015-09-25T15:13:48.343Z` (rounded to the nearest millisecond; NaN counts as 0).
pub fn iso8601(t: f64) -> String {
    let millis = if t.is_nan() {
        0
    } else {
        (t * 1000.0).round() as i64
    };
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let (y, mo, d) = civil_date(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The task whose health is probed.
pub struct Target {
    pub task_id: String,
    pub host: String,
    pub ports: Vec<u16>,
}

/// One probe result of check `check_index` (its index in the app's `healthChecks`).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthResult {
    pub task_id: String,
    pub check_index: usize,
    pub result: Result<(), String>,
}

/// The running probes of one task; dropping it stops them.
pub struct Checks {
    handles: Vec<tokio::task::AbortHandle>,
}

impl Checks {
    /// How many checks are probed (the HTTP, HTTPS and TCP ones).
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Spawns one tokio task per check with protocol HTTP/HTTPS/TCP (MESOS_* and COMMAND are run by the agent's executor — skip them); each waits intervalSeconds between probes (first probe right away), times out after timeoutSeconds, picks the port by `port` or `portIndex` (default 0) from target.ports, and sends every result on `tx`. Dropping the handle stops them.
///
/// Must be called inside a tokio runtime. A probe that finds no port to use (a `portIndex`
/// past the task's ports) reports that as a failure. An HTTP(S) 1xx answer of a check with
/// `ignoreHttp1xx` sends nothing.
pub fn start(target: Target, checks: &[HealthCheck], tx: UnboundedSender<HealthResult>) -> Checks {
    let mut handles = Vec::new();
    for (index, check) in checks.iter().enumerate() {
        let Some(kind) = ProbeKind::of(&check.protocol) else {
            continue;
        };
        let how = endpoint(kind, &target, check).map(|e| match kind {
            ProbeKind::Tcp => How::Tcp { addr: e },
            ProbeKind::Http | ProbeKind::Https => How::Http {
                client: http_client(),
                url: e,
            },
        });
        let probe = Probe {
            how,
            timeout: Duration::from_secs(check.timeout_seconds.max(0) as u64),
            ignore_http1xx: check.ignore_http1xx,
        };
        let interval =
            Duration::from_secs(check.interval_seconds.max(0) as u64).max(Duration::from_millis(1));
        let task_id = target.task_id.clone();
        let tx = tx.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(result) = probe.run().await else {
                    continue;
                };
                let sent = tx.send(HealthResult {
                    task_id: task_id.clone(),
                    check_index: index,
                    result,
                });
                if sent.is_err() {
                    return;
                }
            }
        });
        handles.push(task.abort_handle());
    }
    Checks { handles }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Http,
    Https,
    Tcp,
}

impl ProbeKind {
    fn of(protocol: &str) -> Option<ProbeKind> {
        match protocol {
            "HTTP" => Some(ProbeKind::Http),
            "HTTPS" => Some(ProbeKind::Https),
            "TCP" => Some(ProbeKind::Tcp),
            _ => None,
        }
    }
}

/// The port a check probes: `port`, else `ports[portIndex]` (index 0 by default).
fn check_port(target: &Target, check: &HealthCheck) -> Result<u16, String> {
    if let Some(p) = check.port {
        return u16::try_from(p).map_err(|_| format!("Health check port {p} is not a port"));
    }
    let index = check.port_index.unwrap_or(0);
    usize::try_from(index)
        .ok()
        .and_then(|i| target.ports.get(i).copied())
        .ok_or_else(|| {
            format!(
                "Health check portIndex {index} does not address one of the task's {} ports",
                target.ports.len()
            )
        })
}

/// The URL (HTTP, HTTPS) or `host:port` (TCP) to probe, or why there is none.
fn endpoint(kind: ProbeKind, target: &Target, check: &HealthCheck) -> Result<String, String> {
    let port = check_port(target, check)?;
    let host = if target.host.contains(':') && !target.host.starts_with('[') {
        format!("[{}]", target.host)
    } else {
        target.host.clone()
    };
    let path = match check.path.as_deref() {
        None | Some("") => "/".to_string(),
        Some(p) if p.starts_with('/') => p.to_string(),
        Some(p) => format!("/{p}"),
    };
    Ok(match kind {
        ProbeKind::Http => format!("http://{host}:{port}{path}"),
        ProbeKind::Https => format!("https://{host}:{port}{path}"),
        ProbeKind::Tcp => format!("{host}:{port}"),
    })
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap_or_default()
}

struct Probe {
    /// How to probe, or why the check cannot be probed.
    how: Result<How, String>,
    timeout: Duration,
    ignore_http1xx: bool,
}

enum How {
    Tcp {
        addr: String,
    },
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl How {
    /// The URL or address probed.
    fn target(&self) -> &str {
        match self {
            How::Tcp { addr } => addr,
            How::Http { url, .. } => url,
        }
    }

    async fn attempt(&self, ignore_http1xx: bool) -> Option<Result<(), String>> {
        match self {
            How::Tcp { addr } => Some(
                tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map(drop)
                    .map_err(|e| format!("Connection to {addr} failed: {e}")),
            ),
            How::Http { client, url } => match client.get(url.as_str()).send().await {
                Err(e) => Some(Err(error_chain(&e))),
                Ok(r) => judge_status(r.status(), ignore_http1xx),
            },
        }
    }
}

impl Probe {
    /// One probe; `None` when the answer is to be discarded (1xx with `ignoreHttp1xx`).
    async fn run(&self) -> Option<Result<(), String>> {
        let how = match &self.how {
            Ok(h) => h,
            Err(e) => return Some(Err(e.clone())),
        };
        match tokio::time::timeout(self.timeout, how.attempt(self.ignore_http1xx)).await {
            Ok(r) => r,
            Err(_) => Some(Err(format!(
                "Health check of {} timed out after {}s",
                how.target(),
                self.timeout.as_secs()
            ))),
        }
    }
}

/// Healthy for 200-399; a 1xx is discarded with `ignore_http1xx`; anything else fails with
/// the status line as the cause.
fn judge_status(status: reqwest::StatusCode, ignore_http1xx: bool) -> Option<Result<(), String>> {
    let code = status.as_u16();
    if (200..400).contains(&code) {
        Some(Ok(()))
    } else if ignore_http1xx && (100..200).contains(&code) {
        None
    } else {
        Some(Err(status.to_string()))
    }
}

/// An error with its sources (reqwest's own message alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: Value) -> HealthCheck {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn iso8601_formats_utc_with_millis() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_443_194_028.343), "2015-09-25T15:13:48.343Z");
        assert_eq!(iso8601(1_440_620_619.463), "2015-08-26T20:23:39.463Z");
        // Leap days and century rules.
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_709_164_800.5), "2024-02-29T00:00:00.500Z");
        assert_eq!(iso8601(4_107_542_400.0), "2100-03-01T00:00:00.000Z");
        assert_eq!(iso8601(1_593_597_600.0), "2020-07-01T10:00:00.000Z");
        assert_eq!(iso8601(253_402_300_799.999), "9999-12-31T23:59:59.999Z");
        // Before the epoch, and rounding into the next second.
        assert_eq!(iso8601(-0.001), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso8601(-86_400.0 * 366.0), "1968-12-31T00:00:00.000Z");
        assert_eq!(iso8601(59.9996), "1970-01-01T00:01:00.000Z");
    }

    #[test]
    fn iso8601_agrees_with_a_day_by_day_count() {
        // Walk day by day from 1969-01-01 past 2100 (not a leap year) and compare.
        let (mut y, mut m, mut d) = (1969i64, 1u32, 1u32);
        let mut day = -365i64;
        while y < 2105 {
            let want = format!("{y:04}-{m:02}-{d:02}T00:00:00.000Z");
            assert_eq!(iso8601(day as f64 * 86_400.0), want);
            let len = match m {
                2 if is_leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
            day += 1;
        }
    }

    #[test]
    fn results_count_and_flip() {
        let hc = check(json!({"gracePeriodSeconds": 0, "maxConsecutiveFailures": 3}));
        let mut s = CheckState::new();
        assert!(!s.alive);
        assert_eq!(s.record(10.0, 0.0, &hc, Ok(())), Verdict::Changed);
        assert_eq!((s.first_success, s.last_success), (Some(10.0), Some(10.0)));
        assert_eq!(s.record(11.0, 0.0, &hc, Ok(())), Verdict::Unchanged);
        assert_eq!(s.first_success, Some(10.0));
        assert_eq!(s.last_success, Some(11.0));
        assert_eq!(
            s.record(12.0, 0.0, &hc, Err("503".into())),
            Verdict::Changed
        );
        assert!(!s.alive);
        assert_eq!(s.consecutive_failures, 1);
        assert_eq!(s.last_failure_cause.as_deref(), Some("503"));
        assert_eq!(
            s.record(13.0, 0.0, &hc, Err("x".into())),
            Verdict::Unchanged
        );
        assert_eq!(s.record(14.0, 0.0, &hc, Ok(())), Verdict::Changed);
        assert_eq!(s.consecutive_failures, 0);
        // The last failure stays on record after recovering.
        assert_eq!(s.last_failure, Some(13.0));
        for t in [15.0, 16.0] {
            s.record(t, 0.0, &hc, Err("down".into()));
        }
        assert_eq!(s.record(17.0, 0.0, &hc, Err("down".into())), Verdict::Kill);
        assert_eq!(s.consecutive_failures, 3);
        assert_eq!(s.record(18.0, 0.0, &hc, Err("down".into())), Verdict::Kill);
    }

    #[test]
    fn first_result_counts_as_a_change_even_when_failing() {
        let hc = check(json!({"gracePeriodSeconds": 0}));
        let mut s = CheckState::new();
        assert_eq!(
            s.record(1.0, 0.0, &hc, Err("refused".into())),
            Verdict::Changed
        );
        assert_eq!(
            s.record(2.0, 0.0, &hc, Err("refused".into())),
            Verdict::Unchanged
        );
    }

    #[test]
    fn grace_period_ignores_failures_until_first_success() {
        let hc = check(json!({"gracePeriodSeconds": 300, "maxConsecutiveFailures": 1}));
        let mut s = CheckState::new();
        // Inside the grace period nothing is recorded.
        assert_eq!(
            s.record(1100.0, 1000.0, &hc, Err("no".into())),
            Verdict::Unchanged
        );
        assert_eq!(s, CheckState::new());
        assert_eq!(
            s.record(1299.9, 1000.0, &hc, Err("no".into())),
            Verdict::Unchanged
        );
        // At its end failures count.
        assert_eq!(
            s.record(1300.0, 1000.0, &hc, Err("no".into())),
            Verdict::Kill
        );

        // A success ends the grace period early.
        let mut s = CheckState::new();
        assert_eq!(s.record(1010.0, 1000.0, &hc, Ok(())), Verdict::Changed);
        assert_eq!(
            s.record(1020.0, 1000.0, &hc, Err("no".into())),
            Verdict::Kill
        );
    }

    #[test]
    fn zero_max_consecutive_failures_never_kills() {
        let hc = check(json!({"gracePeriodSeconds": 0, "maxConsecutiveFailures": 0}));
        let mut s = CheckState::new();
        for i in 0..50 {
            assert_ne!(
                s.record(f64::from(i), 0.0, &hc, Err("no".into())),
                Verdict::Kill
            );
        }
        assert_eq!(s.consecutive_failures, 50);
    }

    #[test]
    fn result_json_has_marathon_fields() {
        let hc = check(json!({"gracePeriodSeconds": 0}));
        let mut s = CheckState::new();
        assert_eq!(
            result_json(&s, "app.instance-1"),
            json!({"alive": false, "consecutiveFailures": 0, "firstSuccess": null,
                   "lastSuccess": null, "lastFailure": null, "lastFailureCause": null,
                   "instanceId": "app.instance-1"})
        );
        s.record(1_443_194_028.343, 0.0, &hc, Ok(()));
        s.record(
            1_443_194_088.0,
            0.0,
            &hc,
            Err("503 Service Unavailable".into()),
        );
        assert_eq!(
            result_json(&s, "app.instance-1"),
            json!({"alive": false, "consecutiveFailures": 1,
                   "firstSuccess": "2015-09-25T15:13:48.343Z",
                   "lastSuccess": "2015-09-25T15:13:48.343Z",
                   "lastFailure": "2015-09-25T15:14:48.000Z",
                   "lastFailureCause": "503 Service Unavailable",
                   "instanceId": "app.instance-1"})
        );
        // The state itself round-trips through serde (for persisting it).
        let back: CheckState = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn endpoints_follow_port_and_path_rules() {
        let t = Target {
            task_id: "t".into(),
            host: "agent1".into(),
            ports: vec![31000, 31001],
        };
        let ep = |kind, hc: Value| endpoint(kind, &t, &check(hc));
        assert_eq!(
            ep(ProbeKind::Http, json!({})).unwrap(),
            "http://agent1:31000/"
        );
        assert_eq!(
            ep(ProbeKind::Https, json!({"portIndex": 1, "path": "health"})).unwrap(),
            "https://agent1:31001/health"
        );
        assert_eq!(
            ep(
                ProbeKind::Http,
                json!({"port": 8080, "portIndex": 1, "path": "/a?b=c"})
            )
            .unwrap(),
            "http://agent1:8080/a?b=c"
        );
        assert_eq!(
            ep(ProbeKind::Tcp, json!({"portIndex": 1})).unwrap(),
            "agent1:31001"
        );
        assert!(ep(ProbeKind::Tcp, json!({"portIndex": 2}))
            .unwrap_err()
            .contains("portIndex 2"));
        assert!(ep(ProbeKind::Tcp, json!({"port": 70000})).is_err());
        let v6 = Target {
            task_id: "t".into(),
            host: "::1".into(),
            ports: vec![80],
        };
        assert_eq!(
            endpoint(ProbeKind::Tcp, &v6, &check(json!({}))).unwrap(),
            "[::1]:80"
        );
    }

    #[test]
    fn status_rules() {
        use reqwest::StatusCode as S;
        assert_eq!(judge_status(S::OK, false), Some(Ok(())));
        assert_eq!(judge_status(S::NO_CONTENT, false), Some(Ok(())));
        assert_eq!(judge_status(S::FOUND, false), Some(Ok(())));
        assert_eq!(judge_status(S::from_u16(399).unwrap(), false), Some(Ok(())));
        assert_eq!(
            judge_status(S::SERVICE_UNAVAILABLE, false),
            Some(Err("503 Service Unavailable".into()))
        );
        assert_eq!(
            judge_status(S::NOT_FOUND, true),
            Some(Err("404 Not Found".into()))
        );
        assert_eq!(
            judge_status(S::SWITCHING_PROTOCOLS, false),
            Some(Err("101 Switching Protocols".into()))
        );
        assert_eq!(judge_status(S::SWITCHING_PROTOCOLS, true), None);
    }
}
