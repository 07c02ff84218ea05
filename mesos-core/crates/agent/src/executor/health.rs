//! Mesos-level health checks (`TaskInfo.health_check`), run by the command executor.
//!
//! A background task probes the task after `delay_seconds`, then every `interval_seconds`
//! (counted from the end of the previous probe), each probe bounded by `timeout_seconds`:
//! * COMMAND: the check's command in the task's sandbox with the task's environment (plus
//!   the check command's own variables); exit status 0 is healthy;
//! * HTTP: a GET of `http://127.0.0.1:<port><path>` (`[::1]` for IPv6), not following
//!   redirects; healthy if the status is one of `statuses`, or 200-399 when none are given;
//! * TCP: healthy if a connection to `127.0.0.1:<port>` opens.
//!
//! Every result goes to the executor, which feeds it to a [`HealthTracker`]: that decides
//! when to report (first result, every change, the fatal failure) and when to kill the task
//! (`consecutive_failures` failures in a row; failures before the first success are ignored
//! during `grace_period_seconds` after launch).

use mesos_proto::v1::{HealthCheck, HealthCheckType};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// The shortest pause between two probes, whatever `interval_seconds` says.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What the executor does with a probe result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HealthAction {
    /// Nothing to report.
    None,
    /// Send `TASK_RUNNING` with `healthy`.
    Report { healthy: bool },
    /// Send `TASK_RUNNING` with `healthy: false`, then kill the task.
    ReportAndKill,
}

/// The executor's bookkeeping of one task's health (no clock inside: the caller passes the
/// time since the task was launched).
#[derive(Clone, Debug)]
pub(crate) struct HealthTracker {
    max_failures: u32,
    grace: Duration,
    consecutive_failures: u32,
    /// The health last reported, if any.
    reported: Option<bool>,
    succeeded_once: bool,
}

impl HealthTracker {
    pub fn new(check: &HealthCheck) -> HealthTracker {
        HealthTracker {
            max_failures: check.consecutive_failures,
            grace: secs(check.grace_period_seconds),
            consecutive_failures: 0,
            reported: None,
            succeeded_once: false,
        }
    }

    /// Record the result of a probe that ended `since_launch` after the task was launched.
    pub fn record(&mut self, since_launch: Duration, result: &Result<(), String>) -> HealthAction {
        if result.is_ok() {
            self.succeeded_once = true;
            self.consecutive_failures = 0;
            return self.report(true);
        }
        if !self.succeeded_once && since_launch < self.grace {
            return HealthAction::None;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.consecutive_failures >= self.max_failures.max(1) {
            self.reported = Some(false);
            return HealthAction::ReportAndKill;
        }
        self.report(false)
    }

    fn report(&mut self, healthy: bool) -> HealthAction {
        if self.reported == Some(healthy) {
            return HealthAction::None;
        }
        self.reported = Some(healthy);
        HealthAction::Report { healthy }
    }

    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

/// Seconds (already validated as finite and non-negative) as a `Duration`.
fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

/// Where and how a COMMAND check runs.
#[derive(Clone, Debug)]
pub(crate) struct ProbeContext {
    pub sandbox: PathBuf,
    /// The task's environment (on top of the executor's own).
    pub env: Vec<(String, String)>,
}

/// The running checks of one task: aborted when dropped.
pub(crate) struct HealthChecker {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Start probing; every result is sent on `tx` until the checker is dropped or `tx` closes.
pub(crate) fn start(
    check: HealthCheck,
    ctx: ProbeContext,
    tx: mpsc::UnboundedSender<Result<(), String>>,
) -> HealthChecker {
    let handle = tokio::spawn(async move {
        tokio::time::sleep(secs(check.delay_seconds)).await;
        let interval = secs(check.interval_seconds).max(MIN_INTERVAL);
        loop {
            let result = probe(&check, &ctx).await;
            if tx.send(result).is_err() {
                return;
            }
            tokio::time::sleep(interval).await;
        }
    });
    HealthChecker { handle }
}

/// One probe, bounded by `timeout_seconds`.
pub(crate) async fn probe(check: &HealthCheck, ctx: &ProbeContext) -> Result<(), String> {
    type Probe<'a> =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
    let (what, run): (&str, Probe<'_>) = match check.kind {
        HealthCheckType::Command => ("Command", Box::pin(probe_command(check, ctx))),
        HealthCheckType::Http => ("HTTP", Box::pin(probe_http(check))),
        HealthCheckType::Tcp => ("TCP", Box::pin(probe_tcp(check))),
        HealthCheckType::Unknown => return Err("Unknown health check type".into()),
    };
    let timeout = secs(check.timeout_seconds);
    match tokio::time::timeout(timeout, run).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{what} health check timed out after {}s",
            timeout.as_secs_f64()
        )),
    }
}

