//! The command executor without an async runtime: one thread waits in `poll(2)` on the
//! agent's event stream, the task's pidfd and, when the task has health checks, the
//! thread that probes it; calls to the agent are blocking requests over one kept-alive
//! connection. Carries out what [`Executor`] decides, for command tasks (Docker tasks use
//! the tokio shell).

use super::{log, Executor, Input, Output};
use crate::executor::agent_http::{post_request, reason, take_head, Body, StreamBody};
use crate::executor::health;
use crate::executor::session::{
    path_in, signal_group, subscribe_body, task_process, update_body, ExecutorEnv, Resubscribe,
};
use mesos_proto::executor::Event;
use mesos_proto::recordio;
use mesos_proto::v1::TaskStatus;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

const PATH: &str = "/api/v1/executor";
/// How long a call to the agent may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting (and reading the head of SUBSCRIBE's answer) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the agent: its Unix socket or TCP.
enum Conn {
    Unix(std::os::unix::net::UnixStream),
    Tcp(std::net::TcpStream),
}

impl Conn {
    fn open(env: &ExecutorEnv) -> Result<Conn, String> {
        if let Some(path) = &env.domain_socket {
            return std::os::unix::net::UnixStream::connect(path)
                .map(Conn::Unix)
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()));
        }
        let cannot =
            |e: &dyn std::fmt::Display| format!("cannot connect to {}: {e}", env.agent_endpoint);
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&env.agent_endpoint)
            .map_err(|e| cannot(&e))?
            .next()
            .ok_or_else(|| cannot(&"no address"))?;
        let conn =
            std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| cannot(&e))?;
        // Every request goes out in one write; nothing is gained by delaying it.
        let _ = conn.set_nodelay(true);
        Ok(Conn::Tcp(conn))
    }

    fn host(env: &ExecutorEnv) -> &str {
        if env.domain_socket.is_some() {
            "localhost"
        } else {
            &env.agent_endpoint
        }
    }

    /// Reads wait at most `timeout` (`None`: forever).
    fn read_timeout(&self, timeout: Option<Duration>) {
        let _ = match self {
            Conn::Unix(c) => c.set_read_timeout(timeout),
            Conn::Tcp(c) => c.set_read_timeout(timeout),
        };
    }

    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Unix(c) => c,
            Conn::Tcp(c) => c,
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Conn::Unix(c) => c.as_raw_fd(),
            Conn::Tcp(c) => c.as_raw_fd(),
        }
    }

    /// Read what is there (blocking until something is, or the read timeout) into `buf`;
    /// the number of bytes (0 at the end of the connection).
    fn read_more(&mut self, buf: &mut Vec<u8>) -> Result<usize, String> {
        let mut chunk = [0u8; 8192];
        let n = self.io().read(&mut chunk).map_err(|e| e.to_string())?;
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Read a response head; what follows it stays in `buf`.
    fn read_head(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> Result<crate::executor::agent_http::Head, String> {
        loop {
            if let Some(head) = take_head(buf)? {
                return Ok(head);
            }
            if self.read_more(buf)? == 0 {
                return Err("connection closed before a response".into());
            }
        }
    }

    /// Read a whole body; bytes past it stay in `buf`.
    fn read_body(
        &mut self,
        buf: &mut Vec<u8>,
        framing: crate::executor::agent_http::Framing,
    ) -> Result<Vec<u8>, String> {
        let mut body = Body::new(framing);
        loop {
            if body.take(buf)? {
                return Ok(body.data);
            }
            if self.read_more(buf)? == 0 {
                return body.closed(buf);
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The executor's calls (UPDATE) over one kept-alive connection.
struct Calls {
    conn: Option<(Conn, Vec<u8>)>,
}

impl Calls {
    /// POST `body`; the answer's status. A request that fails on a reused connection is
    /// retried once on a new one (the agent may have closed it meanwhile).
    fn call(&mut self, env: &ExecutorEnv, body: &str) -> Result<u16, String> {
        let req = post_request(PATH, Conn::host(env), body, false);
        let reused = self.conn.is_some();
        match self.exchange(env, &req) {
            Err(_) if reused => self.exchange(env, &req),
            r => r,
        }
    }

    fn exchange(&mut self, env: &ExecutorEnv, req: &[u8]) -> Result<u16, String> {
        let (mut conn, mut buf) = match self.conn.take() {
            Some(c) => c,
            None => {
                let c = Conn::open(env)?;
                c.read_timeout(Some(CALL_TIMEOUT));
                (c, Vec::new())
            }
        };
        conn.io().write_all(req).map_err(|e| e.to_string())?;
        let head = conn.read_head(&mut buf)?;
        conn.read_body(&mut buf, head.framing)?;
        if !head.closes && head.framing != crate::executor::agent_http::Framing::Close {
            self.conn = Some((conn, buf));
        }
        Ok(head.status)
    }
}

/// The subscription's event stream.
struct Stream {
    conn: Conn,
    buf: Vec<u8>,
    body: StreamBody,
    records: recordio::Decoder,
}

impl Stream {
    /// SUBSCRIBE; the stream once the agent answered 200.
    fn subscribe(env: &ExecutorEnv, body: &str) -> Result<Stream, String> {
        let mut conn = Conn::open(env)?;
        conn.read_timeout(Some(CONNECT_TIMEOUT));
        conn.io()
            .write_all(&post_request(PATH, Conn::host(env), body, true))
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let head = conn.read_head(&mut buf)?;
        if head.status != 200 {
            let body = conn.read_body(&mut buf, head.framing).unwrap_or_default();
            return Err(format!(
                "{} {}: {}",
                head.status,
                reason(head.status),
                String::from_utf8_lossy(&body)
            ));
        }
        // From now on reads happen only when poll says there is something to read.
        conn.read_timeout(None);
        Ok(Stream {
            conn,
            buf,
            body: StreamBody::new(head.framing),
            records: recordio::Decoder::new(),
        })
    }

    /// The records that arrived; `Err` once the stream is over (ended or broken).
    fn records(&mut self, read: bool) -> Result<Vec<Vec<u8>>, String> {
        if read && self.conn.read_more(&mut self.buf)? == 0 {
            self.body.closed()?;
        }
        let data = self.body.decode(&mut self.buf)?;
        let records = self.records.feed(&data)?;
        if records.is_empty() && self.body.ended() {
            return Err("the agent ended the event stream".into());
        }
        Ok(records)
    }
}

/// The task's process, watched through a pidfd.
struct Task {
    child: std::process::Child,
    /// Readable once the process has ended (`None` where pidfds are missing: then the
    /// process is polled for).
    pidfd: Option<OwnedFd>,
}

/// How often a task without a pidfd is checked for having ended.
const EXIT_POLL: Duration = Duration::from_millis(100);

/// The health probes of the task, run by a thread with a runtime of its own; each result
/// comes through `results`, and a byte on `wake` tells the poll loop.
struct Probes {
    results: std::sync::mpsc::Receiver<Result<(), String>>,
    wake: std::os::unix::net::UnixStream,
    /// Dropping it stops the thread and its probes.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Probes {
    fn start(check: mesos_proto::v1::HealthCheck, ctx: health::ProbeContext) -> Option<Probes> {
        let (wake, wake_tx) = std::os::unix::net::UnixStream::pair().ok()?;
        let _ = wake.set_nonblocking(true);
        let (tx, results) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("health".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    log("Cannot start the health checks' runtime");
                    return;
                };
                rt.block_on(async move {
                    let (probe_tx, mut probe_rx) = tokio::sync::mpsc::unbounded_channel();
                    let _checker = health::start(check, ctx, probe_tx);
                    let mut wake_tx = wake_tx;
                    loop {
                        tokio::select! {
                            _ = &mut stopped => return,
                            Some(r) = probe_rx.recv() => {
                                if tx.send(r).is_err() || wake_tx.write_all(&[1]).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            })
            .ok()?;
        Some(Probes {
            results,
            wake,
            _stop: stop,
        })
    }

    fn take(&mut self) -> Vec<Result<(), String>> {
        let mut sink = [0u8; 64];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        self.results.try_iter().collect()
    }
}

/// The shell's state besides the executor's.
struct Shell {
    env: ExecutorEnv,
    calls: Calls,
    stream: Option<Stream>,
    retry: Resubscribe,
    /// Sent and not yet acknowledged: resent with every SUBSCRIBE.
    unacked: Vec<TaskStatus>,
    task: Option<Task>,
    probes: Option<Probes>,
}

/// Run the command executor until it is done; the exit code.
pub(crate) fn run(env: ExecutorEnv) -> i32 {
    let mut ex = Executor::new(env.clone(), None);
    let mut shell = Shell {
        calls: Calls { conn: None },
        stream: None,
        retry: Resubscribe::new(Instant::now()),
        unacked: Vec::new(),
        task: None,
        probes: None,
        env,
    };
    loop {
        if ex.finished() {
            return 0;
        }
        if shell.stream.is_none() && Instant::now() >= shell.retry.due {
            let body = subscribe_body(&shell.env, &ex.unacknowledged_tasks(), &shell.unacked);
            match Stream::subscribe(&shell.env, &body) {
                Ok(s) => {
                    shell.stream = Some(s);
                    shell.retry.succeeded();
                    // Records that came with the answer's head.
                    shell.read_stream(&mut ex, false);
                    continue;
                }
                Err(e) => {
                    if shell
                        .retry
                        .failed(Instant::now(), &shell.env, &e, log)
                        .is_err()
                    {
                        shell.step(&mut ex, Input::AgentLost);
                        return 1;
                    }
                }
            }
        }
        shell.wait(&mut ex);
    }
}

impl Shell {
    /// Wait for the stream, the task's end, a probe result or the next deadline, and hand
    /// what happened to the executor.
    fn wait(&mut self, ex: &mut Executor) {
        let mut wake = ex.deadline();
        if self.stream.is_none() {
            wake = Some(wake.map_or(self.retry.due, |w| w.min(self.retry.due)));
        }
        let mut fds = Vec::with_capacity(3);
        let fd = |fd: RawFd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        fds.push(fd(self.stream.as_ref().map_or(-1, |s| s.conn.fd())));
        fds.push(fd(self
            .task
            .as_ref()
            .and_then(|t| t.pidfd.as_ref())
            .map_or(-1, |p| p.as_raw_fd())));
        fds.push(fd(self.probes.as_ref().map_or(-1, |p| p.wake.as_raw_fd())));
        if self.task.as_ref().is_some_and(|t| t.pidfd.is_none()) {
            let poll_at = Instant::now() + EXIT_POLL;
            wake = Some(wake.map_or(poll_at, |w| w.min(poll_at)));
        }
        let timeout = match wake {
            None => -1,
            Some(at) => {
                let ms = at.saturating_duration_since(Instant::now()).as_millis();
                // Round up: waking a little early would only spin.
                i32::try_from(ms + 1).unwrap_or(i32::MAX)
            }
        };
        // SAFETY: `fds` is a valid array of pollfds for the call's duration; negative fds are
        // ignored by poll.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            return; // EINTR: look again
        }
        if fds[0].revents != 0 {
            self.read_stream(ex, true);
        }
        if fds[1].revents != 0 || self.task.as_ref().is_some_and(|t| t.pidfd.is_none()) {
            self.check_exit(ex);
        }
        if fds[2].revents != 0 {
            let results = self.probes.as_mut().map(Probes::take).unwrap_or_default();
            for r in results {
                self.step(ex, Input::Health(r));
            }
        }
        if ex.deadline().is_some_and(|d| Instant::now() >= d) {
            self.step(ex, Input::Tick);
        }
    }

    /// Hand the stream's new events to the executor (`read`: read the socket first); on its
    /// end, schedule re-subscribing.
    fn read_stream(&mut self, ex: &mut Executor, read: bool) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        match stream.records(read) {
            Ok(records) => {
                for rec in records {
                    match serde_json::from_slice::<Event>(&rec) {
                        Ok(e) => {
                            if let Event::Acknowledged { acknowledged } = &e {
                                self.unacked
                                    .retain(|s| s.uuid.as_deref() != Some(&acknowledged.uuid));
                            }
                            self.step(ex, Input::Event(e));
                        }
                        Err(e) => log(&format!("Ignoring an unparsable event: {e}")),
                    }
                }
            }
            Err(_) => {
                self.stream = None;
                self.retry.lost(Instant::now(), log);
            }
        }
    }

    fn check_exit(&mut self, ex: &mut Executor) {
        let Some(task) = &mut self.task else { return };
        let status = match task.child.try_wait() {
            Ok(Some(s)) => s.into_raw(),
            Ok(None) => return,
            Err(_) => -1,
        };
        self.task = None;
        self.step(ex, Input::Exited(status));
    }

    /// Hand `input` to the executor and carry out what it decides, including what it
    /// decides on the results (a spawned process).
    fn step(&mut self, ex: &mut Executor, input: Input) {
        let mut todo: std::collections::VecDeque<Output> = ex.handle(Instant::now(), input).into();
        while let Some(output) = todo.pop_front() {
            let next = match output {
                Output::Send(status) => {
                    self.send(status);
                    None
                }
                Output::Spawn { command, env } => Some(Input::Spawned(self.spawn(&command, env))),
                Output::Signal(pid, signal) => {
                    signal_group(pid, signal);
                    None
                }
                Output::StartHealth(check, ctx) => {
                    self.probes = Probes::start(check, ctx);
                    if self.probes.is_none() {
                        log("Cannot start the health checks");
                    }
                    None
                }
                Output::StopHealth => {
                    self.probes = None;
                    None
                }
                Output::LaunchContainer(_) | Output::StopContainer(_) | Output::KillContainer => {
                    log("This executor does not run Docker containers");
                    None
                }
            };
            if let Some(input) = next {
                todo.extend(ex.handle(Instant::now(), input));
            }
        }
    }

    /// Keep `status` for resending and POST it now (failures are retried on re-subscribe).
    fn send(&mut self, status: TaskStatus) {
        let body = update_body(&self.env, &status);
        self.unacked.push(status);
        match self.calls.call(&self.env, &body) {
            Ok(code) if (200..300).contains(&code) => {}
            Ok(code) => log(&format!("Agent answered {code} to an update")),
            Err(e) => log(&format!("Cannot send an update (will resend): {e}")),
        }
    }

    /// Start the task's command in its own process group (inside the executor's session, so
    /// kills reach its whole tree); its pid.
    fn spawn(
        &mut self,
        command: &mesos_proto::v1::CommandInfo,
        env: Vec<(String, String)>,
    ) -> Result<u32, String> {
        use std::os::unix::process::CommandExt;
        let mut c = task_process(command, path_in(&env))?;
        c.envs(env).current_dir(&self.env.sandbox).process_group(0);
        let child = c.spawn().map_err(|e| e.to_string())?;
        let pid = child.id();
        self.task = Some(Task {
            pidfd: pidfd_open(pid),
            child,
        });
        Ok(pid)
    }
}

/// A pidfd of child `pid`, where the kernel has them.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor this process now owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
