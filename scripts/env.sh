# Sourced by every script: one place for the paths the scripts share.
#
# DuckDB's C++ takes ~35 minutes to compile on 2 cores, so every script builds
# into one target directory outside the clone (reused by later clones and by
# CI) and with one cargo profile (dev; see Cargo.toml).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duckgrid/target}"
# Code generators and client toolchains installed by scripts/install-tools.sh.
export DUCKGRID_TOOLS="${DUCKGRID_TOOLS:-$HOME/.cache/duckgrid/tools}"
# The server binary the client suites and the grpcurl walkthrough start.
export DUCKGRID_BIN="${DUCKGRID_BIN:-$CARGO_TARGET_DIR/debug/duckgrid}"
