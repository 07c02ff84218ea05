//! The built-in command executor (`mesos-executor`), run by the agent for command tasks.

fn main() {
    std::process::exit(mesos_agent::executor::run_command_executor())
}
