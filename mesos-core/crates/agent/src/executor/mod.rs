//! The built-in executors: the command executor (spec 2.3), the default executor that runs
//! task groups (`LAUNCH_GROUP` with `ExecutorInfo.type = DEFAULT`), and the docker executor
//! (the command executor in `MESOS_RS_EXECUTOR_MODE=docker`: a command task whose
//! `container.type` is `DOCKER` runs in a Docker container, see `docker.rs`).
//!
//! The agent runs `<launcher_dir>/mesos-executor` when it exists, otherwise its own binary,
//! with `MESOS_RS_EXECUTOR_MODE=command` (command executor) or `=default` (default executor;
//! `<launcher_dir>/mesos-default-executor` is preferred when present). Binaries check
//! [`executor_mode_requested`] first thing in `main` and call [`run_command_executor`], which
//! dispatches on the mode.

mod agent_http;
mod command;
mod default;
mod direct;
mod docker;
mod health;
mod session;
pub mod zygote;

pub use session::ExecutorEnv;

/// The environment variable that turns any binary of the suite into an executor.
pub const EXECUTOR_MODE_ENV: &str = "MESOS_RS_EXECUTOR_MODE";

/// Which built-in executor `MESOS_RS_EXECUTOR_MODE` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutorMode {
    Command,
    Default,
    /// The command executor running its task in a Docker container (`mesos-docker-executor`).
    Docker,
    /// Not an executor: the helper that starts executors by forking itself (`zygote.rs`).
    Zygote,
}

impl ExecutorMode {
    /// Parse a value of `MESOS_RS_EXECUTOR_MODE`.
    pub fn parse(v: &str) -> Option<ExecutorMode> {
        match v {
            "command" => Some(ExecutorMode::Command),
            "default" => Some(ExecutorMode::Default),
            "docker" => Some(ExecutorMode::Docker),
            "zygote" => Some(ExecutorMode::Zygote),
            _ => None,
        }
    }

    /// The value of `MESOS_RS_EXECUTOR_MODE` that selects this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorMode::Command => "command",
            ExecutorMode::Default => "default",
            ExecutorMode::Docker => "docker",
            ExecutorMode::Zygote => "zygote",
        }
    }

    /// The executor a built-in executor binary runs: `MESOS_RS_EXECUTOR_MODE` in `env` when
    /// set there, otherwise the name the program is installed under (as in [`from_env`]).
    ///
    /// [`from_env`]: ExecutorMode::from_env
    pub fn for_program(program: &std::path::Path, env: &[(String, String)]) -> ExecutorMode {
        env.iter()
            .rev()
            .find(|(k, _)| k == EXECUTOR_MODE_ENV)
            .and_then(|(_, v)| ExecutorMode::parse(v))
            .or_else(|| ExecutorMode::from_name(program.file_name()?.to_str()?))
            .unwrap_or(ExecutorMode::Command)
    }

    fn from_name(name: &str) -> Option<ExecutorMode> {
        match name {
            "mesos-executor" => Some(ExecutorMode::Command),
            "mesos-default-executor" => Some(ExecutorMode::Default),
            "mesos-docker-executor" => Some(ExecutorMode::Docker),
            _ => None,
        }
    }

    /// From `MESOS_RS_EXECUTOR_MODE`, or from the name the binary was started under:
    /// any suite binary linked as `mesos-executor` / `mesos-default-executor` /
    /// `mesos-docker-executor` (as in a `--launcher_dir`) is that executor.
    fn from_env() -> Option<ExecutorMode> {
        std::env::var(EXECUTOR_MODE_ENV)
            .ok()
            .and_then(|v| ExecutorMode::parse(&v))
            .or_else(|| {
                let arg0 = std::env::args_os().next()?;
                ExecutorMode::from_name(std::path::Path::new(&arg0).file_name()?.to_str()?)
            })
    }
}

/// True when `MESOS_RS_EXECUTOR_MODE` is `command`, `default` or `docker`.
pub fn executor_mode_requested() -> bool {
    ExecutorMode::from_env().is_some()
}

/// Run the executor `MESOS_RS_EXECUTOR_MODE` asks for (the command executor when unset) until
/// it is done. Blocking; builds its own tokio runtime. Returns the process exit code.
pub fn run_command_executor() -> i32 {
    run_executor(ExecutorMode::from_env().unwrap_or(ExecutorMode::Command))
}

/// Run the default executor (task groups) until it is done. Blocking; returns the exit code.
pub fn run_default_executor() -> i32 {
    run_executor(ExecutorMode::Default)
}

fn run_executor(mode: ExecutorMode) -> i32 {
    // The command executor says whether it runs its task in Docker; the default one has no
    // such choice.
    let (name, docker) = match mode {
        ExecutorMode::Command => ("mesos-executor", Some(false)),
        ExecutorMode::Default => ("mesos-default-executor", None),
        ExecutorMode::Docker => ("mesos-docker-executor", Some(true)),
        // Not an executor: no session, cgroups or runtime of its own.
        ExecutorMode::Zygote => return zygote::run(),
    };
    if let Err(e) = crate::containerizer::join_container() {
        eprintln!("{name}: {e}");
        return 1;
    }
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{name}: {e}");
            return 1;
        }
    };
    // The command executor of a command task needs no async runtime (see `command`).
    if docker == Some(false) {
        return command::run_blocking(env);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return 1;
        }
    };
    match docker {
        Some(docker) => rt.block_on(command::run_tokio(env, docker)),
        None => rt.block_on(default::run(env)),
    }
}

#[cfg(test)]
mod tests {
    use super::ExecutorMode;

    #[test]
    fn executor_modes_round_trip() {
        for m in [
            ExecutorMode::Command,
            ExecutorMode::Default,
            ExecutorMode::Docker,
            ExecutorMode::Zygote,
        ] {
            assert_eq!(ExecutorMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(ExecutorMode::parse("agent"), None);
    }
}
