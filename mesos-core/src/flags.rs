//! Flag parsing for the binaries: `--help` and `--version` print as usual; any other
//! flag error is one line on stderr and exit code 2.

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{Args, Parser};

use crate::cluster::{LocalCluster, LocalClusterConfig};

/// The flags of an in-process cluster (`mesos-cluster`, `mesos-local`).
#[derive(Args, Debug, Clone)]
#[command(rename_all = "snake_case")]
pub struct LocalClusterFlags {
    /// Address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    pub ip: String,
    /// Master port.
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    pub port: u16,
    /// Number of agents.
    #[arg(long, env = "MESOS_NUM_AGENTS", default_value_t = 1)]
    pub num_agents: usize,
    /// First agent port (agent i listens on agent_port + i).
    #[arg(long, env = "MESOS_AGENT_PORT", default_value_t = 5051)]
    pub agent_port: u16,
    /// Working directory (registry, agent state and sandboxes). Created if missing.
    #[arg(long, env = "MESOS_WORK_DIR")]
    pub work_dir: Option<PathBuf>,
    /// `--resources` for each agent (default: detected from the machine).
    #[arg(long, env = "MESOS_RESOURCES")]
    pub resources: Option<String>,
    /// `--attributes` for each agent.
    #[arg(long, env = "MESOS_ATTRIBUTES")]
    pub attributes: Option<String>,
    /// `--containerizers` for each agent (default: `docker,mesos` when a Docker engine
    /// answers on /var/run/docker.sock, else `mesos`).
    #[arg(long, env = "MESOS_CONTAINERIZERS")]
    pub containerizers: Option<String>,
}

impl LocalClusterFlags {
    /// The work dir (`default_name` under the temp dir when unset).
    pub fn work_dir_or(&self, default_name: &str) -> PathBuf {
        self.work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(default_name))
    }

    /// The cluster configuration, with containerizers detected when not given.
    pub async fn config(&self, work_dir: PathBuf) -> LocalClusterConfig {
        let mut config = LocalClusterConfig::new(work_dir);
        config.ip = self.ip.clone();
        config.master_port = self.port;
        config.num_agents = self.num_agents;
        config.agent_port = self.agent_port;
        config.agent_resources = self.resources.clone();
        config.agent_attributes = self.attributes.clone();
        config.containerizers = Some(match self.containerizers.clone() {
            Some(c) => c,
            None => LocalCluster::detect_containerizers().await,
        });
        config
    }
}

/// Wait for Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

pub fn parse_or_exit<T: Parser>() -> T {
    match T::try_parse() {
        Ok(flags) => flags,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let text = e.to_string();
            let line = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid flags");
            let name = std::env::args()
                .next()
                .and_then(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "mesos".into());
            eprintln!("{name}: {}", line.trim_start_matches("error: "));
            std::process::exit(2);
        }
    }
}
