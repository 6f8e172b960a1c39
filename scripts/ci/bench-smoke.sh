#!/usr/bin/env bash
# Runs every benchmark briefly and keeps the figures (CI job `bench-smoke`,
# which uploads them as an artifact).
#
#   scripts/ci/bench-smoke.sh
#
# The benchmarks are `harness = false` targets under benches/ run with
# `cargo bench --profile dev` (the one profile: see scripts/env.sh). They read
#   DUCKGRID_BENCH_QUICK=1        a short smoke run (set here)
#   DUCKGRID_BENCH_FACTS          model size (default here: 20000)
#   DUCKGRID_BENCH_OUT            a folder for any files they write (set here)
# Output, in $DUCKGRID_CI_OUT/bench-smoke/:
#   figures.txt   everything the benchmarks printed
#   targets.txt   the targets table (benches/targets.sh, quick)
#   context.txt   commit, toolchain, machine and settings of the run
# Smoke figures from a shared CI runner show that the benchmarks run and give
# a rough order of magnitude; they are not a performance baseline.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

compgen -G "benches/*.rs" >/dev/null || die "no benchmarks under benches/"

out="$DUCKGRID_CI_OUT/bench-smoke"
rm -rf "$out"
mkdir -p "$out"
export DUCKGRID_BENCH_QUICK=1
export DUCKGRID_BENCH_FACTS="${DUCKGRID_BENCH_FACTS:-20000}"
export DUCKGRID_BENCH_OUT="$out"

{
    echo "commit:   $(git rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "rustc:    $(rustc --version)"
    echo "cpus:     $(nproc) x $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ //' || echo unknown)"
    echo "memory:   $(free -h 2>/dev/null | awk '/^Mem:/ {print $2}' || echo unknown)"
    echo "settings: DUCKGRID_BENCH_QUICK=$DUCKGRID_BENCH_QUICK DUCKGRID_BENCH_FACTS=$DUCKGRID_BENCH_FACTS profile=dev"
} | tee "$out/context.txt"

group "compile benchmarks"
cargo bench --locked --profile dev --benches --no-run
endgroup

group "run benchmarks (quick)"
cargo bench --locked --profile dev --benches 2>&1 | tee "$out/figures.txt"
endgroup

group "targets table (quick)"
DUCKGRID_BENCH_LOGS="$out/targets" benches/targets.sh 2>&1 | tee "$out/targets.txt"
endgroup
log "bench-smoke: figures in $out"
