//! `mesos-agent`: runs tasks for the master. Stopping it leaves executors (and their
//! tasks) running; a restarted agent recovers them.

use mesos_agent::AgentFlags;

fn main() {
    if mesos_agent::executor::executor_mode_requested() {
        std::process::exit(mesos_agent::executor::run_command_executor());
    }
    let flags: AgentFlags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let handle = match mesos_agent::start(flags).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mesos-agent: {e}");
                return 2;
            }
        };
        tracing::info!("agent listening on {}", handle.addr());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        handle.shutdown(false).await;
        0
    });
    std::process::exit(code);
}
