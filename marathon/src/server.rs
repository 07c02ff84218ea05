//! Starting a Marathon: election, store, core, runtime and the HTTP server,
//! in-process (what the `marathon` binary, `mesos-local` and the tests use).
//!
//! Without `--zk` this Marathon leads at once, with its state in SQLite. With `--zk`
//! several Marathons contend under `<zk path>/leader-curator` (each node holds the
//! contender's `host:port`); the leader loads the state from ZooKeeper and runs the
//! scheduler, the others proxy API calls to it. Losing the ZooKeeper session (or
//! `DELETE /v2/leader`) stops the scheduler and the Marathon contends again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesos_core::election::{Contender, Detector, ZkUrl};
use mesos_core::proto::v1::FrameworkInfo;
use tokio::sync::{watch, Notify};

use crate::core::{Config, Marathon};
use crate::events::EventBus;
use crate::runtime::{self, FrameworkSettings, Handle};
use crate::store::{SqliteStore, Store, ZkStore};

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub core: Config,
    /// Address to listen on (port 0 picks one).
    pub listen: SocketAddr,
    /// Directory for the SQLite state (unused with ZooKeeper).
    pub work_dir: PathBuf,
    /// ZooKeeper session timeout (election and state).
    pub zk_session_timeout: Duration,
}

impl ServerConfig {
    pub fn new(core: Config, listen: SocketAddr, work_dir: PathBuf) -> Self {
        ServerConfig {
            core,
            listen,
            work_dir,
            zk_session_timeout: Duration::from_secs(10),
        }
    }
}

/// The scheduler of a leading Marathon: its handle and the tasks that make it up.
struct Running {
    handle: Handle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Who leads, as this Marathon knows it; shared with the HTTP layer.
pub struct Leadership {
    /// Set while this Marathon leads and its scheduler runs.
    running: Mutex<Option<Running>>,
    /// `host:port` of the leader (this one or another), if known.
    leader: watch::Receiver<Option<String>>,
    abdicate: Notify,
    pub advertised: String,
}

impl Leadership {
    /// The scheduler's handle while this Marathon leads.
    pub fn handle(&self) -> Option<Handle> {
        self.running
            .lock()
            .expect("lock")
            .as_ref()
            .map(|r| r.handle.clone())
    }

    pub fn leader(&self) -> Option<String> {
        self.leader.borrow().clone()
    }

    pub fn is_leader(&self) -> bool {
        self.handle().is_some()
    }

    /// Stop the scheduler (actor, subscription, call sender), if it runs.
    fn stop_scheduler(&self) {
        if let Some(r) = self.running.lock().expect("lock").take() {
            for t in r.tasks {
                t.abort();
            }
        }
    }

    /// Step down (`DELETE /v2/leader`); another Marathon may take over.
    pub fn abdicate(&self) {
        self.abdicate.notify_one();
    }
}

pub struct Server {
    addr: SocketAddr,
    leadership: Arc<Leadership>,
    http: tokio::task::JoinHandle<()>,
    election: tokio::task::JoinHandle<()>,
    stop: Arc<Notify>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn leadership(&self) -> &Arc<Leadership> {
        &self.leadership
    }

    /// Stop at once, as a crash would: no goodbye to ZooKeeper or the master (tasks
    /// keep running; a new leader adopts them).
    pub fn stop(self) {
        self.http.abort();
        self.election.abort();
        self.leadership.stop_scheduler();
    }

    /// Stop cleanly: leave the election, stop the scheduler and the HTTP server.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.election).await;
        self.http.abort();
    }

    /// Wait until the HTTP server ends.
    pub async fn wait(self) {
        let _ = self.http.await;
    }
}

fn open_store(cfg: &ServerConfig) -> Result<Box<dyn Store>, String> {
    match &cfg.core.zk {
        Some(zk) => Ok(Box::new(ZkStore::connect(zk, cfg.zk_session_timeout)?)),
        None => {
            std::fs::create_dir_all(&cfg.work_dir)
                .map_err(|e| format!("cannot create {}: {e}", cfg.work_dir.display()))?;
            Ok(Box::new(SqliteStore::open(
                &cfg.work_dir.join("marathon.db"),
            )?))
        }
    }
}

/// Load the state and start the scheduler (this Marathon was elected).
async fn start_scheduler(
    cfg: &ServerConfig,
    bus: EventBus,
    advertised: &str,
) -> Result<(Handle, Vec<tokio::task::JoinHandle<()>>), String> {
    let cfg2 = cfg.clone();
    let (store, entries) = tokio::task::spawn_blocking(move || {
        let mut store = open_store(&cfg2)?;
        let entries = store.list("")?;
        Ok::<_, String>((store, entries))
    })
    .await
    .map_err(|e| e.to_string())??;
    let seed = uuid::Uuid::new_v4().as_u128() as u64;
    let core = Marathon::restore(cfg.core.clone(), seed, entries)?;
    let info: FrameworkInfo = serde_json::from_value(serde_json::json!({
        "user": cfg.core.user,
        "name": cfg.core.framework_name,
        "failover_timeout": cfg.core.failover_timeout,
        "checkpoint": true,
        "role": cfg.core.role,
        "hostname": cfg.core.hostname,
        "webui_url": format!("http://{advertised}"),
    }))
    .map_err(|e| e.to_string())?;
    Ok(runtime::start(
        core,
        store,
        bus,
        FrameworkSettings {
            master: cfg.core.master.clone(),
            info,
        },
    ))
}

