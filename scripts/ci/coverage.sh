#!/usr/bin/env bash
# Line coverage of the test suite, with a minimum (CI job `coverage`).
#
#   scripts/ci/coverage.sh [llvm-cov|tarpaulin]
#
#   llvm-cov   cargo-llvm-cov (source-based, rustc's -C instrument-coverage);
#              needs rustup's llvm-tools component. CI uses this one.
#   tarpaulin  cargo-tarpaulin with its LLVM engine: needs nothing from rustup,
#              for machines where components cannot be downloaded.
# Default: llvm-cov on GitHub Actions or where llvm-tools is installed,
# tarpaulin otherwise.
#
#   DUCKGRID_COVERAGE_MIN   minimum line coverage in percent (default 80)
#
# Both tools build an instrumented copy of everything, DuckDB's C++ included,
# in a directory of their own under $CARGO_TARGET_DIR (llvm-cov-target/,
# tarpaulin/): the first run takes as long as a first build.
# Measured: the crate's own sources (src/, build.rs excluded); generated
# protobuf code (in the target directory) and tests/, benches/, examples/
# are left out by both tools.
# Reports, in $DUCKGRID_CI_OUT/coverage/: lcov.info, html/, summary.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

min="${DUCKGRID_COVERAGE_MIN:-80}"
out="$DUCKGRID_CI_OUT/coverage"

have_llvm_tools() {
    [[ -n "${LLVM_COV:-}" && -n "${LLVM_PROFDATA:-}" ]] && return 0
    command -v rustup >/dev/null 2>&1 &&
        rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'
}

tool="${1:-}"
case "$tool" in
"")
    if in_github || have_llvm_tools; then tool=llvm-cov; else tool=tarpaulin; fi
    ;;
llvm-cov | tarpaulin) ;;
-h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown coverage tool '$tool' (llvm-cov or tarpaulin)" ;;
esac

need_cmd redis-server "the integration tests start one (Debian/Ubuntu: sudo apt-get install -y redis-server)"
rm -rf "$out"
mkdir -p "$out"

coverage_llvm_cov() {
    "$ROOT/scripts/ci/tools.sh" llvm-cov
    cargo llvm-cov --version
    # Stale profiles from an earlier run would skew the figure; dependencies
    # stay built.
    cargo llvm-cov clean --workspace
    group "instrumented test run (cargo llvm-cov)"
    cargo llvm-cov --locked --no-report --no-fail-fast
    endgroup
    cargo llvm-cov report --lcov --output-path "$out/lcov.info"
    cargo llvm-cov report --html --output-dir "$out"
    # The text summary, then the gate.
    cargo llvm-cov report --fail-under-lines "$min" | tee "$out/summary.txt"
}

coverage_tarpaulin() {
    "$ROOT/scripts/ci/tools.sh" tarpaulin
    cargo tarpaulin --version
    group "instrumented test run (cargo tarpaulin)"
    cargo tarpaulin --locked --engine llvm --skip-clean \
        --target-dir "$CARGO_TARGET_DIR/tarpaulin" \
        --exclude-files 'tests/*' 'benches/*' 'examples/*' 'build.rs' \
        --timeout 600 \
        --out Lcov Html --output-dir "$out" \
        --fail-under "$min" 2>&1 | tee "$out/summary.txt"
    endgroup
    [[ -f "$out/lcov.info" ]] || die "tarpaulin wrote no lcov.info"
}

log "coverage: $tool, minimum ${min}% of lines"
"coverage_$tool"
log "coverage: passed (>= ${min}% lines); reports in $out"
