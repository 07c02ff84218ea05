//! The agent's link to the master: following the leader, registering and reading the
//! master's stream (`master_loop`), and delivering the agent's messages (`sender_loop`).

use super::*;

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// Random backoff in `[0, factor * 2^attempt]`, capped at one minute.
fn backoff(factor: Duration, attempt: u32) -> Duration {
    let cap = factor
        .saturating_mul(1u32 << attempt.min(16))
        .min(Duration::from_secs(60));
    cap.mul_f64(rand::random::<f64>())
}

/// The leading master's URL over time: constant for `http://host:port`, followed through
/// ZooKeeper (`json.info_` nodes) for `zk://...`.
pub(super) fn follow_leader(master: &str) -> watch::Receiver<Option<String>> {
    if !master.starts_with("zk://") {
        // A fixed master never changes; keep the sender alive so `changed()` just waits.
        let (tx, rx) = watch::channel(Some(master.to_string()));
        tokio::spawn(async move { tx.closed().await });
        return rx;
    }
    let (tx, rx) = watch::channel(None);
    let url = mesos_election::ZkUrl::parse(master).expect("validated with the flags");
    tokio::spawn(async move {
        let detector = loop {
            match mesos_election::Detector::zookeeper(&url, "json.info_", Duration::from_secs(10))
                .await
            {
                Ok(d) => break d,
                Err(e) => {
                    tracing::warn!("Cannot reach ZooKeeper at {}: {e}", url.hosts);
                    if tx.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut leaders = detector.watch();
        loop {
            let base = leaders.borrow_and_update().as_ref().and_then(|l| {
                let info: mesos_proto::v1::MasterInfo = serde_json::from_slice(&l.data).ok()?;
                let host = info
                    .address
                    .as_ref()
                    .and_then(|a| a.ip.clone().or_else(|| a.hostname.clone()))
                    .or(info.hostname.clone())?;
                Some(format!("http://{host}:{}", info.port))
            });
            if base.is_some() {
                tracing::info!(
                    "Leading master detected at {}",
                    base.as_deref().unwrap_or("")
                );
            }
            tx.send_replace(base);
            tokio::select! {
                r = leaders.changed() => if r.is_err() { break },
                _ = tx.closed() => break,
            }
        }
    });
    rx
}

/// Keep a registered connection to the master: register, read its stream, reconnect.
pub(super) async fn master_loop(shared: Arc<Shared>) {
    let client = http_client();
    let mut attempt: u32 = 0;
    let mut reconnect_rx = shared.reconnect.subscribe();
    let mut leader = shared.leader.clone();
    let mut last_base: Option<String> = None;
    loop {
        reconnect_rx.borrow_and_update();
        let base = loop {
            if let Some(b) = leader.borrow_and_update().clone() {
                break b;
            }
            if leader.changed().await.is_err() {
                return;
            }
        };
        // A new leader starts a new series of attempts: back off from scratch.
        if last_base.as_deref() != Some(base.as_str()) {
            attempt = 0;
            last_base = Some(base.clone());
        }
        let url = format!("{base}/internal/agent/connect");
        let registration = shared.lock().agent.registration();
        let body = serde_json::to_vec(&registration).unwrap_or_default();
        let resp = client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await;
        match resp {
            Ok(r) if r.status().is_success() => {
                let reached = r.url().clone();
                if let Some(h) = reached.host_str() {
                    shared
                        .view
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .master_hostname = Some(h.to_string());
                }
                *shared
                    .connected_master
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) =
                    Some(reached.origin().ascii_serialization());
                if read_stream(&shared, r, &mut reconnect_rx, &mut leader).await {
                    attempt = 0;
                }
            }
            Ok(r) => {
                let code = r.status();
                let text = r.text().await.unwrap_or_default();
                tracing::warn!("Master refused the agent connection ({code}): {text}");
            }
            Err(e) => tracing::debug!("Cannot reach the master at {url}: {e}"),
        }
        // Through the queue: after whatever the stream delivered before it ended.
        shared.dispatch_queued(Input::MasterDisconnected).await;
        let wait = backoff(shared.backoff_factor, attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = leader.changed() => {}
        }
    }
}

/// Read `MasterToAgent` records until the stream ends, fails or a reconnect is requested.
/// Returns whether the agent got registered on this stream.
async fn read_stream(
    shared: &Arc<Shared>,
    resp: reqwest::Response,
    reconnect_rx: &mut watch::Receiver<u64>,
    leader: &mut watch::Receiver<Option<String>>,
) -> bool {
    use futures::StreamExt;
    let mut stream = resp.bytes_stream();
    let mut decoder = recordio::Decoder::new();
    let mut registered = false;
    loop {
        let chunk = tokio::select! {
            c = stream.next() => c,
            _ = reconnect_rx.changed() => {
                tracing::info!("Reconnecting to the master");
                return registered;
            }
            _ = leader.changed() => {
                tracing::info!("The leading master changed; reconnecting");
                return registered;
            }
        };
        let bytes = match chunk {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                tracing::warn!("Master stream failed: {e}");
                return registered;
            }
            None => {
                tracing::info!("Master closed the agent stream");
                return registered;
            }
        };
        let records = match decoder.feed(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("Bad record from the master: {e}");
                return registered;
            }
        };
        // Messages go through the agent's queue, in order: those that arrive together (a
        // burst of launches, acknowledgements) share checkpoint transactions with each other
        // and with the executors' updates waiting there.
        let mut batch = Vec::new();
        for rec in records {
            let msg: MasterToAgent = match serde_json::from_slice(&rec) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!("Ignoring an unparsable master message: {e}");
                    continue;
                }
            };
            if !matches!(
                msg,
                MasterToAgent::Registered { .. }
                    | MasterToAgent::Reregistered { .. }
                    | MasterToAgent::Error { .. }
            ) {
                batch.push(Input::Master(msg));
                continue;
            }
            shared.enqueue_all(std::mem::take(&mut batch));
            let is_error = matches!(msg, MasterToAgent::Error { .. });
            match &msg {
                MasterToAgent::Registered {
                    agent_id, epoch, ..
                }
                | MasterToAgent::Reregistered {
                    agent_id, epoch, ..
                } => {
                    let seen = shared.max_epoch.fetch_max(*epoch, Ordering::SeqCst);
                    if *epoch < seen {
                        tracing::warn!(
                            "Refusing a registration from a master of epoch {epoch}, older than {seen}"
                        );
                        return registered;
                    }
                    tracing::info!("Registered with the master as {agent_id}");
                    registered = true;
                }
                MasterToAgent::Error { message } => {
                    tracing::warn!(
                        "Master refused this agent ({message}); registering as a new agent"
                    );
                }
                _ => {}
            }
            shared.dispatch_queued(Input::Master(msg)).await;
            if is_error {
                reconnect_rx.borrow_and_update();
                return true;
            }
        }
        shared.enqueue_all(batch);
    }
}