/// Kills a check command's process group when dropped.
struct GroupGuard {
    pgid: Option<i32>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            // SAFETY: plain signal delivery to the check's own process group.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

async fn probe_command(check: &HealthCheck, ctx: &ProbeContext) -> Result<(), String> {
    let cmd = check
        .command
        .as_ref()
        .ok_or("COMMAND health check without a command")?;
    let mut env = ctx.env.clone();
    if let Some(vars) = &cmd.environment {
        for v in &vars.variables {
            if let Some(value) = &v.value {
                env.push((v.name.clone(), value.clone()));
            }
        }
    }
    let std_cmd = super::session::task_process(cmd, super::session::path_in(&env))?;
    let mut c = tokio::process::Command::from(std_cmd);
    c.envs(env);
    c.current_dir(&ctx.sandbox)
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = c
        .spawn()
        .map_err(|e| format!("Failed to run the health check command: {e}"))?;
    let pgid = child.id().map(|p| p as i32);
    // Kills the group if the probe is dropped (timeout, checker stopped) before the command
    // ends, and whatever the command left behind in its group once it ended.
    let _guard = GroupGuard { pgid };
    let status = child.wait().await;
    let status = status.map_err(|e| format!("Failed to wait for the health check: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("Command health check failed: {status}"))
    }
}

fn loopback(protocol: Option<&str>) -> &'static str {
    match protocol {
        Some("IPv6") => "[::1]",
        _ => "127.0.0.1",
    }
}

async fn probe_http(check: &HealthCheck) -> Result<(), String> {
    let http = check
        .http
        .as_ref()
        .ok_or("HTTP health check without 'http'")?;
    let scheme = http.scheme.as_deref().unwrap_or("http");
    if scheme != "http" {
        return Err(format!(
            "HTTP health checks with scheme '{scheme}' are not supported by this executor"
        ));
    }
    let path = http.path.as_deref().unwrap_or("/");
    let url = format!(
        "http://{}:{}{path}",
        loopback(http.protocol.as_deref()),
        http.port
    );
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let r = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("HTTP health check of {url} failed: {e}"))?;
    let code = u32::from(r.status().as_u16());
    let ok = if http.statuses.is_empty() {
        (200..400).contains(&code)
    } else {
        http.statuses.contains(&code)
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "HTTP health check of {url} returned unexpected status {code}"
        ))
    }
}

