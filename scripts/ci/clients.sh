#!/usr/bin/env bash
# The generated clients' suites against a live server (CI job `clients`):
# Python, Go and TypeScript (scripts/test-clients.sh) and the grpcurl
# walkthrough (scripts/test-grpcurl.sh).
#
#   scripts/ci/clients.sh [ARGS...]     ARGS go to scripts/test-clients.sh
#
# Installs the client toolchain first (scripts/install-tools.sh; skip with
# DUCKGRID_SKIP_INSTALL_TOOLS=1) and builds the server binary the suites
# start ($DUCKGRID_BIN, dev profile).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

for script in scripts/install-tools.sh scripts/test-clients.sh scripts/test-grpcurl.sh; do
    [[ -f "$script" ]] || die "$script is missing: the clients job has nothing to run"
done

if [[ "${DUCKGRID_SKIP_INSTALL_TOOLS:-0}" != 1 ]]; then
    group "client toolchain (scripts/install-tools.sh)"
    bash scripts/install-tools.sh
    endgroup
fi

group "server binary (dev profile)"
cargo build --locked --bin duckgrid
[[ -x "$DUCKGRID_BIN" ]] || die "expected the server binary at $DUCKGRID_BIN"
endgroup

group "client suites (scripts/test-clients.sh)"
bash scripts/test-clients.sh "$@"
endgroup

group "grpcurl walkthrough (scripts/test-grpcurl.sh)"
bash scripts/test-grpcurl.sh
endgroup
log "clients: all suites passed"
