//! The built-in command executor (spec 2.3).
//!
//! The agent runs `<launcher_dir>/mesos-executor` when it exists, otherwise its own binary
//! with `MESOS_RS_EXECUTOR_MODE=command` (binaries check [`executor_mode_requested`] first
//! thing in `main` and call [`run_command_executor`]).

mod command;

pub use command::ExecutorEnv;

/// The environment variable that turns any binary of the suite into the command executor.
pub const EXECUTOR_MODE_ENV: &str = "MESOS_RS_EXECUTOR_MODE";

/// True when `MESOS_RS_EXECUTOR_MODE=command` is set.
pub fn executor_mode_requested() -> bool {
    std::env::var(EXECUTOR_MODE_ENV).is_ok_and(|v| v == "command")
}

/// Run the command executor until its task is done. Blocking; builds its own tokio runtime.
/// Returns the process exit code.
pub fn run_command_executor() -> i32 {
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mesos-executor: {e}");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesos-executor: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(command::run(env))
}