/// The `<zk path>/leader-curator` URL Marathons contend under.
fn election_url(zk: &str) -> Result<ZkUrl, String> {
    let mut url = ZkUrl::parse(zk)?;
    url.path = format!("{}/leader-curator", url.path.trim_end_matches('/'));
    Ok(url)
}

const LATCH_PREFIX: &str = "latch-";

pub async fn start(cfg: ServerConfig) -> Result<Server, String> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut cfg = cfg;
    cfg.core.http_port = addr.port();
    let advertised = format!("{}:{}", cfg.core.hostname, addr.port());
    let bus = EventBus::new(4096);

    // Election: a contender and a detector (who leads, for proxying).
    let (contender, leader_rx) = match &cfg.core.zk {
        None => {
            let (_tx, rx) = watch::channel(Some(advertised.clone()));
            // The sender is kept alive by the election task below.
            (None, (Some(_tx), rx))
        }
        Some(zk) => {
            let url = election_url(zk)?;
            let contender = Contender::zookeeper(
                &url,
                LATCH_PREFIX,
                advertised.clone().into_bytes(),
                cfg.zk_session_timeout,
            )
            .await?;
            let detector = Detector::zookeeper(&url, LATCH_PREFIX, cfg.zk_session_timeout).await?;
            let (tx, rx) = watch::channel(None);
            let mut leaders = detector.watch();
            tokio::spawn(async move {
                let _detector = detector;
                loop {
                    let l = leaders
                        .borrow_and_update()
                        .as_ref()
                        .map(|l| String::from_utf8_lossy(&l.data).into_owned());
                    if tx.send(l).is_err() || leaders.changed().await.is_err() {
                        return;
                    }
                }
            });
            (Some(contender), (None, rx))
        }
    };
    let (standalone_tx, leader_rx) = leader_rx;
    let leadership = Arc::new(Leadership {
        running: Mutex::new(None),
        leader: leader_rx,
        abdicate: Notify::new(),
        advertised: advertised.clone(),
    });
    let stop = Arc::new(Notify::new());
    let election = tokio::spawn(lead(
        cfg.clone(),
        contender,
        leadership.clone(),
        bus.clone(),
        stop.clone(),
        standalone_tx,
    ));
    let state = crate::http::RouterState::new(leadership.clone(), Arc::new(cfg.core.clone()));
    let http = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, crate::http::service(state)).await {
            tracing::error!("marathon http server: {e}");
        }
    });
    if cfg.core.zk.is_none() {
        // Alone, this Marathon leads at once: return when its scheduler runs.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !leadership.is_leader() {
            if tokio::time::Instant::now() > deadline || election.is_finished() {
                http.abort();
                election.abort();
                return Err("the scheduler did not start (see the log)".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(Server {
        addr,
        leadership,
        http,
        election,
        stop,
    })
}

/// The leadership loop: wait to be elected, run the scheduler until the term ends,
/// contend again.
async fn lead(
    cfg: ServerConfig,
    mut contender: Option<Contender>,
    leadership: Arc<Leadership>,
    bus: EventBus,
    stop: Arc<Notify>,
    _standalone: Option<watch::Sender<Option<String>>>,
) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if let Some(c) = contender.as_mut() {
            tokio::select! {
                r = c.elected() => {
                    if let Err(e) = r {
                        tracing::warn!("marathon election: {e}; contending again");
                        tokio::time::sleep(backoff).await;
                        let _ = c.contend().await;
                        continue;
                    }
                }
                _ = stop.notified() => break,
            }
        }
        let (handle, tasks) = match start_scheduler(&cfg, bus.clone(), &leadership.advertised).await
        {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("marathon: cannot start the scheduler: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(500);
        tracing::info!("marathon {} leads", leadership.advertised);
        *leadership.running.lock().expect("lock") = Some(Running { handle, tasks });
        enum End {
            Lost(String),
            Abdicated,
            Stopped,
        }
        let end = match contender.as_mut() {
            Some(c) => tokio::select! {
                reason = c.lost() => End::Lost(reason),
                _ = leadership.abdicate.notified() => End::Abdicated,
                _ = stop.notified() => End::Stopped,
            },
            // A single Marathon cannot hand leadership to anyone: it keeps leading.
            None => {
                stop.notified().await;
                End::Stopped
            }
        };
        leadership.stop_scheduler();
        match end {
            End::Stopped => break,
            End::Lost(reason) => {
                tracing::warn!("marathon lost leadership: {reason}");
                if let Some(c) = contender.as_mut() {
                    let _ = c.contend().await;
                }
            }
            End::Abdicated => {
                tracing::info!("marathon abdicated");
                // Leave the election long enough for another Marathon to win.
                if let Some(old) = contender.take() {
                    old.withdraw().await;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
                if let Some(zk) = cfg.core.zk.as_deref() {
                    contender = Some(rejoin(zk, &cfg, &leadership.advertised).await);
                }
            }
        }
    }
    if let Some(c) = contender {
        c.withdraw().await;
    }
}

/// A fresh contender, retrying until ZooKeeper takes it.
async fn rejoin(zk: &str, cfg: &ServerConfig, advertised: &str) -> Contender {
    let mut delay = Duration::from_millis(500);
    loop {
        let attempt = match election_url(zk) {
            Ok(u) => {
                Contender::zookeeper(
                    &u,
                    LATCH_PREFIX,
                    advertised.as_bytes().to_vec(),
                    cfg.zk_session_timeout,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match attempt {
            Ok(c) => return c,
            Err(e) => tracing::warn!("marathon cannot rejoin the election: {e}"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}
