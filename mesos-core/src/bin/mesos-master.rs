//! `mesos-master`: the Mesos-compatible master.

use mesos_master::MasterFlags;

fn main() {
    if mesos_agent::executor::executor_mode_requested() {
        std::process::exit(mesos_agent::executor::run_command_executor());
    }
    let flags: MasterFlags = mesos_core::flags::parse_or_exit();
    mesos_core::logging::init();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let code = rt.block_on(async move {
        let handle = match mesos_master::start(flags).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("mesos-master: {e}");
                return 2;
            }
        };
        tracing::info!(
            "master {} listening on {}",
            handle.master_info().id,
            handle.addr()
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        handle.shutdown().await;
        0
    });
    std::process::exit(code);
}
