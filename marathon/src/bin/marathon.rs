//! `marathon`: the Marathon framework server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use marathon::core::Config;
use marathon::server::{start, ServerConfig};

#[derive(Parser, Debug)]
#[command(name = "marathon", version = marathon::MARATHON_VERSION, about = "Marathon: long-running apps on a Mesos cluster", rename_all = "snake_case")]
struct Flags {
    /// The Mesos master: host:port, or zk://host1:2181,host2:2181/mesos.
    #[arg(long, env = "MARATHON_MASTER", default_value = "127.0.0.1:5050")]
    master: String,
    /// ZooKeeper URL for Marathon's state (zk://host:2181/marathon); SQLite in --work_dir without it.
    #[arg(long, env = "MARATHON_ZK")]
    zk: Option<String>,
    /// HTTP port of the REST API.
    #[arg(long, env = "MARATHON_HTTP_PORT", default_value_t = 8080)]
    http_port: u16,
    /// Address to listen on.
    #[arg(long, env = "MARATHON_HTTP_ADDRESS", default_value = "0.0.0.0")]
    http_address: String,
    /// Hostname this Marathon advertises (framework info, /v2/leader).
    #[arg(long, env = "MARATHON_HOSTNAME", default_value = "localhost")]
    hostname: String,
    /// Directory for the SQLite state.
    #[arg(long, env = "MARATHON_WORK_DIR", default_value = "/var/lib/marathon")]
    work_dir: PathBuf,
    /// Framework name registered with Mesos.
    #[arg(long, env = "MARATHON_FRAMEWORK_NAME", default_value = "marathon")]
    framework_name: String,
    /// Mesos role of the framework.
    #[arg(long, env = "MARATHON_MESOS_ROLE", default_value = "*")]
    mesos_role: String,
    /// User tasks run as when an app sets none.
    #[arg(long, env = "MARATHON_MESOS_USER", default_value = "root")]
    mesos_user: String,
    /// Lowest service port assigned to apps.
    #[arg(long, env = "MARATHON_LOCAL_PORT_MIN", default_value_t = 10000)]
    local_port_min: u16,
    /// Highest service port assigned to apps.
    #[arg(long, env = "MARATHON_LOCAL_PORT_MAX", default_value_t = 20000)]
    local_port_max: u16,
    /// App versions kept per app.
    #[arg(long, env = "MARATHON_ZK_MAX_VERSIONS", default_value_t = 50)]
    zk_max_versions: usize,
    /// Milliseconds declined offers stay filtered.
    #[arg(long, env = "MARATHON_DECLINE_OFFER_DURATION", default_value_t = 5000)]
    decline_offer_duration: u64,
    /// ZooKeeper session timeout in milliseconds (election and state).
    #[arg(long, env = "MARATHON_ZK_SESSION_TIMEOUT", default_value_t = 10000)]
    zk_session_timeout: u64,
    /// Seconds Mesos keeps Marathon's tasks while it is away.
    #[arg(long, env = "MARATHON_FAILOVER_TIMEOUT", default_value_t = 604800)]
    failover_timeout: u64,
}

fn main() {
    // Agents of an in-process cluster may run this binary as their executor.
    if mesos_core::executor::executor_mode_requested() {
        std::process::exit(mesos_core::executor::run_command_executor());
    }
    let flags: Flags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let listen: SocketAddr = match format!("{}:{}", flags.http_address, flags.http_port).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("marathon: --http_address {}: {e}", flags.http_address);
            std::process::exit(2);
        }
    };
    if flags.local_port_min > flags.local_port_max {
        eprintln!("marathon: --local_port_min must not exceed --local_port_max");
        std::process::exit(2);
    }
    let core = Config {
        framework_name: flags.framework_name,
        user: flags.mesos_user,
        role: flags.mesos_role,
        hostname: flags.hostname,
        http_port: flags.http_port,
        master: flags.master,
        zk: flags.zk,
        local_port_min: flags.local_port_min,
        local_port_max: flags.local_port_max,
        max_versions: flags.zk_max_versions,
        decline_offer_duration: flags.decline_offer_duration as f64 / 1000.0,
        failover_timeout: flags.failover_timeout as f64,
        ..Config::default()
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let mut config = ServerConfig::new(core, listen, flags.work_dir);
        config.zk_session_timeout = std::time::Duration::from_millis(flags.zk_session_timeout);
        let server = match start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("marathon: {e}");
                return 1;
            }
        };
        println!("marathon is running on http://{}", server.addr());
        tokio::select! {
            _ = server.wait() => 1,
            _ = tokio::signal::ctrl_c() => 0,
        }
    });
    std::process::exit(code);
}
