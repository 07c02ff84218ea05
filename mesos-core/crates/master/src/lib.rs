//! The Mesos master.
//!
//! * [`state`]: the master as a pure state machine (frameworks, offers, tasks, agents).
//! * [`registry`]: the `Store` trait and its SQLite and in-memory implementations.
//! * [`runtime`], [`http`]: the shell that owns the state machine and speaks HTTP.
//! * [`snapshot`], [`render`], [`operator`], [`metrics`]: read endpoints served from a
//!   published snapshot.
//!
//! Only [`start`], [`MasterFlags`] and [`MasterHandle`] are meant for other crates.

pub mod http;
mod leadership;
pub mod metrics;
pub mod operator;
pub mod registry;
pub mod registry_zk;
pub mod render;
pub mod runtime;
pub mod snapshot;
pub mod state;

use clap::Parser;
use mesos_proto::json::parse_duration;
use mesos_proto::v1::MasterInfo;
use mesos_proto::MESOS_VERSION;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// `mesos-master` flags, named as Mesos names them; each also reads `MESOS_<NAME>`.
#[derive(Parser, Clone, Debug)]
#[command(name = "mesos-master", version = MESOS_VERSION, about = "Mesos-compatible master", rename_all = "snake_case")]
pub struct MasterFlags {
    /// IP address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "0.0.0.0")]
    pub ip: String,
    /// Port to listen on (0 picks a free port).
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    pub port: u16,
    /// IP address advertised to agents and frameworks (defaults to --ip, or 127.0.0.1 when --ip is 0.0.0.0).
    #[arg(long, env = "MESOS_ADVERTISE_IP")]
    pub advertise_ip: Option<String>,
    /// Hostname advertised in MasterInfo (defaults to the advertised IP).
    #[arg(long, env = "MESOS_HOSTNAME")]
    pub hostname: Option<String>,
    /// Where the registry lives (required unless --registry=in_memory).
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// `replicated_log` (SQLite under --work_dir) or `in_memory`.
    #[arg(long, env = "MESOS_REGISTRY", default_value = "replicated_log")]
    pub registry: String,
    /// Human-readable cluster name.
    #[arg(long, env = "MESOS_CLUSTER")]
    pub cluster: Option<String>,
    /// Rescind offers after this long (unset: offers never expire).
    #[arg(long, env = "MESOS_OFFER_TIMEOUT")]
    pub offer_timeout: Option<String>,
    #[arg(long, env = "MESOS_ALLOCATION_INTERVAL", default_value = "1secs")]
    pub allocation_interval: String,
    #[arg(long, env = "MESOS_AGENT_PING_TIMEOUT", default_value = "15secs")]
    pub agent_ping_timeout: String,
    #[arg(long, env = "MESOS_MAX_AGENT_PING_TIMEOUTS", default_value_t = 5)]
    pub max_agent_ping_timeouts: u32,
    #[arg(long, env = "MESOS_AGENT_REREGISTER_TIMEOUT", default_value = "10mins")]
    pub agent_reregister_timeout: String,
    #[arg(long, env = "MESOS_MAX_COMPLETED_FRAMEWORKS", default_value_t = 50)]
    pub max_completed_frameworks: usize,
    #[arg(
        long,
        env = "MESOS_MAX_COMPLETED_TASKS_PER_FRAMEWORK",
        default_value_t = 1000
    )]
    pub max_completed_tasks_per_framework: usize,
    /// ZooKeeper URL for leader election and the registry (`zk://host1:2181,host2:2181/mesos`).
    /// Without it the master leads alone (standalone) with a local registry.
    #[arg(long, env = "MESOS_ZK")]
    pub zk: Option<String>,
    /// Size of the master quorum (required with --zk, as in Mesos). The registry lives in
    /// ZooKeeper, whose own quorum makes writes durable; the value is recorded in the flags.
    #[arg(long, env = "MESOS_QUORUM")]
    pub quorum: Option<usize>,
    /// ZooKeeper session timeout: how long a master may be cut off before it stops leading.
    #[arg(long, env = "MESOS_ZK_SESSION_TIMEOUT", default_value = "10secs")]
    pub zk_session_timeout: String,
}

impl MasterFlags {
    /// Defaults for an in-process master (tests, `mesos-local`).
    pub fn local(work_dir: Option<PathBuf>) -> Self {
        MasterFlags {
            ip: "127.0.0.1".into(),
            port: 0,
            advertise_ip: None,
            hostname: None,
            registry: if work_dir.is_some() {
                "replicated_log"
            } else {
                "in_memory"
            }
            .into(),
            work_dir,
            cluster: None,
            offer_timeout: None,
            allocation_interval: "1secs".into(),
            agent_ping_timeout: "15secs".into(),
            max_agent_ping_timeouts: 5,
            agent_reregister_timeout: "10mins".into(),
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
            zk: None,
            quorum: None,
            zk_session_timeout: "10secs".into(),
        }
    }

    fn flag_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert("ip".into(), self.ip.clone());
        m.insert("port".into(), self.port.to_string());
        m.insert("registry".into(), self.registry.clone());
        if let Some(w) = &self.work_dir {
            m.insert("work_dir".into(), w.display().to_string());
        }
        if let Some(c) = &self.cluster {
            m.insert("cluster".into(), c.clone());
        }
        if let Some(t) = &self.offer_timeout {
            m.insert("offer_timeout".into(), t.clone());
        }
        m.insert(
            "allocation_interval".into(),
            self.allocation_interval.clone(),
        );
        m.insert("agent_ping_timeout".into(), self.agent_ping_timeout.clone());
        m.insert(
            "max_agent_ping_timeouts".into(),
            self.max_agent_ping_timeouts.to_string(),
        );
        m.insert(
            "agent_reregister_timeout".into(),
            self.agent_reregister_timeout.clone(),
        );
        m.insert(
            "max_completed_frameworks".into(),
            self.max_completed_frameworks.to_string(),
        );
        m.insert(
            "max_completed_tasks_per_framework".into(),
            self.max_completed_tasks_per_framework.to_string(),
        );
        if let Some(zk) = &self.zk {
            m.insert("zk".into(), zk.clone());
            m.insert("zk_session_timeout".into(), self.zk_session_timeout.clone());
        }
        if let Some(q) = self.quorum {
            m.insert("quorum".into(), q.to_string());
        }
        m
    }
}

