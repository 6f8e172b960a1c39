#!/usr/bin/env bash
# Runs duckgrid (default: `serve` on 127.0.0.1:50051 with ./duckgrid.duckdb,
# created and seeded on first start). Extra arguments go to duckgrid, e.g.
#   scripts/run.sh serve --facts 1000000 --db /tmp/big.duckdb
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
[ $# -gt 0 ] || set -- serve
exec cargo run --quiet --locked --manifest-path "$(dirname "${BASH_SOURCE[0]}")/../Cargo.toml" -- "$@"
