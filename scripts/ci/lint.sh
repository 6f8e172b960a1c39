#!/usr/bin/env bash
# The lint gates (CI job `lint`; also run by scripts/test.sh and, part by
# part, by the pre-commit hooks).
#
#   scripts/ci/lint.sh [PART...]      default: every part below, in order
#   scripts/ci/lint.sh --list
#
# Parts (each one runs even if an earlier one failed; the exit status is 1 if
# any failed, and a summary names them):
#   actionlint  .github/workflows/*.yml, with shellcheck on every run: block
#   schemas     workflows (JSON schema, and every job needs timeout-minutes),
#               dependabot.yml and compose.yaml against their published schemas
#   yaml        yamllint on the repository's own YAML
#   shell       shellcheck on scripts/**/*.sh, benches/*.sh and .ci/run
#   hadolint    the Dockerfile
#   precommit   .pre-commit-config.yaml is valid
#   dashboard   deploy/grafana/duckgrid.json is a dashboard of exactly the
#               metrics docs/METRICS.md documents
#   fmt         cargo fmt --check
#   contract    scripts/contract.sh: buf lint, buf breaking, generated-code
#               drift (skipped with a warning while the script does not exist)
#   clippy      cargo clippy --all-targets -- -D warnings
# Not in the default list:
#   buf         buf lint alone (for the pre-commit hook; `contract` covers it)
# Groups: `static` = actionlint schemas yaml shell hadolint precommit dashboard (no Rust
# toolchain, seconds); `rust` = fmt clippy.
#
# buf breaking compares against the git ref in DUCKGRID_BREAKING_AGAINST,
# which scripts/contract.sh reads (default: main). CI sets it to
# origin/<PR base branch>, or to the previous commit on a push.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

ALL_PARTS=(actionlint schemas yaml shell hadolint precommit dashboard fmt contract clippy)
STATIC_PARTS=(actionlint schemas yaml shell hadolint precommit dashboard)

workflows() {
    compgen -G ".github/workflows/*.yml" || true
    compgen -G ".github/workflows/*.yaml" || true
}

part_actionlint() {
    local files
    mapfile -t files < <(workflows)
    [[ ${#files[@]} -gt 0 ]] || die "no workflows under .github/workflows"
    actionlint -version | head -n1
    # -shellcheck: the pinned shellcheck (actionlint would otherwise take
    # whichever is first on PATH).
    actionlint -shellcheck "$(command -v shellcheck)" "${files[@]}"
    log "actionlint: ${#files[@]} workflow(s) clean"
}

part_schemas() {
    local files
    mapfile -t files < <(workflows)
    check-jsonschema --builtin-schema vendor.github-workflows "${files[@]}"
    check-jsonschema --builtin-schema custom.github-workflows-require-timeout "${files[@]}"
    if [[ -f .github/dependabot.yml ]]; then
        check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml
    fi
    if [[ -f compose.yaml ]]; then
        check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
    fi
}

part_yaml() {
    local files=()
    mapfile -t files < <(
        workflows
        for f in .github/dependabot.yml compose.yaml deploy/prometheus.yml .pre-commit-config.yaml buf.yaml buf.gen.yaml; do
            [[ -f "$f" ]] && echo "$f"
        done
    )
    # `on:` is a key, not a boolean; workflow expressions make long lines.
    yamllint --strict -d '{
        extends: default,
        rules: {
            document-start: disable,
            truthy: {check-keys: false},
            line-length: disable,
            comments: {min-spaces-from-content: 1}
        }
    }' "${files[@]}"
    log "yamllint: ${#files[@]} file(s) clean"
}

part_shell() {
    local files=()
    mapfile -t files < <(
        find scripts benches -name '*.sh' -type f | sort
        [[ -f .ci/run ]] && echo .ci/run
    )
    # -x: follow `source` lines (env.sh, lib.sh); -s bash: sourced files
    # carry no shebang. Warnings and errors fail; style notes do not.
    shellcheck --version | sed -n 2p
    shellcheck -x -s bash -S warning "${files[@]}"
    log "shellcheck: ${#files[@]} script(s) clean"
}

part_hadolint() {
    hadolint --version
    hadolint Dockerfile
    log "hadolint: Dockerfile clean"
}

part_precommit() {
    pre-commit validate-config .pre-commit-config.yaml
    log "pre-commit: configuration valid"
}

part_dashboard() {
    python3 scripts/ci/lint-dashboard.py deploy/grafana/duckgrid.json docs/METRICS.md
}

part_fmt() {
    cargo fmt --all -- --check
}

part_clippy() {
    cargo clippy --locked --all-targets -- -D warnings
}

find_buf() {
    local candidate
    for candidate in "$(command -v buf || true)" \
        "$DUCKGRID_TOOLS/bin/buf" \
        "$DUCKGRID_TOOLS/npm/node_modules/.bin/buf"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    die "buf not found: run scripts/install-tools.sh"
}

part_buf() {
    "$(find_buf)" lint
}

part_contract() {
    if [[ ! -f scripts/contract.sh ]]; then
        warn "scripts/contract.sh not present: buf lint, buf breaking and drift check skipped"
        return 0
    fi
    log "buf breaking against: ${DUCKGRID_BREAKING_AGAINST:-main (contract.sh default)}"
    bash scripts/contract.sh
}

run_parts() {
    local parts=("$@") failed=() part
    local needs_lint_tools=false
    for part in "${parts[@]}"; do
        case "$part" in actionlint | schemas | yaml | shell | hadolint | precommit) needs_lint_tools=true ;; esac
    done
    if $needs_lint_tools; then
        "$ROOT/scripts/ci/tools.sh" lint
    fi
    for part in "${parts[@]}"; do
        group "lint: $part"
        # A subshell outside any `if`, so errexit stays in force inside the
        # part and its first failing command ends it.
        local rc=0
        set +e
        (
            set -e
            "part_$part"
        )
        rc=$?
        set -e
        endgroup
        if [[ $rc -ne 0 ]]; then
            failed+=("$part")
            if in_github; then
                printf '::error::lint part %s failed\n' "$part"
            else
                printf 'lint part %s FAILED\n' "$part" >&2
            fi
        fi
    done
    if [[ ${#failed[@]} -gt 0 ]]; then
        printf 'lint: %d of %d part(s) failed: %s\n' "${#failed[@]}" "${#parts[@]}" "${failed[*]}" >&2
        return 1
    fi
    printf 'lint: all %d part(s) passed: %s\n' "${#parts[@]}" "${parts[*]}" >&2
}

main() {
    local parts=() arg
    for arg in "$@"; do
        case "$arg" in
        --list)
            printf '%s\n' "${ALL_PARTS[@]}" buf
            return 0
            ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            return 0
            ;;
        all) parts+=("${ALL_PARTS[@]}") ;;
        static) parts+=("${STATIC_PARTS[@]}") ;;
        rust) parts+=(fmt clippy) ;;
        actionlint | schemas | yaml | shell | hadolint | precommit | dashboard | fmt | contract | clippy | buf)
            parts+=("$arg")
            ;;
        *) die "unknown lint part '$arg' (see --list)" ;;
        esac
    done
    [[ ${#parts[@]} -gt 0 ]] || parts=("${ALL_PARTS[@]}")
    run_parts "${parts[@]}"
}

main "$@"