pub struct MasterHandle {
    addr: SocketAddr,
    master_info: MasterInfo,
    leadership: leadership::Leadership,
    stop_server: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl MasterHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// This master's MasterInfo as of its start (a new term as leader gets a new ID).
    pub fn master_info(&self) -> &MasterInfo {
        &self.master_info
    }
    /// Stop serving. Open streams end and every connection is closed, as when the
    /// process dies (a kept-alive connection must not reach a stopped master).
    pub async fn shutdown(self) {
        self.leadership.stop().await;
        let _ = self.stop_server.send(());
        let mut server = self.server;
        if tokio::time::timeout(std::time::Duration::from_secs(5), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

fn duration_flag(name: &str, v: &str) -> Result<f64, String> {
    parse_duration(v).map_err(|e| format!("Invalid value for --{name}: {e}"))
}

/// Validate flags, bind the port and start serving; then lead at once (standalone) or
/// contend for leadership through ZooKeeper (`--zk`).
pub async fn start(flags: MasterFlags) -> Result<MasterHandle, String> {
    let registry = match flags.registry.as_str() {
        "in_memory" => leadership::RegistryKind::Memory,
        "replicated_log" if flags.zk.is_some() => leadership::RegistryKind::ZooKeeper,
        "replicated_log" => {
            let dir = flags.work_dir.clone().ok_or(
                "--work_dir is required with --registry=replicated_log (or use --registry=in_memory)",
            )?;
            leadership::RegistryKind::Sqlite(dir.join("registry.sqlite"))
        }
        other => {
            return Err(format!(
                "Invalid value for --registry: '{other}' (expected replicated_log or in_memory)"
            ))
        }
    };
    let zk = flags
        .zk
        .as_deref()
        .map(|u| {
            mesos_election::ZkUrl::parse(u).map_err(|e| format!("Invalid value for --zk: {e}"))
        })
        .transpose()?;
    if zk.is_some() && flags.quorum.is_none() {
        return Err("--quorum is required when --zk is set".into());
    }
    let zk_session_timeout = duration_flag("zk_session_timeout", &flags.zk_session_timeout)?;
    let offer_timeout = flags
        .offer_timeout
        .as_deref()
        .map(|v| duration_flag("offer_timeout", v))
        .transpose()?;
    let allocation_interval = duration_flag("allocation_interval", &flags.allocation_interval)?;
    let ping = duration_flag("agent_ping_timeout", &flags.agent_ping_timeout)?;
    let reregister = duration_flag("agent_reregister_timeout", &flags.agent_reregister_timeout)?;
    if allocation_interval <= 0.0 || ping <= 0.0 || zk_session_timeout <= 0.0 {
        return Err(
            "--allocation_interval, --agent_ping_timeout and --zk_session_timeout must be positive"
                .into(),
        );
    }
    let ip: std::net::IpAddr = flags
        .ip
        .parse()
        .map_err(|_| format!("Invalid value for --ip: '{}'", flags.ip))?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, flags.port))
        .await
        .map_err(|e| format!("Failed to bind {}:{}: {e}", flags.ip, flags.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let advertise = flags.advertise_ip.clone().unwrap_or_else(|| {
        if ip.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            ip.to_string()
        }
    });
    let hostname = flags.hostname.clone().unwrap_or_else(|| advertise.clone());
    let master_info = leadership::new_master_info(&advertise, &hostname, addr.port());
    let mut config = state::MasterConfig::new(master_info.clone());
    config.offer_timeout = offer_timeout;
    config.allocation_interval = allocation_interval;
    config.agent_ping_timeout = ping;
    config.max_agent_ping_timeouts = flags.max_agent_ping_timeouts.max(1);
    config.agent_reregister_timeout = reregister;
    config.max_completed_frameworks = flags.max_completed_frameworks;
    config.max_completed_tasks_per_framework = flags.max_completed_tasks_per_framework;
    let mut flag_map = flags.flag_map();
    flag_map.insert("port".into(), addr.port().to_string());
    let start_time = runtime::wall_now();

    let (mode_tx, mode_rx) = tokio::sync::watch::channel(http::Mode::Following { leader: None });
    let server_state = Arc::new(http::Server {
        mode: mode_rx,
        me: master_info.clone(),
        flags: flag_map.clone(),
        start_time,
    });
    let plan = leadership::Plan {
        config,
        flags: flag_map,
        registry,
        advertise,
        hostname,
        port: addr.port(),
        zk_session_timeout: std::time::Duration::from_secs_f64(zk_session_timeout),
    };
    let leadership = match zk {
        None => leadership::Leadership::standalone(plan, mode_tx)?,
        Some(url) => leadership::Leadership::zookeeper(plan, url, mode_tx),
    };
    let router = axum::Router::new()
        .fallback(http::route)
        .with_state(server_state)
        .layer(axum::extract::DefaultBodyLimit::max(http::MAX_BODY));
    let (stop_server, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("master HTTP server failed: {e}");
        }
    });
    Ok(MasterHandle {
        addr,
        master_info,
        leadership,
        stop_server,
        server,
    })
}
