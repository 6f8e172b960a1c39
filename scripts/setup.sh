#!/usr/bin/env bash
# One-time set-up on a fresh machine: Redis (the test harnesses start their
# own redis-server), the code generators and client toolchains, and the first
# build. The first build compiles DuckDB from source: ~35 minutes on 2 cores,
# once; later builds reuse $CARGO_TARGET_DIR (outside the clone).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ! command -v redis-server >/dev/null 2>&1; then
  echo "==> installing redis-server (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi

if [ -x scripts/install-tools.sh ]; then
  echo "==> installing code generators and client toolchains"
  scripts/install-tools.sh
fi

echo "==> building duckgrid (dev profile, target dir $CARGO_TARGET_DIR)"
cargo build --locked --all-targets
echo "==> set-up complete: run the product with scripts/run.sh, the tests with scripts/test.sh"
