#!/usr/bin/env bash
# Dependency gates with cargo-deny and the policy in deny.toml (CI job
# `security`).
#
#   scripts/ci/security.sh [--offline] [CHECK...]
#
# CHECK: advisories licenses bans sources (default: all four).
#
# `advisories` needs the RustSec advisory database, which cargo-deny clones
# from GitHub. DUCKGRID_ADVISORIES decides what happens when it cannot:
#   require  fail (the default on GitHub Actions, where GitHub is reachable)
#   auto     use the local copy (~/.cargo/advisory-dbs) if there is one,
#            otherwise skip advisories with a warning (the default elsewhere,
#            e.g. a machine that reaches only package registries)
#   skip     never check advisories
# --offline: do not fetch anything; like `auto` with the local copy only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

offline=false
checks=()
for arg in "$@"; do
    case "$arg" in
    --offline) offline=true ;;
    advisories | licenses | bans | sources) checks+=("$arg") ;;
    all) checks+=(advisories licenses bans sources) ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$arg' (try --help)" ;;
    esac
done
[[ ${#checks[@]} -gt 0 ]] || checks=(advisories licenses bans sources)

mode="${DUCKGRID_ADVISORIES:-}"
if [[ -z "$mode" ]]; then
    if in_github; then mode=require; else mode=auto; fi
fi
case "$mode" in require | auto | skip) ;; *) die "DUCKGRID_ADVISORIES must be require, auto or skip" ;; esac

"$ROOT/scripts/ci/tools.sh" deny
cargo-deny --version

has_check() {
    local c
    for c in "${checks[@]}"; do [[ "$c" == "$1" ]] && return 0; done
    return 1
}

drop_advisories() {
    local kept=() c
    for c in "${checks[@]}"; do [[ "$c" == advisories ]] || kept+=("$c"); done
    checks=("${kept[@]}")
}

local_db() {
    compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/*/crates" >/dev/null
}

deny_flags=(--locked)
if has_check advisories; then
    if [[ "$mode" == skip ]]; then
        warn "advisories: skipped (DUCKGRID_ADVISORIES=skip)"
        drop_advisories
    elif ! $offline && cargo-deny fetch db; then
        log "advisories: RustSec database fetched"
    elif [[ "$mode" == require ]]; then
        die "advisories: cannot fetch the RustSec database and DUCKGRID_ADVISORIES=require"
    elif local_db; then
        warn "advisories: checking against the local (possibly stale) RustSec database"
        deny_flags+=(--offline)
    else
        warn "advisories: SKIPPED (RustSec database unreachable and no local copy); CI runs the full check"
        drop_advisories
    fi
elif $offline; then
    deny_flags+=(--offline)
fi

[[ ${#checks[@]} -gt 0 ]] || die "nothing left to check"
group "cargo deny check ${checks[*]}"
cargo-deny "${deny_flags[@]}" check --show-stats "${checks[@]}"
endgroup
log "security: cargo-deny passed (${checks[*]})"
