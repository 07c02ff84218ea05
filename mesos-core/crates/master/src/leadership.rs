//! Leading and following. A standalone master leads at once; with `--zk` it contends
//! through ZooKeeper (`json.info_<seq>` nodes holding its MasterInfo) and follows the leader
//! otherwise. Each term as leader runs a fresh state machine with a new master ID, loaded
//! from the registry; losing the ZooKeeper session ends the term at once (every stream is
//! cut) and the master goes back to following and contending.

use crate::http::{App, Mode};
use crate::registry::{MemoryStore, SqliteStore, Store};
use crate::runtime::{self, Actor, Cmd};
use crate::snapshot::Snapshot;
use crate::state::{Master, MasterConfig};
use mesos_election::{Contender, Detector, ZkUrl};
use mesos_proto::v1::{ip_to_u32, Address, Capability, MasterInfo};
use mesos_proto::MESOS_VERSION;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Prefix of the contender znodes (what Mesos' tools look for).
pub const MASTER_NODE_PREFIX: &str = "json.info_";

pub(crate) enum RegistryKind {
    Memory,
    Sqlite(PathBuf),
    /// Under `<zk path>/log_replicas/registry`: `log_replicas` is the one child of the
    /// election path that Mesos' tools skip (Mesos keeps its replicated log there).
    ZooKeeper,
}

pub(crate) struct Plan {
    pub config: MasterConfig,
    pub flags: BTreeMap<String, String>,
    pub registry: RegistryKind,
    pub advertise: String,
    pub hostname: String,
    pub port: u16,
    pub zk_session_timeout: Duration,
}

pub(crate) fn new_master_info(advertise: &str, hostname: &str, port: u16) -> MasterInfo {
    MasterInfo {
        id: uuid::Uuid::new_v4().to_string(),
        ip: ip_to_u32(advertise),
        port: port as u32,
        pid: Some(format!("master@{advertise}:{port}")),
        hostname: Some(hostname.to_string()),
        version: Some(MESOS_VERSION.into()),
        address: Some(Address {
            hostname: Some(hostname.to_string()),
            ip: Some(advertise.to_string()),
            port: port as u32,
        }),
        capabilities: ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
            .iter()
            .map(|c| Capability {
                kind: c.to_string(),
            })
            .collect(),
    }
}

/// A seed for the allocator's agent shuffle (the state machine itself draws nothing).
fn rand_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    t ^ (std::process::id() as u64).rotate_left(32)
}

/// One term as leader: the state machine's actor and the handle the HTTP layer uses.
pub(crate) struct Term {
    app: Arc<App>,
    cmds: mpsc::UnboundedSender<Cmd>,
    actor: tokio::task::JoinHandle<()>,
}

impl Term {
    fn start(
        mut config: MasterConfig,
        mut store: Box<dyn Store>,
        flags: &BTreeMap<String, String>,
    ) -> Result<Term, String> {
        config.allocator_seed = rand_seed();
        let registry = store.load()?;
        let now = runtime::wall_now();
        let heartbeat_interval = config.heartbeat_interval;
        let master = Master::new(config, registry, now);
        let first = Snapshot::take(&master, flags, now);
        let (snap_tx, snap_rx) = watch::channel(Arc::new(first));
        let (op_tx, _) = broadcast::channel(4096);
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            master,
            store,
            flags: flags.clone(),
            streams: Default::default(),
            agents: Default::default(),
            operator: op_tx.clone(),
            snapshot: snap_tx,
            dirty: true,
            published: (std::time::Instant::now(), Duration::ZERO),
        };
        let actor = tokio::spawn(actor.run(cmd_rx));
        let app = Arc::new(App {
            cmds: cmd_tx.clone(),
            snapshot: snap_rx,
            operator: op_tx,
            next_conn: AtomicU64::new(1),
            heartbeat_interval,
        });
        Ok(Term {
            app,
            cmds: cmd_tx,
            actor,
        })
    }

    async fn stop(self) {
        let _ = self.cmds.send(Cmd::Stop);
        let _ = self.actor.await;
    }
}

pub(crate) enum Leadership {
    Standalone(Option<Term>),
    ZooKeeper {
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    },
}

