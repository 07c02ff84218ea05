#!/usr/bin/env bash
# Run every test of the suite on a fresh Debian machine: install what the tests need,
# then run the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
cargo test --workspace --locked
