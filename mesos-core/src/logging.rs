//! Log setup shared by the binaries: `RUST_LOG` (or `MESOS_LOG_LEVEL`) picks the level.

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("MESOS_LOG_LEVEL"))
        .unwrap_or_else(|_| "info".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}
