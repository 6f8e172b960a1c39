#!/usr/bin/env bash
# Compiles everything once, in the one dev profile (CI job `build`, whose
# target directory the lint, test, clients and bench-smoke jobs restore).
#
#   scripts/ci/build.sh
#
# `cargo build --all-targets` leaves the library, the binary ($DUCKGRID_BIN),
# the test and the bench executables; `cargo check --all-targets` adds the
# metadata-only artifacts that clippy reuses. DuckDB's C++ is compiled once
# and shared by both (build-script output does not depend on check vs build).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

log "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
group "cargo build --all-targets (dev profile)"
cargo build --locked --all-targets
endgroup
group "cargo check --all-targets (warms clippy's dependency metadata)"
cargo check --locked --all-targets
endgroup
[[ -x "$DUCKGRID_BIN" ]] || die "expected the server binary at $DUCKGRID_BIN"
log "build: done; server binary at $DUCKGRID_BIN"
