//! Starting a Marathon: store, core, runtime and the HTTP server, in-process (what
//! the `marathon` binary, `mesos-local` and the tests use).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesos_core::proto::v1::FrameworkInfo;

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
}

pub struct Server {
    addr: SocketAddr,
    handle: Handle,
    http: tokio::task::JoinHandle<()>,
    actor: tokio::task::JoinHandle<()>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stop serving (tasks keep running on the cluster; a new Marathon adopts them).
    pub fn stop(self) {
        self.http.abort();
        self.actor.abort();
    }

    /// Wait until the HTTP server ends.
    pub async fn wait(self) {
        let _ = self.http.await;
    }
}

fn open_store(cfg: &ServerConfig) -> Result<Box<dyn Store>, String> {
    match &cfg.core.zk {
        Some(zk) => Ok(Box::new(ZkStore::connect(zk, Duration::from_secs(10))?)),
        None => {
            std::fs::create_dir_all(&cfg.work_dir)
                .map_err(|e| format!("cannot create {}: {e}", cfg.work_dir.display()))?;
            Ok(Box::new(SqliteStore::open(
                &cfg.work_dir.join("marathon.db"),
            )?))
        }
    }
}

pub async fn start(cfg: ServerConfig) -> Result<Server, String> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut core_cfg = cfg.core.clone();
    core_cfg.http_port = addr.port();
    let cfg2 = cfg.clone();
    let (store, entries) = tokio::task::spawn_blocking(move || {
        let mut store = open_store(&cfg2)?;
        let entries = store.list("")?;
        Ok::<_, String>((store, entries))
    })
    .await
    .map_err(|e| e.to_string())??;
    let seed = uuid::Uuid::new_v4().as_u128() as u64;
    let core = Marathon::restore(core_cfg.clone(), seed, entries)?;
    let advertised = format!("{}:{}", core_cfg.hostname, addr.port());
    let info: FrameworkInfo = serde_json::from_value(serde_json::json!({
        "user": core_cfg.user,
        "name": core_cfg.framework_name,
        "failover_timeout": core_cfg.failover_timeout,
        "checkpoint": true,
        "role": core_cfg.role,
        "hostname": core_cfg.hostname,
        "webui_url": format!("http://{advertised}"),
    }))
    .map_err(|e| e.to_string())?;
    let bus = EventBus::new(4096);
    let (handle, actor) = runtime::start(
        core,
        store,
        bus,
        FrameworkSettings {
            master: core_cfg.master.clone(),
            info,
        },
    );
    let state = crate::http::AppState {
        handle: handle.clone(),
        cfg: Arc::new(core_cfg),
        advertised,
    };
    let http = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, crate::http::service(state)).await {
            tracing::error!("marathon http server: {e}");
        }
    });
    Ok(Server {
        addr,
        handle,
        http,
        actor,
    })
}
