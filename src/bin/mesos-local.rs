//! `mesos-local`: the whole suite in one process (the default `cargo run`): a master,
//! agents, and the frameworks with their REST APIs.

use std::net::SocketAddr;

use clap::Parser;
use mesos_core::cluster::LocalCluster;
use mesos_core::flags::{wait_for_signal, LocalClusterFlags};

#[derive(Parser, Debug)]
#[command(name = "mesos-local", version = mesos_core::proto::MESOS_VERSION, about = "Run a master, agents and Marathon in one process", rename_all = "snake_case")]
struct Flags {
    #[command(flatten)]
    cluster: LocalClusterFlags,
    /// Port of Marathon's REST API.
    #[arg(long, env = "MESOS_MARATHON_PORT", default_value_t = 8080)]
    marathon_port: u16,
}

fn main() {
    // Agents start executors by running this binary again in executor mode.
    if mesos_core::executor::executor_mode_requested() {
        std::process::exit(mesos_core::executor::run_command_executor());
    }
    let flags: Flags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let work_dir = flags.cluster.work_dir_or("mesos-local");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let listen: SocketAddr =
            match format!("{}:{}", flags.cluster.ip, flags.marathon_port).parse() {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("mesos-local: --ip {}: {e}", flags.cluster.ip);
                    return 2;
                }
            };
        let config = flags.cluster.config(work_dir.clone()).await;
        let containerizers = config.containerizers.clone().unwrap_or_default();
        let cluster = match LocalCluster::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mesos-local: {e}");
                return 2;
            }
        };
        let marathon_config = marathon::server::ServerConfig::new(
            marathon::core::Config {
                master: cluster.master_addr().to_string(),
                hostname: flags.cluster.ip.clone(),
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
        cluster.print_urls(&containerizers);
        println!(
            "  marathon:      http://{}/ui/  (API: http://{}/v2/apps)",
            marathon.addr(),
            marathon.addr()
        );
        println!("Press Ctrl-C to stop.");
        wait_for_signal().await;
        println!("Stopping: Marathon, then tasks, agents and the master.");
        marathon.shutdown().await;
        cluster.shutdown(true).await;
        0
    });
    std::process::exit(code);
}
