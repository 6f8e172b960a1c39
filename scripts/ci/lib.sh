# shellcheck shell=bash
# Shared by the CI scripts (scripts/ci/*.sh); sourced right after
# scripts/env.sh, never run on its own.
#
# Where things go:
#   DUCKGRID_CI_TOOLS  pinned CI tools (scripts/ci/tools.sh installs them):
#                      bin/ (actionlint, cargo-deny, shellcheck, hadolint, ...)
#                      and venv/ for the Python-packaged linters. Kept apart
#                      from DUCKGRID_TOOLS (the client toolchain) so CI can
#                      cache each on its own key.
#   DUCKGRID_CI_OUT    reports the jobs produce (benchmark figures, coverage),
#                      one folder per job; CI uploads them as artifacts.

DUCKGRID_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export DUCKGRID_ROOT
export DUCKGRID_CI_TOOLS="${DUCKGRID_CI_TOOLS:-$HOME/.cache/duckgrid/ci-tools}"
export DUCKGRID_CI_OUT="${DUCKGRID_CI_OUT:-$CARGO_TARGET_DIR/ci}"

case ":$PATH:" in
*":$DUCKGRID_CI_TOOLS/bin:"*) ;;
*) export PATH="$DUCKGRID_CI_TOOLS/bin:$PATH" ;;
esac

# shellcheck source=scripts/ci/versions.sh
source "$DUCKGRID_ROOT/scripts/ci/versions.sh"

# GitHub Actions renders ::group:: and ::error:: lines; elsewhere plain text.
in_github() { [[ "${GITHUB_ACTIONS:-}" == "true" ]]; }

log() { printf '==> %s\n' "$*" >&2; }

warn() {
    if in_github; then
        printf '::warning::%s\n' "$*"
    else
        printf 'warning: %s\n' "$*" >&2
    fi
}

die() {
    if in_github; then
        printf '::error::%s\n' "$*"
    else
        printf 'error: %s\n' "$*" >&2
    fi
    exit 1
}

group() {
    if in_github; then printf '::group::%s\n' "$*"; else log "$*"; fi
}

endgroup() {
    if in_github; then printf '::endgroup::\n'; fi
}

need_cmd() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+: $2}"
}

