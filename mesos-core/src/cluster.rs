//! An in-process cluster: one master and N agents, each on its own loopback port, talking
//! over the same HTTP protocols as separate processes would. `mesos-local` and the
//! integration tests use it.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use mesos_agent::AgentFlags;
pub use mesos_master::MasterFlags;

pub struct LocalClusterConfig {
    pub ip: String,
    /// Master port (0 picks a free one).
    pub master_port: u16,
    pub num_agents: usize,
    /// First agent port; agent i listens on `agent_port + i` (0 picks free ones).
    pub agent_port: u16,
    pub work_dir: PathBuf,
    /// `--resources` for every agent (None: detected).
    pub agent_resources: Option<String>,
    pub agent_attributes: Option<String>,
    /// Use a SQLite registry under `work_dir/master` (else in memory).
    pub persistent_registry: bool,
    /// `--launcher_dir` for agents (None: the running binary's directory).
    pub launcher_dir: Option<PathBuf>,
    /// Extra master settings (ping timeouts, offer timeout...) applied before start.
    pub master_flags: Option<MasterFlags>,
    /// `--containerizers` for every agent (None: `mesos`).
    pub containerizers: Option<String>,
    /// `--hostname` of agent i (missing entries: the default).
    pub agent_hostnames: Vec<String>,
}

impl LocalClusterConfig {
    pub fn new(work_dir: PathBuf) -> Self {
        LocalClusterConfig {
            ip: "127.0.0.1".into(),
            master_port: 0,
            num_agents: 1,
            agent_port: 0,
            work_dir,
            agent_resources: None,
            agent_attributes: None,
            persistent_registry: true,
            launcher_dir: None,
            master_flags: None,
            containerizers: None,
            agent_hostnames: Vec::new(),
        }
    }
}

pub struct LocalCluster {
    master: Option<mesos_master::MasterHandle>,
    agents: Vec<Option<mesos_agent::AgentHandle>>,
    agent_ports: Vec<u16>,
    config: LocalClusterConfig,
    master_flags: MasterFlags,
}

impl LocalCluster {
    pub async fn start(config: LocalClusterConfig) -> Result<LocalCluster, String> {
        std::fs::create_dir_all(&config.work_dir)
            .map_err(|e| format!("cannot create {}: {e}", config.work_dir.display()))?;
        let registry_dir = config
            .persistent_registry
            .then(|| config.work_dir.join("master"));
        let mut mflags = match &config.master_flags {
            Some(f) => {
                let mut f = f.clone();
                f.registry = if registry_dir.is_some() {
                    "replicated_log"
                } else {
                    "in_memory"
                }
                .into();
                f.work_dir = registry_dir;
                f
            }
            None => MasterFlags::local(registry_dir),
        };
        mflags.ip = config.ip.clone();
        mflags.port = config.master_port;
        let master = mesos_master::start(mflags.clone()).await?;
        mflags.port = master.addr().port();
        let mut cluster = LocalCluster {
            master: Some(master),
            agents: Vec::new(),
            agent_ports: Vec::new(),
            config,
            master_flags: mflags,
        };
        for i in 0..cluster.config.num_agents {
            let port = if cluster.config.agent_port == 0 {
                0
            } else {
                cluster.config.agent_port + i as u16
            };
            let handle = mesos_agent::start(cluster.agent_flags(i, port)).await?;
            cluster.agent_ports.push(handle.addr().port());
            cluster.agents.push(Some(handle));
        }
        Ok(cluster)
    }

    fn agent_flags(&self, i: usize, port: u16) -> AgentFlags {
        let c = &self.config;
        let mut f = AgentFlags::local(
            format!("{}:{}", c.ip, self.master_flags.port),
            c.work_dir.join(format!("agent-{i}")),
        );
        f.ip = c.ip.clone();
        f.port = port;
        if let Some(r) = &c.agent_resources {
            f.resources = Some(r.clone());
        }
        if let Some(a) = &c.agent_attributes {
            f.attributes = Some(a.clone());
        }
        if let Some(l) = &c.launcher_dir {
            f.launcher_dir = Some(l.clone());
        }
        if let Some(k) = &c.containerizers {
            f.containerizers = k.clone();
        }
        if let Some(h) = c.agent_hostnames.get(i) {
            f.hostname = Some(h.clone());
        }
        f
    }

    /// Print the master's and agents' URLs (what the binaries show at start).
    pub fn print_urls(&self, containerizers: &str) {
        let m = self.master_addr();
        println!("  console:       http://{m}/  (scheduler API: http://{m}/api/v1/scheduler)");
        println!("  master state:  http://{m}/master/state");
        println!("  containerizers: {containerizers}");
        for (i, a) in self.agent_addrs().iter().enumerate() {
            println!("  agent {i}:       http://{a}/state");
        }
    }

    /// `docker,mesos` when a Docker engine answers on the default socket, else `mesos`.
    pub async fn detect_containerizers() -> String {
        match mesos_agent::docker::connect("/var/run/docker.sock").await {
            Ok(_) => "docker,mesos".into(),
            Err(e) => {
                tracing::info!("Docker containerizer off: {e}");
                "mesos".into()
            }
        }
    }

    pub fn master_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.config.ip.parse().unwrap_or([127, 0, 0, 1].into()),
            self.master_flags.port,
        )
    }

    pub fn agent_addrs(&self) -> Vec<SocketAddr> {
        self.agents.iter().flatten().map(|a| a.addr()).collect()
    }

    /// Stop the master and start a new one on the same port and registry, as after a crash.
    pub async fn restart_master(&mut self) -> Result<(), String> {
        if let Some(m) = self.master.take() {
            m.shutdown().await;
        }
        self.master = Some(mesos_master::start(self.master_flags.clone()).await?);
        Ok(())
    }

    /// Stop agent `i`, leaving its executors and tasks running (as a crashed agent would).
    pub async fn stop_agent(&mut self, i: usize) {
        if let Some(a) = self.agents[i].take() {
            a.shutdown(false).await;
        }
    }

    /// Start agent `i` again on its port and work dir; it recovers its executors.
    pub async fn start_agent(&mut self, i: usize) -> Result<(), String> {
        if self.agents[i].is_none() {
            let handle = mesos_agent::start(self.agent_flags(i, self.agent_ports[i])).await?;
            self.agents[i] = Some(handle);
        }
        Ok(())
    }

    /// Stop agent `i` (leaving its executors and tasks running) and start it again.
    pub async fn restart_agent(&mut self, i: usize) -> Result<(), String> {
        self.stop_agent(i).await;
        self.start_agent(i).await
    }

    /// Stop everything; `kill_executors` also ends every task.
    pub async fn shutdown(mut self, kill_executors: bool) {
        for a in self.agents.drain(..).flatten() {
            a.shutdown(kill_executors).await;
        }
        if let Some(m) = self.master.take() {
            m.shutdown().await;
        }
    }
}
