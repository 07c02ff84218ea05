#!/usr/bin/env bash
# Build the command executor as a static executable and install it in a launcher directory.
#
#   scripts/build-executor.sh [LAUNCHER_DIR]     (default: target/release)
#
# Agents run `<launcher_dir>/mesos-executor` for every command task (`--launcher_dir`,
# by default the directory of the agent's own binary). Without it they start their own
# binary in executor mode, which works the same but starts slower: the executor is started
# once per task, and a small static executable skips the dynamic loader.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-target/release}"
cargo rustc --release --locked -p mesos-agent --bin mesos-executor -- \
    -C target-feature=+crt-static -C relocation-model=static
mkdir -p "$dest"
if [ "$(realpath "$dest")" != "$(realpath target/release)" ]; then
    install -m 0755 target/release/mesos-executor "$dest/mesos-executor"
fi
echo "installed $dest/mesos-executor"