impl Leadership {
    pub(crate) fn standalone(plan: Plan, mode: watch::Sender<Mode>) -> Result<Leadership, String> {
        let store: Box<dyn Store> = match &plan.registry {
            RegistryKind::Memory => Box::new(MemoryStore::default()),
            RegistryKind::Sqlite(path) => Box::new(SqliteStore::open(path)?),
            RegistryKind::ZooKeeper => return Err("a ZooKeeper registry needs --zk".into()),
        };
        let term = Term::start(plan.config, store, &plan.flags)?;
        mode.send_replace(Mode::Leading(term.app.clone()));
        Ok(Leadership::Standalone(Some(term)))
    }

    pub(crate) fn zookeeper(plan: Plan, url: ZkUrl, mode: watch::Sender<Mode>) -> Leadership {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(zk_loop(plan, url, mode, stop_rx));
        Leadership::ZooKeeper { stop, task }
    }

    pub(crate) async fn stop(self) {
        match self {
            Leadership::Standalone(term) => {
                if let Some(t) = term {
                    t.stop().await;
                }
            }
            Leadership::ZooKeeper { stop, mut task } => {
                let _ = stop.send(true);
                if tokio::time::timeout(Duration::from_secs(10), &mut task)
                    .await
                    .is_err()
                {
                    task.abort();
                }
            }
        }
    }
}

fn leader_info(detector: &Detector) -> Option<MasterInfo> {
    detector
        .current()
        .and_then(|l| serde_json::from_slice::<MasterInfo>(&l.data).ok())
}

async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stop.changed() => true,
    }
}

async fn zk_loop(
    plan: Plan,
    url: ZkUrl,
    mode: watch::Sender<Mode>,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = plan.zk_session_timeout;
    let detector = loop {
        match Detector::zookeeper(&url, MASTER_NODE_PREFIX, timeout).await {
            Ok(d) => break d,
            Err(e) => {
                tracing::warn!("Cannot reach ZooKeeper at {}: {e}", url.hosts);
                if pause(&mut stop, Duration::from_secs(1)).await {
                    return;
                }
            }
        }
    };
    let mode = Arc::new(mode);
    // While following, keep the known leader current for redirects and /master/state.
    let follower_view = {
        let mode = mode.clone();
        let mut leaders = detector.watch();
        tokio::spawn(async move {
            loop {
                let info = leaders
                    .borrow_and_update()
                    .clone()
                    .and_then(|l| serde_json::from_slice::<MasterInfo>(&l.data).ok());
                mode.send_if_modified(|m| match m {
                    Mode::Following { leader } if *leader != info => {
                        *leader = info;
                        true
                    }
                    _ => false,
                });
                if leaders.changed().await.is_err() {
                    break;
                }
            }
        })
    };
    let registry_root = format!("{}/log_replicas/registry", url.path.trim_end_matches('/'));
    loop {
        if *stop.borrow() {
            break;
        }
        let info = new_master_info(&plan.advertise, &plan.hostname, plan.port);
        let data = serde_json::to_vec(&info).expect("MasterInfo serializes");
        let mut contender =
            match Contender::zookeeper(&url, MASTER_NODE_PREFIX, data, timeout).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("Cannot contend for leadership: {e}");
                    if pause(&mut stop, Duration::from_secs(1)).await {
                        break;
                    }
                    continue;
                }
            };
        let elected = tokio::select! {
            r = contender.elected() => r,
            _ = stop.changed() => {
                contender.withdraw().await;
                break;
            }
        };
        let epoch = match elected {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("Candidacy ended before election: {e}");
                continue;
            }
        };
        let store =
            match crate::registry_zk::ZkStore::connect(&url.hosts, &registry_root, timeout).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("Elected, but the registry in ZooKeeper is unreachable: {e}");
                    contender.withdraw().await;
                    continue;
                }
            };
        let mut config = plan.config.clone();
        config.master_info = info.clone();
        config.epoch = epoch;
        let term = match Term::start(config, Box::new(store), &plan.flags) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("Elected, but the registry could not be recovered: {e}");
                contender.withdraw().await;
                continue;
            }
        };
        tracing::info!("Elected as the leading master {} (epoch {epoch})", info.id);
        mode.send_replace(Mode::Leading(term.app.clone()));
        let stopping = tokio::select! {
            reason = contender.lost() => {
                tracing::warn!("Lost leadership ({reason}); no longer acting as leader");
                false
            }
            _ = stop.changed() => true,
        };
        mode.send_replace(Mode::Following {
            leader: leader_info(&detector),
        });
        term.stop().await;
        if stopping {
            contender.withdraw().await;
            break;
        }
    }
    follower_view.abort();
}
