#!/usr/bin/env bash
# Unit and integration tests (CI job `test`; scripts/test.sh runs the same).
#
#   scripts/ci/test.sh [CARGO TEST ARGS...]
#
# The integration tests start the real server against a real Redis: the test
# harness launches its own `redis-server` on a free loopback port, so only
# the binary has to be installed (Debian/Ubuntu: apt-get install redis-server).
# Extra arguments go to `cargo test`, e.g. `scripts/ci/test.sh --test watch`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

need_cmd redis-server "the integration tests start one (Debian/Ubuntu: sudo apt-get install -y redis-server)"
log "redis-server: $(redis-server --version)"
# --no-fail-fast: one run reports every failing test binary, not just the first.
cargo test --locked --no-fail-fast "$@"
