//! Contending for leadership: one EPHEMERAL_SEQUENTIAL znode per contender, the lowest
//! sequence number leads (Mesos `ZooKeeperMasterContender` / `zookeeper::Group`).

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use crate::zk::{acls, connect, is_terminal, lowest, session_ended, session_lost, validate_prefix};
use crate::ZkUrl;

/// Where a contender stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContenderStatus {
    /// In the group, not (yet) the leader.
    Contending,
    /// The leader, with this epoch (its sequence number; 1 when standalone).
    Elected(u64),
    /// Out of the election for good: the session was lost, the node deleted, or the
    /// contender withdrew. Call [`Contender::contend`] to take part again.
    Lost(String),
}

/// Contend for leadership. Standalone: elected at once with epoch 1.
pub struct Contender {
    status: watch::Receiver<ContenderStatus>,
    inner: Inner,
}

enum Inner {
    /// Keeps the status channel open so that `lost()` never resolves.
    Standalone(#[allow(dead_code)] watch::Sender<ContenderStatus>),
    ZooKeeper(Box<ZkContender>),
}

#[derive(Clone)]
struct Config {
    url: ZkUrl,
    prefix: String,
    data: Vec<u8>,
    session_timeout: Duration,
}

struct ZkContender {
    config: Config,
    /// Full path of our node, e.g. `/mesos/json.info_0000000007`.
    node: String,
    epoch: u64,
    /// Dropping or sending asks the task to delete the node and close the session.
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Contender {
    /// No ZooKeeper: elected at once with epoch 1, and never loses.
    pub fn standalone() -> Contender {
        let (tx, rx) = watch::channel(ContenderStatus::Elected(1));
        Contender {
            status: rx,
            inner: Inner::Standalone(tx),
        }
    }

    /// Joins the group at `url.path` (created with its parents if missing) with a new
    /// session: creates `<path>/<node_prefix><10 digits>` (EPHEMERAL_SEQUENTIAL) holding
    /// `data`. Fails when ZooKeeper cannot be reached within about `session_timeout`.
    pub async fn zookeeper(
        url: &ZkUrl,
        node_prefix: &str,
        data: Vec<u8>,
        session_timeout: Duration,
    ) -> Result<Contender, String> {
        validate_prefix(node_prefix)?;
        let path = crate::url::normalize_path(&url.path)?;
        let config = Config {
            url: ZkUrl {
                path,
                ..url.clone()
            },
            prefix: node_prefix.to_string(),
            data,
            session_timeout,
        };
        let (tx, rx) = watch::channel(ContenderStatus::Contending);
        let inner = join(config, tx).await?;
        Ok(Contender {
            status: rx,
            inner: Inner::ZooKeeper(Box::new(inner)),
        })
    }

    /// Resolves when this contender becomes the leader; returns its epoch. Fails (with the
    /// reason) when the candidacy was lost first.
    pub async fn elected(&mut self) -> Result<u64, String> {
        let status = self
            .status
            .wait_for(|s| !matches!(s, ContenderStatus::Contending))
            .await
            .map(|s| s.clone());
        match status {
            Ok(ContenderStatus::Elected(epoch)) => Ok(epoch),
            Ok(ContenderStatus::Lost(reason)) => Err(reason),
            Ok(ContenderStatus::Contending) => {
                unreachable!("wait_for returned a contending status")
            }
            Err(_) => Err("the election task ended".to_string()),
        }
    }

    /// Resolves when leadership (or candidacy) is lost: the session expired, or was
    /// disconnected for longer than half the session timeout (so that we give up before
    /// ZooKeeper can expire the session and elect someone else), or the node was deleted.
    /// Never resolves for a standalone contender.
    pub async fn lost(&mut self) -> String {
        let status = self
            .status
            .wait_for(|s| matches!(s, ContenderStatus::Lost(_)))
            .await
            .map(|s| s.clone());
        match status {
            Ok(ContenderStatus::Lost(reason)) => reason,
            Ok(_) => unreachable!("wait_for returned a status that is not lost"),
            Err(_) => "the election task ended".to_string(),
        }
    }

    /// The status now. Leadership is only valid while this says `Elected`.
    pub fn status(&self) -> ContenderStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (for `select!` loops).
    pub fn status_watch(&self) -> watch::Receiver<ContenderStatus> {
        self.status.clone()
    }

    /// True while this contender leads.
    pub fn is_elected(&self) -> bool {
        matches!(*self.status.borrow(), ContenderStatus::Elected(_))
    }

    /// This contender's sequence number (the epoch it gets if elected); 1 when standalone.
    pub fn sequence(&self) -> u64 {
        match &self.inner {
            Inner::Standalone(_) => 1,
            Inner::ZooKeeper(z) => z.epoch,
        }
    }

    /// The full path of this contender's znode (None when standalone).
    pub fn node_path(&self) -> Option<&str> {
        match &self.inner {
            Inner::Standalone(_) => None,
            Inner::ZooKeeper(z) => Some(&z.node),
        }
    }

    /// Contend again with a new session and a new node (a new, higher sequence number),
    /// e.g. after [`Contender::lost`]. A current candidacy is withdrawn first. No-op when
    /// standalone.
    pub async fn contend(&mut self) -> Result<(), String> {
        let Inner::ZooKeeper(z) = &mut self.inner else {
            return Ok(());
        };
        let config = z.config.clone();
        z.shutdown().await;
        let (tx, rx) = watch::channel(ContenderStatus::Contending);
        let fresh = join(config, tx).await?;
        self.status = rx;
        self.inner = Inner::ZooKeeper(Box::new(fresh));
        Ok(())
    }

    /// Withdraw: delete the node and close the session.
    pub async fn withdraw(mut self) {
        if let Inner::ZooKeeper(z) = &mut self.inner {
            z.shutdown().await;
        }
    }
}

impl ZkContender {
    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            let bound = self.config.session_timeout + Duration::from_secs(2);
            if tokio::time::timeout(bound, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for ZkContender {
    fn drop(&mut self) {
        // Dropping `stop` asks the task to delete the node and end, which closes the
        // session (its ephemeral node goes with it in any case).
        self.stop.take();
    }
}

/// New session, path, node; then the task that follows the group.
async fn join(
    config: Config,
    status: watch::Sender<ContenderStatus>,
) -> Result<ZkContender, String> {
    let client = connect(&config.url, config.session_timeout).await?;
    let dir = config.url.path.clone();
    let acls = acls(&config.url);
    let created = async {
        client
            .mkdir(&dir, &zk::CreateMode::Persistent.with_acls(acls))
            .await
            .map_err(|e| format!("cannot create {dir} in ZooKeeper: {e}"))?;
        let prefix_path = format!("{dir}/{}", config.prefix);
        let (_, sequence) = client
            .create(
                &prefix_path,
                &config.data,
                &zk::CreateMode::EphemeralSequential.with_acls(acls),
            )
            .await
            .map_err(|e| format!("cannot create {prefix_path}<sequence> in ZooKeeper: {e}"))?;
        Ok::<_, String>(sequence)
    };
    let sequence = match tokio::time::timeout(config.session_timeout * 2, created).await {
        Ok(Ok(sequence)) => sequence,
        Ok(Err(e)) => return Err(e),
        // Dropping the client closes the session, removing a node created meanwhile.
        Err(_) => return Err(format!("timed out joining the group at {dir}")),
    };
    let epoch =
        u64::try_from(sequence.into_i64()).map_err(|_| format!("negative sequence {sequence}"))?;
    let name = format!("{}{sequence}", config.prefix);
    let node = format!("{dir}/{name}");
    tracing::info!(%node, session = %client.session_id(), "joined the group");
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(
        client,
        dir,
        config.prefix.clone(),
        name,
        epoch,
        status,
        stop_rx,
    ));
    Ok(ZkContender {
        config,
        node,
        epoch,
        stop: Some(stop_tx),
        task: Some(task),
    })
}

/// How long a disconnected contender keeps its leadership: half the negotiated session
/// timeout. The client notices a silent connection after 2/5 of the session timeout, so
/// leadership ends before the server can expire the session and elect another contender.
fn grace(client: &zk::Client) -> Duration {
    client.session_timeout() / 2
}

async fn run(
    client: zk::Client,
    dir: String,
    prefix: String,
    name: String,
    epoch: u64,
    status: watch::Sender<ContenderStatus>,
    stop: oneshot::Receiver<()>,
) {
    let node = format!("{dir}/{name}");
    let outcome = tokio::select! {
        reason = session_lost(&client, grace(&client)) => Some(reason),
        reason = follow(&client, &dir, &prefix, &name, epoch, &status) => Some(reason),
        _ = stop => None,
    };
    match outcome {
        Some(reason) => {
            status.send_replace(ContenderStatus::Lost(reason.clone()));
            tracing::warn!(%node, %reason, "lost the candidacy");
        }
        None => {
            status.send_replace(ContenderStatus::Lost("withdrawn".to_string()));
            match tokio::time::timeout(client.session_timeout(), client.delete(&node, None)).await {
                Ok(Ok(())) | Ok(Err(zk::Error::NoNode)) => tracing::info!(%node, "withdrew"),
                Ok(Err(e)) => {
                    tracing::warn!(%node, "withdrawing: cannot delete the node ({e}); closing the session")
                }
                Err(_) => {
                    tracing::warn!(%node, "withdrawing: deleting the node timed out; closing the session")
                }
            }
        }
    }
    // Dropping the last client closes the session (now, or as soon as it reconnects), so
    // the ephemeral node never outlives the candidacy for long.
    drop(client);
}

/// Watches the children; marks us elected when our node is the lowest contender.
/// Returns when our candidacy ends.
async fn follow(
    client: &zk::Client,
    dir: &str,
    prefix: &str,
    name: &str,
    epoch: u64,
    status: &watch::Sender<ContenderStatus>,
) -> String {
    loop {
        let (children, watcher) = match client.list_and_watch_children(dir).await {
            Ok(listing) => listing,
            Err(zk::Error::NoNode) => return format!("{dir} was deleted"),
            Err(e) if is_terminal(&e) => return format!("ZooKeeper: {e}"),
            Err(e) => {
                // Connection loss: the session watcher decides when that becomes fatal.
                tracing::debug!("listing {dir}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if !children.iter().any(|c| c == name) {
            return format!("our node {dir}/{name} was deleted");
        }
        if let Some((leader, _)) = lowest(&children, prefix) {
            if leader == epoch {
                let newly = status.send_if_modified(|s| {
                    if *s == ContenderStatus::Contending {
                        *s = ContenderStatus::Elected(epoch);
                        true
                    } else {
                        false
                    }
                });
                if newly {
                    tracing::info!(node = %format!("{dir}/{name}"), epoch, "elected leader");
                }
            }
        }
        let event = watcher.changed().await;
        if let Some(reason) = session_ended(&event) {
            return reason;
        }
    }
}
