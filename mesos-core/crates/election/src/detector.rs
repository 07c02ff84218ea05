//! Following the current leader (Mesos `ZooKeeperMasterDetector`): the contender node with
//! the lowest sequence number, and its data.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use crate::zk::{connect, is_terminal, lowest, session_ended, session_lost, validate_prefix};
use crate::{Leader, ZkUrl};

/// Follow the current leader.
pub struct Detector {
    leader: watch::Receiver<Option<Leader>>,
    /// Kept so that receivers stay open for a fixed leader.
    _fixed: Option<watch::Sender<Option<Leader>>>,
    task: Option<JoinHandle<()>>,
}

impl Detector {
    /// Standalone: always this leader, with epoch 1.
    pub fn fixed(data: Vec<u8>) -> Detector {
        let (tx, rx) = watch::channel(Some(Leader { epoch: 1, data }));
        Detector {
            leader: rx,
            _fixed: Some(tx),
            task: None,
        }
    }

    /// Follows the group at `url.path` in the background, with its own session. It keeps
    /// reconnecting (with a new session when the old one is lost) for as long as the
    /// detector lives. The leader is `None` until first known, when the group is empty or
    /// missing, and once the session is lost (disconnected longer than `session_timeout`,
    /// or expired) until ZooKeeper answers again. Fails only on bad arguments.
    pub async fn zookeeper(
        url: &ZkUrl,
        node_prefix: &str,
        session_timeout: Duration,
    ) -> Result<Detector, String> {
        validate_prefix(node_prefix)?;
        let path = crate::url::normalize_path(&url.path)?;
        let url = ZkUrl {
            path,
            ..url.clone()
        };
        let (tx, rx) = watch::channel(None);
        let task = tokio::spawn(run(url, node_prefix.to_string(), session_timeout, tx));
        Ok(Detector {
            leader: rx,
            _fixed: None,
            task: Some(task),
        })
    }

    /// The leader as last seen.
    pub fn current(&self) -> Option<Leader> {
        self.leader.borrow().clone()
    }

    /// A watch receiver updated on every leader change (None = no leader known). Its
    /// sender closes when the detector is dropped.
    pub fn watch(&self) -> watch::Receiver<Option<Leader>> {
        self.leader.clone()
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn publish(tx: &watch::Sender<Option<Leader>>, leader: Option<Leader>) {
    tx.send_if_modified(|current| {
        if *current == leader {
            return false;
        }
        match &leader {
            Some(l) => tracing::info!(epoch = l.epoch, "detected a new leader"),
            None => tracing::info!("no leader detected"),
        }
        *current = leader;
        true
    });
}

async fn run(
    url: ZkUrl,
    prefix: String,
    session_timeout: Duration,
    tx: watch::Sender<Option<Leader>>,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let client = match connect(&url, session_timeout).await {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!("leader detector for {url}: {e}; retrying");
                publish(&tx, None);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        let reason = tokio::select! {
            reason = session_lost(&client, client.session_timeout()) => reason,
            reason = follow(&client, &url.path, &prefix, &tx) => reason,
        };
        tracing::warn!("leader detector for {url}: {reason}; reconnecting");
        publish(&tx, None);
    }
}

/// Publishes the lowest contender on every change of the children. Returns when the
/// session is gone.
async fn follow(
    client: &zk::Client,
    dir: &str,
    prefix: &str,
    tx: &watch::Sender<Option<Leader>>,
) -> String {
    let retry = || tokio::time::sleep(Duration::from_millis(200));
    loop {
        let (children, watcher) = match client.list_and_watch_children(dir).await {
            Ok(listing) => listing,
            Err(zk::Error::NoNode) => {
                // No group yet: wait for the path to appear.
                publish(tx, None);
                match client.check_and_watch_stat(dir).await {
                    Ok((Some(_), _)) => continue,
                    Ok((None, watcher)) => {
                        let event = watcher.changed().await;
                        if let Some(reason) = session_ended(&event) {
                            return reason;
                        }
                        continue;
                    }
                    Err(e) if is_terminal(&e) => return format!("ZooKeeper: {e}"),
                    Err(_) => {
                        retry().await;
                        continue;
                    }
                }
            }
            Err(e) if is_terminal(&e) => return format!("ZooKeeper: {e}"),
            Err(e) => {
                tracing::debug!("listing {dir}: {e}; retrying");
                retry().await;
                continue;
            }
        };
        let leader = match lowest(&children, prefix) {
            None => None,
            Some((epoch, name)) => match client.get_data(&format!("{dir}/{name}")).await {
                Ok((data, _)) => Some(Leader { epoch, data }),
                // Gone between the listing and the read: list again.
                Err(zk::Error::NoNode) => continue,
                Err(e) if is_terminal(&e) => return format!("ZooKeeper: {e}"),
                Err(_) => {
                    retry().await;
                    continue;
                }
            },
        };
        publish(tx, leader);
        let event = watcher.changed().await;
        if let Some(reason) = session_ended(&event) {
            return reason;
        }
    }
}