async fn probe_tcp(check: &HealthCheck) -> Result<(), String> {
    let tcp = check.tcp.as_ref().ok_or("TCP health check without 'tcp'")?;
    let addr = format!("{}:{}", loopback(tcp.protocol.as_deref()), tcp.port);
    tokio::net::TcpStream::connect(&addr)
        .await
        .map(drop)
        .map_err(|e| format!("TCP health check of {addr} failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn check(json: serde_json::Value) -> HealthCheck {
        serde_json::from_value(json).unwrap()
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    const FAIL: Result<(), String> = Err(String::new());

    #[test]
    fn reports_first_result_and_changes_only() {
        let hc = check(serde_json::json!({"tcp": {"port": 1}, "grace_period_seconds": 0}));
        let mut t = HealthTracker::new(&hc);
        assert_eq!(
            t.record(s(1.0), &Ok(())),
            HealthAction::Report { healthy: true }
        );
        assert_eq!(t.record(s(2.0), &Ok(())), HealthAction::None);
        assert_eq!(
            t.record(s(3.0), &FAIL),
            HealthAction::Report { healthy: false }
        );
        assert_eq!(t.record(s(4.0), &FAIL), HealthAction::None);
        assert_eq!(t.consecutive_failures(), 2);
        assert_eq!(
            t.record(s(5.0), &Ok(())),
            HealthAction::Report { healthy: true }
        );
        assert_eq!(t.consecutive_failures(), 0);
        assert_eq!(
            t.record(s(6.0), &FAIL),
            HealthAction::Report { healthy: false }
        );
        assert_eq!(t.record(s(7.0), &FAIL), HealthAction::None);
        assert_eq!(t.record(s(8.0), &FAIL), HealthAction::ReportAndKill);
    }

    #[test]
    fn first_failure_outside_grace_is_reported() {
        let hc = check(serde_json::json!({"tcp": {"port": 1}, "grace_period_seconds": 0}));
        let mut t = HealthTracker::new(&hc);
        assert_eq!(
            t.record(s(0.0), &FAIL),
            HealthAction::Report { healthy: false }
        );
    }

    #[test]
    fn grace_period_ignores_failures_until_the_first_success() {
        let hc = check(serde_json::json!({
            "tcp": {"port": 1}, "grace_period_seconds": 10, "consecutive_failures": 2
        }));
        let mut t = HealthTracker::new(&hc);
        for i in 0..5 {
            assert_eq!(t.record(s(f64::from(i)), &FAIL), HealthAction::None);
        }
        assert_eq!(t.consecutive_failures(), 0);
        // The first success ends the grace period early.
        assert_eq!(
            t.record(s(5.0), &Ok(())),
            HealthAction::Report { healthy: true }
        );
        assert_eq!(
            t.record(s(6.0), &FAIL),
            HealthAction::Report { healthy: false }
        );
        assert_eq!(t.record(s(7.0), &FAIL), HealthAction::ReportAndKill);

        // Without a success, failures count once the grace period is over.
        let mut t = HealthTracker::new(&hc);
        assert_eq!(t.record(s(9.9), &FAIL), HealthAction::None);
        assert_eq!(
            t.record(s(10.0), &FAIL),
            HealthAction::Report { healthy: false }
        );
        assert_eq!(t.record(s(11.0), &FAIL), HealthAction::ReportAndKill);
    }

    #[test]
    fn zero_consecutive_failures_kills_on_the_first_failure() {
        let hc = check(serde_json::json!({
            "tcp": {"port": 1}, "grace_period_seconds": 0, "consecutive_failures": 0
        }));
        let mut t = HealthTracker::new(&hc);
        assert_eq!(t.record(s(1.0), &FAIL), HealthAction::ReportAndKill);
    }

    fn ctx(dir: &std::path::Path) -> ProbeContext {
        ProbeContext {
            sandbox: dir.to_path_buf(),
            env: vec![("TASK_VAR".into(), "from-task".into())],
        }
    }

    #[tokio::test]
    async fn command_probe_uses_sandbox_environment_and_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker"), "x").unwrap();
        let ok = check(serde_json::json!({"type": "COMMAND", "command": {
            "value": "test -f marker && test \"$TASK_VAR\" = from-task && test \"$OWN\" = 1",
            "environment": {"variables": [{"name": "OWN", "value": "1"}]}
        }}));
        assert_eq!(probe(&ok, &ctx(dir.path())).await, Ok(()));
        let bad = check(serde_json::json!({"type": "COMMAND", "command": {"value": "exit 3"}}));
        let err = probe(&bad, &ctx(dir.path())).await.unwrap_err();
        assert!(err.contains("exit status: 3"), "{err}");
    }

    #[tokio::test]
    async fn command_probe_times_out_and_kills_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let hc = check(
            serde_json::json!({"type": "COMMAND", "timeout_seconds": 0.3,
            "command": {"value": "sleep 30 & echo $! > pid; wait"}}),
        );
        let start = std::time::Instant::now();
        let err = probe(&hc, &ctx(dir.path())).await.unwrap_err();
        assert!(err.contains("timed out"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // The background sleep of the check went with its group.
        let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut gone = false;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for its (dead) parent's reaper.
            if stat.is_empty() || stat.contains(") Z") {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(gone, "the check's background process survived");
    }

    /// A one-request-per-connection HTTP responder answering `status` to everything.
    async fn http_server(status: u16) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut got = Vec::new();
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn http_probe_judges_the_status() {
        let dir = tempfile::tempdir().unwrap();
        let c = ctx(dir.path());
        for (status, statuses, healthy) in [
            (200, vec![], true),
            (302, vec![], true),
            (404, vec![], false),
            (500, vec![], false),
            (404, vec![404], true),
            (200, vec![204], false),
        ] {
            let port = http_server(status).await;
            let hc = check(serde_json::json!({"type": "HTTP",
                "http": {"port": port, "path": "/health", "statuses": statuses}}));
            let r = probe(&hc, &c).await;
            assert_eq!(r.is_ok(), healthy, "{status} {statuses:?}: {r:?}");
        }
        let hc = check(serde_json::json!({"type": "HTTP",
            "http": {"port": 1, "scheme": "https"}}));
        assert!(probe(&hc, &c).await.unwrap_err().contains("not supported"));
    }

    #[tokio::test]
    async fn tcp_probe_connects() {
        let dir = tempfile::tempdir().unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hc = check(serde_json::json!({"type": "TCP", "tcp": {"port": port}}));
        assert_eq!(probe(&hc, &ctx(dir.path())).await, Ok(()));
        drop(l);
        assert!(probe(&hc, &ctx(dir.path())).await.is_err());
    }

    #[tokio::test]
    async fn checker_waits_the_delay_then_probes_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let hc = check(
            serde_json::json!({"type": "COMMAND", "command": {"value": "true"},
            "delay_seconds": 0.3, "interval_seconds": 0.1}),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let start = tokio::time::Instant::now();
        let checker = start_checker(hc, dir.path(), tx);
        assert_eq!(rx.recv().await, Some(Ok(())));
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert_eq!(rx.recv().await, Some(Ok(())));
        drop(checker);
        // Stopped: the channel closes once the aborted task is gone.
        while rx.recv().await.is_some() {}
    }

    fn start_checker(
        hc: HealthCheck,
        dir: &std::path::Path,
        tx: mpsc::UnboundedSender<Result<(), String>>,
    ) -> HealthChecker {
        start(hc, ctx(dir), tx)
    }
}
