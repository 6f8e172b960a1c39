#!/usr/bin/env bash
# The test command: lint gates, the Rust unit and integration tests (real
# DuckDB, real server on port 0), then the client suites and the grpcurl
# walkthrough against the real binary. `.ci/run` calls this.
#
# On a fresh machine it first installs what the tests need (scripts/setup.sh:
# redis-server, the pinned code generators and client toolchains, the first
# build); when everything is installed that step takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/env.sh

step() { printf '\n==> %s\n' "$*"; }

step "set-up (installs only what is missing)"
scripts/setup.sh

if [ -x scripts/ci/lint.sh ]; then
  step "lint gates"
  scripts/ci/lint.sh
else
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy"
  cargo clippy --locked --all-targets -- -D warnings
fi

step "cargo test"
cargo test --locked

for suite in scripts/test-clients.sh scripts/test-grpcurl.sh; do
  if [ -x "$suite" ]; then
    step "$suite"
    cargo build --locked --bin duckgrid
    "$suite"
  fi
done
step "all tests passed"
