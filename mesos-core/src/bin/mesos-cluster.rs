//! `mesos-cluster`: a master and agents in one process, without frameworks
//! (`mesos-local`, the default `cargo run`, adds the frameworks).

use clap::Parser;
use mesos_core::cluster::LocalCluster;
use mesos_core::flags::{wait_for_signal, LocalClusterFlags};

#[derive(Parser, Debug)]
#[command(name = "mesos-cluster", version = mesos_core::proto::MESOS_VERSION, about = "Run a master and agents in one process", rename_all = "snake_case")]
struct Flags {
    #[command(flatten)]
    cluster: LocalClusterFlags,
}

fn main() {
    if mesos_core::executor::executor_mode_requested() {
        std::process::exit(mesos_core::executor::run_command_executor());
    }
    let flags: Flags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let work_dir = flags.cluster.work_dir_or("mesos-cluster");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let config = flags.cluster.config(work_dir.clone()).await;
        let containerizers = config.containerizers.clone().unwrap_or_default();
        let cluster = match LocalCluster::start(config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("mesos-cluster: {e}");
                return 2;
            }
        };
        println!("mesos-cluster is running (work dir {})", work_dir.display());
        cluster.print_urls(&containerizers);
        println!("Press Ctrl-C to stop.");
        wait_for_signal().await;
        println!("Stopping: killing tasks, agents and the master.");
        cluster.shutdown(true).await;
        0
    });
    std::process::exit(code);
}
