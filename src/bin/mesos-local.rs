//! `mesos-local`: the whole suite in one process (the default `cargo run`): a master,
//! agents, and the frameworks with their REST APIs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use mesos_core::cluster::{LocalCluster, LocalClusterConfig};

#[derive(Parser, Debug)]
#[command(name = "mesos-local", version = mesos_core::proto::MESOS_VERSION, about = "Run a master, agents and Marathon in one process", rename_all = "snake_case")]
struct Flags {
    /// Address to listen on.
    #[arg(long, env = "MESOS_IP", default_value = "127.0.0.1")]
    ip: String,
    /// Master port.
    #[arg(long, env = "MESOS_PORT", default_value_t = 5050)]
    port: u16,
    /// Number of agents.
    #[arg(long, env = "MESOS_NUM_AGENTS", default_value_t = 1)]
    num_agents: usize,
    /// First agent port (agent i listens on agent_port + i).
    #[arg(long, env = "MESOS_AGENT_PORT", default_value_t = 5051)]
    agent_port: u16,
    /// Working directory (registry, agent state, sandboxes, Marathon's state). Created if missing.
    #[arg(long, env = "MESOS_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// `--resources` for each agent (default: detected from the machine).
    #[arg(long, env = "MESOS_RESOURCES")]
    resources: Option<String>,
    /// `--attributes` for each agent.
    #[arg(long, env = "MESOS_ATTRIBUTES")]
    attributes: Option<String>,
    /// `--containerizers` for each agent (default: `docker,mesos` when a Docker engine
    /// answers on /var/run/docker.sock, else `mesos`).
    #[arg(long, env = "MESOS_CONTAINERIZERS")]
    containerizers: Option<String>,
    /// Port of Marathon's REST API and UI.
    #[arg(long, env = "MESOS_MARATHON_PORT", default_value_t = 8080)]
    marathon_port: u16,
}

fn main() {
    if mesos_agent_executor_mode() {
        return;
    }
    let flags: Flags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let work_dir = flags
        .work_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("mesos-local"));
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let mut config = LocalClusterConfig::new(work_dir.clone());
        config.ip = flags.ip.clone();
        config.master_port = flags.port;
        config.num_agents = flags.num_agents;
        config.agent_port = flags.agent_port;
        config.agent_resources = flags.resources.clone();
        config.agent_attributes = flags.attributes.clone();
        config.containerizers = Some(match flags.containerizers.clone() {
            Some(c) => c,
            None => LocalCluster::detect_containerizers().await,
        });
        let containerizers = config.containerizers.clone().unwrap_or_default();
        let cluster = match LocalCluster::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mesos-local: {e}");
                return 2;
            }
        };
        let m = cluster.master_addr();
        let listen: SocketAddr = match format!("{}:{}", flags.ip, flags.marathon_port).parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("mesos-local: --ip {}: {e}", flags.ip);
                return 2;
            }
        };
        let marathon_config = marathon::server::ServerConfig::new(
            marathon::core::Config {
                master: m.to_string(),
                hostname: flags.ip.clone(),
                ..marathon::core::Config::default()
            },
            listen,
            work_dir.join("marathon"),
        );
        let marathon = match marathon::server::start(marathon_config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mesos-local: marathon: {e}");
                cluster.shutdown(true).await;
                return 2;
            }
        };
        println!("mesos-local is running (work dir {})", work_dir.display());
        println!("  master:        http://{m}/  (scheduler API: http://{m}/api/v1/scheduler)");
        println!("  master state:  http://{m}/master/state");
        println!("  marathon:      http://{}/v2/apps", marathon.addr());
        println!("  containerizers: {containerizers}");
        for (i, a) in cluster.agent_addrs().iter().enumerate() {
            println!("  agent {i}:       http://{a}/state");
        }
        println!("Press Ctrl-C to stop.");
        wait_for_signal().await;
        println!("Stopping: Marathon, then tasks, agents and the master.");
        marathon.shutdown().await;
        cluster.shutdown(true).await;
        0
    });
    std::process::exit(code);
}

/// Agents start executors by running this binary again in executor mode.
fn mesos_agent_executor_mode() -> bool {
    if mesos_core::executor::executor_mode_requested() {
        std::process::exit(mesos_core::executor::run_command_executor());
    }
    false
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
