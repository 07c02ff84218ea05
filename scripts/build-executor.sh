#!/usr/bin/env bash
# Build the command executor and install it in a launcher directory.
#
#   scripts/build-executor.sh [LAUNCHER_DIR]     (default: target/release)
#
# Agents run `<launcher_dir>/mesos-executor` for every command task (`--launcher_dir`,
# by default the directory of the agent's own binary). Without it they start their own
# binary in executor mode, which works the same. Either way the agent starts the binary once
# as its executor zygote and forks every executor from it. (A static build is not faster
# then: the standard library starts the task through fork instead of posix_spawn in a
# static executable, as it cannot check the C library's version.)
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-target/release}"
cargo build --release --locked -p mesos-agent --bin mesos-executor
mkdir -p "$dest"
if [ "$(realpath "$dest")" != "$(realpath target/release)" ]; then
    install -m 0755 target/release/mesos-executor "$dest/mesos-executor"
fi
echo "installed $dest/mesos-executor"
