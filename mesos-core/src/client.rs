//! A v1 scheduler client: what a framework uses to talk to the master.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mesos_core::client::ClientError> {
//! use mesos_core::client::SchedulerClient;
//! use mesos_core::proto::v1::FrameworkInfo;
//! let info: FrameworkInfo = serde_json::from_value(serde_json::json!({"user": "me", "name": "demo"})).unwrap();
//! let (client, mut events) = SchedulerClient::subscribe("127.0.0.1:5050", info).await?;
//! while let Some(event) = events.next().await {
//!     println!("{}", event.type_name());
//! }
//! # let _ = client; Ok(()) }
//! ```

mod acks;
pub use acks::Acknowledger;

use futures::StreamExt;
use mesos_proto::ids::FrameworkId;
use mesos_proto::recordio::Decoder;
use mesos_proto::scheduler::{Call, Event, Subscribe};
use mesos_proto::v1::FrameworkInfo;
use std::fmt;
use tokio::sync::mpsc;

#[derive(Debug)]
pub enum ClientError {
    /// The master could not be reached.
    Transport(String),
    /// The master answered with an error status.
    Status(u16, String),
    /// The stream's first event was ERROR (e.g. "Framework has been removed").
    Refused(String),
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Transport(e) => write!(f, "cannot reach the master: {e}"),
            ClientError::Status(c, m) => write!(f, "master answered {c}: {m}"),
            ClientError::Refused(m) => write!(f, "master refused the subscription: {m}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Events of one subscription, in order. Ends when the stream closes.
pub struct EventStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl EventStream {
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

/// `host:port` of the leading master registered under a `zk://` URL (the lowest
/// `json.info_` node), waiting up to 30 s for one to appear.
pub async fn leading_master(zk: &str) -> Result<String, ClientError> {
    let url = mesos_election::ZkUrl::parse(zk).map_err(ClientError::Protocol)?;
    let detector =
        mesos_election::Detector::zookeeper(&url, "json.info_", std::time::Duration::from_secs(10))
            .await
            .map_err(ClientError::Transport)?;
    let mut leaders = detector.watch();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(l) = leaders.borrow_and_update().clone() {
            let info: mesos_proto::v1::MasterInfo =
                serde_json::from_slice(&l.data).map_err(|e| {
                    ClientError::Protocol(format!("leader znode is not a MasterInfo: {e}"))
                })?;
            let host = info
                .address
                .as_ref()
                .and_then(|a| a.ip.clone().or_else(|| a.hostname.clone()))
                .or(info.hostname.clone())
                .unwrap_or_default();
            return Ok(format!("{host}:{}", info.port));
        }
        if tokio::time::timeout_at(deadline, leaders.changed())
            .await
            .is_err()
        {
            return Err(ClientError::Transport(format!(
                "no leading master registered under {zk}"
            )));
        }
    }
}

#[derive(Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    base: String,
    framework_id: FrameworkId,
    stream_id: String,
}

fn base_url(master: &str) -> String {
    let m = master.trim_end_matches('/');
    if m.starts_with("http://") || m.starts_with("https://") {
        m.to_string()
    } else {
        format!("http://{m}")
    }
}

impl SchedulerClient {
    /// SUBSCRIBE (or re-subscribe when `info.id` is set), following redirects to the
    /// leading master. Returns once SUBSCRIBED has arrived.
    pub async fn subscribe(
        master: &str,
        info: FrameworkInfo,
    ) -> Result<(SchedulerClient, EventStream), ClientError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let mut base = if master.starts_with("zk://") {
            base_url(&leading_master(master).await?)
        } else {
            base_url(master)
        };
        let call = Call::Subscribe(Subscribe {
            framework_info: info.clone(),
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        });
        let body = call.to_bytes(info.id.as_ref());
        let mut resp = None;
        for _ in 0..5 {
            let r = http
                .post(format!("{base}/api/v1/scheduler"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            if r.status().as_u16() == 307 {
                let loc = r
                    .headers()
                    .get("Location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let host = loc.trim_start_matches("http://").trim_start_matches("//");
                let host = host.split('/').next().unwrap_or(host);
                base = base_url(host);
                continue;
            }
            resp = Some(r);
            break;
        }
        let resp = resp.ok_or_else(|| ClientError::Protocol("too many redirects".into()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.text().await.unwrap_or_default();
            return Err(ClientError::Status(status, text));
        }
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::Protocol("no Mesos-Stream-Id header".into()))?
            .to_string();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut bytes = resp.bytes_stream();
        let mut decoder = Decoder::new();
        // Read up to SUBSCRIBED (or ERROR) synchronously, then hand the rest to a task.
        let mut pending: Vec<Event> = Vec::new();
        let framework_id = loop {
            let chunk = match bytes.next().await {
                Some(Ok(c)) => c,
                Some(Err(e)) => return Err(ClientError::Transport(e.to_string())),
                None => {
                    return Err(ClientError::Protocol(
                        "stream closed before SUBSCRIBED".into(),
                    ))
                }
            };
            let records = decoder.feed(&chunk).map_err(ClientError::Protocol)?;
            let mut found = None;
            for r in records {
                let ev = Event::parse(&r).map_err(ClientError::Protocol)?;
                match (&found, &ev) {
                    (None, Event::Subscribed(s)) => found = Some(s.framework_id.clone()),
                    (None, Event::Error(e)) => return Err(ClientError::Refused(e.message.clone())),
                    _ => {}
                }
                pending.push(ev);
            }
            if let Some(id) = found {
                break id;
            }
        };
        for ev in pending {
            let _ = tx.send(ev);
        }
        tokio::spawn(async move {
            while let Some(Ok(chunk)) = bytes.next().await {
                let Ok(records) = decoder.feed(&chunk) else {
                    break;
                };
                for r in records {
                    match Event::parse(&r) {
                        Ok(ev) => {
                            if tx.send(ev).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("unparseable event: {e}"),
                    }
                }
            }
        });
        Ok((
            SchedulerClient {
                http,
                base,
                framework_id,
                stream_id,
            },
            EventStream { rx },
        ))
    }

    pub fn framework_id(&self) -> &FrameworkId {
        &self.framework_id
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// A sender of this subscription's acknowledgements, pipelined over one connection of
    /// its own (`acks.rs`).
    pub fn acknowledger(&self) -> Acknowledger {
        Acknowledger::start(self)
    }

    /// Send a call; returns the HTTP status (202 for accepted calls).
    pub async fn call(&self, call: Call) -> Result<u16, ClientError> {
        let body = call.to_bytes(Some(&self.framework_id));
        let r = self
            .http
            .post(format!("{}/api/v1/scheduler", self.base))
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &self.stream_id)
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = r.status().as_u16();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(ClientError::Status(
                status,
                r.text().await.unwrap_or_default(),
            ))
        }
    }
}
