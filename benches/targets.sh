#!/usr/bin/env bash
# The write path and fan-out targets (issue 14) in one table: runs the
# benchmarks that measure them and prints every row they report, each
# figure next to the floor measured in the same run (the DuckDB single-row
# commit, DuckDB alone storing what 32 clients' writes store, raw Redis
# fan-out). The README's targets table is this output.
#
#   benches/targets.sh                  the whole table (~15 minutes)
#   DUCKGRID_BENCH_QUICK=1 benches/targets.sh    a brief smoke version
#
# Runs, in order:
#   grid at 100,000 facts      leaf p50/p99 against the floor, 32 concurrent
#                              clients against DuckDB alone storing the same
#                              revisions, a spread over every fact (~100,000)
#   grid at 1,000,000 facts    the same at ten times the facts
#   fanout at 100, 1,000 and 5,000 subscribers, 100 revisions/s, writer and
#                              two edges (DUCKGRID_BENCH_SUBSCRIBER_COUNTS)
# Each benchmark's whole output is kept in $DUCKGRID_BENCH_LOGS (default: a
# temporary folder, named at the end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
cd "$ROOT"

logs="${DUCKGRID_BENCH_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"
if [ "${DUCKGRID_BENCH_QUICK:-}" = 1 ]; then
    facts=(20000 50000)
    counts="${DUCKGRID_BENCH_SUBSCRIBER_COUNTS:-30 60}"
else
    facts=(100000 1000000)
    counts="${DUCKGRID_BENCH_SUBSCRIBER_COUNTS:-100 1000 5000}"
fi

cargo bench --locked --profile dev --bench grid --bench fanout --no-run

# run NAME BENCH VAR=VALUE...: one benchmark, its output kept, its
# figures shown.
run() {
    local name="$1" bench="$2" out="$logs/$1.txt"
    shift 2
    echo "== $name ($*)"
    if ! env "$@" cargo bench --locked --profile dev --bench "$bench" >"$out" 2>&1; then
        tail -n 30 "$out"
        echo "targets: $name failed (whole output: $out)" >&2
        exit 1
    fi
    grep -E '^(floor|storage floor|duckgrid|raw redis|UpdateCell|commit cost|  )' "$out" || true
}

for n in "${facts[@]}"; do
    run "grid-$n" grid DUCKGRID_BENCH_FACTS="$n"
done
for n in $counts; do
    run "fanout-$n" fanout DUCKGRID_BENCH_SUBSCRIBERS="$n" DUCKGRID_BENCH_RATE=100
done

echo
echo "## Targets ($(date -u +%Y-%m-%d), $(nproc) cores; figures and floors from the same runs)"
echo
echo "| what | floor, same run | duckgrid | target | |"
echo "|---|---|---|---|---|"
grep -h '^TARGET |' "$logs"/grid-*.txt "$logs"/fanout-*.txt | sed 's/^TARGET //'
echo
echo "(every benchmark's output: $logs)"