/// Most messages sent in one POST.
const MAX_BATCH: usize = 512;

/// Deliver messages to the master in order, whatever queued up during the previous POST in
/// one batch; a 409 means "re-register".
pub(super) async fn sender_loop(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<AgentToMaster>,
) {
    let client = http_client();
    while let Some(first) = rx.recv().await {
        let mut messages = vec![first];
        while messages.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => messages.push(m),
                Err(_) => break,
            }
        }
        let Some(agent_id) = shared.lock().agent.agent_id.clone() else {
            continue;
        };
        let connected = shared
            .connected_master
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(base) = connected.or_else(|| shared.leader.borrow().clone()) else {
            continue;
        };
        let url = format!("{base}/internal/agent/message");
        let body = serde_json::to_vec(&AgentBatch { agent_id, messages }).unwrap_or_default();
        let resp = client
            .post(&url)
            .header("Content-Type", "application/json")
            .timeout(Duration::from_secs(15))
            .body(body)
            .send()
            .await;
        match resp {
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                let registered = shared.lock().agent.registered;
                if registered {
                    shared.dispatch_queued(Input::MasterDisconnected).await;
                    shared.reconnect.send_modify(|g| *g += 1);
                }
            }
            Ok(r) if !r.status().is_success() => {
                tracing::warn!("Master answered {} to an agent message", r.status());
            }
            Ok(_) => {}
            Err(e) => tracing::debug!("Cannot deliver a message to the master: {e}"),
        }
    }
}
